"""`thermo-manifold papers`: lookups by paper name, status filters, where the seed may be given,
and one-line errors (exit 2, nothing written) for unusable seeds and outputs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from thermo_manifold.cli import main as top_main
from thermo_manifold.papers import registry as registry_module
from thermo_manifold.papers.audit import parse_seed
from thermo_manifold.papers.registry import DATA_FILE, dumps, registry_document
from thermo_manifold.papers.seeds import SEED_FILE

# A seed with one card and two card-less index rows: GHOST has an orphan Grade Tracking block
# (grade_only), LOST has nothing at all (index_only).
MINI = """# Title
## COMPLETED ALGORITHMS (3)
| ID | Paper | Domain | Key Algorithm | Status |
|----|-------|--------|---------------|--------|
| 01 | ALPHA | D1 | thing | ok |
| 02 | GHOST_PAPER | Ghost Domain | spooky haunting | ok |
| 03 | LOST_PAPER | Lost Domain | nowhere at all | ok |

## ALPHA (First)
### Classification
- **Domain**: Maths
### Grade Tracking
```purescript
data Effect = Compute
```
### Grade Tracking
```purescript
data Effect = HauntGhost | SpookyThing
```
"""


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert "Traceback" not in captured.err
    return err[0]


def _mini_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / SEED_FILE).write_text(MINI, encoding="utf-8")
    return folder


# --- lookups ---------------------------------------------------------------------------------

def test_show_a_paper_name_prints_every_card(capsys):
    assert top_main(["papers", "show", "GAIA2_WORLD_MODEL"]) == 0
    headers = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()
               if line.startswith("GAIA2")]
    assert headers == ["GAIA2_WORLD_MODEL", "GAIA2_WORLD_MODEL#2"]
    assert top_main(["papers", "show", "GAMEFACTORY#2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("GAMEFACTORY#2: ") and "\nGAMEFACTORY: " not in out
    assert top_main(["papers", "show", "--json", "pan_world_model"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["PAN_WORLD_MODEL", "PAN_WORLD_MODEL#2"]


def test_list_by_status_prints_the_rows_or_says_there_are_none(capsys):
    assert top_main(["papers", "list", "--status", "grade_only"]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["grade_only"]]
    assert sorted(rows) == ["CLOTH_COLLISIONS_GPU", "FOUR_OVER_SIX", "MATSEG_MATERIAL_STATES",
                            "QUARTET_FP4", "TTM_TIME_TO_MOVE", "WORLDGEN"]
    assert "6 of 29 records are grade_only" in out
    # In seed 000 every card-less paper has an orphan block, so no record is index_only:
    # the listing must say so instead of printing only a header.
    assert top_main(["papers", "list", "--status", "index_only"]) == 0
    out = capsys.readouterr().out
    assert "0 of 29 records are index_only (a paper the index claims that has neither a card" in out


def test_list_index_only_prints_its_rows(tmp_path, monkeypatch, capsys):
    parsed = parse_seed(MINI, "mini")
    data = tmp_path / "registry.json"
    data.write_text(dumps(registry_document(parsed, [], MINI)), encoding="utf-8")
    monkeypatch.setattr(registry_module, "DATA_FILE", data)
    assert top_main(["papers", "list", "--status", "index_only"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out[1:-2]] == [["LOST_PAPER", "index_only"]]
    assert out[-2].startswith("1 of 3 records are index_only")


# --- where the seed is -----------------------------------------------------------------------

def test_seed_flag_and_environment_take_the_file_or_its_directory(tmp_path, monkeypatch, capsys):
    folder = _mini_dir(tmp_path)
    monkeypatch.setenv("THERMO_MANIFOLD_SEEDS", str(tmp_path / "nowhere"))
    for where in (folder, folder / SEED_FILE):
        assert top_main(["papers", "validate", "--seed", str(where)]) == 0
        assert "LOST_PAPER is ready, but the seed has no card for it: nothing" in capsys.readouterr().out
    for where in (folder, folder / SEED_FILE):
        monkeypatch.setenv("THERMO_MANIFOLD_SEEDS", str(where))
        assert top_main(["papers", "validate"]) == 0
        assert f"{SEED_FILE}: 3 records" in capsys.readouterr().out


def test_a_directory_without_the_seed_names_the_file_it_looked_for(tmp_path, capsys):
    assert top_main(["papers", "validate", "--seed", str(tmp_path)]) == 2
    assert str(tmp_path / SEED_FILE) in _one_error_line(capsys)


@pytest.mark.parametrize("content", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01",   # a PNG header
    bytes(range(256)) * 8,                                     # every byte value
    b"## COMPLETED ALGORITHMS (1)\n\x00\x00\x00\n",           # valid UTF-8, but NUL bytes
], ids=["png", "all-bytes", "nul"])
@pytest.mark.parametrize("command", ["validate", "build"])
def test_a_binary_seed_is_one_line_and_exit_2(tmp_path, capsys, content, command):
    seed = tmp_path / "seed.bin"
    seed.write_bytes(content)
    target = tmp_path / "out.json"
    extra = ["--output", str(target)] if command == "build" else []
    assert top_main(["papers", command, "--seed", str(seed), *extra]) == 2
    message = _one_error_line(capsys)
    assert str(seed) in message and ("binary" in message or "not UTF-8" in message)
    assert not target.exists()


# --- where the registry is written ------------------------------------------------------------

def _unwritable_outputs(tmp_path: Path) -> dict[str, Path]:
    regular = tmp_path / "file.txt"
    regular.write_text("x", encoding="utf-8")
    return {
        "parent is a file": regular / "registry.json",
        "existing directory": tmp_path,
        "missing directory": tmp_path / "no" / "such" / "registry.json",
        # procfs accepts no new files whatever its permission bits say, even for root
        "procfs": Path("/proc/thermo_manifold_registry.json"),
    }


@pytest.mark.parametrize("case", ["parent is a file", "existing directory", "missing directory", "procfs"])
def test_an_unwritable_output_is_refused_before_the_seed_is_read(tmp_path, capsys, case):
    if case == "procfs" and not Path("/proc/self").is_dir():
        pytest.skip("no procfs on this system")
    target = _unwritable_outputs(tmp_path)[case]
    before = sorted(tmp_path.rglob("*"))
    # The seed does not exist either: the error must be about the output, so it was checked first.
    missing_seed = tmp_path / "missing-seed.txt"
    assert top_main(["papers", "build", "--seed", str(missing_seed), "--output", str(target)]) == 2
    message = _one_error_line(capsys)
    assert "papers build:" in message and str(target) in message and "seed not found" not in message
    assert sorted(tmp_path.rglob("*")) == before   # nothing written, no directory created


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="root writes into a mode-0500 directory, so the refusal cannot be observed; "
                           "the procfs case covers a directory that refuses new files even to root")
def test_a_read_only_directory_is_refused(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert top_main(["papers", "build", "--seed", str(_mini_dir(tmp_path)),
                         "--output", str(folder / "registry.json")]) == 2
        assert "Permission denied" in _one_error_line(capsys)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_build_writes_the_registry_to_output(seed_text, tmp_path, capsys):
    target = tmp_path / "registry.json"
    assert top_main(["papers", "build", "--output", str(target)]) == 0
    assert f"wrote {target}: 29 records, 38 implementations" in capsys.readouterr().out
    assert target.read_text(encoding="utf-8") == DATA_FILE.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["registry.json"]   # no scratch file left
