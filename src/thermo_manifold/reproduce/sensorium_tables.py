"""docs/sensorium.md: the ten sensorium experiments, seed 0, each beside its baselines.

One entry per experiment (`sensorium.NAME`) runs `thermo-manifold experiment NAME --seed 0` in
this process and keeps what the run measured: metrics.json's tables (caption, columns, rows),
its manifold-vs-baseline sentences, the skipped data sources, the experiment's own timer and
every other metrics.json value small enough to quote (per-step histories stay in the run
directory), plus what the data came from (Python for the pydoc text, statsmodels, scikit-learn,
espeak-ng) and the machine's load average around the run. Each entry fills two blocks:
`sensorium.NAME` (the table the experiment writes, with its caption and the wall time) and
`sensorium.NAME.vs` (where the manifold beats, ties or loses to each baseline, in numbers).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from thermo_manifold.reporting import format_cell, markdown_table
from thermo_manifold.reproduce.entry import Entry, command_text, run_cli
from thermo_manifold.reproduce.imports import source_files

SEED = 0
EXPERIMENTS = ("next_token", "timeseries", "text_diffusion", "mnist_bytes", "image_gen",
               "audio_gen", "cocktail_party", "rule_shift", "ablation", "continuous")
ALWAYS_KEPT = ("tables", "comparisons", "skipped_sources", "seconds", "seed", "quick")
SMALL_JSON = 2000   # other metrics.json values are kept when their JSON is at most this long


# --- running ------------------------------------------------------------------------------------

def _argv(name: str, quick: bool, out: str) -> list[str]:
    return ["experiment", name, "--seed", str(SEED), "--quiet", "--out", out,
            *(["--quick"] if quick else [])]


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def espeak_version() -> str | None:
    """`espeak-ng --version`'s version number, or None when espeak-ng is not on PATH."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown version"
    match = re.search(r"(\d+\.\d+[\w.+-]*)", done.stdout)
    return match.group(1) if match else "unknown version"


def environment() -> dict[str, Any]:
    """Where the experiments' data comes from, beyond what the stamp records."""
    return {"python": platform.python_version(), "statsmodels": _version("statsmodels"),
            "scikit-learn": _version("scikit-learn"), "espeak-ng": espeak_version()}


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def keep(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a run's metrics.json stored in the results file."""
    kept = {k: metrics[k] for k in ALWAYS_KEPT if k in metrics}
    extras = {k: v for k, v in metrics.items()
              if k not in kept and k != "experiment" and len(json.dumps(v)) <= SMALL_JSON}
    return {**kept, "extras": extras}


def sources(name: str) -> tuple[str, ...]:
    """The repo files experiment `name` runs: the import closure of the command line and of
    its module (experiments are imported by name, so the closure of the command line alone
    would miss them). An edit to one experiment stales its own table, not the other nine."""
    return source_files(["thermo_manifold.cli", "thermo_manifold.sensorium.cli",
                         f"thermo_manifold.sensorium.experiments.{name}"])


def _experiment_entry(name: str) -> Entry:
    entry_name = f"sensorium.{name}"

    def commands(quick: bool) -> list[str]:
        return [command_text(_argv(name, quick, f"runs/reproduce/{entry_name}"))]

    def run(quick: bool, work: Path) -> dict:
        load_before = _load()
        run_cli(_argv(name, quick, str(work)))
        load_after = _load()
        metrics = json.loads((work / name / "metrics.json").read_text(encoding="utf-8"))
        config = json.loads((work / name / "config.json").read_text(encoding="utf-8"))
        raw = {"experiment": name, "quick": quick, "seed": SEED, "metrics": keep(metrics),
               "config": config if len(json.dumps(config)) <= 4 * SMALL_JSON else None,
               "environment": environment(), "load_average_1min": [load_before, load_after]}
        return json.loads(json.dumps(raw))   # exactly what the results file will hold

    def render(raw: Mapping[str, Any]) -> dict[str, str]:
        return {entry_name: render_table(raw), f"{entry_name}.vs": render_comparison(raw)}

    return Entry(name=entry_name, doc="sensorium.md", blocks=(entry_name, f"{entry_name}.vs"),
                 summary=f"sensorium experiment {name}, seed {SEED}, beside its baselines",
                 commands=commands, run=run, render=render, sources=sources(name))


# --- numbers ------------------------------------------------------------------------------------

def number(value: Any) -> float | None:
    """A finite float, or None (metrics.json writes NaN as the string "nan")."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def cell(value: Any) -> str:
    return format_cell(value, 4)


def _table(raw: Mapping[str, Any]) -> dict[str, Any]:
    tables = raw["metrics"]["tables"]
    if len(tables) != 1:
        raise ValueError(f"sensorium.{raw['experiment']}: expected one table, got {sorted(tables)}")
    return next(iter(tables.values()))


def _rows(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    return _table(raw)["rows"]


def verdicts(mine: float, others: Sequence[tuple[str, Any]], higher_is_better: bool) -> str:
    """`beats A (x); ties B (y); loses to C (z)` for the finite values among `others`."""
    groups: dict[str, list[str]] = {"beats": [], "ties": [], "loses to": []}
    for label, value in others:
        theirs = number(value)
        if theirs is None:
            continue
        if mine == theirs:
            groups["ties"].append(f"{label} ({cell(theirs)})")
        elif (mine > theirs) == higher_is_better:
            groups["beats"].append(f"{label} ({cell(theirs)})")
        else:
            groups["loses to"].append(f"{label} ({cell(theirs)})")
    parts = [f"{verb} {', '.join(items)}" for verb, items in groups.items() if items]
    return "; ".join(parts) if parts else "no baseline with a finite value"


def _line(label: str, row: Mapping[str, Any], others: Sequence[Mapping[str, Any]], metric: str,
          higher_is_better: bool, key: str = "method", extra: str = "") -> str:
    mine = number(row.get(metric))
    if mine is None:
        return f"- {label}: {row[key]} has no finite {metric}."
    better = "higher" if higher_is_better else "lower"
    return (f"- {label} ({better} is better): {row[key]} {cell(mine)}{extra}: "
            f"{verdicts(mine, [(o[key], o.get(metric)) for o in others], higher_is_better)}.")


def _is_manifold(row: Mapping[str, Any], key: str = "method") -> bool:
    return str(row[key]).startswith("manifold")


def _grouped(rows: Sequence[Mapping[str, Any]], key: str) -> list[tuple[str, list[dict]]]:
    groups: list[tuple[str, list[dict]]] = []
    for row in rows:
        if not groups or groups[-1][0] != row[key]:
            groups.append((row[key], []))
        groups[-1][1].append(dict(row))
    return groups


# --- the table block ----------------------------------------------------------------------------

def _data_sources(raw: Mapping[str, Any]) -> str:
    """Which data the run used, where it depends on what is installed."""
    env, extras = raw["environment"], raw["metrics"]["extras"]
    name = raw["experiment"]
    if name in ("next_token", "text_diffusion") and extras.get("source") == "pydoc_data.topics":
        return f"Text: `pydoc_data.topics` of Python {env['python']}."
    if name == "timeseries":
        return (f"Series run: {', '.join(extras.get('series_run', []))} (the real series come "
                f"from statsmodels {env['statsmodels'] or '(not installed)'}).")
    if name in ("mnist_bytes", "image_gen"):
        return f"Images from scikit-learn {env['scikit-learn']}."
    if name == "cocktail_party":
        voices = extras.get("voices")
        if voices == "espeak-ng":
            return f"Voices: real speech from espeak-ng {env['espeak-ng']}."
        return (f"Voices: {voices} (espeak-ng "
                f"{'is ' + env['espeak-ng'] if env['espeak-ng'] else 'is not installed here'}).")
    return ""


def render_table(raw: Mapping[str, Any]) -> str:
    name, metrics, table = raw["experiment"], raw["metrics"], _table(raw)
    settings = "`--quick` settings" if raw["quick"] else "the seed's (full) settings"
    load = raw.get("load_average_1min") or [None, None]
    parts = [f"`thermo-manifold experiment {name} --seed {raw['seed']}`, {settings}.",
             table["caption"], markdown_table(table["rows"], table["columns"]).rstrip("\n")]
    notes = [_data_sources(raw)]
    notes += [f"Skipped: {s['source']} ({s['reason']})." for s in metrics["skipped_sources"]]
    timing = f"Experiment wall time {metrics['seconds']:.0f} s"
    if load[0] is not None and load[1] is not None:
        timing += f"; 1-minute load average {load[0]:g} before and {load[1]:g} after the run"
    notes.append(timing + ".")
    parts.append(" ".join(n for n in notes if n))
    return "\n\n".join(parts)


# --- the comparison block -----------------------------------------------------------------------

MANIFOLD_RESERVOIR = "manifold reservoir"
# The rows that isolate what the physics adds: the same placement without physics, one feature
# family of the same run, and memories with no physics at all.
PHYSICS_PEERS = ("reservoir, physics frozen", "reservoir, no carriers", "reservoir, fields only",
                 "reservoir, carriers only", "echo state network", "decaying bag", "no memory")


def _physics_line(label: str, rows: Sequence[Mapping[str, Any]], metric: str,
                  higher_is_better: bool) -> list[str]:
    """"Does the physics contribute?": the manifold reservoir against its ablations and the
    memories without physics (none for a table without reservoir rows)."""
    mine = next((r for r in rows if r["method"] == MANIFOLD_RESERVOIR), None)
    peers = [r for r in rows if r["method"] in PHYSICS_PEERS]
    if mine is None or not peers:
        return []
    return [_line(f"{label}, does the physics contribute? the manifold reservoir against its "
                  "ablations and the reservoirs without physics", mine, peers, metric,
                  higher_is_better)]


def _next_token(raw: Mapping[str, Any]) -> list[str]:
    rows = _rows(raw)
    if any(r["method"] == MANIFOLD_RESERVOIR for r in rows):
        base = [r for r in rows if not _is_manifold(r)]
        lines = []
        for row in (r for r in rows if _is_manifold(r)):
            lines.append(_line("bits per byte on the test part", row, base, "bits_per_byte",
                               False))
            lines.append(_line("accuracy", row, base, "accuracy", True))
        return lines + _physics_line("bits per byte", rows, "bits_per_byte", False)
    subject = rows[0]
    seed_rows = [r for r in rows[1:] if _is_manifold(r)]
    baselines = [r for r in rows if not _is_manifold(r)]
    lines = [_line("bits per byte on the test part", subject, baselines, "bits_per_byte", False)]
    test_bytes = raw["metrics"]["extras"].get("test_bytes")
    accuracy = number(subject.get("accuracy"))
    hits = (f" ({round(accuracy * test_bytes)} of {test_bytes} test bytes)"
            if accuracy is not None and isinstance(test_bytes, int) else "")
    lines.append(_line("accuracy", subject, baselines, "accuracy", True, extra=hits))
    for row in seed_rows:
        lines.append(f"- {row['method']}, on the same predictions: "
                     f"{cell(row['bits_per_byte'])} bits per byte.")
    return lines


def _mae_ratios(manifold: Mapping[str, Any], baselines: Sequence[Mapping[str, Any]]) -> str:
    ratios = [manifold["mae"] / b["mae"] for b in baselines
              if number(b.get("mae")) and number(manifold.get("mae")) is not None]
    if not ratios:
        return ""
    return f"; manifold MAE / baseline MAE {format_cell(min(ratios), 2)} to {format_cell(max(ratios), 2)}"


def _timeseries(raw: Mapping[str, Any]) -> list[str]:
    lines = []
    for series, rows in _grouped(_rows(raw), "series"):
        mine = next(r for r in rows if _is_manifold(r))
        base = [r for r in rows if not _is_manifold(r)]
        lines.append(_line(f"{series}, MAE", mine, base, "mae", False).rstrip(".")
                     + _mae_ratios(mine, base) + ".")
        lines.append(_line(f"{series}, MSE", mine, base, "mse", False))
        lines.append(_line(f"{series}, exact-byte accuracy", mine, base, "accuracy", True))
        lines += _physics_line(f"{series}, MAE", rows, "mae", False)
    return lines


def _single_metric(metric: str, label: str, higher_is_better: bool) -> Callable[[Mapping], list[str]]:
    def lines(raw: Mapping[str, Any]) -> list[str]:
        rows = _rows(raw)
        base = [r for r in rows if not _is_manifold(r)]
        return ([_line(label, r, base, metric, higher_is_better) for r in rows if _is_manifold(r)]
                + _physics_line(label, rows, metric, higher_is_better))

    return lines


def _mnist_bytes(raw: Mapping[str, Any]) -> list[str]:
    lines = _single_metric("accuracy", "test accuracy", True)(raw)
    counts = raw["metrics"]["extras"].get("predicted_label_counts")
    if isinstance(counts, list) and counts:
        used = [f"{label} ({count}×)" for label, count in enumerate(counts) if count]
        lines.append(f"- The {_rows(raw)[0]['method']} predicted {len(used)} of {len(counts)} labels: "
                     f"{', '.join(used)}.")
    return lines


def _image_gen(raw: Mapping[str, Any]) -> list[str]:
    lines = []
    for data, rows in _grouped(_rows(raw), "data"):
        base = [r for r in rows if not _is_manifold(r)]
        lines += [_line(f"{data}, MSE on the masked pixels", r, base, "mse_masked", False)
                  for r in rows if _is_manifold(r)]
        lines += _physics_line(f"{data}, MSE on the masked pixels", rows, "mse_masked", False)
    return lines


def _cocktail_party(raw: Mapping[str, Any]) -> list[str]:
    return _single_metric("si_sdr_mean_db", "mean SI-SDR in dB", True)(raw)


def _recovery(row: Mapping[str, Any]) -> str:
    steps = row.get("recovery_steps")
    return f"recovers in {steps} steps" if isinstance(steps, int) else "no recovery (None)"


def _rule_shift(raw: Mapping[str, Any]) -> list[str]:
    rows = _rows(raw)
    base = [r for r in rows if not _is_manifold(r)]
    lines = []
    for row in (r for r in rows if _is_manifold(r)):
        lines.append(_line("next-token MRR before the shift", row, base, "pre_shift", True))
        lines.append(_line("next-token MRR right after the shift", row, base,
                           "post_shift_immediate", True))
    lines += _physics_line("next-token MRR before the shift", rows, "pre_shift", True)
    for row in base:
        if number(row.get("pre_shift")) != number(row.get("post_shift_immediate")):
            lines.append(f"- {row['method']}: {cell(row['pre_shift'])} before, "
                         f"{cell(row['post_shift_immediate'])} right after, {_recovery(row)}.")
    extras = raw["metrics"]["extras"]
    if "seed_alignment_gap" in extras:
        lines.append(f"- The seed's order-blind metric (carrier histogram against each regime's "
                     f"token histogram): largest forward/reversed difference over the run "
                     f"`seed_alignment_gap` = {cell(extras['seed_alignment_gap'])}; cosine of the "
                     f"forward and reversed token histograms "
                     f"{cell(extras.get('histogram_cosine_fwd_vs_rev'))}.")
    return lines


def _ablation(raw: Mapping[str, Any]) -> list[str]:
    rows = _rows(raw)
    conditions = [r for r in rows if not str(r["condition"]).startswith("baseline")]
    base = [r for r in rows if str(r["condition"]).startswith("baseline")]
    chance = next((r for r in base if "chance" in str(r["condition"])), None)
    lines = []
    if chance is not None:
        above = [f"{r['condition']} ({cell(r['pre_shift'])})" for r in conditions
                 if (number(r.get("pre_shift")) or 0) > (number(chance.get("pre_shift")) or 0)]
        lines.append(f"- Pre-shift MRR against chance ({cell(chance['pre_shift'])}): "
                     f"{len(above)} of {len(conditions)} conditions above it"
                     f"{': ' + ', '.join(above) if above else ''}.")
    for row in base:
        if row is chance:
            continue
        mine = number(row.get("pre_shift"))
        beaten = [r for r in conditions if mine is not None and (number(r.get("pre_shift")) or 0) < mine]
        lines.append(f"- {row['condition']} ({cell(row['pre_shift'])} before, "
                     f"{cell(row['post_shift_immediate'])} after, {_recovery(row)}) beats "
                     f"{len(beaten)} of {len(conditions)} conditions on pre-shift MRR.")
    if conditions:
        full = conditions[0]
        keys = ("pre_shift", "post_shift_immediate", "recovery_steps", "final_carriers",
                "final_crystallized")
        same = [r["condition"] for r in conditions[1:] if all(r.get(k) == full.get(k) for k in keys)]
        differ = [r for r in conditions[1:] if r["condition"] not in same]
        if same:
            lines.append(f"- Identical to \"{full['condition']}\" in every column: "
                         f"{', '.join(same)}.")
        for row in differ:
            lines.append(f"- {row['condition']}: pre-shift {cell(row['pre_shift'])}, final "
                         f"carriers {cell(row['final_carriers'])} (\"{full['condition']}\": "
                         f"{cell(full['pre_shift'])}, {cell(full['final_carriers'])}).")
        crystallized = [number(r.get("final_crystallized")) or 0 for r in conditions]
        lines.append(f"- Crystallized carriers at the end: at most {max(crystallized):g} "
                     f"in any condition.")
    return lines


def _continuous(raw: Mapping[str, Any]) -> list[str]:
    rows = _rows(raw)
    if "quantity" not in rows[0]:  # the reservoir readout: learning on the stream
        extras = raw["metrics"]["extras"]
        lines = _single_metric("mrr_last_quarter", "next-byte MRR over the stream's last "
                               "quarter", True)(raw)
        lines.append(f"- The ledger run beside it: energy ledger relative residual "
                     f"{cell(extras.get('ledger_residual'))} after "
                     f"{cell(extras.get('ledger_steps'))} steps (injections: "
                     f"{cell(extras.get('ledger_injections'))}); "
                     f"{cell(extras.get('ledger_particles'))} particles and "
                     f"{cell(extras.get('ledger_carriers'))} carriers at the end.")
        return lines
    values = {r["quantity"]: r["value"] for r in rows}
    steps = (raw.get("config") or {}).get("steps")
    after = f" after {steps} steps" if steps is not None else ""
    return [f"- No learning task and no baseline. Energy ledger relative residual "
            f"{cell(values.get('residual'))}{after} (injections: {cell(values.get('injections'))}); "
            f"{cell(values.get('particles'))} particles and {cell(values.get('carriers'))} "
            f"carriers at the end."]


COMPARISONS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "next_token": _next_token,
    "timeseries": _timeseries,
    "text_diffusion": _single_metric("masked_accuracy", "accuracy on the masked bytes", True),
    "mnist_bytes": _mnist_bytes,
    "image_gen": _image_gen,
    "audio_gen": _single_metric("mse_masked", "waveform MSE on the masked samples", False),
    "cocktail_party": _cocktail_party,
    "rule_shift": _rule_shift,
    "ablation": _ablation,
    "continuous": _continuous,
}


def render_comparison(raw: Mapping[str, Any]) -> str:
    mode = " (`--quick` settings)" if raw["quick"] else ""
    head = f"{raw['experiment']}, seed {raw['seed']}{mode}:"
    return head + "\n\n" + "\n".join(COMPARISONS[raw["experiment"]](raw))


ENTRIES: list[Entry] = [_experiment_entry(name) for name in EXPERIMENTS]
