"""`thermo-manifold agent control --task T`: both agents and a random policy on one task, over
seeds, into a run directory: config.json, metrics.json (every run's row), tables/control_T.md
(mean +- sd over seeds) and figures/control_T.png (the returns by seed).

Targets of issue 17 are checked on the aggregated rows and written under `targets` in
metrics.json and below the table: on `curl` the field-theory agent's mean return above the
baseline's; on `pendulum` the field-theory agent within one standard deviation of the baseline
or above it, and a mean return above -400 for at least one agent.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from thermo_manifold.agent.control import (
    AGENTS,
    BASELINE,
    FIELD,
    ROLLOUT,
    ControlConfig,
    baseline_width,
    random_policy_row,
    train_agent,
)
from thermo_manifold.agent.control_tasks import make_task
from thermo_manifold.reporting import RunDirectory, headless_pyplot

METHODS = (*AGENTS, "random policy")
MEASURES = ("return", "wm_error_1", f"wm_error_{ROLLOUT}", "critic_td_error")


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per method: mean and sd over seeds of each measure, plus counts and time."""
    rows = []
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method]
        if not mine:
            continue
        row = {"method": method, "seeds": len(mine)}
        for key in MEASURES:
            values = [r[key] for r in mine if key in r]
            if values:
                row[key] = float(np.mean(values))
                row[f"{key}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        for key in ("parameters", "env_steps"):
            if key in mine[0]:
                row[key] = mine[0][key]
        row["seconds"] = float(sum(r["seconds"] for r in mine))
        rows.append(row)
    return rows


def check_targets(task: str, rows: list[dict]) -> dict:
    """The issue's targets for `task` on the aggregated rows: {name: True/False}."""
    by = {r["method"]: r for r in rows}
    if FIELD not in by or BASELINE not in by:
        return {}
    field, base = by[FIELD], by[BASELINE]
    if task == "curl":
        return {"field-theory agent beats the scalar-critic baseline":
                field["return"] > base["return"]}
    if task == "pendulum":
        return {"field-theory agent within one sd of the baseline or above":
                field["return"] >= base["return"] - base["return_sd"],
                "an agent's mean return above -400":
                max(field["return"], base["return"]) > -400.0}
    return {}


def markdown(task: str, rows: list[dict], targets: dict) -> str:
    def cell(row: dict, key: str) -> str:
        if key not in row or (isinstance(row[key], float) and math.isnan(row[key])):
            return ""
        sd = row.get(f"{key}_sd", 0.0)
        return f"{row[key]:.4g} +- {sd:.2g}" if row["seeds"] > 1 else f"{row[key]:.4g}"

    head = ["method", "return", "world model error, 1 step", f"{ROLLOUT} steps",
            "critic TD error", "parameters (world model + critic)", "env steps", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join([
            row["method"], cell(row, "return"), cell(row, "wm_error_1"),
            cell(row, f"wm_error_{ROLLOUT}"), cell(row, "critic_td_error"),
            str(row.get("parameters", "")), str(row.get("env_steps", "")),
            f"{row['seconds']:.0f}"]) + " |")
    text = "\n".join(lines) + "\n"
    for name, met in targets.items():
        text += f"\nTarget: {name}: {'met' if met else 'missed'}."
    return text + ("\n" if targets else "")


def _train_one(task_name: str, cfg: ControlConfig, seed: int, kind: str, width: int | None,
               bar=None) -> dict:
    """One agent on one seed (a worker's job: the task is built where it runs)."""
    import torch

    torch.set_num_threads(1)
    row = train_agent(kind, make_task(task_name), cfg, seed, width, bar=bar)
    return {**row, "seed": seed}


def _train_all(task_name: str, cfg: ControlConfig, jobs: list[tuple[int, str, int | None]],
               workers: int, quiet: bool, save) -> list[dict]:
    """Every (seed, kind, width) job, in order, on `workers` processes; `save(rows)` after
    each finished job so a stopped run keeps what it finished."""
    from tqdm import tqdm

    done: dict[int, dict] = {}
    if workers == 1:
        for index, (seed, kind, width) in enumerate(jobs):
            short = "field agent" if kind == FIELD else "baseline"
            with tqdm(total=cfg.env_steps, desc=f"{task_name} {short} seed {seed}",
                      unit="step", leave=False, disable=quiet) as bar:
                done[index] = _train_one(task_name, cfg, seed, kind, width, bar)
            save([done[i] for i in sorted(done)])
        return [done[i] for i in sorted(done)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no forked OpenMP state in the workers
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool, \
            tqdm(total=len(jobs), desc=f"{task_name} runs", unit="run", disable=quiet) as bar:
        futures = {pool.submit(_train_one, task_name, cfg, seed, kind, width): index
                   for index, (seed, kind, width) in enumerate(jobs)}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            save([done[i] for i in sorted(done)])
            bar.update(1)
    return [done[i] for i in sorted(done)]


def run_control(task_name: str, cfg: ControlConfig, seeds: list[int], out: str | Path,
                quiet: bool = False, workers: int = 1) -> dict:
    """Train and evaluate every method for every seed (on `workers` processes; the results do
    not depend on how many); write the run directory (module doc)."""
    task = make_task(task_name)
    run = RunDirectory(out)
    run.write_json("config.json", {"task": task_name, "seeds": seeds,
                                   "control": dataclasses.asdict(cfg)})
    started = time.perf_counter()
    jobs = []
    for seed in seeds:
        width = baseline_width(task, cfg, seed)
        jobs += [(seed, FIELD, None), (seed, BASELINE, width)]

    def save(rows: list[dict]) -> None:
        run.write_json("metrics.json", {"task": task_name, "runs": rows, "complete": False})

    runs = _train_all(task_name, cfg, jobs, workers, quiet, save)
    runs += [{**random_policy_row(task, cfg, seed), "seed": seed} for seed in seeds]
    rows = aggregate(runs)
    targets = check_targets(task_name, rows)
    caption = (f"`{task_name}`: mean +- sd over seeds {seeds}; return over {cfg.eval_episodes} "
               f"evaluation episodes with the policy's sampled forces; world-model errors are "
               f"mean squared latent errors over the latent's variance on the evaluation "
               f"episodes' transitions; critic TD error in units of the reward scale.")
    table = markdown(task_name, rows, targets)
    (run.root / "tables").mkdir(exist_ok=True)
    (run.root / "tables" / f"control_{task_name}.md").write_text(f"**{caption}**\n\n{table}")
    metrics = {"task": task_name, "runs": runs, "rows": rows, "targets": targets,
               "caption": caption, "table": table, "complete": True,
               "seconds": time.perf_counter() - started}
    run.write_json("metrics.json", metrics)
    _figure(run, task_name, runs)
    return metrics


def _figure(run: RunDirectory, task_name: str, runs: list[dict]) -> Path:
    plt = headless_pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for i, method in enumerate(METHODS):
        values = [r["return"] for r in runs if r["method"] == method]
        ax.scatter(np.full(len(values), i), values, color=f"C{i}", zorder=3)
        if values:
            ax.hlines(np.mean(values), i - 0.3, i + 0.3, color=f"C{i}")
    ax.set_xticks(range(len(METHODS)), [m.replace(" + ", "\n+ ") for m in METHODS], fontsize=8)
    ax.set_ylabel("evaluation return")
    ax.set_title(f"{task_name}: return per seed (line: mean)")
    return run.save_figure(fig, f"control_{task_name}")


__all__ = ["METHODS", "aggregate", "check_targets", "markdown", "run_control"]
