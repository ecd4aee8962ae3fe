"""The physics benchmark's bookkeeping (never its timings): every variant's row, its first step
compared with the float64 NumPy reference, and the Markdown table."""

from __future__ import annotations

import math

import pytest

from thermo_manifold.physics import benchmark, collision_kernels


def test_every_variant_is_compared_with_the_reference_step():
    variants = ("torch", "numba") if collision_kernels.AVAILABLE else ("torch",)
    rows = benchmark.run_benchmark(sizes=(3000,), grids=(16,), steps=1, warmup=0,
                                   progress=False, variants=variants)
    assert [row["variant"] for row in rows] == list(variants)
    for row in rows:
        assert not [key for key in row if key.startswith("_")]  # scratch keys removed
        assert row["collision_pairs"] > 0
        assert row["first_step_pairs_reference"] == row["first_step_pairs_engine"]
        # float32 engine against the float64 reference after one step
        assert 0 <= row["first_step_max_dx"] < 1e-4
        assert 0 <= row["first_step_max_dv"] < 1e-3
        assert row["reference_ms"] > 0 and row["ratio"] > 0
        assert math.isclose(row["particle_steps_per_s"], 3000 / (row["engine_ms"] / 1e3))
    table = benchmark.format_markdown(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert all(line.count("|") == table[0].count("|") for line in table)


def test_benchmark_rejects_bad_settings():
    with pytest.raises(ValueError, match="variant must be one of"):
        benchmark.run_benchmark(sizes=(100,), grids=(8,), variants=("fortran",))
    with pytest.raises(ValueError, match="steps must be >= 1"):
        benchmark.run_benchmark(sizes=(100,), grids=(8,), steps=0)


@pytest.mark.parametrize("argv, fragment", [
    (["--sizes", "nan"], "'nan' is not a positive integer"),
    (["--sizes", "inf"], "'inf' is not a positive integer"),
    (["--sizes", "1e20"], "GiB of memory"),
    (["--sizes", "100", "--grids", "8", "--out", "FILE"], "exists and is not a directory"),
    (["--sizes", "100", "--grids", "8", "--out", "/proc/no/where"], "cannot write there"),
    (["--sizes", "100", "--grids", "8", "--steps", "0"], "--steps must be >= 1"),
])
def test_bench_physics_refuses_bad_input_before_any_timing(argv, fragment, tmp_path, capsys):
    from thermo_manifold.cli import main

    (tmp_path / "FILE").write_text("not a directory")
    argv = [str(tmp_path / "FILE") if a == "FILE" else a for a in argv]
    assert main(["bench", "physics", "--no-reference", "--quiet", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and fragment in captured.err
    assert captured.out == ""  # nothing was timed
