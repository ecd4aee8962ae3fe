"""PRETRAINING_NVFP4 / FP4_ALL_THE_WAY / QUARTET_FP4: 4-bit fake quantisation.

Elements are FP4 E2M1 (magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}). NVFP4 scales blocks of 16
values by an FP8 E4M3 block scale on top of one FP32 per-tensor scale; MXFP4 scales blocks of 32
by a power of two (E8M0). "Fake" quantisation returns the dequantised tensor in the input dtype,
which is what a reference for training-time numerics needs.

Scales are computed in float32 whatever the input dtype, as the hardware does (the NVFP4 tensor
scale is FP32): in float16, 6 * 448 / amax overflows for amax below ~0.041 and every value would
quantise to 0. Elements are scaled in float32, or in float64 for a float64 input.

Tie rules. Elements (E2M1) round to nearest with ties to even in both formats: OCP MX v1.0 makes
roundTiesToEven the conversion rule for its element types, and NVIDIA's FP4 conversion
(cvt.rn.satfinite.e2m1x2) is round-to-nearest-even as well; both saturate to +-6. The NVFP4
block scale is converted to E4M3 by round to nearest even (cvt.rn.satfinite.e4m3x2, and
torch's float8_e4m3fn cast), saturating at 448. The MXFP4 E8M0 scale is a floor, so it has no
ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from thermo_manifold.papers.metadata import (GENERATOR, PURE, RANDOM, Coeffect, CoeffectKind,
                                             Effect, EffectKind, Grade, GradeKind, implements)

E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
E2M1_MAX = 6.0
E4M3_MAX = 448.0
E2M1_EMAX = 2             # exponent of E2M1's largest binade (4 and 6 = 1.5 * 2^2)
E8M0_EMIN = -127          # smallest E8M0 scale exponent (2^-127)
SCALE_DTYPE = torch.float32
ROUNDING = Effect(EffectKind.ROUNDING, "values snap to the E2M1 grid times a block scale")
RANDOM_IF_SR = Effect(EffectKind.RANDOM, "only when a generator is passed (stochastic rounding)")


def _grid(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(E2M1_VALUES, dtype=x.dtype, device=x.device)


def _neighbours(mag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    grid = _grid(mag)
    # mag <= 6 = grid[-1], so the bucket index never passes the last grid point.
    hi_idx = torch.bucketize(mag.clamp(max=E2M1_MAX), grid, right=False).clamp_min(1)
    lo_idx = hi_idx - 1
    return grid[lo_idx], grid[hi_idx], hi_idx


@implements("FP4_ALL_THE_WAY", summary="round to nearest E2M1 value (ties to even code), saturating at 6",
            oracle="every output is in {0, +-0.5, ..., +-6}; nearest by brute force; every grid "
                   "midpoint ties to the even code; the input dtype is kept",
            effects=(PURE, ROUNDING),
            fixes=("seed calls NVFP4 elements E4M3 (1-4-3); they are E2M1 (1 sign, 2 exponent, 1 mantissa)",))
def round_e2m1(x: torch.Tensor) -> torch.Tensor:
    mag = x.abs().clamp(max=E2M1_MAX)
    lo, hi, hi_idx = _neighbours(mag)
    up = (mag - lo > hi - mag) | ((mag - lo == hi - mag) & (hi_idx % 2 == 0))
    return torch.copysign(torch.where(up, hi, lo), x)


@implements("PRETRAINING_NVFP4", summary="stochastic rounding onto the E2M1 grid",
            oracle="mean over many draws equals the input (unbiased) within a 5-sigma band",
            effects=(RANDOM, ROUNDING), coeffects=(GENERATOR,),
            grades=(Grade(GradeKind.UNBIASED, detail="for |x| <= 6; saturates beyond"),),
            fixes=("seed rounds to integers with floor + bernoulli(frac) (or a 2^-3 grid in "
                   "FP4_ALL_THE_WAY): not the E2M1 grid, whose spacing is 0.5, 1 or 2",))
def stochastic_round_e2m1(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    mag = x.abs().clamp(max=E2M1_MAX)
    lo, hi, _ = _neighbours(mag)
    p_up = (mag - lo) / (hi - lo)
    draw = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return torch.copysign(torch.where(draw < p_up, hi, lo), x)


def round_e4m3(x: torch.Tensor) -> torch.Tensor:
    """Round non-negative scales to FP8 E4M3 (saturating at 448)."""
    return x.clamp(max=E4M3_MAX).to(torch.float8_e4m3fn).to(x.dtype)


@dataclass(frozen=True)
class Quantized:
    values: torch.Tensor        # dequantised tensor, same shape and dtype as the input
    codes: torch.Tensor         # E2M1 values before scaling (..., blocks, block), zero-padded
    block_scale: torch.Tensor   # effective float32 scale per block (..., blocks, 1)
    global_scale: torch.Tensor  # NVFP4 per-tensor FP32 encode scale (1.0 for MXFP4)
    stored_scale: torch.Tensor  # the per-block scale as stored: E4M3 (NVFP4) or 2^e (MXFP4)


def _blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    if x.shape[-1] % block:
        raise ValueError(f"last dimension {x.shape[-1]} is not a multiple of the block size {block}")
    return x.reshape(*x.shape[:-1], x.shape[-1] // block, block)


def _padded_blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    """Blocks of the last dimension in the working dtype, the last one padded with zeros as the
    OCP MX reference does (zeros change no block's amax)."""
    if block < 1:
        raise ValueError(f"block must be >= 1; got {block}")
    work = x.to(torch.promote_types(x.dtype, SCALE_DTYPE))
    return _blocks(torch.nn.functional.pad(work, (0, -x.shape[-1] % block)), block)


def _unblock(x: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """Blocked values back to x's shape and dtype, without the padding."""
    return blocks.reshape(*x.shape[:-1], -1)[..., :x.shape[-1]].to(x.dtype)


def _round_codes(scaled: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return stochastic_round_e2m1(scaled, generator) if generator is not None else round_e2m1(scaled)


@implements("PRETRAINING_NVFP4", summary="NVFP4: E2M1 values, E4M3 scale per 16, FP32 global scale",
            oracle="hand-worked vectors: s = 6*448/amax, E4M3 block scales with a tie and a subnormal, "
                   "encode scale s/stored, saturation, an all-zero block, zero padding; per-block "
                   "error bounds for float16/bfloat16/float32 inputs at amax 1e-3, 0.04, 1, 1e3",
            effects=(ROUNDING, RANDOM_IF_SR),
            coeffects=(Coeffect(CoeffectKind.PARAMETER, "block = 16"),
                       Coeffect(CoeffectKind.PRECISION, "any float input; scales in float32")),
            fixes=("FP4_ALL_THE_WAY divides by amax / (M_FP4 * M_FP8 / M_FP4) = amax / 448; the block "
                   "decode scale is amax_b / 6, stored as e4m3(amax_b / 6 * s_enc) with s_enc = 6*448/amax",))
def quantize_nvfp4(x: torch.Tensor, block: int = 16, generator: torch.Generator | None = None) -> Quantized:
    """Round to nearest, or stochastic rounding when a generator is given (for gradients).

    With the FP32 tensor scale s = 6 * 448 / amax, block b's scale is stored as
    E4M3(amax_b / 6 * s). As in NVIDIA's recipe, elements are encoded as E2M1(x * s / stored) and
    decoded as code * stored / s (one rounding; code * stored is exact in float32). A last
    dimension that is not a multiple of `block` is padded with zeros, dropped from `values`."""
    blocks = _padded_blocks(x, block)
    amax = blocks.abs().amax().to(SCALE_DTYPE)
    s_enc = torch.where(amax > 0, E2M1_MAX * E4M3_MAX / amax, torch.ones_like(amax))
    decode = blocks.abs().amax(dim=-1, keepdim=True).to(SCALE_DTYPE) / E2M1_MAX
    stored = round_e4m3(decode * s_enc)                   # what the hardware keeps per block
    encode = torch.where(stored > 0, s_enc / stored, torch.zeros_like(stored))   # 0: all-zero block
    codes = _round_codes(blocks * encode.to(blocks.dtype), generator)
    values = _unblock(x, codes * stored.to(codes.dtype) / s_enc.to(codes.dtype))
    return Quantized(values, codes, stored / s_enc, s_enc, stored)


@implements("QUARTET_FP4", summary="MXFP4: E2M1 values, power-of-two (E8M0) scale per 32",
            oracle="hand-worked OCP MX v1.0 vectors: scale 2^(floor(log2 amax) - 2) at the top of a "
                   "binade, saturation, an all-zero block, the 2^-127 floor, zero padding, blocks of "
                   "1; per-block error bounds for float16/bfloat16/float32 inputs at amax 1e-3, "
                   "0.04, 1, 1e3",
            effects=(ROUNDING, RANDOM_IF_SR), coeffects=(Coeffect(CoeffectKind.PARAMETER, "block = 32"),))
def quantize_mxfp4(x: torch.Tensor, block: int = 32, generator: torch.Generator | None = None) -> Quantized:
    """OCP MX: scale 2^(floor(log2 amax_b) - 2) (2 = E2M1's largest exponent), at least E8M0's
    smallest scale 2^-127 (a float32 amax is below 2^128, so 2^127 is never exceeded); an all-zero
    block gets scale 0. Overflow saturates to +-6. A last dimension that is not a multiple of
    `block` is padded with zeros, dropped again from `values`."""
    blocks = _padded_blocks(x, block)
    amax = blocks.abs().amax(dim=-1, keepdim=True).to(SCALE_DTYPE)
    # floor(log2 amax) exactly: frexp gives amax = m * 2^e with 0.5 <= m < 1. torch.log2 rounds
    # up to the next integer just below a power of two (log2 of 8 - ulp is 3.0 in float32).
    _, binade = torch.frexp(amax)
    exponent = (binade - 1 - E2M1_EMAX).clamp_min(E8M0_EMIN)
    scale = torch.where(amax > 0, torch.exp2(exponent.to(SCALE_DTYPE)), torch.zeros_like(amax))
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    codes = _round_codes(blocks / safe.to(blocks.dtype), generator)
    one = torch.ones((), dtype=SCALE_DTYPE, device=x.device)
    return Quantized(_unblock(x, codes * scale.to(codes.dtype)), codes, scale, one, scale)


def hadamard_matrix(size: int, dtype=torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Orthonormal Sylvester-Hadamard matrix (H H^T = I)."""
    if size < 1 or size & (size - 1):
        raise ValueError(f"size must be a power of two; got {size}")
    h = torch.ones(1, 1, dtype=dtype, device=device)
    while h.shape[0] < size:
        h = torch.cat((torch.cat((h, h), 1), torch.cat((h, -h), 1)), 0)
    return h / h.shape[0] ** 0.5


@implements("PRETRAINING_NVFP4", summary="random Hadamard transform over blocks of 16 (and its inverse)",
            oracle="orthogonality: inverse(transform(x)) == x; norms preserved; an outlier is spread", effects=(RANDOM,),
            coeffects=(GENERATOR, Coeffect(CoeffectKind.PARAMETER, "size = 16")),
            fixes=("seed multiplies by an unnormalised Hadamard matrix, scaling values by sqrt(16) = 4",))
def random_hadamard(x: torch.Tensor, generator: torch.Generator, size: int = 16,
                    inverse_signs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (x' = blocks @ (D H), signs). Undo with `inverse_hadamard(x', signs)`."""
    signs = inverse_signs if inverse_signs is not None else (
        torch.randint(0, 2, (size,), generator=generator, device=x.device).to(x.dtype) * 2 - 1)
    rotation = signs[:, None] * hadamard_matrix(size, x.dtype, x.device)
    return (_blocks(x, size) @ rotation).reshape(x.shape), signs


def inverse_hadamard(y: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    size = signs.numel()
    rotation = signs[:, None] * hadamard_matrix(size, y.dtype, y.device)
    return (_blocks(y, size) @ rotation.T).reshape(y.shape)


@implements("PRETRAINING_NVFP4", summary="layer precision policy: first 2 and last 8 blocks in BF16",
            oracle="10 of 62 blocks (16%) in BF16", effects=(PURE,),
            coeffects=(Coeffect(CoeffectKind.PARAMETER, "num_blocks = 62, first = 2, last = 8"),))
def layer_precision(index: int, num_blocks: int = 62, first: int = 2, last: int = 8) -> str:
    if not 0 <= index < num_blocks:
        raise ValueError(f"index must be in [0, {num_blocks}); got {index}")
    return "BF16" if index < first or index >= num_blocks - last else "NVFP4"


def bf16_fraction(num_blocks: int = 62, first: int = 2, last: int = 8) -> float:
    return sum(layer_precision(i, num_blocks, first, last) == "BF16" for i in range(num_blocks)) / num_blocks


__all__ = ["E2M1_VALUES", "Quantized", "bf16_fraction", "hadamard_matrix", "inverse_hadamard",
           "layer_precision", "quantize_mxfp4", "quantize_nvfp4", "random_hadamard", "round_e2m1",
           "round_e4m3", "stochastic_round_e2m1"]
