"""The banded coupling against the dense reference, stage by stage and over whole runs."""

from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.spectral import CarrierPhase, SpectralCarrierConfig, SpectralCarrierPhysics
from thermo_manifold.spectral.coupling import Coupling, carrier_sums, offenders, oscillator_drive


def _random_problem(generator, n=3000, k=20):
    d = torch.float64
    freq = torch.rand(n, generator=generator, dtype=d) * 30.0
    amp = 0.1 + 3.0 * torch.rand(n, generator=generator, dtype=d)
    phase = torch.rand(n, generator=generator, dtype=d) * 2 * math.pi
    centres = torch.rand(k, generator=generator, dtype=d) * 30.0
    sigma = 0.08 + 1.17 * torch.rand(k, generator=generator, dtype=d)
    return freq, amp, phase, centres, sigma


@pytest.mark.parametrize("budget", [1 << 22, 500])  # 500 forces many small chunks
def test_banded_sums_match_dense(generator, budget):
    freq, amp, phase, centres, sigma = _random_problem(generator)
    z_re, z_im = amp * torch.cos(phase), amp * torch.sin(phase)
    dense = Coupling(freq, "dense", 4.0, budget=budget)
    banded = Coupling(freq, "banded", 4.0, budget=budget)
    a = carrier_sums(dense, centres, sigma, freq, amp, z_re, z_im, 1e-3)
    b = carrier_sums(banded, centres, sigma, freq, amp, z_re, z_im, 1e-3)
    for name in ("force_re", "force_im", "weight", "weight_freq", "weight_amp"):
        torch.testing.assert_close(getattr(b, name), getattr(a, name), rtol=1e-10, atol=1e-10)
    target = torch.rand(centres.shape[0], generator=generator, dtype=freq.dtype) * 6.0
    score_a, index_a = offenders(dense, centres, sigma, freq, amp, phase, target, 1e-3)
    score_b, index_b = offenders(banded, centres, sigma, freq, amp, phase, target, 1e-3)
    torch.testing.assert_close(score_b, score_a)
    assert torch.equal(index_a, index_b)
    c_re, c_im = torch.randn(2, centres.shape[0], generator=generator, dtype=freq.dtype)
    drive_a = oscillator_drive(dense, centres, sigma, c_re, c_im, freq)
    drive_b = oscillator_drive(banded, centres, sigma, c_re, c_im, freq)
    for x, y in zip(drive_a, drive_b):
        # The band drops pairs with T < exp(-16): absolute error below 1e-7 * sum |C|.
        scale = float(c_re.abs().sum() + c_im.abs().sum())
        torch.testing.assert_close(y, x, rtol=0, atol=1e-7 * scale)


def test_banded_falls_back_to_dense_views_only_when_bands_are_full(generator):
    freq, amp, phase, centres, sigma = _random_problem(generator)
    wide = torch.full_like(sigma, 1e3)
    assert all(v.index is not None for v in Coupling(freq, "banded", 4.0).views(centres, wide))
    fallback = Coupling(freq, "banded", 4.0, dense_fraction=0.5)
    assert all(v.index is None for v in fallback.views(centres, wide))
    narrow = fallback.band_half_widths(sigma)
    assert all(v.index is not None for v in fallback.views(centres, narrow))


def test_banded_really_skips_far_oscillators(generator):
    freq, amp, phase, centres, sigma = _random_problem(generator)
    banded = Coupling(freq, "banded", 4.0)
    pairs = sum(int(v.mask.sum()) for v in banded.views(centres, banded.band_half_widths(sigma)))
    assert pairs < 0.5 * freq.shape[0] * centres.shape[0]


def _run(method, crystallizing, modes):
    engine, state = crystallizing(ticks=0, coupling=method, temperature=0.02)
    wide = state.replace(excitations=state.excitations * 4.0)  # clusters spread over 4..20
    ticks = []
    for mode in modes:
        tick = engine.tick(wide, mode)
        wide = tick.particles
        ticks.append(tick)
    return ticks


def test_banded_and_dense_runs_agree(crystallizing):
    modes = ["normal"] * 25 + ["explore", "disambiguate", "consolidate"] * 3
    dense = _run("dense", crystallizing, modes)
    banded = _run("banded", crystallizing, modes)
    assert any((t.carriers.state == CarrierPhase.CRYSTALLIZED).any() for t in dense)
    assert sum(t.energy_injected for t in dense) > 0
    for a, b in zip(dense, banded):
        assert (a.spawned, a.recycled, a.splits) == (b.spawned, b.recycled, b.splits)
        assert torch.equal(a.carriers.state, b.carriers.state)
        assert torch.equal(a.carriers.anchor_index, b.carriers.anchor_index)
        for name in ("frequencies", "amplitudes", "conflict", "coherence", "anchor_weight"):
            torch.testing.assert_close(getattr(b.carriers, name), getattr(a.carriers, name),
                                       rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(b.particles.phases, a.particles.phases, rtol=0, atol=1e-9)
        torch.testing.assert_close(b.particles.energies, a.particles.energies)
        assert b.energy_injected == pytest.approx(a.energy_injected, rel=1e-9, abs=1e-12)


def test_dense_and_banded_agree_in_float32_on_the_seed_distribution(make_particles, generator):
    n = 1500
    freq = torch.rand(n, generator=generator) * 2.0  # the seed's excitations U[0, 2]
    phase = torch.rand(n, generator=generator) * 2 * math.pi
    energy = 0.5 + 0.5 * torch.rand(n, generator=generator)
    state = make_particles(freq, phase, energy)
    out = {}
    for method in ("dense", "banded"):
        # band_dense_fraction=2: never fall back to dense evaluation, though bands cover all.
        config = SpectralCarrierConfig(coupling=method, band_dense_fraction=2.0)
        engine = SpectralCarrierPhysics(config, seed=5)
        s = state
        for _ in range(15):
            tick = engine.tick(s)
            s = tick.particles
        out[method] = tick
    a, b = out["dense"], out["banded"]
    assert a.carriers.num_carriers == b.carriers.num_carriers
    torch.testing.assert_close(b.carriers.amplitudes, a.carriers.amplitudes, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(b.particles.phases, a.particles.phases, rtol=0, atol=1e-4)
