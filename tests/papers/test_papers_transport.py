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
