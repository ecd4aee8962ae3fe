"""docs/simulator.md: the "Measured" table, every row from a `thermo-manifold simulate` run.

All runs take place in this process on one torch thread and one Numba thread (see
physics_tables.single_thread): on a shared machine that is the setting whose timings mean
something. The Ctrl+C row sends this process a real SIGINT from a timer thread while the run is
going; the video row records an MP4 when the optional imageio-ffmpeg is installed and a GIF
otherwise, and says which.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thermo_manifold.cli_support import UserError
from thermo_manifold.reporting import format_cell, markdown_table
from thermo_manifold.reproduce.entry import Entry
from thermo_manifold.reproduce.entry import run_cli as _run_cli
from thermo_manifold.reproduce.physics_tables import (
    SIM_SOURCES,
    THREAD_NOTE,
    load_average,
    load_text,
    quick_note,
    read_json,
    single_thread,
)

BASE = ["--particles", "2000", "--grid", "32"]


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"main_steps": 20, "inject_every": 5, "profile_steps": 10, "pair_steps": 30,
                "pairs": 1, "dash_steps": 10, "dash_every": 5, "interrupt_after": 4.0,
                "resume_seconds": 2.0}
    return {"main_steps": 200, "inject_every": 50, "profile_steps": 100, "pair_steps": 300,
            "pairs": 3, "dash_steps": 20, "dash_every": 5, "interrupt_after": 14.0,
            "resume_seconds": 4.0}


def _video_suffix() -> str:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return "gif"
    return "mp4"


def _plan(quick: bool) -> dict[str, list[list[str]]]:
    """Every simulate command, by table row; `DIR` stands for the run's directory."""
    s = _settings(quick)
    pair = [*BASE, "--steps", str(s["pair_steps"]), "--no-dashboard", "--quiet"]
    dash = [*BASE, "--steps", str(s["dash_steps"]), "--dashboard-every", str(s["dash_every"])]
    continuous = ["--continuous", "--particles", "300", "--grid", "16", "--inject-min", "1",
                  "--inject-max", "2", "--max-particles", "400", "--quiet"]
    return {
        "main": [[*BASE, "--steps", str(s["main_steps"]), "--inject-every-steps",
                  str(s["inject_every"]), "--quiet"]],
        "profile": [[*BASE, "--steps", str(s["profile_steps"]), "--no-dashboard", "--profile",
                     "--quiet"]],
        "carriers": [p for _ in range(s["pairs"]) for p in (pair, [*pair, "--no-carriers"])],
        "dashboard": [[*dash, "--profile", "--quiet"]],
        "resume": [continuous, ["--resume", "DIR", "--max-seconds", str(s["resume_seconds"]),
                                "--quiet"]],
        "video": [[*dash, "--dashboard-video", f"d.{_video_suffix()}", "--quiet"]],
    }


def _shown(argv: list[str]) -> str:
    return "thermo-manifold simulate " + shlex.join(argv) + (" --out DIR" if "--resume" not in argv
                                                            else "")


def _commands(quick: bool) -> list[str]:
    s = _settings(quick)
    out = []
    for row, runs in _plan(quick).items():
        for argv in runs:
            note = f"in process, {THREAD_NOTE}"
            if row == "resume" and "--continuous" in argv:
                note += f"; SIGINT after {s['interrupt_after']:g} s"
            out.append(f"{_shown(argv)}  ({note})")
    return out


def _simulate(argv: list[str], out: Path) -> tuple[dict, float]:
    """Run one simulate command into `out`; return its summary and the call's wall seconds."""
    full = [a if a != "DIR" else str(out) for a in argv]
    if "--resume" not in argv:
        full += ["--out", str(out)]
    start = time.perf_counter()
    _run_cli(["simulate", *full], capture=True)
    return read_json(out / "summary.json"), time.perf_counter() - start


def _interrupted(argv: list[str], out: Path, after: float) -> tuple[dict, float]:
    """Run `argv` and press Ctrl+C (a real SIGINT to this process) `after` seconds in."""
    if threading.current_thread() is not threading.main_thread():
        raise UserError("reproduce sim.measured: the Ctrl+C row needs the main thread")
    timer = threading.Timer(after, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        return _simulate(argv, out)
    finally:
        timer.cancel()


_PROFILE_ROW = re.compile(r"^\|\s*phase\s*\|\s*(sim\.\w+)\s*\|\s*(\d+)\s*\|\s*([-\d.e+]+)\s*\|")


def profile_phases(table: str) -> dict[str, dict[str, float]]:
    """The simulator's phases from `tables/profile.md`: name -> calls and total CPU ms."""
    phases = {}
    for line in table.splitlines():
        match = _PROFILE_ROW.match(line)
        if match:
            phases[match.group(1)] = {"calls": int(match.group(2)),
                                      "total_ms": float(match.group(3))}
    return phases


def _video_facts(path: Path) -> dict[str, Any]:
    if path.suffix == ".mp4":
        import imageio_ffmpeg

        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
        return {"format": "mp4", "frames": int(frames), "size": list(meta["size"]),
                "fps": float(meta["fps"]), "codec": meta.get("codec"),
                "pix_fmt": meta.get("pix_fmt")}
    from PIL import Image

    with Image.open(path) as image:
        frames = getattr(image, "n_frames", 1)
        duration = image.info.get("duration")
        return {"format": "gif", "frames": int(frames), "size": list(image.size),
                "fps": 1000.0 / duration if duration else None, "codec": None, "pix_fmt": None}


def _summary_keys(summary: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("steps", "session_steps", "stopped", "resumed_from_step", "final_particles",
            "files_injected", "particles_injected", "particles_evicted", "ms_per_step_mean",
            "ms_per_step_median", "ledger_residual", "wall_seconds_session", "dtype")
    out = {k: summary.get(k) for k in keep}
    out["carriers"] = summary.get("carriers", {})
    out["checkpoint"] = "checkpoint" in summary
    return out


def _run(quick: bool, work: Path) -> dict:
    plan = _plan(quick)
    s = _settings(quick)
    load = [load_average()]
    raw: dict[str, Any] = {"quick": quick, "settings": s, "load": load,
                           "commands": {row: [_shown(a) for a in runs] for row, runs in plan.items()}}
    with single_thread() as threads:
        raw["threads"] = threads
        summary, seconds = _simulate(plan["main"][0], work / "main")
        raw["main"] = {**_summary_keys(summary), "call_seconds": seconds}

        summary, _ = _simulate(plan["profile"][0], work / "profile")
        table = (work / "profile" / "tables" / "profile.md").read_text(encoding="utf-8")
        raw["profile"] = {"steps": summary["steps"], "phases": profile_phases(table)}

        pairs = []
        for index, argv in enumerate(plan["carriers"]):
            summary, _ = _simulate(argv, work / f"carriers-{index}")
            pairs.append({**_summary_keys(summary), "with_carriers": "--no-carriers" not in argv})
        raw["carriers"] = pairs

        summary, _ = _simulate(plan["dashboard"][0], work / "dashboard")
        table = (work / "dashboard" / "tables" / "profile.md").read_text(encoding="utf-8")
        raw["dashboard"] = {"steps": summary["steps"], "phases": profile_phases(table)}

        first, second = plan["resume"]
        stopped, _ = _interrupted(first, work / "resume", s["interrupt_after"])
        resumed, _ = _simulate(second, work / "resume")
        raw["resume"] = {"first": _summary_keys(stopped), "second": _summary_keys(resumed)}

        summary, _ = _simulate(plan["video"][0], work / "video")
        video = Path(summary["video"])
        raw["video"] = {"steps": summary["steps"], **_video_facts(video)}
    load.append(load_average())
    return raw


def _cmd(raw: Mapping[str, Any], row: str, index: int = 0) -> str:
    return f"`{raw['commands'][row][index]}`"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _main_row(raw: Mapping[str, Any]) -> dict[str, str]:
    m = raw["main"]
    carriers = m["carriers"]
    live = (f"{carriers['count']} carriers ({carriers['crystallized']} crystallized)"
            if "count" in carriers else f"carriers {carriers.get('status')}")
    return {"what": "README main job", "command": _cmd(raw, "main"), "result": (
        f"{m['files_injected']} files (+{m['particles_injected']} particles), {live}, ledger "
        f"residual {m['ledger_residual']:.1e} ({m['dtype']}), {_ms(m['ms_per_step_median'])} "
        f"ms/step median ({_ms(m['ms_per_step_mean'])} mean), {m['call_seconds']:.1f} s for the "
        f"whole call (set-up, steps, dashboard redraws, final PNG, checkpoint)")}


def _profile_row(raw: Mapping[str, Any]) -> dict[str, str]:
    p = raw["profile"]
    phases = p["phases"]
    physics, carriers = phases.get("sim.physics"), phases.get("sim.carriers")
    if physics is None:
        result = "no sim.physics range in the profile table"
    else:
        result = f"`sim.physics` {physics['total_ms']:.0f} ms over {physics['calls']} steps"
        if carriers:
            per_tick = carriers["total_ms"] / max(carriers["calls"], 1)
            ticks = f"{carriers['calls']} tick{'s' if carriers['calls'] != 1 else ''}"
            result += (f"; `sim.carriers` {carriers['total_ms']:.0f} ms over {ticks} "
                       f"({per_tick:.1f} ms per tick): the carriers cost "
                       f"{100 * carriers['total_ms'] / physics['total_ms']:.1f} % of the physics time")
    return {"what": "where the time goes", "command": _cmd(raw, "profile"), "result": result}


def carrier_cost(runs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean ms/step of every run with and without carriers; the cost compares the fastest run
    of each (the least disturbed by other jobs: load only ever adds time). The mean, not the
    median, because carriers tick on one step in ten."""
    on = [r["ms_per_step_mean"] for r in runs if r["with_carriers"]]
    off = [r["ms_per_step_mean"] for r in runs if not r["with_carriers"]]
    return {"on": on, "off": off, "best_on": min(on), "best_off": min(off),
            "share": (min(on) - min(off)) / min(on)}


def _carriers_row(raw: Mapping[str, Any]) -> dict[str, str]:
    runs = raw["carriers"]
    cost = carrier_cost(runs)
    ticks = next((r["carriers"].get("ticks") for r in runs if r["carriers"].get("ticks")), None)
    commands = sorted(set(raw["commands"]["carriers"]), key=len)
    share = 100 * cost["share"]
    verdict = (f"the carriers cost {share:.0f} % of a step" if share > 0 else
               f"the runs without carriers were not faster ({share:.0f} %): the carriers' cost "
               f"is below this run's noise")
    result = (f"on: {', '.join(_ms(v) for v in cost['on'])} ms/step mean"
              f"{f' ({ticks} ticks per run)' if ticks else ''}; off: "
              f"{', '.join(_ms(v) for v in cost['off'])} ms/step. Fastest of each: "
              f"{1e3 / cost['best_on']:.0f} against {1e3 / cost['best_off']:.0f} steps/s, so "
              f"{verdict}.")
    count = len(cost["on"])
    return {"what": "carriers on vs off, wall clock",
            "command": " and ".join(f"`{c}`" for c in commands)
                       + f", {count} run{'s' if count > 1 else ''} each, alternating",
            "result": result}


def _dashboard_row(raw: Mapping[str, Any]) -> dict[str, str]:
    d = raw["dashboard"]["phases"].get("sim.dashboard")
    result = ("no sim.dashboard range in the profile table" if d is None else
              f"{d['total_ms'] / 1e3 / max(d['calls'], 1):.2f} s per redraw "
              f"({d['calls']} redraws, `sim.dashboard` in the profile table)")
    return {"what": "dashboard cost", "command": _cmd(raw, "dashboard"), "result": result}


def _resume_row(raw: Mapping[str, Any]) -> dict[str, str]:
    first, second = raw["resume"]["first"], raw["resume"]["second"]
    s = raw["settings"]
    result = (f"stopped ({first['stopped']}) at step {first['steps']} ({first['files_injected']} "
              f"files, {first['particles_evicted']} evicted, checkpoint "
              f"{'written' if first['checkpoint'] else 'missing'}, exit 0); resumed at "
              f"{second['resumed_from_step']}, ran to {second['steps']}")
    return {"what": "Ctrl+C and resume, continuous",
            "command": f"{_cmd(raw, 'resume', 0)}, SIGINT after {s['interrupt_after']:g} s; then "
                       f"{_cmd(raw, 'resume', 1)}",
            "result": result}


def _video_row(raw: Mapping[str, Any]) -> dict[str, str]:
    v = raw["video"]
    size = f"{v['size'][0]} x {v['size'][1]}"
    fps = "" if v["fps"] is None else f", {format_cell(float(v['fps']), 3)} fps"
    codec = " ".join(x for x in (v.get("codec"), v.get("pix_fmt")) if x)
    result = f"{v['frames']} frames, {size}{', ' + codec if codec else ''}{fps}"
    if v["format"] == "gif":
        result += " (GIF: the optional imageio-ffmpeg was not installed, so no MP4 was recorded)"
    return {"what": v["format"].upper(), "command": _cmd(raw, "video"), "result": result}


def _render(raw: Mapping[str, Any]) -> dict[str, str]:
    rows = [_main_row(raw), _profile_row(raw), _carriers_row(raw), _dashboard_row(raw),
            _resume_row(raw), _video_row(raw)]
    head = (f"float32, {THREAD_NOTE}{quick_note(raw)}, {load_text(raw)}; each ms/step counts "
            f"the timed part of a step (injection, physics, carriers), not the dashboard.\n\n")
    return {"sim.measured": head + markdown_table(rows, ["what", "command", "result"])}


ENTRIES: list[Entry] = [Entry(
    name="sim.measured", doc="simulator.md", blocks=("sim.measured",),
    summary="the simulator's main job, profile, carriers on/off, dashboard cost, Ctrl+C and "
            "resume, video",
    commands=_commands, run=_run, render=_render, sources=SIM_SOURCES)]
