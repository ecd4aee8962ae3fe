"""Run experiments by name into OUT/NAME/, continuing past failures (the seed's harness.py).

Every experiment module in `thermo_manifold.sensorium.experiments` exposes
`Config` (frozen dataclass, full settings by default), `Config.quick()` (under a minute on a
2-core CPU), `run(config, context, report) -> dict` and `READOUTS`, the readouts it offers, its
default first: `reservoir` (the manifold as a reservoir with trained linear readouts, beside
echo-state networks, ablations and the seed's readout) or `seed` (the seed's scoring alone).
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thermo_manifold.sensorium.report import Report

EXPERIMENTS = ("next_token", "timeseries", "text_diffusion", "mnist_bytes", "image_gen",
               "audio_gen", "cocktail_party", "rule_shift", "ablation", "continuous")


@dataclass(frozen=True)
class RunContext:
    """Options shared by all experiments of one invocation."""

    seed: int = 0
    quick: bool = False
    text: Path | None = None
    mnist_dir: Path | None = None
    device: str = "cpu"
    progress: bool = False
    readout: str | None = None  # None: each experiment's default (the first of its READOUTS)

    def readout_for(self, module) -> str:
        """The readout `module` runs under this context; ValueError if it does not offer the
        one asked for."""
        offered = module.READOUTS
        if self.readout is None:
            return offered[0]
        if self.readout not in offered:
            name = module.__name__.rsplit(".", 1)[-1]
            raise ValueError(f"readout {self.readout!r} is not available for {name} (it offers "
                             f"{', '.join(offered)}); leave --readout out for each "
                             f"experiment's default")
        return self.readout

    def bar(self, iterable: Iterable[Any], total: int | None = None, desc: str = ""):
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, disable=not self.progress, leave=False)


READOUTS = ("reservoir", "seed")


def experiment_module(name: str):
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {', '.join(EXPERIMENTS)}; got {name!r}")
    return importlib.import_module(f"thermo_manifold.sensorium.experiments.{name}")


def run_experiment(name: str, context: RunContext, out: str | Path) -> dict[str, Any]:
    module = experiment_module(name)
    config = module.Config.quick() if context.quick else module.Config()
    report = Report(Path(out) / name, name)
    start = time.perf_counter()
    metrics = module.run(config, context, report)
    report.metrics["seconds"] = time.perf_counter() - start
    report.finish(config, seed=context.seed, quick=context.quick, **metrics)
    return report.metrics


def run_experiments(names: Sequence[str], context: RunContext, out: str | Path,
                    log=None) -> dict[str, dict[str, Any]]:
    """Run each experiment; one failing does not stop the others. Returns name -> status
    ({"ok": bool, "seconds": float, "error": str}) and writes OUT/summary.json."""
    log = log or (lambda line: print(line, file=sys.stderr))
    status: dict[str, dict[str, Any]] = {}
    for name in names:
        start = time.perf_counter()
        try:
            run_experiment(name, context, out)
            status[name] = {"ok": True, "seconds": time.perf_counter() - start}
            log(f"[ok]     {name} ({status[name]['seconds']:.1f} s) -> {Path(out) / name}")
        except Exception as error:  # keep going: `all` reports which siblings failed
            status[name] = {"ok": False, "seconds": time.perf_counter() - start,
                            "error": f"{type(error).__name__}: {error}",
                            "traceback": traceback.format_exc()}
            log(f"[failed] {name}: {status[name]['error']}")
    from thermo_manifold.reporting import RunDirectory

    RunDirectory(out).write_json("summary.json", status)
    (Path(out) / "summary.md").write_text(summary_markdown(out, status))
    return status


def summary_markdown(out: str | Path, status: dict[str, dict[str, Any]]) -> str:
    """All tables and manifold-vs-baseline sentences of the experiments that ran."""
    import json

    from thermo_manifold.reporting import markdown_table

    parts = []
    for name, s in status.items():
        if not s["ok"]:
            parts.append(f"## {name}\n\nFAILED: {s['error']}\n")
            continue
        metrics = json.loads((Path(out) / name / "metrics.json").read_text())
        parts.append(f"## {name} ({s['seconds']:.1f} s)\n")
        for table in metrics["tables"].values():
            parts.append(f"{table['caption']}\n\n" + markdown_table(table["rows"],
                                                                    table["columns"]))
        parts += [f"- {line}" for line in metrics["comparisons"]]
        parts += [f"- skipped source {k['source']}: {k['reason']}"
                  for k in metrics["skipped_sources"]]
        parts.append("")
    return "\n".join(parts) + "\n"


__all__ = ["EXPERIMENTS", "READOUTS", "RunContext", "experiment_module", "run_experiment", "run_experiments",
           "summary_markdown"]
