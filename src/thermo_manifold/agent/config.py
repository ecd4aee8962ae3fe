"""Validated, frozen configurations of the TopoEncoder atlas and of its training run.

`AtlasConfig` fixes the architecture (sizes of the encoder, router, codebooks and decoder);
`TrainConfig` fixes the optimisation and the weight of every loss term. Both check every field
in `__post_init__` and raise `ValueError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _int_at_least(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _number(name: str, value: object, low: float, high: float = math.inf,
            open_low: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must be a finite number in {bracket}{low}, {high}]; got {value!r}")


@dataclass(frozen=True)
class AtlasConfig:
    """Sizes of the TopoEncoder (encoder + decoder + jump operator).

    input_dim: D_in of the flattened observation; latent_dim: D of z_geo, z_n, z_tex;
    hidden_dim: H of the feature extractor and decoder; num_charts: N_c; codes_per_chart: K_c
    codes in each chart's codebook; router_dim: K, the router's query/key space; jump_dim: the
    shared space of the factorised jump operator; beta: VQ commitment weight; texture_scale:
    alpha in x_hat = base + alpha * texture; tau_min: floor of the router temperature factor
    (1 - |z|^2)/2, which keeps tau(z) away from zero.
    """

    input_dim: int = 64
    latent_dim: int = 8
    hidden_dim: int = 128
    num_charts: int = 10
    codes_per_chart: int = 8
    router_dim: int = 16
    jump_dim: int = 8
    beta: float = 0.25
    texture_scale: float = 0.1
    tau_min: float = 0.05

    def __post_init__(self) -> None:
        _int_at_least("input_dim", self.input_dim, 1)
        _int_at_least("latent_dim", self.latent_dim, 1)
        _int_at_least("hidden_dim", self.hidden_dim, 1)
        _int_at_least("num_charts", self.num_charts, 1)
        _int_at_least("codes_per_chart", self.codes_per_chart, 1)
        _int_at_least("router_dim", self.router_dim, 1)
        _int_at_least("jump_dim", self.jump_dim, 1)
        _number("beta", self.beta, 0.0)
        _number("texture_scale", self.texture_scale, 0.0)
        _number("tau_min", self.tau_min, 0.0, 0.5, open_low=True)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and loss weights of one training run (0.4 wiring plus section-1 terms).

    A weight of 0 switches its term off. `slowness` and `closure` only act on datasets that come
    with sequences (atlas2d); `supervised` enables SupervisedTopologyLoss (it uses labels, so it
    is off by default to keep the comparison with the unsupervised baselines fair).
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    classifier_lr: float = 3e-3
    recon: float = 1.0
    vq: float = 1.0
    jump: float = 0.1
    kl_nuisance: float = 1e-3
    kl_texture: float = 1e-2
    vicreg: float = 1e-3
    ortho: float = 1e-3
    balance: float = 0.1
    slowness: float = 0.1
    closure: float = 0.1
    supervised: float = 0.0
    learned_precisions: bool = False
    augment_noise: float = 0.05

    def __post_init__(self) -> None:
        _int_at_least("epochs", self.epochs, 1)
        _int_at_least("batch_size", self.batch_size, 2)
        _number("lr", self.lr, 0.0, 1.0, open_low=True)
        _number("classifier_lr", self.classifier_lr, 0.0, 1.0, open_low=True)
        for name in ("recon", "vq", "jump", "kl_nuisance", "kl_texture", "vicreg", "ortho",
                     "balance", "slowness", "closure", "supervised", "augment_noise"):
            _number(name, getattr(self, name), 0.0)
        if not isinstance(self.learned_precisions, bool):
            raise ValueError(f"learned_precisions must be a bool; got {self.learned_precisions!r}")


__all__ = ["AtlasConfig", "TrainConfig"]
