from __future__ import annotations

import pytest
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.physics import ManifoldPhysics, PhysicsConfig, particle_energy, random_state
from thermo_manifold.sim.config import PATTERNS, InjectionConfig
from thermo_manifold.sim.injection import (
    InjectionSchedule,
    choose_pattern,
    generate_file,
    make_room,
)

CONFIG = PhysicsConfig(grid_size=(16, 12, 10), grid_spacing=0.5)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("n", [1, 37])
def test_every_pattern_gives_a_valid_file_inside_the_box(pattern, n, generator):
    file = generate_file(n, pattern, CONFIG, generator, dtype=torch.float64)
    assert file.num_particles == n
    file.validate(CONFIG)  # inside the box, masses > 0, E >= 0, Q >= 0, finite
    assert torch.equal(file.masses, file.energies)
    assert bool((file.heats == 0).all())
    assert bool(((file.phases >= 0) & (file.phases < 2 * torch.pi)).all())
    # One file, one frequency band of width 0.1.
    assert float(file.excitations.max() - file.excitations.min()) <= 0.1


def test_files_are_reproducible_from_the_seed():
    a = generate_file(50, "sphere", CONFIG, make_generator(5), dtype=torch.float64)
    b = generate_file(50, "sphere", CONFIG, make_generator(5), dtype=torch.float64)
    c = generate_file(50, "sphere", CONFIG, make_generator(6), dtype=torch.float64)
    assert torch.equal(a.positions, b.positions) and torch.equal(a.energies, b.energies)
    assert not torch.equal(a.positions, c.positions)


def test_cluster_energy_peaks_at_the_centre(generator):
    file = generate_file(200, "cluster", CONFIG, generator, dtype=torch.float64)
    distance = (file.positions - file.positions.mean(dim=0)).norm(dim=1)
    near, far = distance < distance.median(), distance >= distance.median()
    assert float(file.energies[near].mean()) > float(file.energies[far].mean())


def test_mixed_draws_every_pattern(generator):
    drawn = {choose_pattern("mixed", generator) for _ in range(200)}
    assert drawn == set(PATTERNS)
    assert choose_pattern("line", generator) == "line"
    with pytest.raises(ValueError, match="pattern"):
        choose_pattern("spiral", generator)


def test_make_room_evicts_the_oldest_and_books_their_energy(generator):
    physics = ManifoldPhysics(CONFIG, dtype=torch.float64)
    state = random_state(100, CONFIG, generator, dtype=torch.float64)
    physics.start_ledger(state)
    kept, evicted, energy = make_room(physics, state, incoming=30, max_particles=110)
    assert evicted == 20 and kept.num_particles == 80
    assert torch.equal(kept.positions, state.positions[20:])  # the oldest rows left
    assert energy == pytest.approx(particle_energy(state.select(torch.arange(20))), rel=1e-12)
    assert physics.ledger.removed == pytest.approx(energy, rel=1e-12)
    assert physics.ledger.residual < 1e-12
    same, none, zero = make_room(physics, kept, incoming=5, max_particles=None)
    assert same is kept and none == 0 and zero == 0.0


def test_step_schedule_is_every_k_steps_after_the_start(generator):
    schedule = InjectionSchedule(InjectionConfig(schedule="steps", every_steps=4), generator)
    assert [s for s in range(13) if schedule.due(s)] == [4, 8, 12]


def test_seconds_schedule_waits_between_min_and_max(generator):
    now = [100.0]
    schedule = InjectionSchedule(
        InjectionConfig(schedule="seconds", min_seconds=2.0, max_seconds=3.0), generator,
        clock=lambda: now[0])
    assert not schedule.due(0)  # arms the first wait
    wait = schedule.seconds_until_next()
    assert 2.0 <= wait <= 3.0
    now[0] += wait - 0.01
    assert not schedule.due(1)
    now[0] += 0.02
    assert schedule.due(2)
    assert 2.0 <= schedule.seconds_until_next() <= 3.0
