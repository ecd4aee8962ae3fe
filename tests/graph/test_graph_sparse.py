from __future__ import annotations

import pytest
import torch

from thermo_manifold.graph.sparse import SparseMaskedNN, rectangular_identity
from thermo_manifold.graph.spline import SplineActivation


@pytest.mark.parametrize("in_dim, out_dim", [(5, 5), (3, 8), (8, 3), (4, 6)])
def test_empty_mask_is_exact_identity_without_arithmetic(in_dim, out_dim, generator):
    layer = SparseMaskedNN(in_dim, out_dim)
    x = torch.randn(7, in_dim, generator=generator)
    y = layer(x)
    assert layer.delta_calls == 0 and layer.compute_paths == 0
    assert torch.equal(y, rectangular_identity(x, out_dim))
    if in_dim == out_dim:
        assert y is x  # pure pass-through: not even a copy


def test_widen_then_narrow_is_exactly_identity(generator):
    x = torch.randn(11, 3, generator=generator)
    for hidden in (3, 7, 8, 32):
        assert torch.equal(SparseMaskedNN(hidden, 3)(SparseMaskedNN(3, hidden)(x)), x)


def test_forward_matches_dense_reference_and_compute_is_nnz(generator):
    layer = SparseMaskedNN(6, 4, bias=True)
    idx = torch.tensor([[0, 1], [3, 6], [2, 2], [1, 0]])  # (3, 6) is a bias entry
    vals = torch.randn(4, generator=generator)
    layer.add_entries(idx, vals)
    x = torch.randn(5, 6, generator=generator)
    dense = torch.zeros(4, 7)
    dense[idx[:, 0], idx[:, 1]] = vals
    expected = rectangular_identity(x, 4) + torch.cat([x, torch.ones(5, 1)], 1) @ dense.T
    torch.testing.assert_close(layer(x), expected)
    assert layer.compute_paths == layer.nnz == 4
    layer.mode = "dense"
    torch.testing.assert_close(layer(x), expected)


def test_gradients_flow_only_to_w_vals(generator):
    layer = SparseMaskedNN(4, 4)
    layer.add_entries(torch.tensor([[0, 1], [2, 3]]), torch.tensor([0.5, -0.2]))
    assert [name for name, _ in layer.named_parameters()] == ["W_vals"]
    assert not layer.M_idx.requires_grad and layer.M_idx.dtype == torch.long
    layer(torch.randn(3, 4, generator=generator)).pow(2).sum().backward()
    assert layer.W_vals.grad is not None and layer.W_vals.grad.abs().sum() > 0
    # A shadow probe differentiates the shadow delta only; W_vals receives nothing.
    layer.W_vals.grad = None
    delta = torch.zeros(1, requires_grad=True)
    layer.set_shadow(torch.tensor([[1, 1]]), delta)
    (g,) = torch.autograd.grad(layer(torch.randn(3, 4, generator=generator)).pow(2).sum(),
                               [delta])
    layer.clear_shadow()
    assert layer.W_vals.grad is None and g.abs().sum() > 0


def test_mask_stays_sorted_and_coalesced_after_edits(generator):
    layer = SparseMaskedNN(10, 12)
    for _ in range(20):
        cells = layer.sample_cold(5, generator)
        layer.add_entries(cells, torch.randn(cells.shape[0], generator=generator))
        if layer.nnz > 3:
            drop = torch.randperm(layer.nnz, generator=generator)[:2]
            layer.remove_positions(drop)
        keys = layer.keys()
        assert torch.all(keys[1:] > keys[:-1])  # strictly increasing: sorted, no duplicates
        assert layer.W_vals.shape[0] == layer.adam_v.shape[0] == layer.M_idx.shape[0]


def test_edits_keep_values_aligned_with_cells(generator):
    layer = SparseMaskedNN(5, 5)
    layer.add_entries(torch.tensor([[4, 4], [0, 0]]), torch.tensor([4.0, 1.0]))
    layer.add_entries(torch.tensor([[2, 3]]), torch.tensor([2.0]))
    dense = layer.dense()
    assert dense[4, 4] == 4.0 and dense[0, 0] == 1.0 and dense[2, 3] == 2.0
    layer.remove_positions(layer.positions_of(torch.tensor([[0, 0]])))
    assert layer.dense()[0, 0] == 0 and layer.dense()[4, 4] == 4.0


def test_bad_edits_raise_and_leave_layer_unchanged():
    layer = SparseMaskedNN(3, 3)
    layer.add_entries(torch.tensor([[0, 0]]), torch.tensor([1.0]))
    for bad in (torch.tensor([[0, 0]]), torch.tensor([[5, 0]]), torch.tensor([[1, 1], [1, 1]])):
        with pytest.raises(ValueError):
            layer.add_entries(bad)
    assert layer.nnz == 1 and layer.keys().tolist() == [0]


def test_counters(generator):
    layer = SparseMaskedNN(4, 4)
    layer.add_entries(torch.tensor([[0, 1], [1, 2], [2, 3]]), torch.tensor([0.5, 0.0, -1e-9]))
    assert layer.c_struct == 3
    assert layer.c_active(1e-6) == 1


def test_spline_activation_identity_then_hinge(generator):
    act = SplineActivation(4, n_knots=5, knot_range=1.0)
    x = torch.randn(6, 4, generator=generator)
    assert act(x) is x
    act.add_entries(torch.tensor([[1, 2]]), torch.tensor([2.0]))  # knot 0.0 on unit 1
    expected = x.clone()
    expected[:, 1] += 2.0 * torch.relu(x[:, 1])
    torch.testing.assert_close(act(x), expected)
