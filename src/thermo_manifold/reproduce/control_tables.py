"""docs/agent.md, part 2: the field-theory agent against an MLP world model with a scalar critic
and a random policy, one table per control task (`thermo-manifold agent control`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thermo_manifold.reproduce.entry import Entry, command_text, run_cli
from thermo_manifold.reproduce.imports import source_files

TASKS = ("curl", "pendulum", "cartpole", "mountaincar")
# The command-line file and the closure of the control experiment (not the TopoEncoder's
# modules, which `agent topoencoder` imports through the same command-line file).
SOURCES = tuple(sorted({*source_files(["thermo_manifold.cli",
                                       "thermo_manifold.agent.control_experiment"]),
                        "src/thermo_manifold/agent/cli.py"}))


def _argv(task: str, quick: bool, out: str) -> list[str]:
    # Two processes: the full runs of the four tasks take about half an hour on both cores.
    return ["agent", "control", "--task", task, "--jobs", "2", "--quiet", "--out", out,
            *(["--quick"] if quick else [])]


def _entry(task: str) -> Entry:
    name = f"agent.control.{task}"

    def commands(quick: bool) -> list[str]:
        return [command_text(_argv(task, quick, f"runs/reproduce/{name}"))]

    def run(quick: bool, work: Path) -> dict:
        run_cli(_argv(task, quick, str(work)))
        metrics = json.loads((work / "metrics.json").read_text(encoding="utf-8"))
        return {"quick": quick, **{k: metrics[k] for k in ("task", "rows", "runs", "targets",
                                                            "caption", "table", "seconds")}}

    def render(raw: Mapping[str, Any]) -> dict[str, str]:
        mode = " (`--quick` settings)" if raw["quick"] else ""
        return {name: f"{raw['caption']}{mode} Wall time {raw['seconds']:.0f} s.\n\n"
                      f"{raw['table']}"}

    return Entry(name=name, doc="agent.md", blocks=(name,),
                 summary=f"field-theory agent vs MLP world model + scalar critic on {task}",
                 commands=commands, run=run, render=render, sources=SOURCES)


ENTRIES = [_entry(task) for task in TASKS]
