"""SDF ray tracing kernels against sympy, numpy.roots, finite differences and dense sampling."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from thermo_manifold.papers.kernels import sdf


def test_cubic_equals_exact_trilinear_ray_expansion():
    s = sympy.symbols("s000 s100 s010 s110 s001 s101 s011 s111")
    ox, oy, oz, dx, dy, dz, t = sympy.symbols("ox oy oz dx dy dz t")
    x, y, z = ox + t * dx, oy + t * dy, oz + t * dz
    f = ((1 - z) * ((1 - y) * ((1 - x) * s[0] + x * s[1]) + y * ((1 - x) * s[2] + x * s[3]))
         + z * ((1 - y) * ((1 - x) * s[4] + x * s[5]) + y * ((1 - x) * s[6] + x * s[7])))
    poly = sympy.Poly(sympy.expand(f), t)
    exact = [poly.coeff_monomial(t ** k) for k in (3, 2, 1, 0)]
    rng = np.random.default_rng(0)
    for _ in range(5):
        values = rng.normal(size=8)
        o, d = rng.normal(size=3), rng.normal(size=3)
        subs = dict(zip(s, values)) | dict(zip((ox, oy, oz), o)) | dict(zip((dx, dy, dz), d))
        want = [float(c.subs(subs)) for c in exact]
        got = sdf.cubic_coefficients(torch.tensor(values), torch.tensor(o), torch.tensor(d)).tolist()
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_seed_k_constant_was_wrong():
    # with s101 != s000 + (s001 - s000) the seed's a = s101 - s000 changes f(1, 0, 1) = s101
    corners = torch.tensor([0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 11.0, 13.0], dtype=torch.float64)
    c = sdf.cubic_coefficients(corners, torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64),
                               torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
    assert float(c.sum()) == pytest.approx(7.0)           # f(o + 1*d) = f(1,0,1) = s101


@pytest.mark.parametrize("roots", [(1.0, 2.0, 3.0), (-0.5, 0.25, 4.0), (0.3, 0.3, 2.0),
                                   (0.7, 0.7, 0.7), (1e-3, 0.5, 1000.0)])
def test_cubic_with_known_roots(roots):
    coeffs = np.poly(roots) * 2.5
    got = sdf.solve_polynomial(*coeffs)
    assert got == pytest.approx(sorted(set(roots)), rel=1e-6, abs=1e-6)


def test_cubic_with_one_real_root_matches_numpy():
    rng = np.random.default_rng(1)
    for _ in range(50):
        c = rng.normal(size=4)
        want = sorted(r.real for r in np.roots(c) if abs(r.imag) < 1e-9)
        got = sdf.solve_polynomial(*c)
        assert len(got) == len(want)
        assert got == pytest.approx(want, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("coeffs,roots", [
    ((0.0, 1.0, -3.0, 2.0), [1.0, 2.0]),          # quadratic
    ((1e-18, 1.0, -3.0, 2.0), [1.0, 2.0]),        # numerically degenerate cubic
    ((0.0, 1.0, -2.0, 1.0), [1.0]),               # double root
    ((0.0, 1.0, 0.0, 1.0), []),                   # no real root
    ((0.0, 0.0, 2.0, -1.0), [0.5]),               # linear
    ((0.0, 0.0, 0.0, 3.0), []),                   # constant, non-zero
    ((0.0, 1e-20, 1.0, -0.25), [0.25]),           # quadratic term vanishing too
])
def test_degenerate_cases(coeffs, roots):
    assert sdf.solve_polynomial(*coeffs) == pytest.approx(roots, abs=1e-9)


@pytest.mark.parametrize("roots", [(1.0, 2.0, 3.0), (-0.5, 0.25, 4.0), (1e-3, 0.5, 1000.0), (1e-4, 1.0, 10.0)])
def test_newton_polishing_gives_roots_to_a_few_ulps(roots):
    # Without the polishing steps the closed form is off by up to 1.6e-8 relative on these.
    got = sdf.solve_polynomial(*(np.poly(roots) * 2.5))
    assert got == pytest.approx(sorted(roots), rel=1e-14, abs=0)


@pytest.mark.parametrize("coeffs,roots", [
    ((0.0, 1.0, -0.5, -0.5), [-0.5, 1.0]),        # (t - 1)(t + 1/2): q = 1 exactly
    ((0.0, 1.0, 0.0, 0.0), [0.0]),                # t^2: q = 0
    ((0.0, 1.0, -5.8, 8.41), [2.9]),              # (t - 2.9)^2: the discriminant rounds below 0
    ((0.0, 1.0, -10.6, 28.09), [5.3]),            # (t - 5.3)^2: likewise
    ((1.0, 0.0, 0.0, 0.5), [-(0.5 ** (1 / 3))]),  # depressed cubic with p = 0, q = 1/2
    ((1.0, 0.0, 0.0, -8.0), [2.0]),
])
def test_quadratic_special_cases(coeffs, roots):
    assert sdf.solve_polynomial(*coeffs) == pytest.approx(roots, rel=1e-12, abs=1e-15)


def test_trilinear_and_normal_shapes():
    corners = torch.tensor([0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 11.0, 13.0], dtype=torch.float64)
    at = lambda p: float(sdf.trilinear(corners, torch.tensor(p, dtype=torch.float64)))  # noqa: E731
    assert (at([0.0, 0.0, 0.0]), at([1.0, 1.0, 1.0]), at([1.0, 0.0, 1.0])) == (0.0, 13.0, 7.0)
    assert at([0.5, 0.5, 0.5]) == pytest.approx(42.0 / 8)
    batch = torch.stack((corners, -corners, corners + 1))
    points = torch.tensor([[0.2, 0.3, 0.4], [0.2, 0.3, 0.4], [0.9, 0.1, 0.5]], dtype=torch.float64)
    n = sdf.normal(batch, points)
    assert n.shape == (3, 3)
    torch.testing.assert_close(n.norm(dim=-1), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(n[0], -n[1])                       # negated field, same point
    torch.testing.assert_close(n[2], sdf.normal(corners, points[2]))   # a constant shift: same normal


def test_gradient_matches_finite_differences(generator):
    corners = torch.randn(20, 8, generator=generator, dtype=torch.float64)
    points = torch.rand(20, 3, generator=generator, dtype=torch.float64)
    g = sdf.gradient(corners, points)
    h = 1e-6
    for axis in range(3):
        step = torch.zeros(3, dtype=torch.float64)
        step[axis] = h
        fd = (sdf.trilinear(corners, points + step) - sdf.trilinear(corners, points - step)) / (2 * h)
        torch.testing.assert_close(g[:, axis], fd, rtol=1e-7, atol=1e-8)


def _sphere_grid(n=12, centre=(6.0, 6.0, 6.0), radius=3.3):
    axes = torch.arange(n, dtype=torch.float64)
    x, y, z = torch.meshgrid(axes, axes, axes, indexing="ij")
    return ((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2).sqrt() - radius


def _interpolant_along(grid, origin, direction, ts):
    pts = origin + ts[:, None] * direction
    cell = pts.floor().clamp(0, grid.shape[0] - 2).to(torch.int64)
    corners = torch.stack([grid[cell[:, 0] + dx, cell[:, 1] + dy, cell[:, 2] + dz]
                           for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)], dim=1)
    return sdf.trilinear(corners, pts - cell)


def _first_root_by_sampling(grid, origin, direction, start, stop):
    """Oracle: first sign change of the interpolant sampled every 1e-3 on [start, stop), then
    50 bisection steps."""
    ts = torch.arange(start, stop, 1e-3, dtype=torch.float64)
    first = int(torch.nonzero(_interpolant_along(grid, origin, direction, ts) <= 0)[0])
    lo, hi = float(ts[first - 1]), float(ts[first])
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        value = float(_interpolant_along(grid, origin, direction, torch.tensor([mid], dtype=torch.float64)))
        lo, hi = (mid, hi) if value > 0 else (lo, mid)
    return lo


def test_trace_ray_matches_dense_sampling_of_the_interpolant(generator):
    grid = _sphere_grid()
    centre = torch.tensor([6.0, 6.0, 6.0], dtype=torch.float64)
    for _ in range(10):
        target = centre + torch.randn(3, generator=generator, dtype=torch.float64)
        origin = torch.tensor([0.2, 0.4, 0.3], dtype=torch.float64)
        direction = (target - origin) / (target - origin).norm()
        hit = sdf.trace_ray(grid, origin, direction)
        assert hit is not None
        assert hit.t == pytest.approx(_first_root_by_sampling(grid, origin, direction, 0.0, 10.0), abs=1e-9)
        radial = hit.point - centre
        assert float(hit.normal @ (radial / radial.norm())) > 0.98


def test_ray_that_misses_and_shadow_rays():
    grid = _sphere_grid()
    origin = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64)
    assert sdf.trace_ray(grid, origin, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)) is None
    light = torch.tensor([11.0, 6.0, 6.0], dtype=torch.float64)
    behind = torch.tensor([0.5, 6.0, 6.0], dtype=torch.float64)
    beside = torch.tensor([0.5, 0.5, 6.0], dtype=torch.float64)
    assert sdf.shadow(grid, behind, light) == 0.0
    assert sdf.shadow(grid, beside, torch.tensor([11.0, 0.5, 6.0], dtype=torch.float64)) == 1.0


def _ray(grid, origin, direction, **kwargs):
    return sdf.trace_ray(grid, torch.tensor(origin, dtype=torch.float64),
                         torch.tensor(direction, dtype=torch.float64), **kwargs)


def test_rays_along_a_grid_line_by_hand():
    # On the grid line y = z = 6 the interpolant is linear between nodes: the sphere's values at
    # x = 2 and 3 are 0.7 and -0.3, so the surface is at x = 2.7 (and at 9.3 on the far side).
    grid = _sphere_grid()
    inside = _ray(grid, (0.5, 6.0, 6.0), (1.0, 0.0, 0.0))
    assert inside.t == pytest.approx(2.2, abs=1e-12) and inside.voxel == (2, 6, 6)
    assert inside.point.tolist() == pytest.approx([2.7, 6.0, 6.0], abs=1e-12) and float(inside.normal[0]) < -0.9
    entering = _ray(grid, (-3.0, 6.0, 6.0), (1.0, 0.0, 0.0))          # starts 3 cells outside
    assert entering.t == pytest.approx(5.7, abs=1e-12) and entering.voxel == (2, 6, 6)
    back = _ray(grid, (11.5, 6.0, 6.0), (-1.0, 0.0, 0.0))
    assert back.t == pytest.approx(2.2, abs=1e-12) and back.voxel == (9, 6, 6) and float(back.normal[0]) > 0.9
    down = _ray(grid, (6.0, 6.0, 15.0), (0.0, 0.0, -1.0))
    assert down.t == pytest.approx(5.7, abs=1e-12) and down.voxel == (6, 6, 9)
    world = _ray(grid, (-6.0, 12.0, 12.0), (1.0, 0.0, 0.0), voxel_size=2.0)    # the same ray, 2 units a cell
    assert world.t == pytest.approx(11.4, abs=1e-12)
    assert world.point.tolist() == pytest.approx([5.4, 12.0, 12.0], abs=1e-12) and world.voxel == (2, 6, 6)
    assert _ray(grid, (0.5, 6.0, 6.0), (1.0, 0.0, 0.0), t_max=2.0) is None      # stops short
    assert _ray(grid, (0.5, 6.0, 6.0), (1.0, 0.0, 0.0), t_max=2.3).t == pytest.approx(2.2)
    assert _ray(grid, (6.0, 13.0, 6.0), (1.0, 0.0, 0.0)) is None      # parallel to the box, outside it
    assert _ray(grid, (6.0, -1.0, 6.0), (1.0, 0.0, 0.0)) is None
    assert _ray(grid, (-3.0, 6.0, 6.0), (-1.0, 0.0, 0.0)) is None     # pointing away from the box


def test_trace_ray_validation():
    with pytest.raises(ValueError, match=r"grid must have shape \(X, Y, Z\) with every size >= 2; got \(4, 4\)"):
        sdf.trace_ray(torch.zeros(4, 4), torch.zeros(3), torch.ones(3))
    with pytest.raises(ValueError, match="every size >= 2"):
        sdf.trace_ray(torch.zeros(4, 1, 4), torch.zeros(3), torch.ones(3))
    for size in (0.0, -1.0):
        with pytest.raises(ValueError, match="voxel_size must be > 0"):
            sdf.trace_ray(torch.zeros(2, 2, 2), torch.zeros(3), torch.ones(3), voxel_size=size)
    # The smallest grid: one voxel whose plane x = 0.5 crosses zero.
    plane = torch.tensor([-0.5, 0.5], dtype=torch.float64)[:, None, None].expand(2, 2, 2).contiguous()
    hit = _ray(plane, (0.0, 0.5, 0.5), (1.0, 0.0, 0.0))
    assert hit.t == pytest.approx(0.5, abs=1e-12) and hit.normal.tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_shadow_rays_near_the_surface():
    grid = _sphere_grid()
    shadow = lambda p, light: sdf.shadow(grid, torch.tensor(p, dtype=torch.float64),  # noqa: E731
                                         torch.tensor(light, dtype=torch.float64))
    assert shadow((0.5, 6.0, 6.0), (2.69995, 6.0, 6.0)) == 1.0       # the light is just before the surface
    assert shadow((0.5, 6.0, 6.0), (2.7001, 6.0, 6.0)) == 0.0        # just behind it
    assert shadow((2.6999, 6.0, 6.0), (0.5, 6.0, 6.0)) == 1.0        # lit from the open side
    assert shadow((2.5, 6.0, 6.0), (3.5, 6.0, 6.0)) == 0.0           # 1 unit away, surface between
    assert shadow((2.5, 6.0, 6.0), (2.5, 6.0, 6.0)) == 1.0           # the light at the point


def test_rays_that_enter_the_box_obliquely_or_with_a_long_direction():
    grid = _sphere_grid()
    # An unnormalised direction measures t in its own units: twice as long, half the t.
    assert _ray(grid, (-3.0, 6.0, 6.0), (2.0, 0.0, 0.0)).t == pytest.approx(2.85, abs=1e-12)
    # Entering through an edge region: the ray reaches y = 0 first (s = 1) and x = 0 at s = 2.
    origin = torch.tensor([-2.0, -1.0, 6.0], dtype=torch.float64)
    direction = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64) / 2 ** 0.5
    hit = sdf.trace_ray(grid, origin, direction)
    expected = _first_root_by_sampling(grid, origin, direction, 2 * 2 ** 0.5, 12.0)   # from the entry point on
    assert hit is not None and hit.t == pytest.approx(expected, abs=1e-9)
