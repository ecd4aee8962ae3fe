"""Every compiled kernel is cached on disk, and a compile (a cache miss) prints one notice."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from thermo_manifold.physics import collision_kernels, kernel_cache

pytestmark = pytest.mark.skipif(not collision_kernels.AVAILABLE, reason="numba not installed")

_RUN = ("import torch; from thermo_manifold.physics import ManifoldPhysics, gas_config, "
        "gas_state; from thermo_manifold.device import make_generator; c = gas_config(300, 8); "
        "e = ManifoldPhysics(c, kernels='numba'); s = gas_state(300, c, make_generator(0)); "
        "[s := e.step(s).state for _ in range(2)]; "
        "from thermo_manifold.physics import kernel_cache as k; "
        "print('compiled', k.compiled_in_this_process())")


def test_every_kernel_writes_to_the_disk_cache():
    found = dict(kernel_cache.dispatchers())
    assert len(found) >= 20
    assert {"thermo_manifold.physics.verlet_kernels._dashpot",
            "thermo_manifold.physics.mesh_kernels._scatter.serial",
            "thermo_manifold.physics.mesh_kernels._scatter.parallel"} <= set(found)
    uncached = [name for name, d in found.items() if not d._cache.__class__.__name__
                == "FunctionCache"]
    assert not uncached


def test_a_cold_cache_prints_the_notice_once_and_a_warm_one_stays_silent(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    cold = subprocess.run([sys.executable, "-c", _RUN], env=env, capture_output=True,
                          text=True, timeout=600)
    assert cold.returncode == 0, cold.stderr
    assert cold.stderr.count(kernel_cache.NOTICE) == 1
    assert int(cold.stdout.split()[-1]) > 5
    warm = subprocess.run([sys.executable, "-c", _RUN], env=env, capture_output=True,
                          text=True, timeout=600)
    assert warm.returncode == 0, warm.stderr
    assert kernel_cache.NOTICE not in warm.stderr
    assert warm.stdout.split()[-1] == "0"
