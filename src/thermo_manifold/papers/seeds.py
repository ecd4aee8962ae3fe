"""Where the seed document lives.

The seed is a specification that sits beside the repository, not inside the package, so only
`build`, `validate` and the tests that check the parser against it need it. Look it up in the
directory named by THERMO_MANIFOLD_SEEDS, or else in <repo root>/../shared/seeds.
"""

from __future__ import annotations

import os
from pathlib import Path

SEED_FILE = "000_109aee671378a0b2.txt"
SEEDS_ENV = "THERMO_MANIFOLD_SEEDS"


class SeedNotFound(FileNotFoundError):
    """The seed file is not where we looked (message names the path and the env var)."""


def repo_root() -> Path:
    # src/thermo_manifold/papers/seeds.py -> parents[3] is the checkout (editable install)
    return Path(__file__).resolve().parents[3]


def seeds_dir() -> Path:
    env = os.environ.get(SEEDS_ENV)
    if env:
        return Path(env).expanduser()
    return repo_root().parent / "shared" / "seeds"


def default_seed_path() -> Path:
    return seeds_dir() / SEED_FILE


def locate_seed(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the seed path (an explicit `path` wins), or raise `SeedNotFound`."""
    candidate = Path(path).expanduser() if path is not None else default_seed_path()
    if not candidate.is_file():
        raise SeedNotFound(f"seed not found at {candidate}; pass --seed PATH or set {SEEDS_ENV} "
                           f"to the directory holding {SEED_FILE}")
    return candidate


__all__ = ["SEEDS_ENV", "SEED_FILE", "SeedNotFound", "default_seed_path", "locate_seed",
           "repo_root", "seeds_dir"]
