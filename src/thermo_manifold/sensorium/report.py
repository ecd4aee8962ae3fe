"""What every experiment writes: OUT/NAME/{config.json, metrics.json, tables/, figures/}.

`Report` wraps `thermo_manifold.reporting.RunDirectory`: tables go to .md and .tex and are also
kept in metrics.json under "tables", so docs can be regenerated from the JSON alone, and
`compare` states plainly where the manifold beats or loses to each baseline.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from thermo_manifold.reporting import RunDirectory, headless_pyplot

MANIFOLD = "manifold"


class Report:
    def __init__(self, root: str | Path, name: str):
        self.name = name
        self.run = RunDirectory(root)
        self.metrics: dict[str, Any] = {"experiment": name, "tables": {}, "comparisons": [],
                                        "skipped_sources": []}

    @property
    def root(self) -> Path:
        return self.run.root

    def skip(self, source: str, why: str) -> None:
        """Record an optional data source that is not available here."""
        self.metrics["skipped_sources"].append({"source": source, "reason": why})

    def table(self, name: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
              caption: str) -> None:
        self.run.write_table(name, rows, columns, caption)
        self.metrics["tables"][name] = {"caption": caption, "columns": list(columns),
                                        "rows": [dict(r) for r in rows]}

    def compare(self, table: str, rows: Sequence[Mapping[str, Any]], metric: str,
                higher_is_better: bool, method_key: str = "method",
                is_subject: Callable[[str], bool] | None = None) -> list[str]:
        """One sentence per (manifold row, baseline row): does it beat it on `metric`?
        Manifold rows are those whose name starts with "manifold" unless `is_subject` says."""
        subject = is_subject or (lambda name: name.startswith(MANIFOLD))
        sentences = []
        for m in (r for r in rows if subject(str(r[method_key]))):
            mine = float(m[metric])
            for r in rows:
                if subject(str(r[method_key])):
                    continue
                theirs = float(r[metric])
                if math.isnan(mine) or math.isnan(theirs):
                    continue
                better = mine > theirs if higher_is_better else mine < theirs
                verdict = "beats" if better else ("ties" if mine == theirs else "loses to")
                sentences.append(f"{table}: {m[method_key]} {verdict} {r[method_key]} on "
                                 f"{metric} ({mine:.4g} vs {theirs:.4g})")
        self.metrics["comparisons"].extend(sentences)
        return sentences

    def figure(self, fig: Any, name: str) -> Path:
        return self.run.save_figure(fig, name)

    def finish(self, config: Any, **metrics: Any) -> dict[str, Any]:
        cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        self.run.write_json("config.json", cfg)
        self.metrics.update(metrics)
        self.run.write_json("metrics.json", self.metrics)
        return self.metrics


def pyplot():
    return headless_pyplot()


__all__ = ["MANIFOLD", "Report", "pyplot"]
