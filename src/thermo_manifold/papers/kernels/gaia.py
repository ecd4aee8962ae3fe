"""GAIA2_WORLD_MODEL: action symlog with scale, bimodal logit-normal times, compression ratio."""

from __future__ import annotations

import math

import torch

from thermo_manifold.papers.metadata import (GENERATOR, PURE, RANDOM, Coeffect, CoeffectKind,
                                             Grade, GradeKind, implements)

PAPER = "GAIA2_WORLD_MODEL"


@implements(PAPER, summary="symlog(y) = sign(y) ln(1 + s|y|) / ln(1 + s y_max) and its inverse",
            oracle="round trip; +-y_max maps to +-1", effects=(PURE,),
            coeffects=(Coeffect(CoeffectKind.PARAMETER, "curvature s=1000, y_max=0.1; speed s=3.6, y_max=75"),))
def symlog_scaled(y: torch.Tensor, scale: float, y_max: float) -> torch.Tensor:
    if scale <= 0 or y_max <= 0:
        raise ValueError(f"scale and y_max must be > 0; got {scale}, {y_max}")
    return torch.sign(y) * torch.log1p(scale * y.abs()) / math.log1p(scale * y_max)


def symexp_scaled(z: torch.Tensor, scale: float, y_max: float) -> torch.Tensor:
    return torch.sign(z) * torch.expm1(z.abs() * math.log1p(scale * y_max)) / scale


@implements(PAPER, summary="flow-matching time tau = sigmoid(z), z ~ 0.8 N(0.5, 1.4) + 0.2 N(-3, 1)",
            oracle="tau in (0, 1); logit-space CDF and a 100-bin tau histogram match the mixture (scipy); modes near 0.02 and 0.88 with a dip between",
            effects=(RANDOM,), coeffects=(GENERATOR,),
            fixes=("seed draws the normal and clamps it to [0.01, 0.99] (or [0.001, 0.1]); a "
                   "logit-normal sample is the sigmoid of the normal draw",))
def sample_flow_time(size: int, generator: torch.Generator, weights=(0.8, 0.2), means=(0.5, -3.0),
                     stds=(1.4, 1.0)) -> torch.Tensor:
    """float64 samples strictly inside (0, 1) (sigmoid in float64 saturates only beyond |z| ~ 37)."""
    if abs(sum(weights) - 1.0) > 1e-12 or min(weights) < 0:
        raise ValueError(f"weights must be non-negative and sum to 1; got {weights}")
    component = torch.multinomial(torch.tensor(weights, dtype=torch.float64), size, replacement=True,
                                  generator=generator)
    mu = torch.tensor(means, dtype=torch.float64)[component]
    sigma = torch.tensor(stds, dtype=torch.float64)[component]
    z = mu + sigma * torch.randn(size, generator=generator, dtype=torch.float64)
    return torch.sigmoid(z)


@implements(PAPER, summary="tokenizer compression (T_v H_v W_v 3) / (T_L H W L)",
            oracle="384 for 24x448x960x3 -> 3x14x30x64", effects=(PURE,),
            grades=(Grade(GradeKind.EXACT),),
            fixes=("the first GAIA2 card says ~400x (and 32x spatial, 8x temporal); the dimensions "
                   "it gives elsewhere yield exactly 384x",))
def compression_ratio(video=(24, 448, 960, 3), latent=(3, 14, 30, 64)) -> float:
    return math.prod(video) / math.prod(latent)


__all__ = ["compression_ratio", "sample_flow_time", "symexp_scaled", "symlog_scaled"]
