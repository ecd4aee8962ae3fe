from __future__ import annotations

import pytest
import torch

from thermo_manifold.physics import collision_kernels, collisions

needs_numba = pytest.mark.skipif(not collision_kernels.AVAILABLE, reason="numba not installed")


@pytest.fixture(params=["torch", pytest.param("numba", marks=needs_numba)])
def loops(request):
    """Both implementations of the collision stage: vectorised PyTorch and Numba loops."""
    return collisions if request.param == "torch" else collision_kernels


def _resolve(left, right, x, v, q, m, loops=collisions, **overrides):
    params = dict(radius=0.5, restitution=0.8, young_modulus=1000.0,
                  thermal_conductivity=0.1, specific_heat=10.0, dt=0.01)
    params.update(overrides)
    return loops.resolve_pairs(left, right, x, v, q, m, **params)


@pytest.mark.parametrize("restitution", [0.0, 0.5, 0.8, 1.0])
def test_two_body_head_on_collision(generator, restitution, loops):
    m = torch.rand(2, generator=generator, dtype=torch.float64) * 2 + 0.2
    direction = torch.randn(3, generator=generator, dtype=torch.float64)
    direction /= direction.norm()
    x = torch.stack([torch.zeros(3, dtype=torch.float64), 0.9 * direction]) + 5.0
    v = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    v[0] += 2 * direction  # make them approach along the line of centres
    v[1] -= 2 * direction
    heat = torch.zeros(2, dtype=torch.float64)
    i, j = torch.tensor([0]), torch.tensor([1])
    out = _resolve(i, j, x, v, heat, m, loops, restitution=restitution, young_modulus=0.0)
    normal = (x[0] - x[1]) / (x[0] - x[1]).norm()
    v_n = ((v[0] - v[1]) @ normal).item()
    assert v_n < 0
    v_n_after = ((out.velocities[0] - out.velocities[1]) @ normal).item()
    assert v_n_after == pytest.approx(-restitution * v_n, rel=1e-12, abs=1e-12)
    m_eff = (m[0] * m[1] / (m[0] + m[1])).item()
    expected = 0.5 * m_eff * v_n**2 * (1 - restitution**2)
    assert out.heats.sum().item() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert out.dissipated == pytest.approx(expected, rel=1e-12, abs=1e-15)
    kinetic = lambda vel: 0.5 * (m * (vel**2).sum(1)).sum().item()  # noqa: E731
    assert kinetic(v) - kinetic(out.velocities) == pytest.approx(expected, rel=1e-10, abs=1e-14)
    # Tangential velocities are untouched.
    tangential = lambda vel: vel - (vel @ normal)[:, None] * normal  # noqa: E731
    assert torch.allclose(tangential(out.velocities), tangential(v), atol=1e-13)


def _crowd(generator, n=1500, box=(12.0, 9.0, 10.0)):
    size = torch.tensor(box, dtype=torch.float64)
    x = torch.rand(n, 3, generator=generator, dtype=torch.float64) * size
    v = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    q = torch.rand(n, generator=generator, dtype=torch.float64) * 5
    m = torch.rand(n, generator=generator, dtype=torch.float64) + 0.3
    return x, v, q, m


def test_collisions_conserve_momentum(generator, loops):
    x, v, q, m = _crowd(generator)
    left, right = loops.cell_list_pairs(x, 1.0, (12.0, 9.0, 10.0))
    assert left.numel() > 100
    out = _resolve(left, right, x, v, q, m, loops)
    before = (m[:, None] * v).sum(0)
    after = (m[:, None] * out.velocities).sum(0)
    assert torch.allclose(before, after, atol=1e-10)
    assert (out.heats >= 0).all()
    # Contact conduction is zero-sum: heat changes only by the restitution losses.
    assert out.heats.sum().item() - q.sum().item() == pytest.approx(out.dissipated, rel=1e-9)


@pytest.mark.parametrize("cutoff", [1.0, 2.5, 5.0])
def test_cell_list_finds_exactly_the_brute_force_pairs(generator, cutoff, loops):
    x, v, q, m = _crowd(generator, n=800)
    cell_pairs = loops.cell_list_pairs(x, cutoff, (12.0, 9.0, 10.0))
    brute_pairs = collisions.brute_force_pairs(x, cutoff)
    as_set = lambda pairs: {  # noqa: E731
        (min(a, b), max(a, b)) for a, b in zip(pairs[0].tolist(), pairs[1].tolist())
    }
    cells = as_set(cell_pairs)
    assert len(cells) == cell_pairs[0].numel()  # no pair twice
    assert cells == as_set(brute_pairs)
    out_cells = _resolve(*cell_pairs, x, v, q, m, loops)
    out_brute = _resolve(*brute_pairs, x, v, q, m)
    assert torch.allclose(out_cells.velocities, out_brute.velocities, atol=1e-10)
    assert torch.allclose(out_cells.heats, out_brute.heats, atol=1e-10)


def test_no_pairs_for_fewer_than_two_particles(loops):
    x = torch.tensor([[1.0, 1.0, 1.0]])
    left, right = loops.cell_list_pairs(x, 1.0, (4.0, 4.0, 4.0))
    assert left.numel() == right.numel() == 0


@needs_numba
def test_numba_and_torch_responses_agree_on_a_crowd(generator):
    x, v, q, m = _crowd(generator, n=3000)
    left, right = collisions.cell_list_pairs(x, 1.0, (12.0, 9.0, 10.0))
    torch_out = _resolve(left, right, x, v, q, m, collisions)
    numba_out = _resolve(left, right, x, v, q, m, collision_kernels)
    assert numba_out.num_pairs == torch_out.num_pairs > 1000
    assert torch.allclose(numba_out.velocities, torch_out.velocities, rtol=0, atol=1e-10)
    assert torch.allclose(numba_out.heats, torch_out.heats, rtol=0, atol=1e-10)
    assert numba_out.dissipated == pytest.approx(torch_out.dissipated, rel=1e-10)
    assert numba_out.contact_work == pytest.approx(torch_out.contact_work, rel=1e-10)


@needs_numba
def test_fused_numba_collide_matches_pairs_then_response(generator):
    x, v, q, m = _crowd(generator, n=3000)
    left, right = collisions.cell_list_pairs(x, 1.0, (12.0, 9.0, 10.0))
    expected = _resolve(left, right, x, v, q, m, collisions)
    fused = collision_kernels.collide(x, v, q, m, box=(12.0, 9.0, 10.0), radius=0.5,
                                      restitution=0.8, young_modulus=1000.0,
                                      thermal_conductivity=0.1, specific_heat=10.0, dt=0.01)
    assert fused.num_pairs == expected.num_pairs
    assert torch.allclose(fused.velocities, expected.velocities, rtol=0, atol=1e-10)
    assert torch.allclose(fused.heats, expected.heats, rtol=0, atol=1e-10)
    assert fused.contact_work == pytest.approx(expected.contact_work, rel=1e-10)
    assert not fused.velocities.data_ptr() == v.data_ptr()  # the caller's tensors are kept


@needs_numba
def test_blocked_parallel_response_matches_torch_whatever_the_thread_count(generator):
    """A long box gives enough x slabs for the pair response to run in blocks (even blocks in
    parallel, then odd ones); it must still match the PyTorch response and give bit-identical
    results on one thread and on several."""
    import numba

    box = (96.0, 3.0, 3.0)
    x, v, q, m = _crowd(generator, n=3000, box=box)
    q[::3] = 0.0  # cold particles among hot ones: strong contact conduction
    response = dict(radius=0.5, restitution=0.8, young_modulus=1000.0,
                    thermal_conductivity=50.0, specific_heat=10.0, dt=0.01)
    _, _, left, right = collision_kernels._sorted_pairs(x.numpy(), 1.0, box)
    bounds = collision_kernels._pair_blocks(left, right, x.shape[0],
                                            collision_kernels.RESOLVE_BLOCKS)
    assert len(bounds) == collision_kernels.RESOLVE_BLOCKS + 1  # the blocked path is taken

    torch_left, torch_right = collisions.cell_list_pairs(x, 1.0, box)
    expected = collisions.resolve_pairs(torch_left, torch_right, x, v, q, m, **response)
    runs = []
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        numba.set_num_threads(threads)
        try:
            runs.append(collision_kernels.collide(x, v, q, m, box=box, **response))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for got in runs:
        assert got.num_pairs == expected.num_pairs > 10_000
        assert torch.allclose(got.velocities, expected.velocities, rtol=0, atol=1e-10)
        assert torch.allclose(got.heats, expected.heats, rtol=0, atol=1e-10)
        assert got.dissipated == pytest.approx(expected.dissipated, rel=1e-10)
        assert got.contact_work == pytest.approx(expected.contact_work, rel=1e-10)
    assert all(torch.equal(run.velocities, runs[0].velocities) for run in runs)
    assert all(torch.equal(run.heats, runs[0].heats) for run in runs)
    assert all(run.contact_work == runs[0].contact_work for run in runs)
