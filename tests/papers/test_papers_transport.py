from __future__ import annotations

import pytest
import torch

from thermo_manifold.papers.kernels import constraint_transport as ct


def test_entropy_in_bits_reaches_every_precision(generator):
    assert ct.entropy_bits(torch.full((100,), 3.0)) == 0.0
    assert ct.select_precision(ct.entropy_bits(torch.full((100,), 3.0))) == "NVFP4"
    levels32 = torch.arange(32.0).repeat(10)
    assert ct.entropy_bits(levels32) == pytest.approx(5.0)
    assert ct.select_precision(ct.entropy_bits(levels32)) == "FP16"
    spread = (torch.arange(256, dtype=torch.float64) + 0.5) / 256        # one sample per bin
    assert ct.entropy_bits(spread) == pytest.approx(8.0)
    assert ct.select_precision(ct.entropy_bits(spread)) == "FP8"          # unreachable in nats
    assert ct.precision_for_timestep(0.9) == "NVFP4" and ct.precision_for_timestep(0.5) == "FP16"
    assert ct.precision_for_timestep(0.1) == "FP8"


def test_precision_boundaries():
    assert [ct.select_precision(h) for h in (3.999, 4.0, 7.999, 8.0)] == ["NVFP4", "FP16", "FP16", "FP8"]
    assert [ct.precision_for_timestep(t) for t in (0.0, 0.4, 0.8, 1.0)] == ["FP8", "FP8", "FP16", "NVFP4"]
    for t in (-0.1, 1.1):
        with pytest.raises(ValueError, match=rf"t must be in \[0, 1\]; got {t}"):
            ct.precision_for_timestep(t)
    with pytest.raises(ValueError, match="bins must be >= 2; got 1"):
        ct.entropy_bits(torch.arange(4.0), bins=1)


def test_advection_oracles(generator):
    field = torch.randn(12, 16, generator=generator, dtype=torch.float64)
    zero = torch.zeros(12, 16, 2, dtype=torch.float64)
    torch.testing.assert_close(ct.advect(field, zero), field)
    shift = torch.zeros(12, 16, 2, dtype=torch.float64)
    shift[..., 0], shift[..., 1] = 2.0, -3.0
    torch.testing.assert_close(ct.advect(field, shift), torch.roll(field, shifts=(2, -3), dims=(0, 1)))
    const = torch.full((12, 16), 4.5, dtype=torch.float64)
    swirl = torch.randn(12, 16, 2, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(ct.advect(const, swirl, boundary="clamp"), const)
    i, j = torch.meshgrid(torch.arange(12.0, dtype=torch.float64), torch.arange(16.0, dtype=torch.float64), indexing="ij")
    linear = 0.5 * i - 0.25 * j
    half = torch.zeros(12, 16, 2, dtype=torch.float64)
    half[..., 0], half[..., 1] = 0.3, 0.6
    out = ct.advect(linear, half, dt=1.0, boundary="clamp")
    torch.testing.assert_close(out[1:, 1:], (0.5 * (i - 0.3) - 0.25 * (j - 0.6))[1:, 1:])


def test_advection_past_the_edges_by_hand():
    # Shift 2.5 cells along axis 0: row i samples x = i - 2.5. Clamped, rows 0..2 (x <= -0.5)
    # read row 0 and row 3 averages rows 0 and 1; periodic, row 0 averages rows h - 3 and h - 2.
    field = torch.arange(6.0, dtype=torch.float64)[:, None].repeat(1, 4) ** 2      # row r holds r^2
    v = torch.zeros(6, 4, 2, dtype=torch.float64)
    v[..., 0] = 2.5
    clamped = ct.advect(field, v, boundary="clamp")[:, 0].tolist()
    assert clamped == [0.0, 0.0, 0.0, 0.5, 2.5, 6.5]
    periodic = ct.advect(field, v, boundary="periodic")[:, 0].tolist()
    assert periodic == [(9 + 16) / 2, (16 + 25) / 2, (25 + 0) / 2, 0.5, 2.5, 6.5]
    backwards = ct.advect(field, -v, boundary="clamp")[:, 0].tolist()    # x = i + 2.5
    assert backwards == [(4 + 9) / 2, (9 + 16) / 2, (16 + 25) / 2, 25.0, 25.0, 25.0]
    with pytest.raises(ValueError, match="boundary must be 'periodic' or 'clamp'; got 'wrap'"):
        ct.advect(field, v, boundary="wrap")
    with pytest.raises(ValueError, match=r"velocity must have shape \(6, 4, 2\)"):
        ct.advect(field, v[:5])


def test_entropy_default_bins():
    assert ct.entropy_bits(torch.arange(512.0)) == pytest.approx(8.0)     # 2 samples in each of 256 bins
    assert ct.entropy_bits(torch.tensor([0.0, 1.0]), bins=2) == 1.0
