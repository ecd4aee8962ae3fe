"""The bad-input table renders what the cases recorded, one row a case."""

from __future__ import annotations

from thermo_manifold.reproduce import fault_tables


def test_rows_show_exit_status_the_one_stderr_line_and_what_is_left():
    raw = {"rows": [
        {"case": "a", "command": "thermo-manifold simulate --grid 1", "exit": 2,
         "stderr_lines": 1, "stderr": "error: too big", "left": ""},
        {"case": "b", "command": "thermo-manifold simulate", "exit": 0, "stderr_lines": 0,
         "stderr": "", "left": "summary: completed at step 2"}]}
    table = fault_tables._render(raw)["sim.faults"].splitlines()
    assert table[0] == "| case | command | exit | stderr | what is left |"
    assert table[2] == ("| a | `thermo-manifold simulate --grid 1` | 2 | 1 line: error: too big "
                        "| - |")
    assert table[3].endswith("| 0 | 0 lines | summary: completed at step 2 |")


def test_the_table_is_stale_when_the_simulator_or_bench_changes():
    sources = fault_tables.ENTRIES[0].sources
    for path in ("src/thermo_manifold/sim/simulator.py", "src/thermo_manifold/sim/cli.py",
                 "src/thermo_manifold/sim/lock.py", "src/thermo_manifold/preflight.py",
                 "src/thermo_manifold/physics/benchmark.py",
                 "src/thermo_manifold/reproduce/fault_tables.py"):
        assert path in sources, path
