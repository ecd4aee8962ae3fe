"""Build, store and query the paper registry.

`build_registry` parses the seed, links every reference kernel (see `metadata.implements`) to
the records of its paper and adds the seed's formula errors those kernels fix; the result is
written to `papers/data/registry.json` inside the package. `load_registry` reads that file back
with full validation, so `list`, `show` and `search` work without the seed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thermo_manifold.papers.audit import ParsedSeed, formula_defects, parse_seed
from thermo_manifold.papers.metadata import Implementation
from thermo_manifold.papers.records import Defect, PaperRecord, record_from_json

FORMAT_VERSION = 1
DATA_FILE = Path(__file__).resolve().parent / "data" / "registry.json"


def build_registry(text: str, source_name: str) -> dict[str, Any]:
    """Seed text -> the JSON document that ships with the package (links every kernel)."""
    from thermo_manifold.papers.metadata import all_implementations

    return registry_document(parse_seed(text, source_name), list(all_implementations().values()), text)


def registry_document(parsed: ParsedSeed, implementations: list[Implementation],
                      text: str) -> dict[str, Any]:
    """The registry document for a parsed seed: records with `implementations` linked to every
    record of their paper, and the parser's defects plus the formula errors they fix.

    ValueError when a kernel claims a paper the seed does not have: silently dropping the link
    would ship a registry that hides the kernel."""
    records = [record.to_json() for record in parsed.records]
    papers = {record["paper"] for record in records}
    for impl in implementations:
        if impl.paper not in papers:
            raise ValueError(f"{impl.qualname} claims paper {impl.paper!r}, which the seed does not have")
        for record in records:
            if record["paper"] == impl.paper:
                record["implementations"].append(impl.to_json())
    defects = sorted(parsed.defects + tuple(formula_defects(parsed.records, implementations, text)),
                     key=lambda d: (d.line, d.kind))
    return {
        "format": FORMAT_VERSION,
        "source": parsed.source,
        "summary": {
            "records": len(records),
            "cards": sum(r["status"] in ("full", "stub") for r in records),
            "by_status": dict(sorted(Counter(r["status"] for r in records).items())),
            "index_rows": len(parsed.index),
            "implementations": len({i["qualname"] for r in records for i in r["implementations"]}),
            "defects": dict(sorted(Counter(d.kind for d in defects).items())),
        },
        "records": records,
        "defects": [defect.to_json() for defect in defects],
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Registry:
    records: tuple[PaperRecord, ...]
    defects: tuple[Defect, ...]
    source: dict[str, Any]
    summary: dict[str, Any]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(record.id for record in self.records)

    def get(self, key: str) -> list[PaperRecord]:
        """Every record of the paper `key` names (all its cards, in seed order), or the one record
        whose id is `key` (a later card such as "GAIA2_WORLD_MODEL#2"); case-insensitive, [] if none.

        A paper's first card has the paper's name as its id, so a name never picks that card
        alone: `get("GAIA2_WORLD_MODEL")` returns both GAIA2 cards."""
        folded = key.casefold()
        cards = [r for r in self.records if r.paper.casefold() == folded]
        return cards or [r for r in self.records if r.id.casefold() == folded]

    def search(self, text: str) -> list[tuple[PaperRecord, list[str]]]:
        """Records where every word of `text` occurs (case-insensitive), with the fields that matched."""
        terms = [term.casefold() for term in text.split()]
        if not terms:
            return []
        hits = []
        for record in self.records:
            fields = _searchable(record)
            matched = [name for name, value in fields.items() if any(t in value for t in terms)]
            blob = " ".join(fields.values())
            if all(term in blob for term in terms):
                hits.append((record, matched))
        return hits

    def defects_for(self, paper: str) -> list[Defect]:
        return [d for d in self.defects if d.paper == paper]


def _searchable(record: PaperRecord) -> dict[str, str]:
    impls = " ".join(f"{i['qualname']} {i['summary']} {' '.join(i['fixes'])}" for i in record.implementations)
    return {name: value.casefold() for name, value in {
        "id": record.id, "title": record.title, "domain": record.domain,
        "effects": " ".join(record.effects + (record.grades.effects if record.grades else ())),
        "coeffects": " ".join(record.coeffects + (record.grades.coeffects if record.grades else ())),
        "formulas": " ".join(f"{f.name} {f.text}" for f in record.formulas),
        "algorithms": " ".join(a.name for a in record.algorithms),
        "index": " ".join(f"{e.domain} {e.key_algorithm}" for e in record.index),
        "implementations": impls,
    }.items()}


def registry_from_json(document: dict[str, Any]) -> Registry:
    if document.get("format") != FORMAT_VERSION:
        raise ValueError(f"registry format must be {FORMAT_VERSION}; got {document.get('format')!r}")
    records = tuple(record_from_json(r) for r in document["records"])
    ids = [r.id for r in records]
    duplicates = sorted(k for k, v in Counter(ids).items() if v > 1)
    if duplicates:
        raise ValueError(f"registry record ids must be unique; repeated: {duplicates}")
    defects = tuple(Defect(d["kind"], d["line"], d["message"], d.get("paper", "")) for d in document["defects"])
    return Registry(records, defects, dict(document["source"]), dict(document["summary"]))


def load_registry(path: str | Path | None = None) -> Registry:
    """The shipped registry (or the JSON file at `path`)."""
    target = Path(path) if path is not None else DATA_FILE
    if not target.is_file():
        raise FileNotFoundError(f"registry file {target} is missing; run `thermo-manifold papers build`")
    return registry_from_json(json.loads(target.read_text(encoding="utf-8")))


__all__ = ["DATA_FILE", "FORMAT_VERSION", "Registry", "build_registry", "dumps", "load_registry",
           "registry_document", "registry_from_json"]
