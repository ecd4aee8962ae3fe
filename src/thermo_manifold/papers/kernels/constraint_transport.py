"""CONSTRAINT_TRANSPORT: entropy-matched precision and semi-Lagrangian advection."""

from __future__ import annotations

import torch

from thermo_manifold.papers.metadata import (PURE, Coeffect, CoeffectKind, Grade, GradeKind,
                                             implements)

PAPER = "CONSTRAINT_TRANSPORT"


@implements(PAPER, summary="histogram entropy of a latent in bits (256 bins by default)",
            oracle="0 bits for a constant tensor, exactly log2(bins) for one sample per bin",
            effects=(PURE,), coeffects=(Coeffect(CoeffectKind.PARAMETER, "bins = 256"),),
            fixes=("seed uses the natural log, so H <= ln 256 = 5.55 and the 'H >= 8' FP8 branch "
                   "can never run; in bits H reaches log2(256) = 8",))
def entropy_bits(latent: torch.Tensor, bins: int = 256) -> float:
    if bins < 2:
        raise ValueError(f"bins must be >= 2; got {bins}")
    x = latent.detach().reshape(-1).to(torch.float64)
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        return 0.0
    counts = torch.histc(x, bins=bins, min=lo, max=hi)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * torch.log2(p)).sum())


@implements(PAPER, summary="precision from entropy: H < 4 NVFP4, 4 <= H < 8 FP16, H >= 8 FP8",
            oracle="each branch reached by a constant, a 32-level and a 256-level latent",
            effects=(PURE,))
def select_precision(entropy: float) -> str:
    if entropy < 4.0:
        return "NVFP4"
    if entropy < 8.0:
        return "FP16"
    return "FP8"


def precision_for_timestep(t: float) -> str:
    """Seed's time schedule: t > 0.8 NVFP4, 0.4 < t <= 0.8 FP16, else FP8 (its results table
    says 't < 0.8' for the refinement phase; the code and phase names say t < 0.4)."""
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must be in [0, 1]; got {t}")
    return "NVFP4" if t > 0.8 else "FP16" if t > 0.4 else "FP8"


@implements(PAPER, summary="semi-Lagrangian advection: sample u at x - dt v with bilinear interpolation",
            oracle="integer shifts equal torch.roll; constant fields are preserved; linear fields "
                   "advect exactly", effects=(PURE,),
            coeffects=(Coeffect(CoeffectKind.PARAMETER, "boundary = periodic | clamp"),),
            grades=(Grade(GradeKind.EXACT, detail="for fields linear within the traced cell"),),
            fixes=("seed traces back by v without dt and loops per pixel; here dt is explicit and "
                   "the sampling is vectorised",))
def advect(field: torch.Tensor, velocity: torch.Tensor, dt: float = 1.0,
           boundary: str = "periodic") -> torch.Tensor:
    """field (H, W) or (C, H, W); velocity (H, W, 2) in cells per unit time (axis 0, axis 1)."""
    if boundary not in ("periodic", "clamp"):
        raise ValueError(f"boundary must be 'periodic' or 'clamp'; got {boundary!r}")
    squeeze = field.dim() == 2
    f = field.unsqueeze(0) if squeeze else field
    h, w = f.shape[-2:]
    if velocity.shape != (h, w, 2):
        raise ValueError(f"velocity must have shape {(h, w, 2)}; got {tuple(velocity.shape)}")
    ii, jj = torch.meshgrid(torch.arange(h, dtype=f.dtype, device=f.device),
                            torch.arange(w, dtype=f.dtype, device=f.device), indexing="ij")
    x = ii - dt * velocity[..., 0].to(f.dtype)
    y = jj - dt * velocity[..., 1].to(f.dtype)
    # "clamp" needs no clamp of x and y: beyond an edge both corners of the cell clamp to the
    # edge sample, so the interpolant is that sample whatever the weights.
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.to(torch.int64), y0.to(torch.int64)

    def at(i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        if boundary == "periodic":
            i, j = torch.remainder(i, h), torch.remainder(j, w)
        else:
            i, j = i.clamp(0, h - 1), j.clamp(0, w - 1)
        return f[:, i, j]

    out = ((1 - fx) * (1 - fy) * at(x0, y0) + fx * (1 - fy) * at(x0 + 1, y0)
           + (1 - fx) * fy * at(x0, y0 + 1) + fx * fy * at(x0 + 1, y0 + 1))
    return out.squeeze(0) if squeeze else out


__all__ = ["advect", "entropy_bits", "precision_for_timestep", "select_precision"]
