"""Behaviour of the carrier tick: capacity, spawning, lifecycle, synchronisation, ranges,
determinism, recycling, energy accounting and the caller's tensors."""

from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.physics import particle_energy
from thermo_manifold.spectral import (
    CarrierPhase,
    SpectralCarrierConfig,
    SpectralCarrierPhysics,
)

TWO_PI = 2 * math.pi


def test_capacity_never_exceeded_under_a_flood(make_particles, generator):
    # 4000 oscillators spread over 200 frequency units: each is uncoupled from everything.
    n = 4000
    freq = torch.rand(n, generator=generator) * 200.0
    state = make_particles(freq, torch.rand(n, generator=generator) * TWO_PI, 1.0)
    engine = SpectralCarrierPhysics(SpectralCarrierConfig(max_carriers=16), seed=1)
    counts = []
    for _ in range(6):
        tick = engine.tick(state)
        state = tick.particles
        counts.append(tick.carriers.num_carriers)
        assert int(tick.carriers.slot.max()) < 16
    assert max(counts) <= 16
    assert counts[0] == 16  # the flood fills the capacity in one tick, and no more


def test_one_spawn_per_frequency_cluster(make_particles, generator):
    centres = torch.tensor([1.0, 5.0, 9.0, 13.0, 17.0])
    freq = centres.repeat_interleave(200) + 0.05 * (torch.rand(1000, generator=generator) - 0.5)
    state = make_particles(freq, torch.rand(1000, generator=generator) * TWO_PI, 1.0)
    engine = SpectralCarrierPhysics(seed=2)
    tick = engine.tick(state)
    carriers = tick.carriers
    assert tick.spawned == 5 and carriers.num_carriers == 5  # genesis + 4 clusters
    nearest = (carriers.frequencies[:, None] - centres[None, :]).abs().argmin(dim=1)
    assert sorted(nearest.tolist()) == [0, 1, 2, 3, 4]
    assert engine.tick(tick.particles).spawned == 0  # everyone is coupled now


def test_spawns_cover_a_continuum_with_separated_leaders(make_particles, generator):
    n = 2000
    freq = 10.0 + 5.0 * torch.rand(n, generator=generator)  # genesis covers ~1 unit of 5
    config = SpectralCarrierConfig(temperature=0.0)
    engine = SpectralCarrierPhysics(config, seed=3)
    tick = engine.tick(make_particles(freq, torch.zeros(n), 1.0))
    born = tick.carriers.frequencies[1:].sort().values  # the spawned carriers (row 0 = genesis)
    assert tick.spawned == tick.carriers.num_carriers < 5.0 / config.gate_width_init + 2
    assert bool((born.diff() > config.gate_width_init).all())
    total = engine.tuning(freq).sum(dim=0)
    assert bool((total >= config.uncoupled_threshold).all())


def test_states_only_move_forward(crystallizing):
    engine, state = crystallizing(ticks=0, temperature=0.02)
    state = state.replace(excitations=state.excitations * 1.5)
    last: dict[int, int] = {}
    seen = set()
    for i in range(60):
        tick = engine.tick(state, "explore" if i % 7 == 6 else "normal")
        carriers, state = tick.carriers, tick.particles
        for uid, code in zip(carriers.uid.tolist(), carriers.state.tolist()):
            assert code >= last.get(uid, 0)
            last[uid] = code
            seen.add(code)
    assert seen == {0, 1, 2} or seen == {1, 2}
    assert CarrierPhase.CRYSTALLIZED in seen


def test_crystallized_carriers_keep_frequency_and_amplitude_when_uncoupled(crystallizing):
    engine, state = crystallizing(ticks=30, temperature=0.0)
    before = engine.carriers.clone()
    crystal = before.state == CarrierPhase.CRYSTALLIZED
    assert int(crystal.sum()) >= 2
    far = state.replace(excitations=state.excitations + 100.0)  # no carrier binds them now
    for _ in range(20):
        tick = engine.tick(far)
        far = tick.particles
    after = tick.carriers
    keep = torch.isin(after.uid, before.uid[crystal])
    assert int(keep.sum()) == int(crystal.sum())
    assert torch.equal(after.state[keep], before.state[crystal])
    assert torch.equal(after.frequencies[keep], before.frequencies[crystal])
    assert torch.equal(after.amplitudes[keep], before.amplitudes[crystal])


def test_order_parameter_rises_with_identical_frequencies(make_particles, generator):
    n = 200
    phase = torch.rand(n, generator=generator, dtype=torch.float64) * TWO_PI
    state = make_particles(torch.ones(n, dtype=torch.float64), phase, 4.0)
    config = SpectralCarrierConfig(temperature=0.0, coupling_scale=5.0)
    engine = SpectralCarrierPhysics(config, dtype=torch.float64, seed=4)
    start = float(torch.hypot(torch.cos(phase).mean(), torch.sin(phase).mean()))
    history = []
    for _ in range(150):
        tick = engine.tick(state)
        state = tick.particles
        history.append(tick.order_parameter)
    assert history[-1] > start + 0.3
    assert history[-1] > history[len(history) // 2] >= history[0] - 1e-9


def test_quantities_stay_in_range(make_particles, generator):
    n = 800
    freq = torch.rand(n, generator=generator) * 6.0
    phase = torch.rand(n, generator=generator) * TWO_PI
    phase[:50] = TWO_PI - 1e-7  # float32 rounding would land these on 2 pi
    state = make_particles(freq, phase, 0.5 + 20.0 * torch.rand(n, generator=generator))
    engine = SpectralCarrierPhysics(SpectralCarrierConfig(crystallize_age=3, temperature=0.05),
                                    seed=5)
    modes = ["normal", "normal", "explore", "disambiguate", "consolidate"]
    for i in range(40):
        tick = engine.tick(state, modes[i % len(modes)])
        state = tick.particles
        c = tick.carriers
        p = state.phases
        assert bool(((p >= 0) & (p < TWO_PI)).all())
        assert bool(((c.phases >= 0) & (c.phases < TWO_PI)).all())
        for name in ("coherence", "conflict"):
            values = getattr(c, name)
            assert bool(((values >= 0) & (values <= 1)).all()), name
        t = engine.tuning(freq)
        assert t.shape == (c.num_carriers, n)
        assert bool(((t >= 0) & (t <= 1)).all())
        assert bool(((c.gate_widths >= 0.08) & (c.gate_widths <= 1.25)).all())
        assert 0.0 <= tick.order_parameter <= 1.0 + 1e-12


def test_same_seed_same_carriers_and_other_seed_differs(make_particles, generator):
    n = 600
    freq = torch.rand(n, generator=generator) * 4.0
    state = make_particles(freq, torch.rand(n, generator=generator) * TWO_PI, 2.0)
    runs = []
    for seed in (11, 11, 12):
        engine = SpectralCarrierPhysics(SpectralCarrierConfig(temperature=0.05), seed=seed)
        s = state
        for i in range(25):
            s = engine.tick(s, "explore" if i % 5 == 4 else "normal").particles
        runs.append((engine.carriers, s))
    (a, sa), (b, sb), (c, sc) = runs
    for name in ("frequencies", "amplitudes", "phases", "state", "anchor_index", "slot", "uid"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert torch.equal(sa.phases, sb.phases)
    assert not torch.equal(sa.phases, sc.phases)


def test_recycled_slots_are_reused(make_particles, generator):
    # Quiet oscillators (E = 0.01, A = 0.1) keep their carriers VOLATILE.
    config = SpectralCarrierConfig(max_carriers=4, recycle_amp_floor=0.05, recycle_ticks=3,
                                   temperature=0.0)
    engine = SpectralCarrierPhysics(config, seed=6)
    first = torch.tensor([1.0, 4.0, 7.0, 10.0]).repeat_interleave(50)
    state = make_particles(first, torch.rand(200, generator=generator) * TWO_PI, 0.01)
    tick = engine.tick(state)
    old = dict(zip(tick.carriers.uid.tolist(), tick.carriers.slot.tolist()))
    assert len(old) == 4 and bool((tick.carriers.state == CarrierPhase.VOLATILE).all())
    moved = tick.particles.replace(excitations=first + 50.0)  # old carriers lose their food
    recycled = 0
    for _ in range(80):
        tick = engine.tick(moved)
        moved = tick.particles
        recycled += tick.recycled
        assert tick.carriers.num_carriers <= 4
    carriers = tick.carriers
    assert recycled >= 4
    assert not set(carriers.uid.tolist()) & set(old)  # all old carriers are gone ...
    assert set(carriers.slot.tolist()) == set(old.values())  # ... their slots hold new ones
    near_new = (carriers.frequencies[:, None] - (first.unique() + 50.0)[None, :]).abs().min(1)
    assert bool((near_new.values < 0.5).all())


def test_energy_injected_is_the_particle_energy_change(crystallizing):
    engine, state = crystallizing(ticks=20, dtype=torch.float32)
    total = 0.0
    for _ in range(10):
        before = particle_energy(state)
        tick = engine.tick(state)
        change = particle_energy(tick.particles) - before
        assert change == pytest.approx(tick.energy_injected, rel=1e-6, abs=1e-9)
        total += tick.energy_injected
        state = tick.particles
    assert total > 0  # crystallized carriers did inject


def test_caller_tensors_are_not_mutated(crystallizing):
    engine, state = crystallizing(ticks=15, dtype=torch.float32)
    snapshot = state.clone()
    carriers_before = engine.carriers
    carriers_snapshot = carriers_before.clone()
    tick = engine.tick(state, "explore")
    for name in ("positions", "velocities", "energies", "heats", "excitations", "masses",
                 "phases"):
        assert torch.equal(getattr(state, name), getattr(snapshot, name)), name
    assert tick.particles.phases.data_ptr() != state.phases.data_ptr()
    assert tick.particles.energies.data_ptr() != state.energies.data_ptr()
    assert not torch.equal(tick.particles.phases, state.phases)
    assert tick.energy_injected > 0
    # A CarrierState handed out earlier is not written by later ticks either.
    assert torch.equal(carriers_before.amplitudes, carriers_snapshot.amplitudes)
    assert torch.equal(carriers_before.anchor_index, carriers_snapshot.anchor_index)
