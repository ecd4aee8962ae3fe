"""PRETRAINING_NVFP4 / FP4_ALL_THE_WAY / QUARTET_FP4: 4-bit fake quantisation.

Elements are FP4 E2M1 (magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}). NVFP4 scales blocks of 16
values by an FP8 E4M3 block scale on top of one FP32 per-tensor scale; MXFP4 scales blocks of 32
by a power of two (E8M0). "Fake" quantisation returns the dequantised tensor in the input dtype,
which is what a reference for training-time numerics needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from thermo_manifold.papers.metadata import (GENERATOR, PURE, RANDOM, Coeffect, CoeffectKind,
                                             Effect, EffectKind, Grade, GradeKind, implements)

E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
E2M1_MAX = 6.0
E4M3_MAX = 448.0
ROUNDING = Effect(EffectKind.ROUNDING, "values snap to the E2M1 grid times a block scale")
RANDOM_IF_SR = Effect(EffectKind.RANDOM, "only when a generator is passed (stochastic rounding)")


def _grid(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(E2M1_VALUES, dtype=x.dtype, device=x.device)


def _neighbours(mag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    grid = _grid(mag)
    hi_idx = torch.bucketize(mag.clamp(max=E2M1_MAX), grid, right=False).clamp(1, len(E2M1_VALUES) - 1)
    lo_idx = hi_idx - 1
    return grid[lo_idx], grid[hi_idx], hi_idx


@implements("FP4_ALL_THE_WAY", summary="round to nearest E2M1 value (ties to even code), saturating at 6",
            oracle="every output is in {0, +-0.5, ..., +-6}; nearest by brute force; ties to even",
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
    codes: torch.Tensor         # E2M1 values before scaling (..., blocks, block)
    block_scale: torch.Tensor   # effective scale per block (..., blocks, 1) in the input dtype
    global_scale: torch.Tensor  # NVFP4 per-tensor FP32 encode scale (1.0 for MXFP4)
    stored_scale: torch.Tensor  # the per-block scale as stored: E4M3 (NVFP4) or 2^e (MXFP4)


def _blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    if x.shape[-1] % block:
        raise ValueError(f"last dimension must be a multiple of the block size {block}; got {x.shape[-1]}")
    return x.reshape(*x.shape[:-1], x.shape[-1] // block, block)


@implements("PRETRAINING_NVFP4", summary="NVFP4: E2M1 values, E4M3 scale per 16, FP32 global scale",
            oracle="codes in the E2M1 grid; |value| <= 6 * block scale; block scales E4M3-representable",
            effects=(ROUNDING, RANDOM_IF_SR),
            coeffects=(Coeffect(CoeffectKind.PARAMETER, "block = 16"),
                       Coeffect(CoeffectKind.PRECISION, "float32 input")),
            fixes=("FP4_ALL_THE_WAY divides by amax / (M_FP4 * M_FP8 / M_FP4) = amax / 448; the block "
                   "decode scale is amax_b / 6, stored as e4m3(amax_b / 6 * s_enc) with s_enc = 6*448/amax",))
def quantize_nvfp4(x: torch.Tensor, block: int = 16, generator: torch.Generator | None = None) -> Quantized:
    """Round to nearest, or stochastic rounding when a generator is given (for gradients)."""
    blocks = _blocks(x, block)
    amax = x.abs().amax()
    s_enc = (E2M1_MAX * E4M3_MAX / amax) if amax > 0 else torch.ones((), dtype=x.dtype)
    decode = blocks.abs().amax(dim=-1, keepdim=True) / E2M1_MAX
    stored = round_e4m3(decode * s_enc)                   # what the hardware keeps per block
    scale = stored / s_enc
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    scaled = blocks / safe
    codes = stochastic_round_e2m1(scaled, generator) if generator is not None else round_e2m1(scaled)
    codes = torch.where(scale > 0, codes, torch.zeros_like(codes))
    return Quantized((codes * scale).reshape(x.shape), codes, scale, s_enc.to(torch.float32), stored)


@implements("QUARTET_FP4", summary="MXFP4: E2M1 values, power-of-two (E8M0) scale per 32",
            oracle="codes in the E2M1 grid; scales are powers of two; |value| <= 6 * scale",
            effects=(ROUNDING, RANDOM_IF_SR), coeffects=(Coeffect(CoeffectKind.PARAMETER, "block = 32"),))
def quantize_mxfp4(x: torch.Tensor, block: int = 32, generator: torch.Generator | None = None) -> Quantized:
    """OCP MX: shared exponent floor(log2 amax) - 2 (E2M1's largest exponent); overflow saturates."""
    blocks = _blocks(x, block)
    amax = blocks.abs().amax(dim=-1, keepdim=True)
    exponent = torch.floor(torch.log2(torch.where(amax > 0, amax, torch.ones_like(amax)))) - 2
    scale = torch.where(amax > 0, torch.exp2(exponent), torch.zeros_like(amax))
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    scaled = blocks / safe
    codes = stochastic_round_e2m1(scaled, generator) if generator is not None else round_e2m1(scaled)
    return Quantized((codes * scale).reshape(x.shape), codes, scale, torch.ones((), dtype=torch.float32), scale)


def hadamard_matrix(size: int, dtype=torch.float32) -> torch.Tensor:
    """Orthonormal Sylvester-Hadamard matrix (H H^T = I)."""
    if size < 1 or size & (size - 1):
        raise ValueError(f"size must be a power of two; got {size}")
    h = torch.ones(1, 1, dtype=dtype)
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
    rotation = signs[:, None] * hadamard_matrix(size, x.dtype).to(x.device)
    return (_blocks(x, size) @ rotation).reshape(x.shape), signs


def inverse_hadamard(y: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    size = signs.numel()
    rotation = signs[:, None] * hadamard_matrix(size, y.dtype).to(y.device)
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
