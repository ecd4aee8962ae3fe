"""Clone-and-split of a hidden unit (Save State, section F), with re-merge.

A unit j between `first` (SparseMaskedNN into the hidden layer), an optional spline activation
and `second` (SparseMaskedNN out of it) is duplicated into a free unit j': same incoming row,
same hinge terms, and both units get half of j's downstream column. The function is unchanged
for any activation because the two clones compute the same value and the halves add up.

Because layer identities are implicit (tiled widening, mean narrowing), the free unit j' was
computing a copy of an input and feeding it downstream; that contribution is moved onto a
"carrier" unit k (another untouched copy of the same input) so that overwriting j' changes
nothing. Re-merge sums j' 's downstream column back into j, clears j', and takes the carried
contribution back from k, which restores the pre-split function exactly when no training
happened in between.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from thermo_manifold.graph.sparse import SparseCOO, SparseMaskedNN, rectangular_identity
from thermo_manifold.graph.spline import SplineActivation


def implicit_identity(layer: SparseMaskedNN) -> torch.Tensor:
    """The layer's implicit identity as a dense (out, in) matrix."""
    eye = torch.eye(layer.in_dim, dtype=layer.W_vals.dtype)
    return rectangular_identity(eye, layer.out_dim, layer.narrow).T


def _set_line(obj: SparseCOO, axis: int, index: int, values: torch.Tensor) -> None:
    """Replace row (axis 0) or column (axis 1) `index` of the Hot values by `values` (dense)."""
    hit = torch.nonzero(obj.M_idx[:, axis] == index).flatten()
    obj.remove_positions(hit)
    nz = torch.nonzero(values != 0).flatten()
    if nz.numel():
        idx = torch.stack([torch.full_like(nz, index), nz], 1) if axis == 0 else \
            torch.stack([nz, torch.full_like(nz, index)], 1)
        obj.add_entries(idx, values[nz])


def _untouched(first: SparseMaskedNN, act: SplineActivation | None, second: SparseMaskedNN,
               unit: int) -> bool:
    return not (bool((first.M_idx[:, 0] == unit).any())
                or (act is not None and bool((act.M_idx[:, 0] == unit).any()))
                or bool((second.M_idx[:, 1] == unit).any()))


@dataclass
class SplitRecord:
    unit: int
    clone: int
    carrier: int
    carried: torch.Tensor   # column moved from the clone slot onto the carrier


@torch.no_grad()
def clone_and_split(first: SparseMaskedNN, act: SplineActivation | None,
                    second: SparseMaskedNN, unit: int) -> SplitRecord:
    hidden = first.out_dim
    if second.in_dim != hidden or (act is not None and act.width != hidden):
        raise ValueError("first, act and second must share the hidden width")
    if not 0 <= unit < hidden:
        raise ValueError(f"unit must be in [0, {hidden}); got {unit}")
    source = torch.arange(hidden) % first.in_dim  # which input each unit copies at init
    free = [j for j in range(hidden) if j != unit and _untouched(first, act, second, j)]
    pair = next(((j, k) for j in free for k in free
                 if k != j and source[k] == source[j]), None)
    if pair is None:
        raise ValueError("no free hidden unit (with an untouched sibling copy) to split into")
    clone, carrier = pair
    e1 = first.dense() + torch.nn.functional.pad(implicit_identity(first),
                                                 (0, first.cols - first.in_dim))
    i2 = torch.nn.functional.pad(implicit_identity(second), (0, second.cols - second.in_dim))
    e2 = second.dense() + i2
    carried = e2[:, clone].clone()
    # Incoming: the clone's effective row equals the unit's.
    _set_line(first, 0, clone, e1[unit] - e1[clone] + first.dense()[clone])
    if act is not None:
        hinge = act.dense()[unit]
        _set_line(act, 0, clone, hinge)
    # Downstream: the carrier takes over what the clone slot fed; the two clones share half.
    w2 = second.dense()
    _set_line(second, 1, carrier, w2[:, carrier] + carried)
    _set_line(second, 1, clone, 0.5 * e2[:, unit] - i2[:, clone])
    _set_line(second, 1, unit, 0.5 * e2[:, unit] - i2[:, unit])
    return SplitRecord(unit, clone, carrier, carried)


@torch.no_grad()
def remerge(first: SparseMaskedNN, act: SplineActivation | None, second: SparseMaskedNN,
            record: SplitRecord) -> None:
    """Undo a split: j keeps its incoming weights and gets the clone's downstream share."""
    i2 = torch.nn.functional.pad(implicit_identity(second), (0, second.cols - second.in_dim))
    e2 = second.dense() + i2
    _set_line(second, 1, record.unit, e2[:, record.unit] + e2[:, record.clone]
              - i2[:, record.unit])
    _set_line(second, 1, record.clone, torch.zeros(second.rows))
    _set_line(second, 1, record.carrier, second.dense()[:, record.carrier] - record.carried)
    _set_line(first, 0, record.clone, torch.zeros(first.cols))
    if act is not None:
        _set_line(act, 0, record.clone, torch.zeros(act.cols))


@torch.no_grad()
def keep_split(loss_fn, model, batches, first, act, second, record: SplitRecord) -> bool:
    """Keep the split if it beats its own re-merged version on the held-out `batches` (lower
    mean loss and no larger spread); otherwise re-merge. Returns True when kept."""
    split_losses = torch.stack([loss_fn(model, b) for b in batches])
    state = {n: (o.M_idx.clone(), o.W_vals.detach().clone()) for n, o in
             (("first", first), ("act", act), ("second", second)) if o is not None}
    remerge(first, act, second, record)
    merged_losses = torch.stack([loss_fn(model, b) for b in batches])
    better = (split_losses.mean() < merged_losses.mean()
              and split_losses.std() <= merged_losses.std() * 1.5 + 1e-12)
    if better:  # restore the split structure
        for name, obj in (("first", first), ("act", act), ("second", second)):
            if obj is None:
                continue
            idx, vals = state[name]
            obj.remove_positions(torch.arange(obj.nnz))
            obj.add_entries(idx, vals)
    return bool(better)


__all__ = ["SplitRecord", "clone_and_split", "implicit_identity", "keep_split", "remerge"]
