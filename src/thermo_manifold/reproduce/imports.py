"""Which source files a result depends on: the static import closure of its entry modules.

A documented result is stale when a file it ran has changed. Naming whole subpackages as its
sources over-approximates: an edit to one sensorium experiment would stale the tables of all
ten, each an hour of CPU to regenerate. The closure follows every `import` and `from ... import`
statement (at module level or inside a function: both may run) through the package's own
modules, adding each package's `__init__.py` along the way (importing `a.b.c` runs `a` and
`a.b` first). Imports by string (`importlib.import_module(name)`) are invisible to it, so the
caller names those targets as roots.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path


def module_file(package_dir: Path, dotted: str) -> Path | None:
    """The file of module `dotted` (e.g. "pkg.sub.mod") under the package rooted at
    `package_dir` (the directory of "pkg"), or None when it is not one of the package's own."""
    parts = dotted.split(".")
    if parts[0] != package_dir.name:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(package_dir: Path, path: Path) -> str:
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, dotted: str) -> set[str]:
    """Every module name the file's import statements may load: for `from a import b` both
    `a` and `a.b` (b may be a submodule or a name defined in a); relative imports resolved
    against `dotted`, the file's own module name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = dotted.split(".")
                drop = node.level - 1 if is_package else node.level
                anchor = anchor[: len(anchor) - drop] if drop else anchor
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _with_parents(dotted: str) -> Iterable[str]:
    parts = dotted.split(".")
    return (".".join(parts[: k + 1]) for k in range(len(parts)))


def import_closure(package_dir: Path, roots: Iterable[str]) -> list[Path]:
    """Sorted files of the package that importing every module in `roots` may run."""
    seen: dict[str, Path] = {}
    todo = [parent for root in roots for parent in _with_parents(root)]
    while todo:
        dotted = todo.pop()
        if dotted in seen:
            continue
        path = module_file(package_dir, dotted)
        if path is None:
            continue
        seen[dotted] = path
        for name in imported_names(path, _module_name(package_dir, path)):
            todo.extend(_with_parents(name))
    return sorted(set(seen.values()))


def source_files(roots: Iterable[str]) -> tuple[str, ...]:
    """Repo paths ("src/thermo_manifold/...") of the closure of `roots` in this package: the
    `sources` of a documented result whose commands import `roots`."""
    import thermo_manifold

    package = Path(thermo_manifold.__file__).parent
    return tuple(f"src/{path.relative_to(package.parent).as_posix()}"
                 for path in import_closure(package, roots))


__all__ = ["import_closure", "imported_names", "module_file", "source_files"]
