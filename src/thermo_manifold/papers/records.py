"""The registry's record schema: one `PaperRecord` per algorithm card of the seed.

Records are plain frozen dataclasses that round-trip through JSON (`to_json` / `from_json`);
`from_json` validates every field so a hand-edited or stale data file fails loudly instead of
printing nonsense. Line ranges are 1-based and inclusive, into the seed file named in the
registry's `source` block.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUS_MEANING = {
    "full": "a card with pseudo-code",
    "stub": "a card without algorithms",
    "grade_only": "a paper the index claims that has no card, only an orphan Grade Tracking block",
    "index_only": "a paper the index claims that has neither a card nor a Grade Tracking block",
}
STATUSES = tuple(STATUS_MEANING)
DEFECT_KINDS = (
    "missing-paper", "missing-section", "duplicate-card", "unindexed-card",
    "index-name-mismatch", "index-count", "unclosed-fence", "orphan-grade-block",
    "empty-grade-block", "grade-syntax", "schema-json", "template-section", "stray-checklist",
    "formula",   # a wrong formula in the seed that a reference kernel corrects (its `fixes`)
)

LineRange = tuple[int, int]


@dataclass(frozen=True)
class Formula:
    label: str            # "(1)" or "(A)" as printed in the seed
    name: str
    text: str             # the fenced formula body
    note: str             # prose that follows the fence ("Where ...")
    lines: LineRange


@dataclass(frozen=True)
class Algorithm:
    number: str | None    # "1", "17" ... or None when the seed gives none
    name: str
    section: str          # the ### heading it sits under
    code: str             # pseudo-code as written in the seed (a specification, often buggy)
    lines: LineRange


@dataclass(frozen=True)
class Table:
    section: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    lines: LineRange


@dataclass(frozen=True)
class Grades:
    effects: tuple[str, ...]      # constructors of `data Effect`
    coeffects: tuple[str, ...]    # constructors (with arguments) of `data CoEffect`
    text: str
    lines: LineRange
    attributed: bool = False      # True when recovered from an orphan block elsewhere


@dataclass(frozen=True)
class IndexEntry:
    number: int
    domain: str
    key_algorithm: str
    status: str
    line: int


@dataclass(frozen=True)
class PaperRecord:
    id: str                       # unique: paper name, "#2" appended for a second card
    paper: str                    # paper name as in the seed heading
    title: str
    status: str                   # one of STATUSES
    lines: LineRange
    domain: str = ""
    effects: tuple[str, ...] = ()
    coeffects: tuple[str, ...] = ()
    schema: dict[str, Any] | None = None
    formulas: tuple[Formula, ...] = ()
    algorithms: tuple[Algorithm, ...] = ()
    tables: tuple[Table, ...] = ()
    bounded_types: str = ""
    grades: Grades | None = None
    sections: tuple[str, ...] = ()
    missing_sections: tuple[str, ...] = ()
    index: tuple[IndexEntry, ...] = ()
    implementations: tuple[dict[str, Any], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return _lists(asdict(self))


def _lists(value: Any) -> Any:
    """JSON has no tuples: turn them into lists recursively (so equality survives a round trip)."""
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(item) for item in value]
    return value


def _check(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ValueError(f"invalid registry record {where}: {message}")


def _line_range(value: Any, where: str) -> LineRange:
    _check(isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
           and 1 <= value[0] <= value[1], where, f"lines must be [start, end] with 1 <= start <= end; got {value!r}")
    return (value[0], value[1])


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    _check(isinstance(value, list) and all(isinstance(v, str) for v in value), where,
           f"{name} must be a list of strings")
    return tuple(value)


def record_from_json(data: dict[str, Any]) -> PaperRecord:
    """Validate one JSON record and build the dataclass (ValueError naming the field otherwise)."""
    _check(isinstance(data, dict), "?", "record must be an object")
    rid = data.get("id")
    _check(isinstance(rid, str) and rid, "?", "id must be a non-empty string")
    where = repr(rid)
    for key in ("paper", "title", "status", "domain", "bounded_types"):
        _check(isinstance(data.get(key), str), where, f"{key} must be a string")
    _check(data["status"] in STATUSES, where, f"status must be one of {STATUSES}; got {data['status']!r}")
    _check(data["schema"] is None or isinstance(data["schema"], dict), where, "schema must be an object or null")
    formulas = tuple(Formula(f["label"], f["name"], f["text"], f["note"], _line_range(f["lines"], where))
                     for f in data["formulas"])
    algorithms = tuple(Algorithm(a["number"], a["name"], a["section"], a["code"],
                                 _line_range(a["lines"], where)) for a in data["algorithms"])
    tables = tuple(Table(t["section"], _strings(t["columns"], where, "columns"),
                         tuple(_strings(r, where, "row") for r in t["rows"]),
                         _line_range(t["lines"], where)) for t in data["tables"])
    grades = None
    if data["grades"] is not None:
        g = data["grades"]
        grades = Grades(_strings(g["effects"], where, "grades.effects"),
                        _strings(g["coeffects"], where, "grades.coeffects"), g["text"],
                        _line_range(g["lines"], where), bool(g["attributed"]))
    index = tuple(IndexEntry(int(e["number"]), e["domain"], e["key_algorithm"], e["status"], int(e["line"]))
                  for e in data["index"])
    impls = data["implementations"]
    _check(isinstance(impls, list) and all(isinstance(i, dict) and "qualname" in i for i in impls),
           where, "implementations must be a list of objects with a qualname")
    return PaperRecord(
        id=rid, paper=data["paper"], title=data["title"], status=data["status"],
        lines=_line_range(data["lines"], where), domain=data["domain"],
        effects=_strings(data["effects"], where, "effects"),
        coeffects=_strings(data["coeffects"], where, "coeffects"), schema=data["schema"],
        formulas=formulas, algorithms=algorithms, tables=tables,
        bounded_types=data["bounded_types"], grades=grades,
        sections=_strings(data["sections"], where, "sections"),
        missing_sections=_strings(data["missing_sections"], where, "missing_sections"),
        index=index, implementations=tuple(impls))


@dataclass(frozen=True)
class Defect:
    kind: str
    line: int
    message: str
    paper: str = ""

    def __post_init__(self) -> None:
        if self.kind not in DEFECT_KINDS:
            raise ValueError(f"Defect.kind must be one of {DEFECT_KINDS}; got {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["Algorithm", "DEFECT_KINDS", "Defect", "Formula", "Grades", "IndexEntry", "PaperRecord",
           "STATUSES", "STATUS_MEANING", "Table", "record_from_json"]
