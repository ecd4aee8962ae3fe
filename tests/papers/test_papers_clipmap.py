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
    for levels, grid_size in ((1, 3), (20, 3)):
        assert clipmap.ClipmapConfig(levels, grid_size).levels == levels
    for levels in (0, 21):
        with pytest.raises(ValueError, match=rf"levels must be in \[1, 20\]; got {levels}"):
            clipmap.ClipmapConfig(levels=levels)
    with pytest.raises(ValueError, match="grid_size must be an odd integer >= 3"):
        clipmap.ClipmapConfig(grid_size=1)


def test_spacing_origin_and_extent_by_hand():
    assert [clipmap.level_spacing(l) for l in (0, 1, 3)] == [1.0, 0.5, 0.125]
    # n = 31, half = 15. Level 0: 2 floor((3.3 - 15) / 2) = -12, 2 floor((-7.9 - 15) / 2) = -24.
    # Level 2 (spacing 1/4): 2 floor((13.2 - 15) / 2) = -2, 2 floor((-31.6 - 15) / 2) = -48.
    assert clipmap.window_origin((3.3, -7.9), 0, 31) == (-12, -24)
    assert clipmap.window_origin((3.3, -7.9), 2, 31) == (-2, -48)
    level = clipmap.ClipLevel(level=1, grid_size=5, height=_height)
    level.move_to((2, -4))
    assert level.extent() == (1.0, 3.0, -2.0, 0.0)                 # samples 2..6 and -4..0, spacing 1/2


def test_fill_uses_the_level_spacing_and_reads_stay_inside():
    n = 5
    level = clipmap.ClipLevel(level=2, grid_size=n, height=_height)
    level.move_to((0, 0))
    # dx = 4, dy = 1: 4 entered columns of 5, then 1 kept column x 1 entered row, a 1-sample fill.
    assert level.move_to((4, 1)) == 21
    i, j = torch.meshgrid(torch.arange(4, 9), torch.arange(1, 6), indexing="ij")
    want = _height(i.to(torch.float64) * 0.25, j.to(torch.float64) * 0.25)
    assert torch.equal(level.read(i, j), want)
    for bad_i, bad_j in ((3, 1), (9, 1), (4, 0), (4, 6)):
        with pytest.raises(ValueError, match=r"outside the window starting at \(4, 1\)"):
            level.read(torch.tensor([bad_i]), torch.tensor([bad_j]))
    assert level.read(torch.tensor([8]), torch.tensor([5])).tolist() == [float(want[4, 4])]


def test_morph_weight_is_smoothstep_between_start_and_end():
    # t = (d - 3) / 4 on [3, 7]; smoothstep 3 t^2 - 2 t^3 worked by hand at dyadic t (exact):
    # t = 1/8 -> 3/64 - 2/512 = 0.04296875, 1/4 -> 3/16 - 2/64 = 0.15625, 1/2 -> 0.5,
    # 3/4 -> 27/16 - 54/64 = 0.84375; 0 before the start, 1 after the end.
    d = torch.tensor([0.0, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 9.0], dtype=torch.float64)
    w = clipmap.morph_weight(d, 3.0, 7.0)
    assert w.tolist() == [0.0, 0.0, 0.04296875, 0.15625, 0.5, 0.84375, 1.0, 1.0]
    # Flat at both ends (zero slope): w(3 + h) = 3 (h/4)^2 - 2 (h/4)^3.
    h = 1e-3
    assert float(clipmap.morph_weight(torch.tensor(3.0 + h, dtype=torch.float64), 3.0, 7.0)) == \
        pytest.approx(3 * (h / 4) ** 2 - 2 * (h / 4) ** 3, rel=1e-9)
    assert clipmap.morph_weight(torch.tensor([5.0], dtype=torch.float32), 3.0, 7.0).dtype == torch.float32
    with pytest.raises(ValueError, match="morph_end must exceed morph_start"):
        clipmap.morph_weight(d, 7.0, 7.0)


def test_morph_height_interpolates():
    z = clipmap.morph_height(torch.tensor([2.0, 2.0, 2.0]), torch.tensor([5.0, 5.0, 5.0]),
                             torch.tensor([0.0, 0.25, 1.0]))
    assert z.tolist() == [2.0, 2.75, 5.0]


def test_config_defaults_and_mixed_reads():
    assert (clipmap.ClipmapConfig().levels, clipmap.ClipmapConfig().grid_size) == (11, 255)
    level = clipmap.ClipLevel(level=0, grid_size=3, height=_height)
    level.move_to((0, 0))
    with pytest.raises(ValueError, match="outside the window"):
        level.read(torch.tensor([0, 3]), torch.tensor([0, 0]))      # one inside, one outside
