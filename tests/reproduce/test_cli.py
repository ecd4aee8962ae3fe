"""`thermo-manifold reproduce` from the command line, and the real docs against their results."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from thermo_manifold.cli import main
from thermo_manifold.reproduce.catalog import entries
from thermo_manifold.reproduce.markers import read_blocks

REPO = Path(__file__).resolve().parents[2]


def test_the_repository_docs_match_their_results_files(capsys):
    """The fast check CI runs: every documented block is what its results file says, and no
    entry's code changed since the commit that produced it."""
    status = main(["reproduce", "--check", "--docs", str(REPO / "docs")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "FAIL" not in out


def test_every_entry_has_its_blocks_in_its_doc_exactly_once():
    for entry in entries():
        blocks = read_blocks((REPO / "docs" / entry.doc).read_text(encoding="utf-8"))
        assert set(entry.blocks) <= set(blocks), entry.name
    names = [b for e in entries() for b in e.blocks]
    assert len(names) == len(set(names))


def test_list_names_every_entry_with_its_doc_blocks_and_commands(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for entry in entries():
        assert f"{entry.name}  ->  docs/{entry.doc}: {', '.join(entry.blocks)}" in out
        for command in entry.commands(False):
            assert f"    $ {command}" in out


@pytest.mark.parametrize("argv, message", [
    (["reproduce"], "give entry names"),
    (["reproduce", "no.such.entry", "--docs", "docs"], "unknown entry 'no.such.entry'"),
    (["reproduce", "--check", "--docs", "/nonexistent/docs"], "no docs directory"),
])
def test_user_errors_are_one_line_and_exit_2(capsys, argv, message, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_check_fails_and_names_the_block_when_a_doc_was_edited(tmp_path, capsys):
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "docs", docs)
    entry = entries()[0]
    doc = docs / entry.doc
    block = read_blocks(doc.read_text(encoding="utf-8"))[entry.blocks[0]]
    doc.write_text(doc.read_text(encoding="utf-8").replace(block, block.replace("|", "!", 3)),
                   encoding="utf-8")
    assert main(["reproduce", "--check", "--docs", str(docs)]) == 1
    assert f"FAIL {entry.name} ({entry.doc}): block {entry.blocks[0]} differs" in capsys.readouterr().out


def test_a_real_entry_round_trip_on_a_copy_of_the_docs(tmp_path, capsys):
    """papers.rounding is the cheapest real entry: run it quick on a copy, then --check it."""
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "docs", docs)
    status = main(["reproduce", "papers.rounding", "--quick", "--allow-dirty", "--docs", str(docs),
                   "--work", str(tmp_path / "runs")])
    assert status == 0
    block = read_blocks((docs / "papers.md").read_text(encoding="utf-8"))["papers.rounding"]
    assert block.startswith("2,000 random inputs per row; every measured error is within its grade")
    assert "`sqrt(x*x + y*y)` | binary32 | 1.192e-07 |" in block
    assert "thermo-manifold reproduce papers.rounding --quick" in block
    # the copy is outside the repository: git cannot judge freshness, the blocks still match
    assert main(["reproduce", "--check", "--docs", str(docs)]) == 0
