from __future__ import annotations

import pytest
import torch

from thermo_manifold.papers.kernels import clipmap


def test_memory_formula_paper_value():
    assert clipmap.memory_bytes(11, 255) == 17_166_600


def _height(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.sin(0.37 * x) + torch.cos(0.11 * y) + 0.01 * x * y


def test_toroidal_addressing_round_trips_through_window_moves():
    n = 15
    level = clipmap.ClipLevel(level=0, grid_size=n, height=_height)
    level.move_to((-40, 7))
    moves = [(-37, 9), (-39, 4), (-39, 4), (-20, -30), (-18, -31), (5, 5)]
    for origin in moves:
        before = level.origin
        rewritten = level.move_to(origin)
        dx, dy = abs(origin[0] - before[0]), abs(origin[1] - before[1])
        expected = n * n if dx >= n or dy >= n else n * dx + n * dy - dx * dy   # the L-shape
        assert rewritten == expected
        i, j = torch.meshgrid(torch.arange(origin[0], origin[0] + n),
                              torch.arange(origin[1], origin[1] + n), indexing="ij")
        fresh = _height(i.to(torch.float64), j.to(torch.float64))
        assert torch.equal(level.read(i, j), fresh)          # same as a full refill
    bi, bj = clipmap.toroidal_index(torch.tensor([-1, -15, 14]), torch.tensor([0, 29, -16]), n)
    assert bi.tolist() == [14, 0, 14] and bj.tolist() == [0, 14, 14]


def test_levels_nest_and_align():
    cm = clipmap.GeometryClipmap(clipmap.ClipmapConfig(levels=5, grid_size=31), _height)
    cm.update((3.3, -7.9))
    for coarse, fine in zip(cm.levels, cm.levels[1:]):
        cx0, cx1, cy0, cy1 = coarse.extent()
        fx0, fx1, fy0, fy1 = fine.extent()
        assert cx0 <= fx0 < fx1 <= cx1 and cy0 <= fy0 < fy1 <= cy1
        assert fine.origin[0] % 2 == 0 and fine.origin[1] % 2 == 0   # starts on a coarse vertex


def test_config_validation():
    with pytest.raises(ValueError, match="grid_size"):
        clipmap.ClipmapConfig(grid_size=256)


def test_morph_weight_endpoints_monotone_continuous():
    d = torch.linspace(0, 10, 1001, dtype=torch.float64)
    w = clipmap.morph_weight(d, 3.0, 7.0)
    assert float(w[d <= 3].abs().max()) == 0.0 and float((w[d >= 7] - 1).abs().max()) == 0.0
    assert bool((w[1:] >= w[:-1]).all()) and float((w[1:] - w[:-1]).abs().max()) < 0.01
    z = clipmap.morph_height(torch.tensor(2.0), torch.tensor(5.0), torch.tensor(1.0))
    assert float(z) == 5.0
