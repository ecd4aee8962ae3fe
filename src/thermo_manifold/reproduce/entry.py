"""What a reproducible result is: the commands it runs, the blocks it fills, how it renders.

An `Entry` runs real work (usually one or more `thermo-manifold` subcommands, in this process)
and returns a JSON-able `raw` dict of what they measured; `render(raw)` turns that dict into the
Markdown of each block. Rendering is a pure function of `raw`, so `reproduce --check` can re-render
a stored results file and compare it with the doc without running anything.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thermo_manifold.cli_support import UserError

Raw = dict[str, Any]
# run(quick, work_dir) -> raw results; the work dir keeps every run directory it made.
Runner = Callable[[bool, Path], Raw]
Renderer = Callable[[Mapping[str, Any]], dict[str, str]]
# figures(raw, images_dir) -> the files it wrote; drawn from raw alone, like the blocks.
Painter = Callable[[Mapping[str, Any], Path], list[Path]]


@dataclass(frozen=True)
class Entry:
    name: str                        # `thermo-manifold reproduce NAME`
    doc: str                         # file under docs/, e.g. "graph.md"
    blocks: tuple[str, ...]          # block names it fills in that doc
    summary: str
    commands: Callable[[bool], list[str]]   # the commands it runs (for --list and the stamp)
    run: Runner
    render: Renderer
    sources: tuple[str, ...]         # repo paths whose change makes the results stale
    figures: Painter | None = None   # images under docs/images/, redrawn with the blocks

    def __post_init__(self) -> None:
        if not self.blocks:
            raise ValueError(f"entry {self.name!r}: blocks must name at least one block")


def run_cli(argv: Sequence[str], capture: bool = False) -> str:
    """Run `thermo-manifold ARGV` in this process; raise UserError if it fails.

    With `capture`, return what it printed on stdout (and print nothing).
    """
    from thermo_manifold.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer) if capture else contextlib.nullcontext():
        status = main(list(argv))
    if status != 0:
        raise UserError(f"reproduce: `thermo-manifold {shlex.join(argv)}` exited with status {status}")
    return buffer.getvalue()


def command_text(argv: Sequence[str]) -> str:
    return "thermo-manifold " + shlex.join(argv)


__all__ = ["Entry", "Painter", "Raw", "command_text", "run_cli"]
