"""TERAAGENT_SIMULATION: spatial partitioning, aura (halo) regions, delta encoding, diffusive
load balancing. These are the building blocks `thermo_manifold.distributed` uses to split the
particle domain over ranks."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch

from thermo_manifold.papers.metadata import (PURE, Coeffect, CoeffectKind, Grade, GradeKind,
                                             implements)

PAPER = "TERAAGENT_SIMULATION"


@dataclass(frozen=True)
class Box:
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    index: tuple[int, ...]      # position in the rank grid


def _edges(lo: tuple[float, ...], hi: tuple[float, ...], ranks: tuple[int, ...]) -> list[torch.Tensor]:
    """Cell edges per axis, float64 on the CPU. `partition_domain`'s boxes and `owner` both use
    these numbers, so the owner of a point is always a box that contains it, even within an ulp
    of an edge (the arithmetic floor((p - lo) / (hi - lo) * r) is not)."""
    return [torch.linspace(a, b, r + 1, dtype=torch.float64, device="cpu") for a, b, r in zip(lo, hi, ranks)]


@implements(PAPER, summary="split an axis-aligned domain into a grid of boxes, one per rank",
            oracle="every point has exactly one owner; box volumes sum to the domain volume",
            effects=(PURE,), coeffects=(Coeffect(CoeffectKind.PARAMETER, "ranks per axis"),))
def partition_domain(lo: tuple[float, ...], hi: tuple[float, ...], ranks: tuple[int, ...]) -> list[Box]:
    if not (len(lo) == len(hi) == len(ranks)) or any(r < 1 for r in ranks) or any(a >= b for a, b in zip(lo, hi)):
        raise ValueError(f"need lo < hi per axis and ranks >= 1 per axis; got {lo}, {hi}, {ranks}")
    edges = [e.tolist() for e in _edges(lo, hi, ranks)]
    boxes = []
    for flat in range(math.prod(ranks)):
        idx, rest = [], flat
        for r in reversed(ranks):
            idx.append(rest % r)
            rest //= r
        idx = tuple(reversed(idx))
        boxes.append(Box(tuple(e[i] for e, i in zip(edges, idx)),
                         tuple(e[i + 1] for e, i in zip(edges, idx)), idx))
    return boxes


def owner(positions: torch.Tensor, lo: tuple[float, ...], hi: tuple[float, ...],
          ranks: tuple[int, ...]) -> torch.Tensor:
    """Flat rank (row-major over the rank grid) owning each position (N, D). Cells are half-open,
    [edge_i, edge_i+1), except that the upper domain face belongs to the last cell; a point outside
    the domain goes to the nearest cell. Compared in float64, exact for any float input."""
    p = positions.to(torch.float64)
    flat = torch.zeros(positions.shape[0], dtype=torch.int64, device=positions.device)
    for axis, edges in enumerate(_edges(lo, hi, ranks)):
        inner = edges[1:-1].to(positions.device)      # cell = number of inner edges <= p
        flat = flat * ranks[axis] + torch.searchsorted(inner, p[:, axis].contiguous(), right=True)
    return flat


@implements(PAPER, summary="aura: agents owned elsewhere within `radius` of a box (the halo to receive)",
            oracle="contains every foreign neighbour within the interaction radius of an owned agent "
                   "(brute-force pairwise distances)", effects=(PURE,),
            coeffects=(Coeffect(CoeffectKind.PARAMETER, "radius = max interaction distance"),))
def aura_mask(positions: torch.Tensor, box: Box, radius: float, owners: torch.Tensor,
              rank: int) -> torch.Tensor:
    """True for agents not owned by `rank` whose distance to `box` is <= radius."""
    # float64 like the box edges, so that a point on a face is at distance 0 whatever its dtype.
    lo = torch.tensor(box.lo, dtype=torch.float64, device=positions.device)
    hi = torch.tensor(box.hi, dtype=torch.float64, device=positions.device)
    p = positions.to(torch.float64)
    outside = torch.clamp(lo - p, min=0) + torch.clamp(p - hi, min=0)   # per-axis gap to the box
    distance = outside.norm(dim=-1)
    return (distance <= radius) & (owners != rank)


@dataclass(frozen=True)
class Delta:
    """Agent state relative to the previous exchange (a reference both sides keep)."""
    changed_rows: torch.Tensor     # rows of the reference (in reference order) whose bits changed
    changed_xor: torch.Tensor      # XOR of the new and old bit patterns of those rows
    removed_rows: torch.Tensor     # reference rows that no longer exist
    new_ids: torch.Tensor          # agents absent from the reference, sent in full
    new_state: torch.Tensor

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in
                   (self.changed_rows, self.changed_xor, self.removed_rows, self.new_ids, self.new_state))


def _bits(state: torch.Tensor) -> torch.Tensor:
    kinds = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16}
    if state.dtype not in kinds:
        raise ValueError(f"state dtype must be float16/32/64; got {state.dtype}")
    return state.contiguous().view(kinds[state.dtype])


@implements(PAPER, summary="delta-encode (ids, state) against the reference by id: XOR of bit patterns",
            oracle="decode(encode(m, ref), ref) == m bit for bit; an unchanged state encodes to 0 bytes",
            effects=(PURE,), grades=(Grade(GradeKind.LOSSLESS, detail="bitwise, any float dtype"),),
            fixes=("seed emits (i, 0) for every unchanged entry, so nothing is ever compressed",
                   "seed's arithmetic delta (m - r, then r + d) is not exact in floating point; XOR is"))
def delta_encode(ids: torch.Tensor, state: torch.Tensor, ref_ids: torch.Tensor,
                 ref_state: torch.Tensor) -> Delta:
    if ids.unique().numel() != ids.numel() or ref_ids.unique().numel() != ref_ids.numel():
        raise ValueError("agent ids must be unique within a message")
    order = torch.argsort(ref_ids)
    sorted_ref = ref_ids[order]
    pos = torch.searchsorted(sorted_ref, ids).clamp(max=max(sorted_ref.numel() - 1, 0))
    found = sorted_ref.numel() > 0
    known = (sorted_ref[pos] == ids) if found else torch.zeros_like(ids, dtype=torch.bool)
    ref_rows = order[pos[known]] if found else ids[:0]
    xor = _bits(state[known]) ^ _bits(ref_state[ref_rows])
    changed = (xor != 0).any(dim=-1)
    present = torch.zeros(ref_ids.numel(), dtype=torch.bool, device=ref_ids.device)
    present[ref_rows] = True
    return Delta(ref_rows[changed], xor[changed], torch.nonzero(~present).flatten(),
                 ids[~known], state[~known])


def delta_decode(delta: Delta, ref_ids: torch.Tensor, ref_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rebuild (ids, state): surviving reference agents in reference order, then the new ones."""
    bits = _bits(ref_state).clone()
    bits[delta.changed_rows] ^= delta.changed_xor
    keep = torch.ones(ref_ids.numel(), dtype=torch.bool, device=ref_ids.device)
    keep[delta.removed_rows] = False
    state = bits.view(ref_state.dtype)[keep]
    return torch.cat((ref_ids[keep], delta.new_ids)), torch.cat((state, delta.new_state))


@implements(PAPER, summary="diffusive load balancing: each edge moves alpha * (L_i - L_j) per sweep",
            oracle="total load is conserved and the spread shrinks to the mean on a connected graph",
            effects=(PURE,), grades=(Grade(GradeKind.CONSERVES, detail="sum of loads"),),
            coeffects=(Coeffect(CoeffectKind.PARAMETER, "alpha < 1 / max degree"),))
def diffusive_balance(loads: torch.Tensor, edges: list[tuple[int, int]], alpha: float = 0.25,
                      sweeps: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (new loads, net flow per edge i -> j summed over sweeps: agents to migrate)."""
    degree = Counter(node for edge in edges for node in edge)
    if edges and not 0 < alpha < 1.0 / max(degree.values()):
        raise ValueError(f"alpha must be in (0, 1/max degree = {1.0 / max(degree.values()):.3g}); got {alpha}")
    src = torch.tensor([i for i, _ in edges], dtype=torch.int64, device=loads.device)
    dst = torch.tensor([j for _, j in edges], dtype=torch.int64, device=loads.device)
    current = loads.to(torch.float64).clone()
    total_flow = torch.zeros(len(edges), dtype=torch.float64, device=loads.device)
    for _ in range(sweeps):
        flow = alpha * (current[src] - current[dst])
        current = current.index_add(0, src, -flow).index_add(0, dst, flow)
        total_flow += flow
    return current, total_flow


__all__ = ["Box", "Delta", "aura_mask", "delta_decode", "delta_encode", "diffusive_balance",
           "owner", "partition_domain"]
