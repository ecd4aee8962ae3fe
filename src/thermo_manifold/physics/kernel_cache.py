"""Numba's on-disk cache of the compiled kernels, and the one-line notice on a cold start.

Every kernel is compiled with `cache=True`: the first run on a machine (or after the package's
kernel sources change) compiles them; later runs load the machine code from `__pycache__` next
to the modules (or NUMBA_CACHE_DIR). `watch()` registers a listener on Numba's compile event,
which fires only on a cache miss, and prints "compiling Numba kernels, first run only" the first
time one of this package's kernels is compiled in a process, so a slow first step is not a
mystery. docs/physics.md gives measured cold and warm start times
(`thermo-manifold reproduce physics.startup`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from thermo_manifold.physics import collision_kernels

NOTICE = ("compiling Numba kernels, first run only (tens of seconds; later runs load them "
          "from the cache)")
_state = {"watching": False, "compiled": 0}


def _ours(dispatcher) -> bool:
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
    return module.startswith("thermo_manifold.")


def watch() -> None:
    """Start counting this package's kernel compilations (idempotent); the first one prints
    NOTICE to stderr."""
    if _state["watching"] or not collision_kernels.AVAILABLE:
        return
    from numba.core import event

    class _Notice(event.Listener):
        def on_start(self, ev):
            if not _ours((ev.data or {}).get("dispatcher")):
                return
            if _state["compiled"] == 0:
                print(NOTICE, file=sys.stderr, flush=True)
            _state["compiled"] += 1

        def on_end(self, ev):
            pass

    event.register("numba:compile", _Notice())
    _state["watching"] = True


def compiled_in_this_process() -> int:
    """How many of this package's kernels were compiled (not loaded from the cache) since
    `watch()`."""
    return _state["compiled"]


def dispatchers() -> Iterator[tuple[str, object]]:
    """(name, Numba dispatcher) of every compiled kernel of the physics modules, both halves of
    each serial/parallel twin included."""
    if not collision_kernels.AVAILABLE:
        return
    from numba.core.registry import CPUDispatcher

    from thermo_manifold.physics import mesh_kernels, verlet_kernels

    for module in (collision_kernels, mesh_kernels, verlet_kernels):
        for name, value in sorted(vars(module).items()):
            if isinstance(value, CPUDispatcher):
                yield f"{module.__name__}.{name}", value
            for half in ("parallel", "serial"):
                twin = getattr(value, half, None)
                if callable(value) and isinstance(twin, CPUDispatcher):
                    yield f"{module.__name__}.{name}.{half}", twin


__all__ = ["NOTICE", "compiled_in_this_process", "dispatchers", "watch"]
