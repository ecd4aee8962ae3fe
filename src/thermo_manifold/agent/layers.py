"""Small building blocks: seeded initialisation, MLPs, parameter counts, batch-shape checks.

`torch.nn.Linear` initialises from the global RNG; the project draws all randomness from a
seeded `torch.Generator`, so every module here takes one and re-draws its parameters with it
(same seed -> bit-identical weights).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def seeded_linear(in_features: int, out_features: int, generator: torch.Generator,
                  bias: bool = True) -> nn.Linear:
    """An `nn.Linear` with PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) drawn from `generator`."""
    layer = nn.Linear(in_features, out_features, bias=bias)
    bound = 1.0 / math.sqrt(in_features)
    with torch.no_grad():
        nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
        if bias:
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def seeded_parameter(shape: tuple[int, ...], scale: float, generator: torch.Generator) -> nn.Parameter:
    """A parameter drawn from N(0, scale^2) with `generator`."""
    return nn.Parameter(torch.randn(shape, generator=generator) * scale)


def mlp(sizes: list[int], generator: torch.Generator) -> nn.Sequential:
    """Linear layers of the given widths with GELU between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(seeded_linear(fan_in, fan_out, generator))
        if index < len(sizes) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def check_batch(name: str, tensor: torch.Tensor, width: int) -> None:
    """Raise ValueError unless `tensor` is a [B, width] floating batch with B >= 1."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape [B, {width}]; got {type(tensor).__name__}")
    if tensor.dim() != 2 or tensor.shape[1] != width or tensor.shape[0] < 1:
        raise ValueError(f"{name} must have shape [B, {width}] with B >= 1; got {list(tensor.shape)}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor; got dtype {tensor.dtype}")


__all__ = ["check_batch", "count_parameters", "mlp", "seeded_linear", "seeded_parameter"]
