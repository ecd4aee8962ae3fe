"""COSYVOICE2_TTS finite scalar quantisation and QWEN25_OMNI TMRoPE position ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from thermo_manifold.papers.metadata import (PURE, Coeffect, CoeffectKind, Effect, EffectKind,
                                             Grade, GradeKind, implements)

ROUNDING = Effect(EffectKind.ROUNDING, "round to integer levels")


def fsq_codebook_size(levels: int, dims: int) -> int:
    """(2K + 1)^D codes for K levels each side of zero in D dimensions."""
    return (2 * levels + 1) ** dims


@implements("COSYVOICE2_TTS", summary="FSQ: clamp to [-K, K], round (straight-through gradient)",
            oracle="outputs are integers in [-K, K]; straight-through gradient 1 inside the range", effects=(PURE, ROUNDING),
            coeffects=(Coeffect(CoeffectKind.PARAMETER, "K levels"),),
            fixes=("seed rounds the unbounded projection, so values outside [-K, K] produce invalid codes",))
def fsq_quantize(h: torch.Tensor, levels: int) -> torch.Tensor:
    if levels < 1:
        raise ValueError(f"levels must be >= 1; got {levels}")
    bounded = h.clamp(-levels, levels)
    if not h.requires_grad:
        return torch.round(bounded)
    return bounded + (torch.round(bounded) - bounded).detach()   # straight-through estimator


@implements("COSYVOICE2_TTS", summary="FSQ index = sum_j (q_j + K) (2K+1)^j and its inverse",
            oracle="decode(encode(q)) == q for every code; encode is a bijection onto [0, (2K+1)^D)",
            effects=(PURE,), grades=(Grade(GradeKind.LOSSLESS),),
            fixes=("the seed's formula sums q_j (2K+1)^j with q_j in [-K, K], giving negative and "
                   "colliding indices; its code adds the offset K, as here",))
def fsq_encode(q: torch.Tensor, levels: int) -> torch.Tensor:
    """Integer levels (..., D) -> int64 indices (...)."""
    base = 2 * levels + 1
    digits = (torch.round(q).to(torch.int64) + levels)
    if (digits < 0).any() or (digits >= base).any():
        raise ValueError(f"levels outside [-{levels}, {levels}]")
    weights = base ** torch.arange(q.shape[-1], dtype=torch.int64, device=q.device)
    return (digits * weights).sum(-1)


def fsq_decode(index: torch.Tensor, levels: int, dims: int) -> torch.Tensor:
    base = 2 * levels + 1
    weights = base ** torch.arange(dims, dtype=torch.int64, device=index.device)
    return (index.unsqueeze(-1) // weights % base - levels).to(torch.float32)


# --- TMRoPE ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Segment:
    modality: str                 # "text" | "audio" | "image" | "video"
    length: int = 0               # tokens (text) or 40 ms frames (audio)
    height: int = 0               # patch grid (image, video)
    width: int = 0
    frames: int = 0               # video frames
    fps: float = 25.0             # video frame rate

    def __post_init__(self) -> None:
        if self.modality not in ("text", "audio", "image", "video"):
            raise ValueError(f"modality must be text, audio, image or video; got {self.modality!r}")


MS_PER_ID = 40.0


@implements("QWEN25_OMNI", summary="TMRoPE (temporal, height, width) position ids, one id = 40 ms",
            oracle="text ids consecutive and equal on all axes; audio one id per 40 ms; video ids "
                   "advance with time (12.5 fps -> 2 ids per frame); image temporal id constant",
            effects=(PURE,), coeffects=(Coeffect(CoeffectKind.PARAMETER, "40 ms per temporal id"),),
            fixes=("seed's audio branch returns milliseconds (0, 40, 80, ...) instead of ids",
                   "seed's video branch returns a (T, -1) expand, not per-patch (t, h, w) ids"))
def tmrope_position_ids(segments: Sequence[Segment]) -> torch.Tensor:
    """(3, L) ids for the concatenated segments; each segment starts after the largest id so far."""
    parts: list[torch.Tensor] = []
    start = 0
    for seg in segments:
        if seg.modality in ("text", "audio"):
            ids = start + torch.arange(seg.length)
            block = torch.stack((ids, ids, ids))
        else:
            frames = 1 if seg.modality == "image" else seg.frames      # an image is one frame: t = 0
            t = torch.floor(torch.arange(frames, dtype=torch.float64) * (1000.0 / seg.fps) / MS_PER_ID).to(torch.int64)
            tt, hh, ww = torch.meshgrid(t, torch.arange(seg.height), torch.arange(seg.width), indexing="ij")
            block = start + torch.stack((tt.reshape(-1), hh.reshape(-1), ww.reshape(-1)))
        parts.append(block)
        if block.numel():
            start = int(block.max()) + 1
    return torch.cat(parts, dim=1) if parts else torch.zeros(3, 0, dtype=torch.int64)


__all__ = ["Segment", "fsq_codebook_size", "fsq_decode", "fsq_encode", "fsq_quantize",
           "tmrope_position_ids"]
