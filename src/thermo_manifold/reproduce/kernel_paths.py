"""Does a result depend on which CPU kernels ran? Re-run one command under other kernel paths.

Each variant runs the same command in a fresh process with one environment switch that changes
which low-level kernels compute the same arithmetic: torch's vectorised kernel level
(`ATEN_CPU_CAPABILITY=default` instead of AVX2/AVX-512) or MKL's code path (`MKL_CBWR`). Rounding
in the last digits may differ; an exact algorithm's result then differs in the last digits too,
while a learner whose discrete choices hinge on tiny differences can end elsewhere. This is how
one machine shows what changing machines does.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from thermo_manifold.cli_support import UserError

# name -> environment changes ("" removes the variable so the native path runs)
VARIANTS: dict[str, dict[str, str]] = {
    "native": {"ATEN_CPU_CAPABILITY": "", "MKL_CBWR": ""},
    "ATEN_CPU_CAPABILITY=default": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": ""},
    "MKL_CBWR=AVX512": {"ATEN_CPU_CAPABILITY": "", "MKL_CBWR": "AVX512"},
}


def variant_env(changes: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in changes.items():
        if value:
            env[key] = value
        else:
            env.pop(key, None)
    return env


def run_variants(argv: Sequence[str], work: Path) -> dict[str, Path]:
    """Run `thermo-manifold ARGV --out DIR` once per variant; return each run directory."""
    outs = {}
    for index, (name, changes) in enumerate(VARIANTS.items()):
        out = work / f"variant-{index}"
        command = [sys.executable, "-m", "thermo_manifold", *argv, "--out", str(out)]
        done = subprocess.run(command, env=variant_env(changes), capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise UserError(f"reproduce: `{shlex.join(command[1:])}` under {name} failed: {tail}")
        outs[name] = out
    return outs


def load_metrics(outs: dict[str, Path]) -> dict[str, dict]:
    return {name: json.loads((out / "metrics.json").read_text(encoding="utf-8"))
            for name, out in outs.items()}


def commands(argv: Sequence[str]) -> list[str]:
    shown = "thermo-manifold " + shlex.join(argv)
    return [f"{name.replace('native', '(native kernels)')} {shown}" for name in VARIANTS]


__all__ = ["VARIANTS", "commands", "load_metrics", "run_variants", "variant_env"]
