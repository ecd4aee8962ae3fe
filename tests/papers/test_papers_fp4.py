"""FP4 kernels against hand-worked vectors from the format definitions.

Definitions used for the expected values (worked by hand; the code is not consulted):
- E2M1 magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6} with codes 0..7. Both formats round elements to
  nearest with ties to the even code (OCP MX v1.0 converts elements with roundTiesToEven; NVIDIA's
  cvt.rn.satfinite.e2m1x2 is round-to-nearest-even) and saturate to +-6.
- MXFP4 (OCP MX v1.0): per block of 32, scale 2^(floor(log2 amax_b) - 2), 2 being E2M1's
  largest exponent; the E8M0 scale is a floor, so it has no ties; smallest scale 2^-127.
- NVFP4: FP32 tensor scale s = 6 * 448 / amax; per block of 16, stored E4M3(amax_b / 6 * s)
  rounded to nearest even (cvt.rn.satfinite.e4m3x2), decoded scale E4M3(amax_b / 6 * s) / s.
"""

from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.papers.kernels import fp4

GRID = torch.tensor(fp4.E2M1_VALUES, dtype=torch.float64)
U = 2.0 ** -12       # NVFP4 vectors are scaled by U so that a tensor scale of 1 would underflow


def _in_grid(codes: torch.Tensor) -> bool:
    return bool((codes.abs().to(torch.float64).unsqueeze(-1) == GRID).any(-1).all())


def _tensor(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_round_e2m1_is_nearest_representable(generator):
    x = torch.randn(5000, generator=generator, dtype=torch.float64) * 3
    q = fp4.round_e2m1(x)
    assert _in_grid(q)
    signed = torch.cat((-GRID.flip(0), GRID))
    best = (x.clamp(-6, 6).unsqueeze(-1) - signed).abs().min(-1).values
    assert torch.equal((x.clamp(-6, 6) - q).abs(), best)
    # Every midpoint of the grid goes to the even code: 0.25 -> 0 (code 0), 0.75 -> 1 (code 2),
    # 1.25 -> 1, 1.75 -> 2 (code 4), 2.5 -> 2, 3.5 -> 4 (code 6), 5 -> 4; beyond 6 saturates.
    ties = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -5.0, -0.75, 7.0, -1e9])
    assert fp4.round_e2m1(ties).tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, -4.0, -1.0, 6.0, -6.0]
    grid_points = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -6.0])
    assert torch.equal(fp4.round_e2m1(grid_points), grid_points)
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        assert fp4.round_e2m1(ties.to(dtype)).dtype == dtype
        assert fp4.stochastic_round_e2m1(ties.to(dtype), torch.Generator().manual_seed(0)).dtype == dtype


# --- NVFP4, hand-worked ------------------------------------------------------------------------
# Tensor amax 21 U, so s = 2688 / (21 U) = 2^19 (a power of two: every scale below is exact).
# Block A (amax 21 U): 21 U / 6 * s = 448 -> E4M3 448, scale 448 / 2^19 = 3.5 U.
# Block B (amax 3.1875 U): 3.1875 U / 6 * s = 68, a tie between E4M3 64 (mantissa 000) and 72
#   (001): even -> 64, scale 0.5 U. Its largest element is then 6.375 scales: saturates to 6.
# Block C: all zero -> stored 0, scale 0, values 0.
# Block D (amax 15 * 2^-28): 2.5 * 2^-9 in E4M3 is a tie between the subnormals 2 * 2^-9 and
#   3 * 2^-9: even -> 2^-8, scale 2^-8 / 2^19 = 2^-27; its amax is 7.5 scales: saturates to 6.
NV_A = [6, -6, 3.5, 2.5, 1.25, 0.25, 0.375, 5.5, -4.5, 0.75, 1.75, 0, 5, -0.125, 3, 1]
NV_A_CODES = [6, -6, 4, 2, 1, 0, 0.5, 6, -4, 1, 2, 0, 4, 0, 3, 1]
NV_B = [6.375, -6.375, 0.5, 1.5, 2.75, 4.25, -3.25, 0.625, 1, 2, 6, -1.25, 0, 3.5, -5, 0.875]
NV_B_CODES = [6, -6, 0.5, 1.5, 3, 4, -3, 0.5, 1, 2, 6, -1, 0, 4, -4, 1]
NV_D = [7.5, -7.5, 1, 2.5, 0.5, 0.25, 3.5, 5, 0, 0, 0, 0, 0, 0, 0, -0.75]
NV_D_CODES = [6, -6, 1, 2, 0.5, 0, 4, 4, 0, 0, 0, 0, 0, 0, 0, -1]


def _nvfp4_vector() -> torch.Tensor:
    return _tensor([3.5 * U * t for t in NV_A] + [0.5 * U * t for t in NV_B] + [0.0] * 16
                   + [2.0 ** -27 * t for t in NV_D])


def test_nvfp4_hand_worked_vector():
    q = fp4.quantize_nvfp4(_nvfp4_vector())
    assert float(q.global_scale) == 2.0 ** 19
    assert q.stored_scale.flatten().tolist() == [448.0, 64.0, 0.0, 2.0 ** -8]
    assert q.block_scale.flatten().tolist() == [3.5 * U, 0.5 * U, 0.0, 2.0 ** -27]
    assert q.codes.tolist() == [NV_A_CODES, NV_B_CODES, [0.0] * 16, NV_D_CODES]
    want = [3.5 * U * c for c in NV_A_CODES] + [0.5 * U * c for c in NV_B_CODES] + [0.0] * 16 \
        + [2.0 ** -27 * c for c in NV_D_CODES]
    assert q.values.tolist() == want
    assert q.values.dtype == torch.float32 and q.block_scale.dtype == torch.float32


def test_nvfp4_scale_not_a_power_of_two_and_padding():
    # amax 21 -> s = 128. Block 1 as block A above at scale 3.5. Block 2 holds 4 values and 12
    # zeros of padding: amax 3.5, 3.5 / 6 * 128 = 74.67 -> E4M3 72, scale 72 / 128 = 0.5625;
    # 3.5 / 0.5625 = 6.22 -> 6, 1.75 / 0.5625 = 3.11 -> 3, 0.5 / 0.5625 = 0.89 -> 1,
    # 0.875 / 0.5625 = 1.56 -> 1.5.
    x = _tensor([3.5 * t for t in NV_A] + [1.75, -0.5, 3.5, 0.875])
    q = fp4.quantize_nvfp4(x)
    assert float(q.global_scale) == 128.0 and q.stored_scale.flatten().tolist() == [448.0, 72.0]
    assert q.values.shape == (20,) and q.codes.shape == (2, 16)
    assert q.codes[1].tolist() == [3, -1, 6, 1.5] + [0.0] * 12
    assert q.values.tolist() == [3.5 * c for c in NV_A_CODES] + [1.6875, -0.5625, 3.375, 0.84375]
    rows = fp4.quantize_nvfp4(torch.stack((x, -x, 0 * x)))
    assert rows.values.shape == (3, 20) and torch.equal(rows.values[1], -q.values)


def test_nvfp4_all_zero_tensor():
    q = fp4.quantize_nvfp4(torch.zeros(2, 16))
    assert float(q.global_scale) == 1.0 and torch.equal(q.values, torch.zeros(2, 16))
    assert q.stored_scale.flatten().tolist() == [0.0, 0.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_nvfp4_encodes_with_the_encode_scale(dtype):
    # amax 6: s = 2688 / 6 = 448, not a power of two. Block 1 (amax 6): 6 / 6 * 448 = 448, stored
    # 448, encode scale s / stored = 1. Block 2 (amax 3.5): 3.5 / 6 * 448 = 261.3 -> E4M3 256
    # (neighbours 256 and 288), encode scale 448 / 256 = 1.75 exactly. Elements x * 1.75:
    # 3.5 -> 6.125 -> 6, 2 -> 3.5 (tie) -> 4, 2.859375 -> 5.00390625 -> 6 (in bfloat16 the product
    # would round to the tie 5.0 -> 4), 1 -> 1.75 (tie) -> 2, 0.5 -> 0.875 -> 1, -1.5 -> -2.625 -> -3.
    # Decoded values are code * 256 / 448, rounded once to the input dtype.
    block2 = [3.5, 2.0, 2.859375, 1.0, 0.5, -1.5] + [0.0] * 10
    codes2 = [6, 4, 6, 2, 1, -3] + [0] * 10
    x = torch.tensor([6.0, 1.25, -2.5] + [0.0] * 13 + block2, dtype=dtype)
    q = fp4.quantize_nvfp4(x)
    assert float(q.global_scale) == 448.0 and q.stored_scale.flatten().tolist() == [448.0, 256.0]
    assert q.codes.tolist() == [[6, 1, -2] + [0] * 13, codes2]
    want = torch.tensor([6.0, 1.0, -2.0] + [0.0] * 13 + [c * 256 / 448 for c in codes2]).to(dtype)
    assert torch.equal(q.values, want)


# --- MXFP4, hand-worked ------------------------------------------------------------------------
# Block A: amax 6, floor(log2 6) = 2, scale 2^0: the codes are the E2M1 roundings themselves.
# Block B: amax 8 - 2^-21 (the float32 just below 8): floor(log2) = 2, scale 1; 7.9999995,
#   -7 and 6.5 saturate to +-6 (log2 rounded to 3.0 in float32 would give scale 2).
# Block C: amax 0.1: floor(log2 0.1) = -4, scale 2^-6; 0.1 -> 6.4 -> 6, 0.05 -> 3.2 -> 3,
#   -0.07 -> -4.48 -> -4, 0.01 -> 0.64 -> 0.5.
# Block D: all zero: scale 0. Block E: amax 2^-130 would give 2^-132, below E8M0: 2^-127.
# Block F: amax 1000: floor(log2) = 9, scale 2^7 = 128; 1000 -> 7.8 -> 6, 200 -> 1.56 -> 1.5,
#   -900 -> -6, 300 -> 2.34 -> 2, 64 -> 0.5, 65 -> 0.51 -> 0.5.
MX_A = NV_A + [0.5, -1.5, 2, -2.25, 0.1, 4, -0.6, 1.1] + [0] * 8
MX_A_CODES = NV_A_CODES + [0.5, -1.5, 2, -2, 0, 4, -0.5, 1] + [0] * 8


def _mx_block(head: list[float]) -> list[float]:
    return head + [0.0] * (32 - len(head))


def test_mxfp4_hand_worked_vector():
    x = _tensor(MX_A + _mx_block([8 - 2.0 ** -21, -7, 6.5, 0.3]) + _mx_block([0.1, 0.05, -0.07, 0.01])
                + [0.0] * 32 + _mx_block([2.0 ** -130, -2.0 ** -131])
                + _mx_block([1000, 200, -900, 300, 64, 65]))
    q = fp4.quantize_mxfp4(x)
    assert q.block_scale.flatten().tolist() == [1.0, 1.0, 2.0 ** -6, 0.0, 2.0 ** -127, 128.0]
    assert torch.equal(q.stored_scale, q.block_scale) and float(q.global_scale) == 1.0
    assert q.codes[0].tolist() == MX_A_CODES
    assert q.codes[1].tolist() == _mx_block([6, -6, 6, 0.5])
    assert q.codes[4].tolist() == [0.0] * 32
    want = (MX_A_CODES + _mx_block([6, -6, 6, 0.5]) + _mx_block([0.09375, 0.046875, -0.0625, 0.0078125])
            + [0.0] * 64 + _mx_block([768, 192, -768, 256, 64, 64]))
    assert q.values.tolist() == want


def test_mxfp4_padding():
    # Second block: 8 values and 24 zeros of padding; amax 3, floor(log2 3) = 1, scale 2^-1.
    x = _tensor(MX_A + [3, -0.75, 0.2, 1.5, 0, 0, 0, 0.5])
    q = fp4.quantize_mxfp4(x)
    assert q.values.shape == (40,) and q.codes.shape == (2, 32)
    assert q.block_scale.flatten().tolist() == [1.0, 0.5]
    assert q.values.tolist() == MX_A_CODES + [3, -0.75, 0.25, 1.5, 0, 0, 0, 0.5]


def test_mxfp4_block_of_one_and_bad_block():
    # Each element its own block: 3 -> scale 2^(1 - 2) = 0.5, code 6; -0.3 -> floor(log2 0.3) = -2,
    # scale 2^-4, -0.3 * 16 = -4.8 -> -4, value -0.25.
    q = fp4.quantize_mxfp4(_tensor([3.0, -0.3]), block=1)
    assert q.block_scale.flatten().tolist() == [0.5, 2.0 ** -4] and q.values.tolist() == [3.0, -0.25]
    for quantize in (fp4.quantize_mxfp4, fp4.quantize_nvfp4):
        with pytest.raises(ValueError, match="block must be >= 1; got 0"):
            quantize(torch.ones(4), block=0)


def test_hadamard_rejects_a_partial_block():
    with pytest.raises(ValueError, match="last dimension 20 is not a multiple of the block size 16"):
        fp4.random_hadamard(torch.ones(20), torch.Generator().manual_seed(0))


# --- every input dtype and magnitude ----------------------------------------------------------

def _random_blocks(generator: torch.Generator, amax: float, block: int, dtype: torch.dtype) -> torch.Tensor:
    """(4, 64) values in [-amax, amax], each block's amax between 5% and 100% of the tensor's."""
    base = torch.rand(4, 64, generator=generator, dtype=torch.float64) * 2 - 1
    factor = torch.logspace(math.log10(0.05), 0, 64 // block, dtype=torch.float64).repeat_interleave(block)
    x = amax * base * factor
    x[0, -1] = amax
    return x.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("amax", [1e-3, 0.04, 1.0, 1e3])
def test_nvfp4_any_dtype_and_magnitude(generator, dtype, amax):
    x = _random_blocks(generator, amax, 16, dtype)
    q = fp4.quantize_nvfp4(x)
    assert q.values.dtype == dtype and q.block_scale.dtype == torch.float32
    x64 = x.to(torch.float64).reshape(4, 4, 16)
    v64 = q.values.to(torch.float64).reshape(4, 4, 16)
    amax_b = x64.abs().amax(-1, keepdim=True)
    # A normal E4M3 scale is within 2^-4 of amax_b / 6: the block's largest value decodes to
    # 6 scales (within 2^-4 of amax_b), and any element is off by at most one scale (the widest
    # E2M1 half-gap, 4..6); 2^-8 amax_b covers rounding the result to the input dtype.
    slack = 2.0 ** -8 * amax_b
    assert bool(((v64.abs().amax(-1, keepdim=True) - amax_b).abs() <= 2.0 ** -4 * amax_b + slack).all())
    assert bool(((v64 - x64).abs() <= (1 + 2.0 ** -4) * amax_b / 6 + slack).all())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("amax", [1e-3, 0.04, 1.0, 1e3])
def test_mxfp4_any_dtype_and_magnitude(generator, dtype, amax):
    x = _random_blocks(generator, amax, 32, dtype)
    q = fp4.quantize_mxfp4(x)
    assert q.values.dtype == dtype and q.block_scale.dtype == torch.float32
    x64 = x.to(torch.float64).reshape(4, 2, 32)
    v64 = q.values.to(torch.float64).reshape(4, 2, 32)
    for row, block in ((r, b) for r in range(4) for b in range(2)):
        amax_b = float(x64[row, block].abs().max())
        scale = 2.0 ** (math.frexp(amax_b)[1] - 1 - 2)       # 2^(floor(log2 amax_b) - 2)
        assert float(q.block_scale[row, block]) == scale
        # amax_b / scale is in [4, 8): the largest value is 4 or 6 scales; an element is off by
        # at most one scale below 6 scales and by its excess over 6 scales above.
        assert float(v64[row, block].abs().max()) in (4 * scale, 6 * scale)
        bound = scale * torch.clamp(x64[row, block].abs() / scale - 6, min=1)
        assert bool(((v64[row, block] - x64[row, block]).abs() <= bound).all())


@pytest.mark.parametrize("kind", ["nvfp4", "mxfp4"])
def test_quantizers_produce_representable_values_and_respect_block_scales(generator, kind):
    x = torch.randn(8, 64, generator=generator) * torch.logspace(-3, 3, 64)  # outliers across blocks
    q = fp4.quantize_nvfp4(x) if kind == "nvfp4" else fp4.quantize_mxfp4(x)
    block = 16 if kind == "nvfp4" else 32
    assert _in_grid(q.codes)
    assert q.block_scale.shape == (8, 64 // block, 1)
    values = q.values.reshape(8, 64 // block, block)
    if kind == "nvfp4":
        assert torch.equal(values, q.codes * q.stored_scale / q.global_scale)
        assert torch.equal(fp4.round_e4m3(q.stored_scale), q.stored_scale)   # an E4M3 value
        assert float(q.stored_scale.max()) == 448.0                           # the amax block
        assert float(q.global_scale) == pytest.approx(6 * 448 / float(x.abs().max()), rel=1e-6)
    else:
        assert torch.equal(values, q.codes * q.block_scale)
        scale = q.block_scale[q.block_scale > 0]
        assert torch.equal(torch.exp2(torch.log2(scale).round()), scale)   # powers of two


@pytest.mark.parametrize("kind", ["nvfp4", "mxfp4"])
def test_quantizers_round_stochastically_with_a_generator(generator, kind):
    # Every row is the same block, so every row has the same scales; the mean over rows of the
    # stochastically rounded values is the input within 5 sigma (it is biased for round-to-nearest).
    row = torch.tensor([6.0, 0.3, 0.74, 1.2, 2.2, 2.9, 3.3, 5.1, -4.6, -0.05, 1.0, 0, 0, 0, 0, 0])
    x = row.repeat(4000, 2)
    quantize = fp4.quantize_nvfp4 if kind == "nvfp4" else fp4.quantize_mxfp4
    q = quantize(x, generator=generator)
    scale = q.block_scale.flatten()[0]
    assert torch.equal(q.block_scale, torch.full_like(q.block_scale, float(scale)))
    lo, hi = fp4._neighbours((row / scale).abs())[:2]
    sigma = (hi - lo) * scale / 2 / 4000 ** 0.5
    assert bool(((q.values.mean(0)[:16] - row).abs() <= 5 * sigma + 1e-7).all())
    assert not torch.equal(q.values[0], q.values[1])                    # draws differ by row
    again = quantize(x, generator=torch.Generator().manual_seed(3))     # only the caller's generator
    assert torch.equal(again.values, quantize(x, generator=torch.Generator().manual_seed(3)).values)
    assert float((quantize(x).values.mean(0)[:16] - row).abs().max()) > 0.05


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
    assert fp4.hadamard_matrix(1).tolist() == [[1.0]]
    torch.testing.assert_close(fp4.hadamard_matrix(2) * 2 ** 0.5, torch.tensor([[1.0, 1.0], [1.0, -1.0]]))
    for size in (0, 3, 6, 12):
        with pytest.raises(ValueError, match=f"size must be a power of two; got {size}"):
            fp4.hadamard_matrix(size)
    z = torch.randn(2, 32, generator=generator).to(torch.bfloat16)
    rotated, signs = fp4.random_hadamard(z, generator)
    assert rotated.dtype == torch.bfloat16 and fp4.inverse_hadamard(rotated, signs).dtype == torch.bfloat16
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
    assert fp4.bf16_fraction(62, 2, 4) == 6 / 62 and fp4.bf16_fraction(10, 0, 1) == 0.1
    with pytest.raises(ValueError, match=r"index must be in \[0, 62\); got 62"):
        fp4.layer_precision(62)


def test_random_hadamard_signs(generator):
    x = torch.randn(3, 32, generator=generator, dtype=torch.float64)
    y, signs = fp4.random_hadamard(x, generator)
    assert set(signs.tolist()) == {-1.0, 1.0}                         # a random +-1 diagonal
    again, same = fp4.random_hadamard(x, generator, inverse_signs=signs)
    assert torch.equal(same, signs) and torch.equal(again, y)
    h = fp4.hadamard_matrix(16, torch.float64)
    torch.testing.assert_close(y[:, :16], x[:, :16] @ (signs[:, None] * h))
