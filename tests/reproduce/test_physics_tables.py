"""The physics entries' renderers on small hand-made results (no benchmark or simulate runs)."""

from __future__ import annotations

import json

from thermo_manifold.reproduce import physics_tables as pt


def _entry(name: str):
    return next(e for e in pt.ENTRIES if e.name == name)


def _bench_row(n, grid, variant, ms, speedup, ratio, steps=(1.0,)):
    return {"n": n, "grid": grid, "variant": variant, "steps": 5, "warmup": 1, "engine_ms": ms,
            "engine_ms_all": list(steps), "particle_steps_per_s": n / (ms / 1e3),
            "stage_ms": {"scatter": 10.0, "gravity": 5.0, "heat": 8.0, "update": 30.0,
                         "collide": 60.0},
            "other_ms": ms - 113.0, "collision_pairs": 472454, "speedup": speedup,
            "reference_ms": 3000.0, "reference_steps": 2, "ratio": ratio,
            "first_step_max_dx": 2.2e-05}


BENCH = {"quick": False, "threads": {"torch": 1, "numba": 1}, "torch": "2.13.0+cpu",
         "seconds": 95.4, "load": [2.5, 4.0],
         "rows": [_bench_row(1_000_000, 64, "torch", 800.0, 1.0, 3.75),
                  _bench_row(1_000_000, 64, "numba", 125.0, 6.4, 24.0, steps=(121.2, 125.0, 131.9))]}


def test_entries_name_their_doc_blocks_and_sources():
    names = [e.name for e in pt.ENTRIES]
    assert names == ["physics.throughput", "physics.numba_threads", "physics.main_job"]
    for entry in pt.ENTRIES:
        assert entry.doc == "physics.md"
        assert "src/thermo_manifold/physics" in entry.sources
        assert all("--quick" not in c for c in entry.commands(False))
    assert {"src/thermo_manifold/sim", "src/thermo_manifold/spectral"} <= set(
        _entry("physics.main_job").sources)
    (bench,) = _entry("physics.throughput").commands(False)
    assert bench.startswith("thermo-manifold bench physics --sizes 10000 100000 1000000 "
                            "--grids 32 64 --steps 5")


def test_throughput_table_cells_and_target_sentence():
    blocks = _entry("physics.throughput").render(BENCH)
    table = blocks["physics.throughput"]
    assert "1 torch thread(s), 1 Numba thread(s); the benchmark took 95 s" in table
    assert "1-minute load average 2.5 before and 4 after the run" in table
    assert ("| 1,000,000 | 64^3 | numba | 125.0 | 8e+06 | 10.0 | 5.0 | 8.0 | 30.0 | 60.0 | 12.0 "
            "| 472,454 | 6.40x | 3000.0 (2) | 24.00x | 2.2e-05 |") in table
    reading = blocks["physics.throughput_reading"]
    assert "does 8 million (125.0 ms; the 3 timed steps took 121-132 ms)" in reading
    assert "**target met**" in reading
    assert "6.40x the PyTorch path and 24.0x the NumPy reference" in reading
    stages = blocks["physics.stages"]
    assert stages.startswith("Median stage times of the `numba` variant at N = 1,000,000, 64^3")
    assert "collide 60.0 ms (48 %); update 30.0 ms (24 %)" in stages


def test_throughput_reading_when_the_target_is_missed_or_not_timed():
    slow = json.loads(json.dumps(BENCH))
    slow["rows"][1]["engine_ms"] = 400.0
    slow["rows"][1]["particle_steps_per_s"] = 2.5e6
    assert "**target not met**" in _entry("physics.throughput").render(slow)[
        "physics.throughput_reading"]
    quick = {**BENCH, "quick": True, "rows": [_bench_row(10_000, 32, "numba", 4.7, 5.7, 5.6)]}
    blocks = _entry("physics.throughput").render(quick)
    assert "This run did not time that case (`--quick` settings)." in blocks[
        "physics.throughput_reading"]
    assert "at N = 10,000, 32^3" in blocks["physics.stages"]


def test_numba_threads_sentence():
    raw = {"quick": False, "n": 20000, "steps": 5, "runs": [
        {"threads": 1, "particles_identical": True, "contact_work": 3.5, "gravity_work": -1.25,
         "pressure_work": 0.1},
        {"threads": 2, "particles_identical": True, "contact_work": 3.5,
         "gravity_work": -1.2500000000000002, "pressure_work": 0.1}]}
    text = _entry("physics.numba_threads").render(raw)["physics.numba_threads"]
    assert text == ("Measured: 5 steps of 20,000 particles (gas scenario, float32) on 1 and on 2 "
                    "Numba threads gave bit-identical particles, the same contact work, and "
                    "gravity work -1.25 vs -1.2500000000000002.")


def _sim_run(key, dtype, poisson, collisions, ms, residual, gravity, potential, first=None,
             contact="spring_dashpot"):
    return {"key": key, "dtype": dtype, "poisson": poisson, "poisson_iterations": 50,
            "contact": contact,
            "collisions": collisions, "steps": 200, "ms_median": ms, "ms_mean": ms + 1,
            "ledger_residual": residual, "poisson_residual": 2.7e-14,
            "ledger": {"initial_total": 1531.9, "kinetic": 1538.5, "internal": 1234.9,
                       "heat": 201916.7, "potential": potential, "gravity_work": gravity,
                       "pressure_work": 1631.5, "contact_work": 212803.95, "radiated": 11258.85,
                       "dissipated": 212901.97, "total": 204690.1, "residual": residual},
            "after_step_1": first}


MAIN = {"quick": False, "threads": {"torch": 1, "numba": 1}, "load": [1.0, 1.5], "runs": [
    _sim_run("float32-spectral", "float32", "spectral", True, 3.2, 1.9e-06, -18.0, -56.0),
    _sim_run("float64-spectral", "float64", "spectral", True, 4.4, 5.7e-14, -18.5, -56.8,
             first={"gravity_work": -0.02, "potential": -74.44}),
    _sim_run("float32-jacobi", "float32", "jacobi", True, 7.2, 7.8e-07, -18.0, -56.0),
    _sim_run("float64-spectral-no-collisions", "float64", "spectral", False, 5.0, 0.0, 0.1589,
             -74.6075, first={"gravity_work": -0.01, "potential": -74.44}),
    _sim_run("float64-spectral-seed-contact", "float64", "spectral", True, 4.0, 1e-15, -18.0,
             -56.0, contact="seed")]}


def test_main_job_table_flows_and_gravity():
    blocks = _entry("physics.main_job").render(MAIN)
    table = blocks["physics.main_job"]
    assert ("| contact | dtype | Poisson | ms/step (median) | ledger residual after 200 steps |"
            in table)
    assert "| spring_dashpot | float64 | spectral | 4.4 | 5.7e-14 | 2.7e-14 |" in table
    assert "| spring_dashpot | float32 | jacobi (50 sweeps, warm) | 7.2 | 7.8e-07 | 2.7e-14 |" in table
    assert "| seed | float64 | spectral | 4.0 | 1.0e-15 | 2.7e-14 |" in table
    assert table.count("\n| ") == 5  # header + 4 runs: the no-collisions run is not a row
    flows = blocks["physics.flows"]
    # 204,690.1 / 1,531.9 = 133.6 times initial + injected (nothing injected here)
    assert ("initial total K + E + Q + U_grav + U_c = 1,532, final 204,690 (134 times initial "
            "+ injected); dissipated to heat 212,902, pressure work +1,632, dashpot cross terms "
            "+212,804, radiated 11,259") in flows
    assert "closure residual 5.7e-14." in flows
    assert "The same run with `--contact seed`: initial particle energy 1,532" in flows
    gravity = blocks["physics.gravity"]
    # without collisions: W = 0.1589 - (-0.01) = 0.1689, dU = -74.6075 + 74.44 = -0.1675
    assert "without collisions the gravity kicks did W = +0.1689 of work" in gravity
    assert "changed by dU = -0.1675 (|W + dU| / |W| = 0.8 %)" in gravity
    assert "with collisions the gravity kicks did W = -18.48" in gravity
    assert gravity.startswith("float64, spectral Poisson, steps 2-200 of the runs above:")


def test_helpers():
    assert pt.grouped(212803.95) == "212,804" and pt.grouped(0.42131) == "0.421"
    assert pt.signed(-18.48) == "-18.48" and pt.signed(1631.5) == "+1,632"
    assert pt.span([6.41, 12.08]) == "6.4-12.1" and pt.span([1.02, 1.04], ".1f") == "1.0"
    assert pt.load_text({"load": [None, 2.0]}) == "load average not known"
