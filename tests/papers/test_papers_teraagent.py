"""TeraAgent partitioning, aura, delta encoding and load balancing against brute force."""

from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.papers.kernels import teraagent as ta

LO, HI, RANKS = (0.0, 0.0, 0.0), (10.0, 6.0, 4.0), (3, 2, 2)


def test_partitions_cover_the_domain_exactly():
    boxes = ta.partition_domain(LO, HI, RANKS)
    assert len(boxes) == 12
    # Row-major over the rank grid: flat k is (k // 4, (k // 2) % 2, k % 2) for ranks (3, 2, 2).
    assert [b.index for b in boxes] == [(k // 4, (k // 2) % 2, k % 2) for k in range(12)]
    assert boxes[0].lo == LO and boxes[-1].hi == HI
    for b in boxes:
        widths = [h - l for l, h in zip(b.lo, b.hi)]
        assert widths == pytest.approx([10 / 3, 3.0, 2.0], rel=1e-15)
    for a, b in zip(boxes, boxes[4:]):                 # neighbours along x share a face exactly
        assert a.hi[0] == b.lo[0]
    volume = sum((b.hi[0] - b.lo[0]) * (b.hi[1] - b.lo[1]) * (b.hi[2] - b.lo[2]) for b in boxes)
    assert volume == pytest.approx(240.0)


def _brute_owner(point: list[float], boxes: list[ta.Box]) -> int:
    """The one box containing the point, clamped into the domain first. A box holds [lo, hi) on
    each axis, and also its hi face where that face is the domain's upper face."""
    p = [min(max(v, lo), hi) for v, lo, hi in zip(point, LO, HI)]
    hits = [k for k, b in enumerate(boxes)
            if all(l <= v < h or v == h == top for v, l, h, top in zip(p, b.lo, b.hi, HI))]
    assert len(hits) == 1, (point, hits)
    return hits[0]


def test_owner_is_the_box_that_contains_the_point(generator):
    boxes = ta.partition_domain(LO, HI, RANKS)
    points = (torch.rand(2000, 3, generator=generator, dtype=torch.float64) * torch.tensor(HI)).tolist()
    # Every interior edge, and the floats just below and above it, where floor((p - lo) / w * r)
    # can land in the neighbouring cell; the domain's faces and corners; points outside.
    for axis, edges in enumerate(([b.lo[0] for b in boxes[4::4]], [3.0], [2.0])):
        for edge in edges:
            for v in (math.nextafter(edge, -math.inf), edge, math.nextafter(edge, math.inf)):
                point = [1.0, 1.0, 1.0]
                point[axis] = v
                points.append(point)
    points += [list(HI), list(LO), [10.0, 0.0, 4.0], [10.0 / 3, 3.0, 2.0], [-1.0, 7.0, 2.0], [11.0, -0.5, 5.0]]
    got = ta.owner(torch.tensor(points, dtype=torch.float64), LO, HI, RANKS).tolist()
    assert got == [_brute_owner(p, boxes) for p in points]
    single = ta.owner(torch.tensor([[9.0, 5.0, 3.0]], dtype=torch.float32), LO, HI, RANKS)
    assert single.dtype == torch.int64 and single.tolist() == [11]


def test_aura_contains_every_foreign_neighbour_within_radius(generator):
    points = torch.rand(1500, 3, generator=generator, dtype=torch.float64) * torch.tensor(HI)
    owners = ta.owner(points, LO, HI, RANKS)
    radius = 0.7
    distances = torch.cdist(points, points)
    for rank, box in enumerate(ta.partition_domain(LO, HI, RANKS)):
        aura = ta.aura_mask(points, box, radius, owners, rank)
        mine = owners == rank
        needed = ((distances[mine] <= radius).any(0)) & ~mine    # foreign agents some owned agent sees
        assert bool(aura[needed].all())
        assert not bool(aura[mine].any())


def test_delta_encoding_round_trips_and_compresses(generator):
    ids = torch.randperm(1000, generator=generator)[:400]
    state = torch.randn(400, 6, generator=generator, dtype=torch.float64)
    unchanged = ta.delta_encode(ids, state, ids, state)
    assert unchanged.nbytes() == 0
    new_state = state.clone()
    new_state[::50] += 1e-3                                        # a few agents moved
    perm = torch.randperm(400, generator=generator)
    keep = perm[:380]                                              # 20 agents left
    born_ids = torch.arange(2000, 2010)
    msg_ids = torch.cat((ids[keep], born_ids))
    msg_state = torch.cat((new_state[keep], torch.randn(10, 6, generator=generator, dtype=torch.float64)))
    delta = ta.delta_encode(msg_ids, msg_state, ids, state)
    out_ids, out_state = ta.delta_decode(delta, ids, state)
    order_in, order_out = torch.argsort(msg_ids), torch.argsort(out_ids)
    assert torch.equal(out_ids[order_out], msg_ids[order_in])
    assert torch.equal(out_state[order_out].view(torch.int64), msg_state[order_in].view(torch.int64))
    assert delta.nbytes() < 0.2 * msg_state.numel() * 8
    f32 = state.float()
    assert ta.delta_decode(ta.delta_encode(ids, f32 * 1.5, ids, f32), ids, f32)[1].equal(f32 * 1.5)


def test_delta_sizes_by_hand():
    # Reference ids (1, 2, 3), 4 float64 values each. The message keeps 1, changes 2, drops 3 and
    # adds 7: one changed row (8 bytes) and its XOR (32), one removed row (8), one new id (8)
    # and its state (32): 88 bytes.
    ref_ids, ref = torch.tensor([1, 2, 3]), torch.zeros(3, 4, dtype=torch.float64)
    ids = torch.tensor([1, 2, 7])
    state = torch.tensor([[0.0] * 4, [0.0, 1.0, 0.0, 0.0], [5.0] * 4], dtype=torch.float64)
    delta = ta.delta_encode(ids, state, ref_ids, ref)
    assert delta.changed_rows.tolist() == [1] and delta.removed_rows.tolist() == [2]
    assert delta.new_ids.tolist() == [7] and delta.nbytes() == 88
    with pytest.raises(ValueError, match="state dtype must be float16/32/64; got torch.int64"):
        ta.delta_encode(ids, state.long(), ref_ids, ref.long())
    with pytest.raises(ValueError, match="agent ids must be unique"):
        ta.delta_encode(torch.tensor([1, 1, 7]), state, ref_ids, ref)


def test_diffusive_balance_conserves_and_converges():
    loads = torch.tensor([100.0, 0.0, 0.0, 40.0, 0.0, 10.0])
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]               # a chain of ranks
    spreads = []
    current = loads
    for _ in range(5):
        current, flow = ta.diffusive_balance(current, edges, alpha=0.3, sweeps=20)
        assert float(current.sum()) == pytest.approx(150.0)
        spreads.append(float(current.max() - current.min()))
    assert all(b < a for a, b in zip(spreads, spreads[1:]))
    assert spreads[-1] < 1.0
    with pytest.raises(ValueError, match="alpha"):
        ta.diffusive_balance(loads, edges, alpha=0.6)


def test_partition_validation():
    assert len(ta.partition_domain((0.0,), (1.0,), (1,))) == 1
    bad = [((0.0, 0.0), (1.0, 1.0), (2, 0)), ((0.0, 0.0), (1.0, 0.0), (2, 2)), ((0.0,), (1.0, 1.0), (2, 2)),
           ((0.0, 2.0), (1.0, 1.0), (1, 1))]
    for lo, hi, ranks in bad:
        with pytest.raises(ValueError, match="need lo < hi per axis and ranks >= 1 per axis"):
            ta.partition_domain(lo, hi, ranks)


def test_aura_boundary_and_empty_reference():
    box = ta.Box((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0, 0, 0))
    points = torch.tensor([[1.5, 0.5, 0.5], [1.5001, 0.5, 0.5], [-0.375, -0.5, 0.5], [-0.376, -0.5, 0.5],
                           [0.5, 0.5, 0.5]], dtype=torch.float64)
    owners = torch.tensor([1, 1, 1, 1, 0])
    # Gaps to the box: 0.5 along x, then 0.5001; diagonally (0.375, 0.5), exactly 0.625, then more.
    # A distance equal to the radius is inside the aura (sums and roots here are exact).
    assert ta.aura_mask(points, box, 0.5, owners, 0).tolist() == [True, False, False, False, False]
    assert ta.aura_mask(points, box, 0.625, owners, 0).tolist() == [True, True, True, False, False]
    ids, state = torch.tensor([4, 9]), torch.randn(2, 3, dtype=torch.float64)
    delta = ta.delta_encode(ids, state, torch.tensor([], dtype=torch.int64), torch.zeros(0, 3, dtype=torch.float64))
    assert delta.new_ids.tolist() == [4, 9] and torch.equal(delta.new_state, state)
    one = ta.delta_encode(ids[:1], state[:1], ids[:1], state[:1])     # a one-agent reference, unchanged
    assert one.nbytes() == 0


def test_diffusive_balance_by_hand():
    # Default alpha 1/4 and one sweep: 4 and 0 exchange 1/4 * 4 = 1.
    loads, flow = ta.diffusive_balance(torch.tensor([4.0, 0.0]), [(0, 1)])
    assert loads.tolist() == [3.0, 1.0] and flow.tolist() == [1.0]
    loads, flow = ta.diffusive_balance(torch.tensor([0.0, 8.0, 0.0]), [(0, 1), (1, 2)], alpha=0.25, sweeps=2)
    # Sweep 1: flows -2, 2 -> (2, 4, 2); sweep 2: flows -0.5, 0.5 -> (2.5, 3, 2.5).
    assert loads.tolist() == [2.5, 3.0, 2.5] and flow.tolist() == [-2.5, 2.5]
    for alpha in (0.0, 0.5):                          # the middle rank has degree 2: alpha < 1/2
        with pytest.raises(ValueError, match="alpha must be in"):
            ta.diffusive_balance(torch.tensor([0.0, 8.0, 0.0]), [(0, 1), (1, 2)], alpha=alpha)
