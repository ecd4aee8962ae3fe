"""Where the seed document lives, and reading it.

The seed is a specification that sits beside the repository, not inside the package, so only
`build`, `validate` and the tests that check the parser against it need it. Look it up at the path
given (`--seed`), else at THERMO_MANIFOLD_SEEDS, else in <repo root>/../shared/seeds. Each of the
first two may name the seed file itself or the directory that holds it.
"""

from __future__ import annotations

import os
from pathlib import Path

SEED_FILE = "000_109aee671378a0b2.txt"
SEEDS_ENV = "THERMO_MANIFOLD_SEEDS"


class SeedNotFound(FileNotFoundError):
    """The seed file is not where we looked (message names the path and the env var)."""


class SeedUnreadable(ValueError):
    """The seed path exists but is not a UTF-8 text file we can read."""


def repo_root() -> Path:
    # src/thermo_manifold/papers/seeds.py -> parents[3] is the checkout (editable install)
    return Path(__file__).resolve().parents[3]


def default_location() -> Path:
    """THERMO_MANIFOLD_SEEDS (a file or a directory), else <repo root>/../shared/seeds."""
    env = os.environ.get(SEEDS_ENV)
    if env:
        return Path(env).expanduser()
    return repo_root().parent / "shared" / "seeds"


def locate_seed(path: str | os.PathLike[str] | None = None) -> Path:
    """The seed file at `path` (a file, or a directory holding SEED_FILE), or at the default
    location when `path` is None; `SeedNotFound` otherwise."""
    given = Path(path).expanduser() if path is not None else default_location()
    candidate = given / SEED_FILE if given.is_dir() else given
    if not candidate.is_file():
        origin = "--seed" if path is not None else (f"${SEEDS_ENV}" if os.environ.get(SEEDS_ENV)
                                                    else "the default location")
        raise SeedNotFound(f"seed not found at {candidate} (from {origin}); pass --seed PATH or "
                           f"set {SEEDS_ENV} to {SEED_FILE} or the directory holding it")
    return candidate


def read_seed(path: Path) -> str:
    """The seed's text; `SeedUnreadable` for a file that is not UTF-8 text (a PNG, random bytes)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SeedUnreadable(f"cannot read seed {path}: {error.strerror or error}") from None
    # A NUL byte is valid UTF-8 but never occurs in Markdown: it means a binary file.
    nul = data.find(b"\0")
    if nul >= 0:
        raise SeedUnreadable(f"seed {path} is a binary file (NUL byte at offset {nul}), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SeedUnreadable(f"seed {path} is not UTF-8 text (invalid byte at offset "
                             f"{error.start})") from None


__all__ = ["SEEDS_ENV", "SEED_FILE", "SeedNotFound", "SeedUnreadable", "default_location",
           "locate_seed", "read_seed", "repo_root"]
