"""Generated blocks inside Markdown docs.

A block is delimited by two HTML comments, invisible in rendered Markdown:

    <!-- reproduce:NAME -->
    ...generated text...
    <!-- /reproduce:NAME -->

Everything between the markers belongs to `thermo-manifold reproduce`; everything outside them
is prose that people write. Names are dotted identifiers (`graph.errors`).
"""

from __future__ import annotations

import re

NAME_PATTERN = r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*"
_BLOCK = re.compile(r"<!-- reproduce:(" + NAME_PATTERN + r") -->\n(.*?)<!-- /reproduce:\1 -->",
                    re.DOTALL)
_OPENING = re.compile(r"<!-- reproduce:(" + NAME_PATTERN + r") -->")


class BlockError(ValueError):
    """A doc's markers are missing, repeated or unbalanced."""


def opening(name: str) -> str:
    return f"<!-- reproduce:{name} -->"


def closing(name: str) -> str:
    return f"<!-- /reproduce:{name} -->"


def read_blocks(text: str) -> dict[str, str]:
    """Map each block name in `text` to its content (the lines between the markers)."""
    blocks: dict[str, str] = {}
    for match in _BLOCK.finditer(text):
        name = match.group(1)
        if name in blocks:
            raise BlockError(f"block {name!r} appears twice")
        blocks[name] = match.group(2)
    unclosed = set(_OPENING.findall(text)) - set(blocks)
    if unclosed:
        raise BlockError(f"block(s) {sorted(unclosed)} opened but never closed")
    return blocks


def replace_block(text: str, name: str, content: str) -> str:
    """Return `text` with block `name`'s content replaced; the block must exist exactly once."""
    if not content.endswith("\n"):
        content += "\n"
    blocks = read_blocks(text)
    if name not in blocks:
        raise BlockError(f"no block {name!r}: add the lines {opening(name)} and {closing(name)}")
    start = text.index(opening(name) + "\n") + len(opening(name)) + 1
    end = text.index(closing(name), start)
    return text[:start] + content + text[end:]


__all__ = ["BlockError", "closing", "opening", "read_blocks", "replace_block"]
