"""Where a result came from: commit, date, machine, libraries.

Learned results can differ between machines (GEMM and vectorised kernels differ between CPU
vendors and instruction sets, and a learner's discrete decisions amplify last-digit differences),
so every generated block records the CPU model and the BLAS in use beside the commit.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
from pathlib import Path


def _git(args: list[str], cwd: Path, strip: bool = True) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() if strip else done.stdout


def head_commit(repo: Path) -> str | None:
    return _git(["rev-parse", "HEAD"], repo)


def dirty_paths(repo: Path, paths: list[str]) -> list[str]:
    """Paths among `paths` (relative to the repo) with uncommitted changes, tracked or not."""
    # Porcelain lines are "XY PATH": the status columns may start with a space, so no strip.
    out = _git(["status", "--porcelain", "--", *paths], repo, strip=False)
    if out is None:
        return []
    return [line[3:] for line in out.splitlines() if line.strip()]


def changed_since(repo: Path, commit: str, paths: list[str]) -> list[str] | None:
    """Tracked files under `paths` that differ between `commit` and the work tree (committed or
    not); None if git cannot tell (no git, a shallow clone without that commit)."""
    if _git(["cat-file", "-e", f"{commit}^{{commit}}"], repo) is None:
        return None
    out = _git(["diff", "--name-only", commit, "--", *paths], repo)
    return None if out is None else [line for line in out.splitlines() if line]


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return (match.group(1).strip() if match else platform.processor()) or platform.machine()


def blas_in_use() -> str:
    """torch's BLAS (and MKL version when it is MKL) and its CPU kernel level."""
    import torch

    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    name = blas.group(1) if blas else "unknown"
    mkl = re.search(r"Math Kernel Library Version ([\d.]+)", config)
    if name == "mkl" and mkl:
        name = f"mkl {mkl.group(1)}"
    return f"{name}, {torch.backends.cpu.get_cpu_capability()} kernels"


def machine_stamp(repo: Path, dirty: list[str]) -> dict[str, str | int | None]:
    import numpy
    import torch

    return {
        "commit": head_commit(repo),
        "uncommitted": ", ".join(dirty) if dirty else None,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "torch": torch.__version__,
        "blas": blas_in_use(),
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def stamp_line(stamp: dict, command: str, seconds: float) -> str:
    """One Markdown line saying how the block above was made."""
    commit = (stamp.get("commit") or "unknown")[:10]
    if stamp.get("uncommitted"):
        commit += " with uncommitted changes"
    return (f"*Written by `{command}` at commit {commit}, {stamp['date']}, in {seconds:.0f} s; "
            f"{stamp['cpu']} ({stamp['cores']} cores), torch {stamp['torch']} "
            f"({stamp['blas']}), numpy {stamp['numpy']}.*")


__all__ = ["blas_in_use", "changed_since", "cpu_model", "dirty_paths", "head_commit",
           "machine_stamp", "stamp_line"]
