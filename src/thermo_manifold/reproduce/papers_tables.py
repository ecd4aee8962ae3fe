"""docs/papers.md: the defect report of `papers validate` and the rounding grades measured."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thermo_manifold.cli_support import UserError
from thermo_manifold.reporting import markdown_table
from thermo_manifold.reproduce.entry import Entry

# --- `papers validate` ------------------------------------------------------------------------------


def _validate_commands(quick: bool) -> list[str]:
    return ["thermo-manifold papers validate"]


def _validate_run(quick: bool, work: Path) -> dict:
    from thermo_manifold.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["papers", "validate"])
    if status != 0:
        raise UserError(f"reproduce: `thermo-manifold papers validate` exited with status {status}")
    return {"lines": buffer.getvalue().splitlines()}


def _validate_render(raw: Mapping[str, Any]) -> dict[str, str]:
    return {"papers.validate": "```\n" + "\n".join(raw["lines"]) + "\n```"}


# --- forward-error grades against measured rounding errors ------------------------------------------

SAMPLES = 20_000
QUICK_SAMPLES = 2_000
PRECISIONS = ("binary32", "binary16")


def expressions() -> dict[str, Any]:
    """The expressions of the rounding tests, by the text shown in the table."""
    from thermo_manifold.papers.kernels.rounding import Lit, Var, add, div, mul, sqrt

    x, y, z = Var("x"), Var("y"), Var("z")
    return {"((x+y)+(z+x))*(y*z)": mul(add(add(x, y), add(z, x)), mul(y, z)),
            "(x + y) / z": div(add(x, y), z),
            "sqrt(x*x + y*y)": sqrt(add(mul(x, x), mul(y, y))),
            "x*x*x*x / (y + 0.1)": div(mul(mul(x, x), mul(x, x)), add(y, Lit(0.1))),
            "x*y + z": add(mul(x, y), z)}


def _rounding_commands(quick: bool) -> list[str]:
    n = QUICK_SAMPLES if quick else SAMPLES
    return [f"python: forward_error_grade and measured_error of 5 expressions x {PRECISIONS}, "
            f"{n} inputs uniform in [0.5, 2], generator seed 1234"]


def _rounding_run(quick: bool, work: Path) -> dict:
    import torch

    from thermo_manifold.device import make_generator
    from thermo_manifold.papers.kernels.rounding import forward_error_grade, measured_error

    n = QUICK_SAMPLES if quick else SAMPLES
    generator = make_generator(1234)
    rows = []
    for name, expr in expressions().items():
        for precision in PRECISIONS:
            env = {v: 0.5 + 1.5 * torch.rand(n, generator=generator, dtype=torch.float64) for v in "xyz"}
            grade = forward_error_grade(expr, precision).value
            measured = float(measured_error(expr, env, precision).max())
            rows.append({"expression": name, "precision": precision, "grade": grade,
                         "measured": measured})
    return {"samples": n, "rows": rows}


def _rounding_render(raw: Mapping[str, Any]) -> dict[str, str]:
    rows = [{"expression": f"`{r['expression']}`", "precision": r["precision"],
             "grade (RP)": f"{r['grade']:.3e}", "max measured RP": f"{r['measured']:.3e}",
             "measured / grade": f"{r['measured'] / r['grade']:.2f}"} for r in raw["rows"]]
    worst = max(r["measured"] / r["grade"] for r in raw["rows"])
    verdict = ("every measured error is within its grade" if worst <= 1
               else "SOME MEASURED ERRORS EXCEED THEIR GRADE")
    return {"papers.rounding": (f"{raw['samples']:,} random inputs per row; {verdict} "
                                f"(largest ratio {worst:.2f}).\n\n" + markdown_table(rows))}


ENTRIES: list[Entry] = [
    Entry(name="papers.validate", doc="papers.md", blocks=("papers.validate",),
          summary="the defect report of the seed, formula errors included",
          commands=_validate_commands, run=_validate_run, render=_validate_render,
          sources=("src/thermo_manifold/papers",)),
    Entry(name="papers.rounding", doc="papers.md", blocks=("papers.rounding",),
          summary="NumFuzz forward-error grades against rounding errors measured in correctly "
                  "rounded arithmetic",
          commands=_rounding_commands, run=_rounding_run, render=_rounding_render,
          sources=("src/thermo_manifold/papers/kernels/rounding.py",
                   "src/thermo_manifold/papers/metadata.py", "src/thermo_manifold/device.py")),
]
