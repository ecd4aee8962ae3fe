"""`--profile`: torch.profiler over the first steps of a run, a Chrome trace and a table.

The seed builds a profiler schedule with `active = steps - warmup - 2`, which is negative (and
an error) for short runs. Here the profiler simply records the first `max_steps` steps of the
session (all of them for shorter runs, so `--steps 1` works) and stops, which also keeps a
continuous run's memory bounded. Output, under the run directory:

    profile/trace.json   Chrome trace (open in chrome://tracing or https://ui.perfetto.dev)
    profile/ops.txt      torch's key_averages table, sorted by self CPU time
    tables/profile.md and .tex   the top operators and the simulator's own phases
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from thermo_manifold.reporting import RunDirectory


class StepProfiler:
    """Starts at construction, `step()` after each physics step, `finish()` writes the files."""

    def __init__(self, run_dir: RunDirectory, device: torch.device, max_steps: int = 100,
                 rows: int = 25):
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1; got {max_steps}")
        self.run_dir = run_dir
        self.max_steps = max_steps
        self.rows = rows
        self.steps = 0
        self.paths: dict[str, Path] = {}
        activities = [ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(ProfilerActivity.CUDA)
        self._profiler = profile(activities=activities, record_shapes=False)
        self._profiler.start()
        self._running = True

    def step(self) -> None:
        if not self._running:
            return
        self.steps += 1
        if self.steps >= self.max_steps:
            self.finish()

    def finish(self) -> dict[str, Path]:
        """Stop (once) and write the trace and tables; returns their paths."""
        if not self._running:
            return self.paths
        self._running = False
        self._profiler.stop()
        folder = self.run_dir.root / "profile"
        folder.mkdir(parents=True, exist_ok=True)
        trace = folder / "trace.json"
        self._profiler.export_chrome_trace(str(trace))
        averages = self._profiler.key_averages()
        ops = folder / "ops.txt"
        ops.write_text(averages.table(sort_by="self_cpu_time_total", row_limit=self.rows) + "\n")
        total = sum(event.self_cpu_time_total for event in averages) or 1.0

        def row(event, kind: str) -> dict:
            return {"kind": kind, "name": event.key, "calls": int(event.count),
                    "total CPU ms": event.cpu_time_total / 1000.0,
                    "self CPU ms": event.self_cpu_time_total / 1000.0,
                    "self %": 100.0 * event.self_cpu_time_total / total}

        # The simulator's phases (record_function ranges) first, by total time; then the
        # operators that cost the most themselves.
        phases = sorted((e for e in averages if e.key.startswith("sim.")),
                        key=lambda e: e.cpu_time_total, reverse=True)
        operators = sorted((e for e in averages if not e.key.startswith("sim.")),
                           key=lambda e: e.self_cpu_time_total, reverse=True)
        rows = [row(e, "phase") for e in phases] + [row(e, "op") for e in operators[: self.rows]]
        md, _ = self.run_dir.write_table(
            "profile", rows,
            caption=f"torch.profiler over the first {self.steps} step(s): the simulator's "
                    "phases by total CPU time, then operators by self CPU time")
        self.paths = {"trace": trace, "ops": ops, "table": md}
        return self.paths


__all__ = ["StepProfiler"]
