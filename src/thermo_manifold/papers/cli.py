"""`thermo-manifold papers list | show ID | search TEXT | validate | build`."""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from thermo_manifold.cli_support import OneLineParser, UserError
from thermo_manifold.papers.records import STATUS_MEANING, STATUSES, Defect, PaperRecord

if TYPE_CHECKING:   # imported lazily at run time so that `list` stays fast
    from thermo_manifold.papers.audit import ParsedSeed


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="thermo-manifold papers", description="paper-algorithm registry")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    commands.required = True
    listing = commands.add_parser("list", help="one line per record")
    listing.add_argument("--status", choices=STATUSES)
    show = commands.add_parser("show", help="every card of a paper (or one card by id) in full")
    show.add_argument("id", metavar="NAME", help="paper name (all its cards) or card id such as X#2")
    show.add_argument("--code", action="store_true", help="print the seed's pseudo-code too")
    show.add_argument("--json", action="store_true", help="print the JSON record(s)")
    search = commands.add_parser("search", help="records containing every word of TEXT")
    search.add_argument("text", nargs="+")
    for name, help_text in (("validate", "print every defect of the seed"),
                            ("build", "regenerate the shipped registry JSON from the seed")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--seed", metavar="PATH", help="seed file or the directory holding it "
                         "(default: $THERMO_MANIFOLD_SEEDS, else <repo>/../shared/seeds)")
        if name == "build":
            sub.add_argument("--output", metavar="PATH", help="JSON file to write (default: the package data file)")
    return parser


def _registry():
    from thermo_manifold.papers.registry import load_registry

    try:
        return load_registry()
    except (FileNotFoundError, ValueError) as error:
        raise UserError(f"papers: {error}") from None


def _read_seed(path: str | None) -> tuple[Path, str]:
    from thermo_manifold.papers.seeds import SeedNotFound, SeedUnreadable, locate_seed, read_seed

    try:
        seed = locate_seed(path)
        return seed, read_seed(seed)
    except (SeedNotFound, SeedUnreadable) as error:
        raise UserError(f"papers: {error}") from None


def cmd_list(args) -> int:
    registry = _registry()
    rows = [r for r in registry.records if args.status in (None, r.status)]
    print(f"{'id':44s} {'status':10s} {'lines':>11s} {'frm':>3s} {'alg':>3s} {'impl':>4s}  title")
    for r in rows:
        print(f"{r.id:44s} {r.status:10s} {r.lines[0]:>5d}-{r.lines[1]:<5d} {len(r.formulas):3d} "
              f"{len(r.algorithms):3d} {len(r.implementations):4d}  {r.title}")
    s = registry.summary
    if args.status:
        # An empty filter must say why, not just print a header: the seed may have no such paper.
        by_status = ", ".join(f"{k} {v}" for k, v in s["by_status"].items())
        print(f"{len(rows)} of {s['records']} records are {args.status} "
              f"({STATUS_MEANING[args.status]}); by status: {by_status}")
    print(f"{s['records']} records ({s['cards']} cards); {s['implementations']} linked implementations; "
          f"source {registry.source['file']} ({registry.source['lines']} lines)")
    return 0


def _format_metadata(items: list[dict]) -> str:
    parts = []
    for item in items:
        text = item["kind"]
        if item.get("value") is not None:
            text += f"={item['value']:.6g}"
        if item.get("unit"):
            text += f" {item['unit']}"
        if item.get("detail"):
            text += f" ({item['detail']})"
        parts.append(text)
    return "; ".join(parts) or "-"


def format_record(record: PaperRecord, defects, code: bool = False) -> str:
    out = [f"{record.id}: {record.title}",
           f"  status {record.status}; seed lines {record.lines[0]}-{record.lines[1]}"]
    for entry in record.index:
        out.append(f"  index row {entry.number:02d} (line {entry.line}): {entry.domain} | "
                   f"{entry.key_algorithm} | {entry.status}")
    if record.domain:
        out.append(f"  domain: {record.domain}")
    if record.effects or record.coeffects:
        out.append(f"  effects: {', '.join(record.effects) or '-'}")
        out.append(f"  coeffects: {', '.join(record.coeffects) or '-'}")
    if record.sections:
        out.append(f"  sections: {', '.join(record.sections)}")
    if record.missing_sections:
        out.append(f"  missing sections: {', '.join(record.missing_sections)}")
    if record.schema is not None:
        out.append(f"  AST schema: {json.dumps(record.schema, ensure_ascii=False)}")
    if record.formulas:
        out.append("  formulas:")
        for f in record.formulas:
            body = " / ".join(line.strip() for line in f.text.splitlines() if line.strip())
            out.append(f"    {f.label} {f.name} [lines {f.lines[0]}-{f.lines[1]}]: {body[:200]}")
    if record.algorithms:
        out.append("  algorithms (seed pseudo-code):")
        for a in record.algorithms:
            out.append(f"    {a.number or '-':>3s}. {a.name} [{a.section}; lines {a.lines[0]}-{a.lines[1]}]")
            if code:
                out.extend("        " + line for line in a.code.splitlines())
    for t in record.tables:
        out.append(f"  table '{t.section}' [lines {t.lines[0]}-{t.lines[1]}]: {' | '.join(t.columns)}")
        out.extend(f"      {' | '.join(row)}" for row in t.rows)
    if record.grades is not None:
        g = record.grades
        origin = " (attributed from an orphan block)" if g.attributed else ""
        out.append(f"  grade tracking [lines {g.lines[0]}-{g.lines[1]}]{origin}:")
        out.append(f"    Effect: {' | '.join(g.effects) or '-'}")
        out.append(f"    CoEffect: {' | '.join(g.coeffects) or '-'}")
    if record.implementations:
        out.append("  implementations:")
        for impl in record.implementations:
            out.append(f"    {impl['qualname']}: {impl['summary']}")
            out.append(f"      effects: {_format_metadata(impl['effects'])}")
            out.append(f"      coeffects: {_format_metadata(impl['coeffects'])}")
            out.append(f"      grades: {_format_metadata(impl['grades'])}")
            out.append(f"      oracle: {impl['oracle']}")
            for fix in impl["fixes"]:
                out.append(f"      fixes seed: {fix}")
    if defects:
        out.append("  defects:")
        out.extend(f"    {_defect_line(d)}" for d in defects)
    return "\n".join(out)


def cmd_show(args) -> int:
    registry = _registry()
    records = registry.get(args.id)
    if not records:
        raise UserError(f"papers show: no record {args.id!r}; `thermo-manifold papers list` shows the ids")
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=1, ensure_ascii=False))
        return 0
    blocks = [format_record(record, registry.defects_for(record.paper), code=args.code)
              for record in records]
    print("\n\n".join(blocks))
    return 0


def cmd_search(args) -> int:
    registry = _registry()
    hits = registry.search(" ".join(args.text))
    for record, fields in hits:
        print(f"{record.id:44s} {record.status:10s} matched in: {', '.join(fields)}")
    print(f"{len(hits)} record(s) match {' '.join(args.text)!r}")
    return 0


def _defect_line(defect: Defect) -> str:
    return f"line {defect.line:5d} [{defect.kind}] {defect.message}"


def _linked_document(parsed: ParsedSeed, text: str) -> tuple[dict | None, str]:
    """The registry document of this seed, or None and why (the kernels implement papers it lacks)."""
    from thermo_manifold.papers.metadata import all_implementations
    from thermo_manifold.papers.registry import registry_document

    try:
        return registry_document(parsed, list(all_implementations().values()), text), ""
    except ValueError as error:
        return None, str(error)


def cmd_validate(args) -> int:
    from thermo_manifold.papers.audit import parse_seed
    from thermo_manifold.papers.parser import SeedParseError
    from thermo_manifold.papers.registry import DATA_FILE, dumps

    seed, text = _read_seed(args.seed)
    try:
        parsed = parse_seed(text, seed.name)
    except SeedParseError as error:
        print(f"parse failure: {seed}: {error}", file=sys.stderr)
        return 1
    document, unlinked = _linked_document(parsed, text)
    # The document's defects add the formula errors the kernels fix to the parser's defects.
    defects = [Defect(**d) for d in document["defects"]] if document else list(parsed.defects)
    for defect in defects:
        print(_defect_line(defect))
    counts = Counter(d.kind for d in defects)
    cards = sum(r.status in ("full", "stub") for r in parsed.records)
    print(f"{seed.name}: {len(parsed.records)} records ({cards} cards, "
          f"{len(parsed.records) - cards} recovered from the index), {len(defects)} defects: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if document is None:
        print(f"formula errors not checked and shipped registry not comparable: {unlinked}")
        return 0
    shipped = DATA_FILE.read_text(encoding="utf-8") if DATA_FILE.is_file() else ""
    verdict = "up to date" if shipped == dumps(document) else "STALE (run `thermo-manifold papers build`)"
    print(f"shipped registry: {verdict}")
    return 0


def _output_file(path: str | None) -> Path:
    """The file `build` will write, checked before the build runs (UserError if unwritable)."""
    from thermo_manifold.papers.registry import DATA_FILE

    target = Path(path).expanduser() if path else DATA_FILE
    if target.is_dir():
        raise UserError(f"papers build: --output {target} is a directory; give a file path")
    parent = target.parent
    if not parent.is_dir():
        problem = "is not a directory" if parent.exists() else "does not exist"
        raise UserError(f"papers build: cannot write {target}: {parent} {problem}")
    # Permission bits do not tell (root ignores them; /proc refuses new files whatever they say):
    # creating a scratch file beside the target is the only test that answers for certain.
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as error:
        raise UserError(f"papers build: cannot write {target}: {error.strerror or error}") from None
    return target


def cmd_build(args) -> int:
    from thermo_manifold.papers.registry import build_registry, dumps

    target = _output_file(args.output)
    seed, text = _read_seed(args.seed)
    try:
        document = build_registry(text, seed.name)
    except ValueError as error:   # SeedParseError, or a kernel whose paper this seed lacks
        raise UserError(f"papers build: cannot build from {seed}: {error}") from None
    try:
        target.write_text(dumps(document), encoding="utf-8")
    except OSError as error:
        raise UserError(f"papers build: cannot write {target}: {error.strerror or error}") from None
    s = document["summary"]
    print(f"wrote {target}: {s['records']} records, {s['implementations']} implementations, "
          f"{sum(s['defects'].values())} defects")
    return 0


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    return {"list": cmd_list, "show": cmd_show, "search": cmd_search, "validate": cmd_validate,
            "build": cmd_build}[args.command](args)


__all__ = ["build_parser", "format_record", "main"]
