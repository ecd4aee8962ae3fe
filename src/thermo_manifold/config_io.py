"""Loading validated frozen-dataclass configs from dictionaries and TOML tables."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any


def reject_unknown_fields(config_class: type, values: dict[str, Any], what: str) -> None:
    """Raise ValueError naming every key of `values` that is not a field of `config_class`."""
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {what} config field(s) {unknown}; allowed: {sorted(known)}")


def read_toml_table(path: str | Path, table: str | None) -> dict[str, Any]:
    """The `[table]` of a TOML file, or its top level when that table is absent."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    if table is not None and table in data:
        return data[table]
    return data


__all__ = ["read_toml_table", "reject_unknown_fields"]
