"""Run directories shared by every experiment: JSON, tables (.md and .tex) and figures.

Layout of a run directory (ARCHITECTURE.md):

    DIR/config.json   DIR/metrics.json   DIR/tables/NAME.md   DIR/tables/NAME.tex
    DIR/figures/NAME.png   (and NAME.pdf when asked)

Figures are drawn with matplotlib's Agg backend so they render without a screen; tests use
`image_is_blank` to check that a saved PNG actually shows something.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def headless_pyplot():
    """Return `matplotlib.pyplot` on the Agg backend (safe without a display)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _jsonable(value: Any) -> Any:
    """Convert tensors, NumPy scalars and paths so `json.dumps` accepts them."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # torch.Tensor, numpy arrays and scalars
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep them visible instead of crashing
    return value


def format_cell(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 10 ** (-digits)):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                   digits: int = 4) -> str:
    columns = list(columns or (rows[0].keys() if rows else []))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(format_cell(row.get(c, ""), digits) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for raw, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"),
                         ("#", r"\#"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(raw, escaped)
    return text


def latex_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                caption: str = "", label: str = "", digits: int = 4) -> str:
    columns = list(columns or (rows[0].keys() if rows else []))
    body = [" & ".join(_latex_escape(format_cell(row.get(c, ""), digits)) for c in columns)
            + r" \\" for row in rows]
    parts = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{" + "l" * len(columns) + "}",
             r"\toprule", " & ".join(_latex_escape(c) for c in columns) + r" \\", r"\midrule",
             *body, r"\bottomrule", r"\end{tabular}"]
    if caption:
        parts.append(r"\caption{" + _latex_escape(caption) + "}")
    if label:
        parts.append(r"\label{" + label + "}")
    parts.append(r"\end{table}")
    return "\n".join(parts) + "\n"


class RunDirectory:
    """Writes the files of one run under `root` (created on first use)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            from thermo_manifold.cli_support import UserError

            raise UserError(f"--out {self.root}: {error.strerror}") from None

    def write_json(self, name: str, data: Any) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
        return path

    def write_table(self, name: str, rows: Sequence[Mapping[str, Any]],
                    columns: Sequence[str] | None = None, caption: str = "",
                    digits: int = 4) -> tuple[Path, Path]:
        """Write `tables/NAME.md` (with the caption above) and `tables/NAME.tex`."""
        tables = self.root / "tables"
        tables.mkdir(exist_ok=True)
        md = tables / f"{name}.md"
        tex = tables / f"{name}.tex"
        header = f"**{caption}**\n\n" if caption else ""
        md.write_text(header + markdown_table(rows, columns, digits))
        tex.write_text(latex_table(rows, columns, caption, f"tab:{name}", digits))
        return md, tex

    def save_figure(self, figure, name: str, pdf: bool = False, dpi: int = 120) -> Path:
        """Save a matplotlib figure as `figures/NAME.png` (and `.pdf`), then close it."""
        figures = self.root / "figures"
        figures.mkdir(exist_ok=True)
        png = figures / f"{name}.png"
        figure.savefig(png, dpi=dpi, bbox_inches="tight")
        if pdf:
            figure.savefig(figures / f"{name}.pdf", bbox_inches="tight")
        headless_pyplot().close(figure)
        return png


def image_is_blank(path: str | Path, tolerance: float = 1.0) -> bool:
    """True when every pixel of the image has (nearly) the same colour."""
    from PIL import Image
    import numpy as np

    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return float(pixels.reshape(-1, 3).std(axis=0).max()) < tolerance


__all__ = ["RunDirectory", "format_cell", "headless_pyplot", "image_is_blank", "latex_table",
           "markdown_table"]
