"""The public API around the tick: checkpoints, score/tuning, modes, validation, benchmark."""

from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.spectral import (
    CarrierPhase,
    CarrierState,
    SpectralCarrierConfig,
    SpectralCarrierPhysics,
)
from thermo_manifold.spectral.benchmark import benchmark_carriers, run_benchmark


def _state(make_particles, generator, n=400, width=4.0):
    freq = torch.rand(n, generator=generator) * width
    return make_particles(freq, torch.rand(n, generator=generator) * 2 * math.pi, 2.0)


def test_state_dict_resumes_bit_identically(make_particles, generator):
    state = _state(make_particles, generator)
    engine = SpectralCarrierPhysics(SpectralCarrierConfig(temperature=0.05), seed=9)
    for _ in range(10):
        state = engine.tick(state).particles
    saved, saved_state = engine.state_dict(), state
    assert all(isinstance(v, (torch.Tensor, int, float)) for v in saved.values())
    for _ in range(10):
        state = engine.tick(state, "explore").particles
    resumed = SpectralCarrierPhysics(SpectralCarrierConfig(temperature=0.05), seed=123)
    resumed.load_state_dict(saved)
    other = saved_state
    for _ in range(10):
        other = resumed.tick(other, "explore").particles
    assert torch.equal(other.phases, state.phases)
    for name in ("frequencies", "amplitudes", "phases", "uid", "slot", "anchor_index"):
        assert torch.equal(getattr(resumed.carriers, name), getattr(engine.carriers, name))


def test_bad_state_dict_changes_nothing(make_particles, generator):
    engine = SpectralCarrierPhysics(seed=1)
    engine.tick(_state(make_particles, generator))
    before = engine.carriers
    bad = engine.state_dict()
    bad["carriers.state"] = torch.full_like(bad["carriers.state"], 7)
    with pytest.raises(ValueError, match="state"):
        engine.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing"):
        engine.load_state_dict({"ticks": 0})
    assert engine.carriers is before


def test_score_and_tuning(make_particles, generator):
    engine = SpectralCarrierPhysics(seed=1)
    assert torch.equal(engine.score(torch.ones(3, 2)), torch.zeros(3, 2))
    engine.tick(_state(make_particles, generator))
    c = engine.carriers
    query = torch.linspace(-1.0, 5.0, 12).reshape(3, 4)
    score = engine.score(query)
    assert score.shape == query.shape
    expected = (c.amplitudes[:, None] * engine.tuning(query.reshape(-1))).sum(dim=0)
    torch.testing.assert_close(score.reshape(-1), expected)
    # The score peaks at a carrier's own frequency when carriers are far apart.
    engine.carriers = benchmark_carriers(2, 20.0, 0.35)
    at = engine.score(torch.tensor([5.0, 5.5, 15.0]))
    assert at[0] > at[1] and at[2] == pytest.approx(at[0])


def test_bad_input_raises_and_leaves_state_alone(make_particles, generator):
    engine = SpectralCarrierPhysics(seed=1)
    state = _state(make_particles, generator)
    engine.tick(state)
    before, ticks = engine.carriers, engine.ticks
    with pytest.raises(ValueError, match="mode"):
        engine.tick(state, "dream")
    broken = state.replace(phases=state.phases.clone())
    broken.phases[3] = float("nan")
    with pytest.raises(ValueError, match="phases"):
        engine.tick(broken)
    with pytest.raises(ValueError, match="config"):
        SpectralCarrierPhysics(config={"max_carriers": 3})  # type: ignore[arg-type]
    assert engine.carriers is before and engine.ticks == ticks


def test_carriers_setter_validates(make_particles, generator):
    engine = SpectralCarrierPhysics(SpectralCarrierConfig(max_carriers=4))
    with pytest.raises(ValueError, match="max_carriers"):
        engine.carriers = benchmark_carriers(5, 10.0, 0.35)
    engine.carriers = benchmark_carriers(4, 10.0, 0.35)
    assert engine.carriers.num_carriers == 4


def test_no_particles_leaves_carriers(make_particles):
    engine = SpectralCarrierPhysics()
    engine.carriers = benchmark_carriers(3, 10.0, 0.35)
    tick = engine.tick(make_particles(torch.zeros(0)))
    assert tick.carriers.num_carriers == 3 and tick.energy_injected == 0.0


def test_disambiguate_pushes_colliding_carriers_apart(make_particles):
    far = make_particles(torch.full((10,), 100.0))  # keeps the carriers unbound
    gaps = {}
    for mode in ("normal", "disambiguate"):
        config = SpectralCarrierConfig(temperature=0.0, repulsion_scale=5.0)
        engine = SpectralCarrierPhysics(config, seed=0)
        pair = benchmark_carriers(2, 1.0, 0.35)  # carriers at 0.25 and 0.75
        engine.carriers = pair
        for _ in range(20):
            tick = engine.tick(far, mode)
        keep = torch.isin(tick.carriers.uid, pair.uid)
        f = tick.carriers.frequencies[keep]
        gaps[mode] = float((f[1] - f[0]).abs())
    assert gaps["normal"] == pytest.approx(0.5, abs=1e-6)
    assert gaps["disambiguate"] > 0.6


def test_idle_sums_its_ticks(crystallizing):
    engine, state = crystallizing(ticks=20, dtype=torch.float32)
    copy = SpectralCarrierPhysics(engine.config, dtype=torch.float32)
    copy.load_state_dict(engine.state_dict())
    idle = engine.idle(state, steps=3, mode="consolidate")
    total, s = 0.0, state
    for _ in range(3):
        tick = copy.tick(s, "consolidate")
        total += tick.energy_injected
        s = tick.particles
    assert idle.energy_injected == pytest.approx(total)
    assert torch.equal(idle.particles.phases, s.phases)
    assert (idle.carriers.state == CarrierPhase.CRYSTALLIZED).any()


def test_benchmark_prints_a_row_per_size():
    lines = []
    rows = run_benchmark(sizes=(200,), widths=(8.0,), carriers=8, ticks=1, printer=lines.append)
    assert len(rows) == 1 and len(lines) == 2
    assert rows[0]["dense_ms"] > 0 and rows[0]["banded_ms"] > 0


def test_empty_carrier_state_round_trips():
    empty = CarrierState.empty()
    empty.validate(4)
    assert empty.clone().num_carriers == 0


def test_reused_frequency_sort_never_goes_stale(make_particles, generator):
    """The banded path reuses its frequency sort while the excitations tensor is unchanged;
    an in-place edit or a new tensor must give what a fresh engine computes."""
    config = SpectralCarrierConfig(coupling="banded", temperature=0.0)
    state = _state(make_particles, generator, width=8.0)
    cached, fresh = SpectralCarrierPhysics(config, seed=1), SpectralCarrierPhysics(config, seed=1)
    for _ in range(3):
        a, b = cached.tick(state), fresh.tick(state)
        fresh = SpectralCarrierPhysics(config, seed=1)  # never has a cached sort ...
        fresh.load_state_dict(cached.state_dict())  # ... but the same carriers and RNG
        state = a.particles
        assert torch.equal(a.particles.phases, b.particles.phases)
    state.excitations[: state.num_particles // 2] += 3.0  # in place: same tensor, new values
    a, b = cached.tick(state), fresh.tick(state)
    assert torch.equal(a.particles.phases, b.particles.phases)
    assert torch.equal(a.carriers.frequencies, b.carriers.frequencies)
