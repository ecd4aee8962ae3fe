"""docs/simulator.md: the bad-input table, every row a command run here as a user would run it.

Each case runs `python -m thermo_manifold ...` in its own process (a signal, a second run beside
a first, and exit statuses are things only a real process shows) and records its exit status,
what it printed on stderr, and what it left in its run directory: the summary's `stopped` and
the step of a checkpoint that `--resume` can read. Paths under the work directory are written
as `DIR`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thermo_manifold.reporting import markdown_table
from thermo_manifold.reproduce.entry import Entry
from thermo_manifold.reproduce.imports import source_files

SMALL = ["--particles", "200", "--grid", "12", "--no-dashboard", "--quiet"]
HUGE = "10000000000000"
UNSTABLE_TOML = "[physics]\ncontact = \"seed\"\nyoung_modulus = 1e30\nG = 1e30\n"
TIMEOUT = 300


def _sources() -> tuple[str, ...]:
    return source_files(["thermo_manifold.cli", "thermo_manifold.sim.cli",
                         "thermo_manifold.benchmarks_cli", "thermo_manifold.physics.benchmark",
                         "thermo_manifold.reproduce.fault_tables"])


def _command(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "thermo_manifold", *argv]


def _left(out: Path | None) -> str:
    """What a run directory holds afterwards: summary and a readable checkpoint."""
    if out is None or not out.is_dir():
        return "no run directory" if out is not None else ""
    parts = []
    summary = out / "summary.json"
    if summary.is_file():
        data = json.loads(summary.read_text(encoding="utf-8"))
        stopped = data.get("stopped")
        parts.append(f"summary: {stopped}" + (f" by {data['signal']}" if data.get("signal")
                                               else "") + f" at step {data.get('steps')}")
        parts += [f"warning: {warning}" for warning in data.get("warnings") or ()]
    if (out / "checkpoint.pt").is_file():
        from thermo_manifold.sim.checkpoint import CheckpointError, load_checkpoint

        try:
            parts.append(f"checkpoint of step {load_checkpoint(out)[0]['step']} (loads)")
        except CheckpointError as error:
            parts.append(f"unreadable checkpoint ({error})")
    if (out / "config.json").is_file() and not parts:
        parts.append("config.json only")
    leftovers = sorted(p.name for p in out.iterdir() if p.name.endswith((".tmp", ".lock")))
    if leftovers:
        parts.append("left behind: " + ", ".join(leftovers))
    return "; ".join(parts) or "empty"


def _finish(case: str, argv: list[str], done: subprocess.CompletedProcess | Any, work: Path,
            out: Path | None, extra: str = "") -> dict[str, Any]:
    stderr = [line for line in (done.stderr or "").splitlines() if line.strip()]
    shown = (stderr[-1] if stderr else "").replace(str(work), "DIR")
    return {"case": case, "command": "thermo-manifold " + " ".join(
        a.replace(str(work), "DIR") for a in argv), "exit": done.returncode,
        "stderr_lines": len(stderr), "stderr": shown,
        "left": "; ".join(x for x in (_left(out), extra) if x)}


def _simple(case: str, argv: list[str], work: Path, out: Path | None) -> dict[str, Any]:
    done = subprocess.run(_command(argv), capture_output=True, text=True, timeout=TIMEOUT)
    return _finish(case, argv, done, work, out)


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def _sigterm(work: Path) -> dict[str, Any]:
    out = work / "sigterm"
    argv = ["simulate", *SMALL, "--continuous", "--max-seconds", "120", "--out", str(out)]
    process = subprocess.Popen(_command(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    _wait_for(out / "config.json", 120)
    time.sleep(2.0)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=TIMEOUT)
    done = subprocess.CompletedProcess(argv, process.returncode, "", err)
    return _finish("SIGTERM two seconds into a continuous run", argv, done, work, out)


def _busy(work: Path) -> dict[str, Any]:
    out = work / "busy"
    first = ["simulate", *SMALL, "--continuous", "--max-seconds", "120", "--out", str(out)]
    process = subprocess.Popen(_command(first), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _wait_for(out / "config.json", 120)
    second = ["simulate", *SMALL, "--steps", "5", "--out", str(out), "--overwrite"]
    row = _simple("a second run into the directory of a live one", second, work, None)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=TIMEOUT)
    row["left"] = "the first run finished: " + _left(out)
    return row


def _reruns(work: Path) -> list[dict[str, Any]]:
    out = work / "finished"
    first = ["simulate", *SMALL, "--steps", "20", "--out", str(out)]
    subprocess.run(_command(first), capture_output=True, text=True, timeout=TIMEOUT, check=True)
    before = (out / "checkpoint.pt").read_bytes()
    rows = [_simple("a fresh run into a directory holding a finished run's checkpoint",
                    ["simulate", *SMALL, "--steps", "5", "--out", str(out)], work, None)]
    resumed = _simple("`--resume DIR --steps 5` on a run already at step 20",
                      ["simulate", "--resume", str(out), "--steps", "5", "--quiet"], work, None)
    same = (out / "checkpoint.pt").read_bytes() == before
    resumed["left"] = "checkpoint " + ("unchanged" if same else "REWRITTEN")
    rows.append(resumed)
    rows.append(_simple("the same fresh run with `--overwrite`",
                        ["simulate", *SMALL, "--steps", "5", "--out", str(out), "--overwrite"],
                        work, out))
    return rows


def _toml_cases(work: Path) -> list[dict[str, Any]]:
    unstable = work / "unstable.toml"
    unstable.write_text(UNSTABLE_TOML, encoding="utf-8")
    grid = work / "grid.toml"
    grid.write_text("[physics]\ngrid_size = [8, 8, 8]\n", encoding="utf-8")
    boolean = work / "bool.toml"
    boolean.write_text("[physics]\ndt = true\n", encoding="utf-8")
    rows = [_simple("a config valid field by field that blows up (seed contact, "
                    "young_modulus = G = 1e30)",
                    ["simulate", *SMALL, "--steps", "20", "--config", str(unstable), "--out",
                     str(work / "unstable")], work, work / "unstable")]
    no_grid = [a for a in SMALL if a not in ("--grid", "12")]
    row = _simple("TOML `grid_size = [8, 8, 8]`, no `--grid`",
                  ["simulate", *no_grid, "--steps", "2", "--config", str(grid), "--out",
                   str(work / "grid")], work, work / "grid")
    used = json.loads((work / "grid" / "config.json").read_text())["physics"]["grid_size"]
    row["left"] += f"; config.json grid_size {used}"
    rows.append(row)
    rows.append(_simple("the seed's contact push, an energy source (README-sized run)",
                        ["simulate", "--particles", "2000", "--grid", "32", "--steps", "200",
                         "--contact", "seed", "--no-dashboard", "--quiet", "--out",
                         str(work / "seed_contact")], work, work / "seed_contact"))
    row = _simple("TOML `dt = true` (a boolean where a number is due)",
                  ["simulate", *SMALL, "--steps", "2", "--config", str(boolean), "--out",
                   str(work / "bool")], work, work / "bool")
    config = work / "bool" / "config.json"
    if config.is_file():
        row["left"] += f"; config.json dt {json.loads(config.read_text())['physics']['dt']!r}"
    rows.append(row)
    return rows


def _run(quick: bool, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()
    (work / "a_file").write_text("not a directory\n", encoding="utf-8")
    rows = [
        _simple("`--particles` beyond memory", ["simulate", "--particles", HUGE, "--out",
                                                 str(work / "p")], work, work / "p"),
        _simple("`--grid` beyond memory", ["simulate", "--grid", "100000", "--out",
                                           str(work / "g")], work, work / "g"),
        _simple("injected files beyond memory",
                ["simulate", "--inject-every-steps", "2", "--inject-particles-min", HUGE,
                 "--inject-particles-max", HUGE, "--out", str(work / "i")], work, work / "i"),
        _simple("`--dashboard-video` where nothing can be written",
                ["simulate", *SMALL[:-2], "--steps", "5", "--dashboard-video",
                 "/proc/none/x.gif", "--out", str(work / "v")], work, work / "v"),
        _simple("`--out` where nothing can be written",
                ["simulate", *SMALL, "--steps", "5", "--out", "/proc/none"], work, None),
        _simple("`bench physics --sizes nan`", ["bench", "physics", "--sizes", "nan"], work,
                None),
        _simple("`bench physics --sizes inf`", ["bench", "physics", "--sizes", "inf"], work,
                None),
        _simple("`bench physics --sizes 1e20`", ["bench", "physics", "--sizes", "1e20"], work,
                None),
        _simple("`bench physics --out` an existing file",
                ["bench", "physics", "--sizes", "100", "--grids", "8", "--out",
                 str(work / "a_file")], work, None),
        *_toml_cases(work),
        _sigterm(work),
        _busy(work),
        *_reruns(work),
    ]
    return {"rows": rows}


def _commands(quick: bool) -> list[str]:
    return ["python -m thermo_manifold simulate ... / bench physics ... (one process a case; "
            "see the table)"]


def _render(raw: Mapping[str, Any]) -> dict[str, str]:
    rows = [{"case": r["case"], "command": f"`{r['command']}`", "exit": r["exit"],
             "stderr": (f"{r['stderr_lines']} line: {r['stderr']}" if r["stderr_lines"] == 1
                        else f"{r['stderr_lines']} lines" + (f", last: {r['stderr']}"
                                                             if r["stderr"] else "")),
             "what is left": r["left"] or "-"} for r in raw["rows"]]
    return {"sim.faults": markdown_table(rows, ["case", "command", "exit", "stderr",
                                                "what is left"])}


ENTRIES: list[Entry] = [Entry(
    name="sim.faults", doc="simulator.md", blocks=("sim.faults",),
    summary="bad input and faults, each run as a user would: exit status, stderr, what is left",
    commands=_commands, run=_run, render=_render, sources=_sources())]
