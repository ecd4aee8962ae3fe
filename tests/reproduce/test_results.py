"""Results files and `check`: a made-up entry in a throw-away git repository.

The entry "measures" by reading a number from a source file, so the test controls both what the
run finds and when the code behind it changes.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from thermo_manifold.cli_support import UserError
from thermo_manifold.reproduce.entry import Entry
from thermo_manifold.reproduce.markers import read_blocks
from thermo_manifold.reproduce.results import Docs, check, render_only, run_and_write

DOC = "# Demo\n\n<!-- reproduce:demo.table -->\n<!-- /reproduce:demo.table -->\n\nEnd.\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.txt").write_text("41\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "demo.md").write_text(DOC)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    return tmp_path


def _entry(repo: Path) -> Entry:
    def run(quick: bool, work: Path) -> dict:
        return {"value": int((repo / "src" / "model.txt").read_text()) + 1, "quick": quick}

    def render(raw) -> dict[str, str]:
        return {"demo.table": f"| value |\n|---|\n| {raw['value']} |"}

    return Entry(name="demo.table", doc="demo.md", blocks=("demo.table",), summary="demo",
                 commands=lambda quick: ["demo"], run=run, render=render, sources=("src",))


def _commit(repo: Path, message: str) -> None:
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", message)


def test_a_run_writes_the_block_and_results_and_check_passes(repo: Path):
    docs, entry = Docs(repo / "docs", repo), _entry(repo)
    run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=False)
    block = read_blocks((repo / "docs" / "demo.md").read_text())["demo.table"]
    assert block.startswith("| value |\n|---|\n| 42 |\n\n*Written by `thermo-manifold reproduce demo.table` at commit ")
    record = json.loads((repo / "docs" / "results" / "demo.table.json").read_text())
    assert record["raw"] == {"value": 42, "quick": False}
    assert record["stamp"]["cpu"] and record["stamp"]["blas"]
    assert (repo / "docs" / "demo.md").read_text().endswith("\nEnd.\n")
    report = check(docs, [entry])
    assert report.problems == [] and report.notes == []


def test_check_names_a_hand_edited_block(repo: Path):
    docs, entry = Docs(repo / "docs", repo), _entry(repo)
    run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=False)
    doc = repo / "docs" / "demo.md"
    doc.write_text(doc.read_text().replace("| 42 |", "| 43 |"))
    problems = check(docs, [entry]).problems
    assert len(problems) == 1 and "block demo.table differs from demo.table.json" in problems[0]


def test_check_names_a_results_file_whose_numbers_were_edited(repo: Path):
    docs, entry = Docs(repo / "docs", repo), _entry(repo)
    run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=False)
    path = repo / "docs" / "results" / "demo.table.json"
    record = json.loads(path.read_text())
    record["raw"]["value"] = 7
    path.write_text(json.dumps(record))
    assert any("not what today's renderer makes" in p for p in check(docs, [entry]).problems)


def test_check_reports_stale_results_after_the_code_changes(repo: Path):
    docs, entry = Docs(repo / "docs", repo), _entry(repo)
    run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=False)
    (repo / "src" / "model.txt").write_text("99\n")
    _commit(repo, "change the model")
    problems = check(docs, [entry]).problems
    assert len(problems) == 1 and "stale: src/model.txt changed since commit" in problems[0]
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", "docs")
    _commit(repo, "docs")
    run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=False)   # regenerate
    assert check(docs, [entry]).problems == []
    assert "| 100 |" in (repo / "docs" / "demo.md").read_text()


def test_a_missing_results_file_or_block_is_a_problem(repo: Path):
    docs, entry = Docs(repo / "docs", repo), _entry(repo)
    assert "no results file" in check(docs, [entry]).problems[0]
    run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=False)
    (repo / "docs" / "demo.md").write_text("# Demo, block deleted\n")
    assert "block demo.table is missing" in check(docs, [entry]).problems[0]


def test_uncommitted_sources_are_refused_unless_allowed_and_then_flagged(repo: Path):
    docs, entry = Docs(repo / "docs", repo), _entry(repo)
    (repo / "src" / "model.txt").write_text("5\n")
    before = (repo / "docs" / "demo.md").read_text()
    with pytest.raises(UserError, match="uncommitted changes in src/model.txt"):
        run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=False)
    assert (repo / "docs" / "demo.md").read_text() == before          # nothing written
    assert not (repo / "docs" / "results").exists()
    run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=True)
    assert any("made from uncommitted changes" in p for p in check(docs, [entry]).problems)


def test_a_doc_without_the_block_is_refused_before_running(repo: Path):
    docs, entry = Docs(repo / "docs", repo), _entry(repo)
    (repo / "docs" / "demo.md").write_text("# no markers\n")
    ran = []
    broken = Entry(**{**entry.__dict__, "run": lambda quick, work: ran.append(1) or {}})
    with pytest.raises(UserError, match="has no block"):
        run_and_write(docs, broken, quick=False, work=repo / "runs", allow_dirty=True)
    assert ran == []


def test_render_only_rewrites_blocks_from_the_stored_raw(repo: Path):
    docs, entry = Docs(repo / "docs", repo), _entry(repo)
    run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=False)
    doc = repo / "docs" / "demo.md"
    doc.write_text(doc.read_text().replace("| 42 |", "| tampered |"))
    render_only(docs, entry)
    assert check(docs, [entry]).problems == []


def test_check_passes_whatever_the_wall_time_rounds_to(repo: Path, monkeypatch):
    """The stamp's seconds are rounded once, before rendering, so re-rendering agrees."""
    import thermo_manifold.reproduce.results as results

    clock = iter([0.0, 143.46])
    monkeypatch.setattr(results.time, "perf_counter", lambda: next(clock))
    docs, entry = Docs(repo / "docs", repo), _entry(repo)
    run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=False)
    assert json.loads((repo / "docs" / "results" / "demo.table.json").read_text())["seconds"] == 143.5
    assert check(docs, [entry]).problems == []


def test_each_run_starts_from_an_empty_scratch_directory(repo: Path):
    seen = []

    def run(quick: bool, work: Path) -> dict:
        seen.append(sorted(p.name for p in work.iterdir()) if work.exists() else [])
        work.mkdir(parents=True, exist_ok=True)
        (work / "checkpoint.pt").write_text("a previous run's file")
        return {"value": 1, "quick": quick}

    entry = dataclasses.replace(_entry(repo), run=run)
    docs = Docs(repo / "docs", repo)
    for _ in range(2):
        run_and_write(docs, entry, quick=False, work=repo / "runs", allow_dirty=False)
    assert seen == [[], []]
