"""GEOMCLIPMAP: geometry clipmaps (nested grids around the viewer, toroidal storage).

Level l has grid spacing 2^-l (level 0 coarsest, as in the seed) and stores an n x n window of
height samples in a toroidal buffer: sample (i, j) in grid coordinates lives at
(i mod n, j mod n), so moving the window only rewrites the L-shaped strip that entered it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from thermo_manifold.papers.metadata import PURE, Effect, EffectKind, Grade, GradeKind, implements

PAPER = "GEOMCLIPMAP"
HeightFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ClipmapConfig:
    levels: int = 11
    grid_size: int = 255

    def __post_init__(self) -> None:
        if not 1 <= self.levels <= 20:
            raise ValueError(f"levels must be in [1, 20]; got {self.levels}")
        if self.grid_size < 3 or self.grid_size % 2 == 0:
            raise ValueError(f"grid_size must be an odd integer >= 3 (2^k - 1 in the paper); got {self.grid_size}")


@implements(PAPER, summary="clipmap memory: m*n^2*16 + m*(2n)^2*2 bytes",
            oracle="17,166,600 bytes for m=11, n=255 (the seed's ~17 MB)", effects=(PURE,),
            grades=(Grade(GradeKind.EXACT, detail="integer arithmetic"),))
def memory_bytes(levels: int, grid_size: int) -> int:
    """Vertices as 4 x float32 per sample plus a (2n)^2 normal map of 2 bytes per texel, per level."""
    return levels * grid_size ** 2 * 16 + levels * (2 * grid_size) ** 2 * 2


def level_spacing(level: int) -> float:
    return 2.0 ** (-level)


@implements(PAPER, summary="toroidal address of grid sample (i, j) in an n x n buffer",
            oracle="write-then-read round trip over every window position", effects=(PURE,),
            fixes=("floor modulo for negative grid coordinates (C's % in the seed's target "
                   "language gives negative indices)",))
def toroidal_index(i: torch.Tensor, j: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.remainder(i, n), torch.remainder(j, n)


def window_origin(viewer_xy: tuple[float, float], level: int, grid_size: int) -> tuple[int, int]:
    """Lower-left grid coordinate of level `level`'s window, centred on the viewer to within two
    samples. It is always even, so a finer window starts on a vertex of the next coarser level
    (fine index 2k is coarse index k) and the levels nest without cracks."""
    spacing = level_spacing(level)
    half = grid_size // 2
    return tuple(2 * math.floor((v / spacing - half) / 2.0) for v in viewer_xy)  # type: ignore[return-value]


class ClipLevel:
    """One level: an n x n toroidal height buffer and the grid window it currently holds."""

    def __init__(self, level: int, grid_size: int, height: HeightFn, dtype=torch.float64) -> None:
        self.level, self.n, self.height = level, grid_size, height
        self.spacing = level_spacing(level)
        self.buffer = torch.zeros(grid_size, grid_size, dtype=dtype)
        self.origin: tuple[int, int] | None = None

    def _fill(self, i: torch.Tensor, j: torch.Tensor) -> None:
        if i.numel() == 0:
            return
        bi, bj = toroidal_index(i, j, self.n)
        self.buffer[bi, bj] = self.height(i.to(self.buffer.dtype) * self.spacing,
                                          j.to(self.buffer.dtype) * self.spacing).to(self.buffer.dtype)

    @implements(PAPER, summary="move the window, rewriting only the L-shaped strip that entered it",
                oracle="buffer equals a full refill after every move; count = n|dx| + n|dy| - |dx||dy|",
                effects=(Effect(EffectKind.STATEFUL, "updates this level's buffer in place"),),
                fixes=("seed's update_L_region spans min/max of old and new windows, so it rewrites "
                       "the corner twice and writes rows outside the new window",
                       "seed's active regions are not snapped, so nested levels drift off the coarser grid"))
    def move_to(self, origin: tuple[int, int]) -> int:
        """Make the buffer hold grid window [origin, origin + n). Returns samples rewritten."""
        n = self.n
        ox, oy = origin
        if self.origin is None or abs(ox - self.origin[0]) >= n or abs(oy - self.origin[1]) >= n:
            i, j = torch.meshgrid(torch.arange(ox, ox + n), torch.arange(oy, oy + n), indexing="ij")
            self._fill(i.reshape(-1), j.reshape(-1))
            self.origin = origin
            return n * n
        px, py = self.origin
        new_x = torch.arange(ox, ox + n)
        new_y = torch.arange(oy, oy + n)
        entered_x = new_x[(new_x < px) | (new_x >= px + n)]   # columns that entered
        entered_y = new_y[(new_y < py) | (new_y >= py + n)]   # rows that entered
        kept_x = new_x[(new_x >= px) & (new_x < px + n)]
        # The L: entered columns over the whole new height, then entered rows over kept columns only.
        i1, j1 = torch.meshgrid(entered_x, new_y, indexing="ij")
        i2, j2 = torch.meshgrid(kept_x, entered_y, indexing="ij")
        self._fill(i1.reshape(-1), j1.reshape(-1))
        self._fill(i2.reshape(-1), j2.reshape(-1))
        self.origin = origin
        return i1.numel() + i2.numel()

    def read(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """Heights at grid coordinates inside the current window."""
        assert self.origin is not None
        ox, oy = self.origin
        if ((i < ox) | (i >= ox + self.n) | (j < oy) | (j >= oy + self.n)).any():
            raise ValueError(f"grid coordinates outside the window starting at {self.origin}")
        bi, bj = toroidal_index(i, j, self.n)
        return self.buffer[bi, bj]

    def extent(self) -> tuple[float, float, float, float]:
        assert self.origin is not None
        ox, oy = self.origin
        s = self.spacing
        return ox * s, (ox + self.n - 1) * s, oy * s, (oy + self.n - 1) * s


class GeometryClipmap:
    """All levels, each moved so its window is centred (snapped) on the viewer."""

    def __init__(self, config: ClipmapConfig, height: HeightFn) -> None:
        self.config = config
        self.levels = [ClipLevel(l, config.grid_size, height) for l in range(config.levels)]

    def update(self, viewer_xy: tuple[float, float]) -> list[int]:
        return [level.move_to(window_origin(viewer_xy, level.level, self.config.grid_size))
                for level in self.levels]


@implements(PAPER, summary="transition weight: 0 inside morph_start, 1 beyond morph_end, smoothstep between",
            oracle="endpoints, monotonicity and continuity", effects=(PURE,))
def morph_weight(distance: torch.Tensor, morph_start: float, morph_end: float) -> torch.Tensor:
    if not morph_end > morph_start:
        raise ValueError(f"morph_end must exceed morph_start; got {morph_start}, {morph_end}")
    t = ((distance - morph_start) / (morph_end - morph_start)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def morph_height(z_fine: torch.Tensor, z_coarse: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """z = lerp(z_fine, z_coarse, w): at w = 1 a fine vertex sits exactly on the coarse surface."""
    return z_fine + weight * (z_coarse - z_fine)


__all__ = ["ClipLevel", "ClipmapConfig", "GeometryClipmap", "level_spacing", "memory_bytes",
           "morph_height", "morph_weight", "toroidal_index", "window_origin"]
