"""docs/agent.md: the TopoEncoder against VQ-VAE and autoencoder baselines, over three seeds.

The TopoEncoder's router takes an argmax over charts and its Cayley transport goes through a
batched linear solve, so last-digit differences between CPU kernel paths
change which chart a sample lands in and the run ends elsewhere; the baselines' numbers move
only in their last digits (`agent.kernel_paths` measures it). Every learned number is therefore a spread over seeds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thermo_manifold.reporting import format_cell, markdown_table
from thermo_manifold.reproduce.entry import Entry, command_text, run_cli
from thermo_manifold.reproduce.imports import source_files
from thermo_manifold.reproduce.stats import mean, spread_cell

SEEDS = (0, 1, 2)
# Every table here runs `thermo-manifold agent topoencoder ...`: the files that command imports
# (the agent's command-line file itself, and the closure of the experiment it runs; the control
# benchmark's modules, which `agent control` imports, do not stale these tables).
SOURCES = tuple(sorted({*source_files(["thermo_manifold.cli", "thermo_manifold.agent.experiment"]),
                        "src/thermo_manifold/agent/cli.py"}))
METRICS = (("params", "params", 6), ("mse", "MSE (soft)", 3), ("mse_hard", "MSE (hard code)", 3),
           ("ami_chart", "AMI chart", 3), ("ami_code", "AMI code", 3), ("ami_kmeans", "AMI k-means", 3),
           ("perplexity_chart", "chart perplexity", 3), ("perplexity_code", "code perplexity", 3),
           ("tau_floor_fraction", "tau at floor", 2), ("router_agreement", "enc/dec chart agreement", 2),
           ("classifier_accuracy", "classifier acc.", 3))
DATASETS = {  # entry suffix -> (dataset, full epochs, extra flags)
    "digits": ("digits", 80, ["--supervised"]),
    "atlas2d": ("atlas2d", 30, []),
}


def _argv(dataset: str, epochs: int, extra: list[str], seed: int, quick: bool, out: str) -> list[str]:
    return ["agent", "topoencoder", "--dataset", dataset, "--epochs", str(epochs), *extra,
            "--seed", str(seed), "--quiet", "--out", out, *(["--quick"] if quick else [])]


def _seeds(quick: bool) -> tuple[int, ...]:
    return SEEDS[:1] if quick else SEEDS


def _dataset_entry(key: str) -> Entry:
    dataset, epochs, extra = DATASETS[key]
    name = f"agent.{key}"

    def commands(quick: bool) -> list[str]:
        return [command_text(_argv(dataset, epochs, extra, s, quick, f"runs/reproduce/{name}/seed-{s}"))
                for s in _seeds(quick)]

    def run(quick: bool, work: Path) -> dict:
        runs = {}
        for seed in _seeds(quick):
            out = work / f"seed-{seed}"
            run_cli(_argv(dataset, epochs, extra, seed, quick, str(out)))
            metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
            config = json.loads((out / "config.json").read_text(encoding="utf-8"))
            runs[str(seed)] = {"epochs": metrics["epochs"], "n_test": config["n_test"],
                               "models": {m: {k: v for k, v in r.items() if k != "history"}
                                          for m, r in metrics["models"].items()}}
        return {"dataset": dataset, "seeds": list(_seeds(quick)), "quick": quick, "runs": runs}

    def render(raw: Mapping[str, Any]) -> dict[str, str]:
        first = raw["runs"][str(raw["seeds"][0])]
        head = (f"{raw['dataset']}, held-out test split (n = {first['n_test']}), {first['epochs']} "
                f"epochs, mean (min–max) over seeds {', '.join(map(str, raw['seeds']))}"
                f"{' (`--quick` settings)' if raw['quick'] else ''}:\n\n")
        return {name: head + _models_table(raw["runs"]), f"{name}.reading": _reading(raw["runs"])}

    return Entry(name=name, doc="agent.md", blocks=(name, f"{name}.reading"),
                 summary=f"TopoEncoder vs VQ-VAE and autoencoder on {dataset}, three seeds",
                 commands=commands, run=run, render=render, sources=SOURCES)


MODEL_ORDER = ("TopoEncoder", "TopoEncoder+sup", "VQ-VAE", "VQ-VAE, 10 codes", "Autoencoder")


def ordered(names) -> list[str]:
    """The learner first, then its baselines, whatever order a results file kept."""
    names = list(names)
    return [n for n in MODEL_ORDER if n in names] + sorted(n for n in names if n not in MODEL_ORDER)


def _models_table(runs: Mapping[str, Any]) -> str:
    models = ordered(next(iter(runs.values()))["models"])
    rows = []
    for model in models:
        values = [r["models"][model] for r in runs.values()]
        row = {"model": model}
        for key, label, digits in METRICS:
            row[label] = spread_cell([v.get(key) for v in values], digits)
        rows.append(row)
    return markdown_table(rows)


def _count(runs: Mapping[str, Any], better) -> int:
    return sum(bool(better(r["models"])) for r in runs.values())


def _reading(runs: Mapping[str, Any]) -> str:
    """The comparisons the doc draws, counted seed by seed from the same runs: the atlas as a
    discrete code against the VQ-VAE with as many codes, and its charts against the VQ-VAE with
    as many codes as charts."""
    n = len(runs)
    lines = []
    if all("VQ-VAE" in r["models"] for r in runs.values()):
        lines.append(f"- Code against code at equal counts: the TopoEncoder's (chart, code) ids carry more "
                     f"label information (AMI code) than the VQ-VAE's codes on "
                     f"{_count(runs, lambda m: m['TopoEncoder']['ami_code'] > m['VQ-VAE']['ami_code'])} of {n} "
                     f"seeds; decoded from the code alone it reconstructs better (MSE, hard code) on "
                     f"{_count(runs, lambda m: m['TopoEncoder']['mse_hard'] < m['VQ-VAE']['mse_hard'])} of {n}; "
                     f"with its continuous parts (MSE, soft) on "
                     f"{_count(runs, lambda m: m['TopoEncoder']['mse'] < m['VQ-VAE']['mse'])} of {n}.")
    ten = next((k for k in next(iter(runs.values()))["models"] if k.startswith("VQ-VAE, ")), None)
    if ten and all(ten in r["models"] for r in runs.values()):
        lines.append(f"- Charts against a VQ-VAE with as many codes ({ten}): AMI chart above its AMI code on "
                     f"{_count(runs, lambda m: m['TopoEncoder']['ami_chart'] > m[ten]['ami_code'])} of {n} seeds.")
    if all("Autoencoder" in r["models"] for r in runs.values()):
        lines.append(f"- The plain autoencoder has the lowest (soft) MSE on "
                     f"{_count(runs, lambda m: min(m, key=lambda k: m[k]['mse']) == 'Autoencoder')} "
                     f"of {n} seeds and the most accurate classifier on "
                     f"{_count(runs, lambda m: max(m, key=lambda k: m[k]['classifier_accuracy']) == 'Autoencoder')} of {n}.")
    if all("TopoEncoder+sup" in r["models"] for r in runs.values()):
        sup = [r["models"]["TopoEncoder+sup"]["ami_chart"] for r in runs.values()]
        lines.append(f"- With labels (TopoEncoder+sup) AMI chart is {format_cell(mean(sup), 3)} on "
                     f"average, at a higher soft MSE than the unsupervised TopoEncoder on "
                     f"{_count(runs, lambda m: m['TopoEncoder+sup']['mse'] > m['TopoEncoder']['mse'])} of {n} seeds.")
    return "\n".join(lines)


ENTRIES = [_dataset_entry(key) for key in DATASETS]


# --- one seed under three CPU kernel paths --------------------------------------------------------

_PATHS_ARGV = ["agent", "topoencoder", "--dataset", "digits", "--epochs", "10", "--seed", "0", "--quiet"]


def _paths_commands(quick: bool) -> list[str]:
    from thermo_manifold.reproduce import kernel_paths

    return kernel_paths.commands(_PATHS_ARGV + (["--quick"] if quick else []))


def _paths_run(quick: bool, work: Path) -> dict:
    from thermo_manifold.reproduce import kernel_paths

    outs = kernel_paths.run_variants(_PATHS_ARGV + (["--quick"] if quick else []), work)
    metrics = kernel_paths.load_metrics(outs)
    return {"quick": quick, "epochs": next(iter(metrics.values()))["epochs"],
            "variants": [{"name": name, "models": {m: {k: v for k, v in r.items() if k != "history"}
                                                   for m, r in metrics["models"].items()}}
                         for name, metrics in metrics.items()]}


def _largest_difference(results: list[dict]) -> float:
    """Max over every reported metric of |a - b| / |a| between any path and the first one."""
    worst = 0.0
    for key, _, _ in METRICS:
        ref = results[0].get(key)
        if isinstance(ref, (int, float)) and ref:
            worst = max([worst, *(abs(r[key] - ref) / abs(ref) for r in results[1:])])
    return worst


def _paths_render(raw: Mapping[str, Any]) -> dict[str, str]:
    rows = []
    for model in ordered(raw["variants"][0]["models"]):
        row = {f"model (digits, {raw['epochs']} epochs, seed 0)": model}
        for variant in raw["variants"]:
            r = variant["models"][model]
            row[f"test MSE / classifier acc., {variant['name']}"] = (
                f"{format_cell(r['mse'], 4)} / {format_cell(r['classifier_accuracy'], 3)}")
        row["largest relative difference between paths"] = format_cell(
            _largest_difference([v["models"][model] for v in raw["variants"]]), 2)
        rows.append(row)
    mode = " (`--quick` settings)" if raw["quick"] else ""
    return {"agent.kernel_paths": f"One machine, one seed{mode}, three kernel paths:\n\n" + markdown_table(rows)}


ENTRIES.append(Entry(name="agent.kernel_paths", doc="agent.md", blocks=("agent.kernel_paths",),
                     summary="digits, 10 epochs, seed 0, under three CPU kernel paths",
                     commands=_paths_commands, run=_paths_run, render=_paths_render, sources=SOURCES))


# --- the TopoEncoder's loss-weight ablations ---------------------------------------------------------

ABLATIONS = (("defaults", {}), ("no chart balance", {"balance": 0.0}),
             ("VICReg weight 0.05", {"vicreg": 0.05}), ("no VICReg", {"vicreg": 0.0}))
ABLATION_EPOCHS = 15


def _ablation_commands(quick: bool) -> list[str]:
    epochs = 2 if quick else ABLATION_EPOCHS
    return [f"python: TopoEncoder alone on digits, TrainConfig(epochs={epochs}, {change or 'defaults'}), "
            f"seeds {', '.join(map(str, _seeds(quick)))}" for _, change in ABLATIONS]


def _ablation_run(quick: bool, work: Path) -> dict:
    import torch

    from thermo_manifold.agent.config import TrainConfig
    from thermo_manifold.agent.datasets import load_dataset
    from thermo_manifold.agent.experiment import atlas_config_for
    from thermo_manifold.agent.model import TopoEncoder
    from thermo_manifold.agent.training import evaluate, make_classifier, train_model
    from thermo_manifold.device import make_generator

    threads = torch.get_num_threads()
    torch.set_num_threads(1)    # as `agent topoencoder` does: these models are small
    device = torch.device("cpu")
    epochs = 2 if quick else ABLATION_EPOCHS
    results: dict[str, dict[str, dict]] = {}
    try:
        for seed in _seeds(quick):
            data = load_dataset("digits", make_generator(seed), None, None)
            atlas = atlas_config_for(data)
            for label, change in ABLATIONS:
                train = dataclasses.replace(TrainConfig(epochs=epochs), **change)
                model = TopoEncoder(atlas, train, make_generator(seed), data.num_classes, data.action_dim)
                classifier = make_classifier(model, data, make_generator(seed + 2), device)
                train_model(model, classifier, data, train, make_generator(seed + 1), device, quiet=True)
                results.setdefault(label, {})[str(seed)] = evaluate(model, classifier, data, device, seed)
    finally:
        torch.set_num_threads(threads)
    return {"epochs": epochs, "seeds": list(_seeds(quick)), "results": results}


def _ablation_render(raw: Mapping[str, Any]) -> dict[str, str]:
    rows = []
    for label, _ in ABLATIONS:
        values = list(raw["results"][label].values())
        rows.append({"TopoEncoder variant": label,
                     "MSE (soft)": spread_cell([v["mse"] for v in values], 3),
                     "MSE (hard code)": spread_cell([v["mse_hard"] for v in values], 3),
                     "AMI chart": spread_cell([v["ami_chart"] for v in values], 3),
                     "chart perplexity": spread_cell([v["perplexity_chart"] for v in values], 3),
                     "tau at floor": spread_cell([v["tau_floor_fraction"] for v in values], 2),
                     "classifier acc.": spread_cell([v["classifier_accuracy"] for v in values], 3)})
    head = (f"digits, TopoEncoder alone, {raw['epochs']} epochs, mean (min–max) over seeds "
            f"{', '.join(map(str, raw['seeds']))}:\n\n")
    return {"agent.ablations": head + markdown_table(rows)}


ENTRIES.append(Entry(name="agent.ablations", doc="agent.md", blocks=("agent.ablations",),
                     summary="TopoEncoder loss-weight ablations (chart balance, VICReg) on digits",
                     commands=_ablation_commands, run=_ablation_run, render=_ablation_render,
                     sources=SOURCES))
