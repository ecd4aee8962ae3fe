"""A bounded record of a run, however long it is: keep every k-th item, double k when full.

A continuous run must not grow without bound, yet the energy panel should still show the whole
run rather than its last minutes. `Decimator` keeps at most `capacity` items; when it is full it
drops every other one and doubles its stride, so the kept items stay evenly spaced over the
whole run. The GIF recorder uses the same rule for its frames.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

Item = TypeVar("Item")


class Decimator(Generic[Item]):
    def __init__(self, capacity: int = 2000):
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2; got {capacity}")
        self.capacity = capacity
        self.stride = 1
        self.items: list[Item] = []
        self._offered = 0

    def offer(self, item: Item) -> bool:
        """Consider one item; returns True when it was kept."""
        keep = self._offered % self.stride == 0
        self._offered += 1
        if not keep:
            return False
        self.items.append(item)
        if len(self.items) > self.capacity:
            self.items = self.items[::2]
            # Kept items sit at offered indices 0, s, 2s, ...; the even ones are the multiples
            # of 2s, so the absolute count keeps the spacing regular from here on.
            self.stride *= 2
        return True

    def __len__(self) -> int:
        return len(self.items)

    def state(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "stride": self.stride, "offered": self._offered,
                "items": list(self.items)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Decimator":
        out = cls(int(state["capacity"]))
        out.stride = int(state["stride"])
        out._offered = int(state["offered"])
        out.items = list(state["items"])
        return out


__all__ = ["Decimator"]
