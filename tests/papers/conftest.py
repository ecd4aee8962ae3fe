from __future__ import annotations

from pathlib import Path

import pytest

from thermo_manifold.papers.seeds import SeedNotFound, locate_seed


@pytest.fixture(scope="session")
def seed_text() -> str:
    """The real seed, or a skip that says where it was looked for."""
    try:
        path: Path = locate_seed()
    except SeedNotFound as error:
        pytest.skip(f"needs the seed text: {error}")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def parsed(seed_text):
    from thermo_manifold.papers.audit import parse_seed

    return parse_seed(seed_text, "000_109aee671378a0b2.txt")
