"""Kernels build their internal tensors on the input's device and in its float dtype.

Two checks that need no accelerator: kernels whose operations all have meta implementations run
on meta inputs and must return meta tensors; and every kernel runs on CPU inputs with "meta" as
the default device, where any tensor built without an explicit device lands on meta and breaks
the call (or its result), while a kernel that follows its input returns the same CPU result.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from thermo_manifold.papers.kernels import constraint_transport as ct
from thermo_manifold.papers.kernels import dreamer, fp4, fsq
from thermo_manifold.papers.kernels import teraagent as ta

META = torch.device("meta")
LO, HI, RANKS = (0.0, 0.0, 0.0), (10.0, 6.0, 4.0), (3, 2, 2)
BOX = ta.Box((10.0 / 3, 0.0, 0.0), (20.0 / 3, 3.0, 2.0), (1, 0, 0))


def _inputs(dtype: torch.dtype, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    positions = torch.rand(40, 3, generator=g, dtype=torch.float64) * torch.tensor(HI, dtype=torch.float64)
    ids = torch.randperm(30, generator=g)[:12]
    state = torch.randn(12, 4, generator=g, dtype=torch.float64)
    values = {
        "x": torch.randn(6, generator=g, dtype=torch.float64) * 5,
        "field": torch.randn(5, 7, generator=g, dtype=torch.float64),
        "velocity": torch.randn(5, 7, 2, generator=g, dtype=torch.float64),
        "positions": positions, "owners": ta.owner(positions, LO, HI, RANKS),
        "ids": ids, "state": state, "new_state": state + (torch.arange(12) % 3 == 0)[:, None],
        "codes": torch.tensor([[-2.0, 0.0, 1.0], [2.0, -1.0, 0.0]]), "index": torch.tensor([0, 17, 124]),
        "loads": torch.tensor([4.0, 0.0, 1.0]), "z": torch.randn(4, 16, generator=g, dtype=torch.float64),
        "signs": (torch.arange(16) % 3 == 0).to(torch.float64) * 2 - 1,
    }
    return {k: v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)
            for k, v in values.items()}


KERNELS: dict[str, Callable[[dict[str, torch.Tensor]], object]] = {
    "twohot_encode": lambda t: dreamer.twohot_encode(t["x"]),
    "twohot_decode": lambda t: dreamer.twohot_decode(dreamer.twohot_encode(t["x"])),
    "x_to_v": lambda t: dreamer.x_to_v(t["x"], 0.5 * t["x"], 0.25),
    "advect": lambda t: ct.advect(t["field"], t["velocity"], dt=0.7),
    "owner": lambda t: ta.owner(t["positions"], LO, HI, RANKS),
    "aura_mask": lambda t: ta.aura_mask(t["positions"], BOX, 0.5, t["owners"], 1),
    "delta_encode": lambda t: ta.delta_encode(t["ids"], t["new_state"], t["ids"], t["state"]),
    "delta_decode": lambda t: ta.delta_decode(ta.delta_encode(t["ids"][2:], t["new_state"][2:], t["ids"],
                                                              t["state"]), t["ids"], t["state"]),
    "diffusive_balance": lambda t: ta.diffusive_balance(t["loads"], [(0, 1), (1, 2)], 0.3, 4),
    "fsq_encode": lambda t: fsq.fsq_encode(t["codes"], 2),
    "fsq_decode": lambda t: fsq.fsq_decode(t["index"], 2, 3),
    "random_hadamard": lambda t: fp4.random_hadamard(t["z"], torch.Generator().manual_seed(1))[0],
    "inverse_hadamard": lambda t: fp4.inverse_hadamard(t["z"], t["signs"]),
    "round_e2m1": lambda t: fp4.round_e2m1(t["z"]),
    "stochastic_round_e2m1": lambda t: fp4.stochastic_round_e2m1(t["z"], torch.Generator().manual_seed(2)),
    "quantize_nvfp4": lambda t: fp4.quantize_nvfp4(t["z"]),
    "quantize_mxfp4": lambda t: fp4.quantize_mxfp4(t["z"]),
}
META_KERNELS = ["twohot_encode", "twohot_decode", "advect", "owner", "aura_mask", "fsq_decode",
                "diffusive_balance"]
FLOAT_KERNELS = ["twohot_encode", "twohot_decode", "x_to_v", "advect", "random_hadamard", "inverse_hadamard",
                 "round_e2m1", "stochastic_round_e2m1"]


def _tensors(result: object) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    items = vars(result).values() if hasattr(result, "__dataclass_fields__") else result
    return [t for t in items if isinstance(t, torch.Tensor)]


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernels_build_nothing_on_the_default_device(name):
    inputs = _inputs(torch.float64)
    want = _tensors(KERNELS[name](inputs))
    with torch.device(META):
        got = _tensors(KERNELS[name](inputs))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.device.type == "cpu" and a.dtype == b.dtype and torch.equal(a, b)


@pytest.mark.parametrize("name", META_KERNELS)
def test_kernels_run_on_meta_inputs(name):
    for t in _tensors(KERNELS[name](_inputs(torch.float32, META))):
        assert t.device.type == "meta"


@pytest.mark.parametrize("name", FLOAT_KERNELS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_kernels_return_their_input_dtype(name, dtype):
    for t in _tensors(KERNELS[name](_inputs(dtype))):
        assert t.dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_delta_encoding_keeps_the_state_dtype(dtype):
    t = _inputs(dtype)
    delta = ta.delta_encode(t["ids"], t["new_state"], t["ids"], t["state"])
    assert delta.new_state.dtype == dtype
    ids, state = ta.delta_decode(delta, t["ids"], t["state"])
    assert state.dtype == dtype and torch.equal(state, t["new_state"])
