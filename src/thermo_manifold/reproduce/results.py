"""Results files (`docs/results/NAME.json`) and the blocks they fill.

A results file holds what one `reproduce NAME` run measured (`raw`), the stamp of where it ran,
and the exact text it wrote into each block. `check` re-renders `raw` with today's renderer and
compares it with the stored text and with the doc, then asks git whether the code behind the
entry changed since the stamped commit.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from thermo_manifold.cli_support import UserError
from thermo_manifold.reproduce.entry import Entry
from thermo_manifold.reproduce.markers import BlockError, read_blocks, replace_block
from thermo_manifold.reproduce.stamp import changed_since, dirty_paths, machine_stamp, stamp_line

FORMAT = 1


@dataclass
class Docs:
    """The docs directory and the repository it belongs to (for git questions)."""
    root: Path
    repo: Path

    def doc(self, entry: Entry) -> Path:
        return self.root / entry.doc

    def results(self, entry: Entry) -> Path:
        return self.root / "results" / f"{entry.name}.json"


def blocks_with_stamp(entry: Entry, raw: dict, stamp: dict, command: str, seconds: float) -> dict[str, str]:
    rendered = entry.render(raw)
    missing = set(entry.blocks) - set(rendered)
    if missing:
        raise ValueError(f"entry {entry.name!r}: renderer made no text for {sorted(missing)}")
    line = stamp_line(stamp, command, seconds)
    return {name: rendered[name].rstrip("\n") + "\n\n" + line + "\n" for name in entry.blocks}


def _check_writable(docs: Docs, entry: Entry) -> str:
    """Read the doc and check every block and output path before any long work starts."""
    doc = docs.doc(entry)
    try:
        text = doc.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"reproduce {entry.name}: cannot read {doc}: {error.strerror}") from None
    try:
        found = read_blocks(text)
    except BlockError as error:
        raise UserError(f"reproduce {entry.name}: {doc}: {error}") from None
    absent = [name for name in entry.blocks if name not in found]
    if absent:
        raise UserError(f"reproduce {entry.name}: {doc} has no block(s) {', '.join(absent)} "
                        f"(add <!-- reproduce:NAME --> and <!-- /reproduce:NAME --> lines)")
    for path in (doc, docs.results(entry).parent):
        target = path if path.exists() else path.parent
        if not _writable(target):
            raise UserError(f"reproduce {entry.name}: {target} is not writable")
    return text


def _writable(path: Path) -> bool:
    return path.exists() and os.access(path, os.W_OK) and (path.is_dir() or path.is_file())


def write(docs: Docs, entry: Entry, raw: dict, stamp: dict, command: str, seconds: float) -> None:
    text = _check_writable(docs, entry)
    blocks = blocks_with_stamp(entry, raw, stamp, command, seconds)
    for name, content in blocks.items():
        text = replace_block(text, name, content)
    record = {"format": FORMAT, "name": entry.name, "command": command,
              "runs": entry.commands("--quick" in command.split()), "seconds": seconds,
              "stamp": stamp, "raw": raw, "blocks": blocks}
    results = docs.results(entry)
    results.parent.mkdir(parents=True, exist_ok=True)
    # Key order is kept (no sort_keys): renderers may rely on the order runs produced.
    _atomic_write(results, json.dumps(record, indent=1) + "\n")
    _atomic_write(docs.doc(entry), text)
    if entry.figures is not None:
        (docs.root / "images").mkdir(parents=True, exist_ok=True)
        entry.figures(raw, docs.root / "images")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def run_and_write(docs: Docs, entry: Entry, quick: bool, work: Path, allow_dirty: bool) -> float:
    """Run the entry's work, then rewrite its blocks and results file; return seconds taken."""
    _check_writable(docs, entry)
    dirty = dirty_paths(docs.repo, list(entry.sources))
    if dirty and not allow_dirty:
        raise UserError(f"reproduce {entry.name}: uncommitted changes in {', '.join(dirty[:5])}: "
                        f"commit them first, so the stamp names the code that made the numbers "
                        f"(or pass --allow-dirty; --check will then report the block as stale)")
    command = "thermo-manifold reproduce " + entry.name + (" --quick" if quick else "")
    stamp = machine_stamp(docs.repo, dirty)
    scratch = work / entry.name
    if scratch.exists():  # the last run's directories go: a run directory refuses another run
        shutil.rmtree(scratch)
    start = time.perf_counter()
    raw = entry.run(quick, scratch)
    # Rounded once, before rendering: --check re-renders from the stored value.
    seconds = round(time.perf_counter() - start, 1)
    write(docs, entry, raw, stamp, command, seconds)
    return seconds


def render_only(docs: Docs, entry: Entry) -> None:
    """Rewrite the blocks from the stored results file with today's renderer (no run)."""
    record = load(docs, entry)
    if record is None:
        raise UserError(f"reproduce {entry.name}: no results file {docs.results(entry)}; run it first")
    write(docs, entry, record["raw"], record["stamp"], record["command"], record["seconds"])


def load(docs: Docs, entry: Entry) -> dict | None:
    path = docs.results(entry)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"reproduce: cannot read {path}: {error}") from None


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check(docs: Docs, entries: list[Entry]) -> CheckReport:
    report = CheckReport()
    for entry in entries:
        where = f"{entry.name} ({entry.doc})"
        record = load(docs, entry)
        if record is None:
            report.problems.append(f"{where}: no results file {docs.results(entry)}")
            continue
        try:
            found = read_blocks(docs.doc(entry).read_text(encoding="utf-8"))
        except (OSError, BlockError) as error:
            report.problems.append(f"{where}: {error}")
            continue
        expected = blocks_with_stamp(entry, record["raw"], record["stamp"], record["command"],
                                     record["seconds"])
        for name in entry.blocks:
            if name not in found:
                report.problems.append(f"{where}: block {name} is missing from the doc")
            elif found[name] != record["blocks"].get(name):
                report.problems.append(f"{where}: block {name} differs from {docs.results(entry).name}")
            elif expected[name] != record["blocks"][name]:
                report.problems.append(f"{where}: block {name} is not what today's renderer makes "
                                       f"of its results (run `reproduce {entry.name} --render-only`)")
        _check_fresh(docs, entry, record, report)
    return report


def _check_fresh(docs: Docs, entry: Entry, record: dict, report: CheckReport) -> None:
    stamp = record["stamp"]
    if stamp.get("uncommitted"):
        report.problems.append(f"{entry.name}: made from uncommitted changes ({stamp['uncommitted']})")
        return
    commit = stamp.get("commit")
    changed = changed_since(docs.repo, commit, list(entry.sources)) if commit else None
    if changed is None:
        report.notes.append(f"{entry.name}: git cannot compare commit {commit} with HEAD; "
                            f"freshness not checked")
    elif changed:
        report.problems.append(f"{entry.name}: stale: {', '.join(changed[:4])} changed since "
                               f"commit {commit[:10]}; run `thermo-manifold reproduce {entry.name}`")


__all__ = ["CheckReport", "Docs", "check", "load", "render_only", "run_and_write", "write"]
