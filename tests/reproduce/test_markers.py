"""Generated blocks: found, replaced in place, and refused when the markers are wrong."""

from __future__ import annotations

import pytest

from thermo_manifold.reproduce.markers import BlockError, read_blocks, replace_block
from thermo_manifold.reproduce.stats import spread_cell

DOC = """# Title

Prose before.

<!-- reproduce:a.one -->
old table
<!-- /reproduce:a.one -->

Prose between.

<!-- reproduce:b -->
<!-- /reproduce:b -->
Prose after.
"""


def test_blocks_are_read_with_their_exact_content():
    assert read_blocks(DOC) == {"a.one": "old table\n", "b": ""}


def test_replacing_a_block_changes_only_that_block():
    out = replace_block(DOC, "b", "| x |\n|---|\n| 1 |")
    assert read_blocks(out) == {"a.one": "old table\n", "b": "| x |\n|---|\n| 1 |\n"}
    assert out.replace("| x |\n|---|\n| 1 |\n", "") == DOC      # everything else byte for byte
    again = replace_block(out, "a.one", "new\n")
    assert read_blocks(again)["a.one"] == "new\n"
    assert "Prose before.\n" in again and again.endswith("Prose after.\n")


@pytest.mark.parametrize("text, message", [
    (DOC + "<!-- reproduce:b -->\nx\n<!-- /reproduce:b -->\n", "appears twice"),
    (DOC + "<!-- reproduce:c -->\nnever closed\n", "never closed"),
])
def test_bad_markers_are_refused(text, message):
    with pytest.raises(BlockError, match=message):
        read_blocks(text)


def test_replacing_a_missing_block_says_which_markers_to_add():
    with pytest.raises(BlockError, match=r"<!-- reproduce:zz -->"):
        replace_block(DOC, "zz", "x")


@pytest.mark.parametrize("values, expected", [
    ([0.5, 1.0, 1.5], "1 (0.5–1.5)"),
    ([0.012, 0.012], "0.012"),
    ([113, 128, 128], "123 (113–128)"),
    ([128, 128], "128"),
    ([2.0, None, float("nan"), 4.0], "3 (2–4)"),
    ([None], "n/a"),
])
def test_spread_cell_is_mean_then_range(values, expected):
    assert spread_cell(values) == expected
