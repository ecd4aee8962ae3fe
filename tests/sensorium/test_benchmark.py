"""`thermo-manifold bench reservoir`: prints a row per reservoir and the target; no timing is
asserted (shared machines are noisy)."""

from __future__ import annotations

from thermo_manifold import cli


def test_bench_reservoir_prints_every_reservoir_and_the_target(capsys):
    assert cli.main(["bench", "reservoir", "--tokens", "64", "--vocab", "8"]) == 0
    out = capsys.readouterr().out
    for name in ("manifold reservoir", "reservoir, physics frozen", "echo state network",
                 "decaying bag"):
        assert name in out
    assert "target 1000 tokens/s for the manifold reservoir:" in out


def test_bench_reservoir_bad_arguments_are_one_line_errors(capsys):
    assert cli.main(["bench", "reservoir", "--tokens", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--tokens" in err and "\n" not in err
