"""The import closure that says which files a documented result ran: checked on a small package
written here (the expected sets are read off by hand) and on the sensorium experiments."""

from __future__ import annotations

from pathlib import Path

from thermo_manifold.reproduce.imports import import_closure
from thermo_manifold.reproduce.sensorium_tables import EXPERIMENTS, sources

FILES = {
    "__init__.py": "",
    "a.py": "import os\n\ndef late():\n    import pkg.b\n",
    "b.py": "from . import c\nfrom .c import VALUE\n",
    "c.py": "VALUE = 1\n",
    "sub/__init__.py": "",
    "sub/d.py": "from ..c import VALUE\nfrom pkg.sub import e\n",
    "sub/e.py": "import importlib\nimportlib.import_module('pkg.unused')\n",
    "unused.py": "import pkg.a\n",
}


def package(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def names(root: Path, roots: list[str]) -> set[str]:
    return {p.relative_to(root).as_posix() for p in import_closure(root, roots)}


def test_closure_follows_function_level_relative_and_from_imports(tmp_path):
    root = package(tmp_path)
    assert names(root, ["pkg.a"]) == {"__init__.py", "a.py", "b.py", "c.py"}
    assert names(root, ["pkg.c"]) == {"__init__.py", "c.py"}


def test_closure_runs_parent_packages_and_misses_imports_by_string(tmp_path):
    root = package(tmp_path)
    assert names(root, ["pkg.sub.d"]) == {"__init__.py", "sub/__init__.py", "sub/d.py",
                                          "sub/e.py", "c.py"}
    assert "unused.py" in names(root, ["pkg.sub.d", "pkg.unused"])  # named as a root
    assert names(root, ["os", "pkg.nothing"]) == {"__init__.py"}


def test_each_sensorium_table_depends_on_its_own_experiment_and_the_shared_physics():
    for name in EXPERIMENTS:
        files = sources(name)
        assert f"src/thermo_manifold/sensorium/experiments/{name}.py" in files
        for shared in ("src/thermo_manifold/sensorium/harness.py",
                       "src/thermo_manifold/sensorium/reservoir.py",
                       "src/thermo_manifold/physics/__init__.py",
                       "src/thermo_manifold/spectral/carriers.py",
                       "src/thermo_manifold/device.py"):
            assert shared in files, (name, shared)
        others = {f"src/thermo_manifold/sensorium/experiments/{o}.py" for o in EXPERIMENTS} - {
            f"src/thermo_manifold/sensorium/experiments/{name}.py"}
        assert others & set(files) <= {
            "src/thermo_manifold/sensorium/experiments/rule_shift.py",   # ablation's readout
            "src/thermo_manifold/sensorium/experiments/timeseries.py",   # cocktail's reservoir
            "src/thermo_manifold/sensorium/experiments/next_token.py"}   # continuous's vocabulary
    assert "src/thermo_manifold/sensorium/experiments/rule_shift.py" in sources("ablation")
    assert "src/thermo_manifold/sensorium/experiments/image_gen.py" not in sources("next_token")


def test_agent_tables_depend_on_what_the_agent_command_imports():
    from thermo_manifold.reproduce.agent_tables import SOURCES

    assert "src/thermo_manifold/agent/encoder.py" in SOURCES
    assert "src/thermo_manifold/agent/cli.py" in SOURCES
    assert not any("/physics/" in path or "/sensorium/" in path for path in SOURCES)
