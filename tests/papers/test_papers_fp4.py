from __future__ import annotations

import pytest
import torch

from thermo_manifold.papers.kernels import fp4

GRID = torch.tensor(fp4.E2M1_VALUES, dtype=torch.float64)


def _in_grid(codes: torch.Tensor) -> bool:
    return bool((codes.abs().to(torch.float64).unsqueeze(-1) == GRID).any(-1).all())


def test_round_e2m1_is_nearest_representable(generator):
    x = torch.randn(5000, generator=generator, dtype=torch.float64) * 3
    q = fp4.round_e2m1(x)
    assert _in_grid(q)
    signed = torch.cat((-GRID.flip(0), GRID))
    best = (x.clamp(-6, 6).unsqueeze(-1) - signed).abs().min(-1).values
    assert torch.equal((x.clamp(-6, 6) - q).abs(), best)
    ties = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -5.0, 7.0])
    assert fp4.round_e2m1(ties).tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, -4.0, 6.0]


@pytest.mark.parametrize("kind", ["nvfp4", "mxfp4"])
def test_quantizers_produce_representable_values_and_respect_block_scales(generator, kind):
    x = torch.randn(8, 64, generator=generator) * torch.logspace(-3, 3, 64)  # outliers across blocks
    q = fp4.quantize_nvfp4(x) if kind == "nvfp4" else fp4.quantize_mxfp4(x)
    block = 16 if kind == "nvfp4" else 32
    assert _in_grid(q.codes)
    assert q.block_scale.shape == (8, 64 // block, 1)
    values = q.values.reshape(8, 64 // block, block)
    assert torch.equal(values, q.codes * q.block_scale)
    assert bool((values.abs() <= 6 * q.block_scale + 0).all())
    if kind == "nvfp4":
        assert torch.equal(fp4.round_e4m3(q.stored_scale), q.stored_scale)   # an E4M3 value
        assert float(q.stored_scale.max()) <= 448.0
        torch.testing.assert_close(q.block_scale, q.stored_scale / q.global_scale)
        amax = x.reshape(8, 4, 16).abs().amax(-1, keepdim=True)
        rel = (values.abs().amax(-1, keepdim=True) - amax).abs() / amax
        normal = q.stored_scale >= 2.0 ** -6    # E4M3 subnormal scales lose relative precision
        assert bool(normal.any()) and float(rel[normal].max()) < 0.15
    else:
        scale = q.block_scale[q.block_scale > 0]
        assert torch.equal(torch.exp2(torch.log2(scale).round()), scale)   # powers of two


def test_stochastic_rounding_is_unbiased(generator):
    x = torch.tensor([0.1, 0.3, 0.74, 1.2, 2.2, 2.9, 3.3, 5.1, -4.6, -0.05])
    draws = 20000
    samples = fp4.stochastic_round_e2m1(x.expand(draws, -1), generator)
    assert _in_grid(samples)
    lo, hi = fp4._neighbours(x.abs())[:2]
    sigma = (hi - lo) / 2 / draws ** 0.5          # worst-case Bernoulli std of the mean
    assert bool(((samples.mean(0) - x).abs() <= 5 * sigma).all())
    rtn_bias = (fp4.round_e2m1(x) - x).abs().max()
    assert float(rtn_bias) > 0.05                 # round-to-nearest is biased on these inputs


def test_random_hadamard_is_orthogonal_and_spreads_outliers(generator):
    h = fp4.hadamard_matrix(16, torch.float64)
    torch.testing.assert_close(h @ h.T, torch.eye(16, dtype=torch.float64))
    x = torch.randn(4, 64, generator=generator, dtype=torch.float64)
    x[:, 5] = 100.0
    y, signs = fp4.random_hadamard(x, generator)
    torch.testing.assert_close(fp4.inverse_hadamard(y, signs), x)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    assert float(y.abs().max()) < float(x.abs().max()) / 3


def test_layer_policy_62_blocks():
    bf16 = [i for i in range(62) if fp4.layer_precision(i) == "BF16"]
    assert bf16 == [0, 1, 54, 55, 56, 57, 58, 59, 60, 61]
    assert fp4.bf16_fraction() == pytest.approx(10 / 62) and round(100 * fp4.bf16_fraction()) == 16
