"""`thermo-manifold reproduce`: regenerate the documented results, or check that docs match them.

    reproduce --list                 every result block: name, the commands it runs, doc and blocks
    reproduce NAME [NAME ...] [--quick]   run them and rewrite their blocks and results files
    reproduce all                    every entry, in --list order
    reproduce --check                exit 1 naming each block that differs from its results file,
                                     or whose code changed since the commit that made it
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from thermo_manifold.cli_support import OneLineParser, UserError


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="thermo-manifold reproduce",
                           description="regenerate every documented result from a command")
    parser.add_argument("names", nargs="*", metavar="NAME", help="entries to run (or `all`)")
    parser.add_argument("--list", action="store_true", help="list the entries and stop")
    parser.add_argument("--check", action="store_true",
                        help="compare every doc block with its results file; no runs")
    parser.add_argument("--quick", action="store_true", help="small settings (for a smoke run)")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite blocks from the stored results files (no run; the stamp "
                             "keeps the commit of the run)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="run although the entry's code has uncommitted changes (the stamp "
                             "says so, and --check reports the block as stale)")
    parser.add_argument("--docs", metavar="DIR", default=None,
                        help="docs directory (default: ./docs, else the repository's docs)")
    parser.add_argument("--work", metavar="DIR", default="runs/reproduce",
                        help="where the runs' own directories are kept (default runs/reproduce)")
    return parser


def _docs_dir(given: str | None):
    from thermo_manifold.reproduce.results import Docs

    if given is not None:
        root = Path(given)
    elif Path("docs").is_dir():
        root = Path("docs")
    else:
        root = Path(__file__).resolve().parents[3] / "docs"   # an editable install's checkout
    if not root.is_dir():
        raise UserError(f"reproduce: no docs directory {root} (run from the repository root or pass --docs)")
    root = root.resolve()
    return Docs(root=root, repo=root.parent)


def _list(entries) -> int:
    for entry in entries:
        print(f"{entry.name}  ->  docs/{entry.doc}: {', '.join(entry.blocks)}")
        print(f"    {entry.summary}")
        for command in entry.commands(False):
            print(f"    $ {command}")
    return 0


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    from thermo_manifold.reproduce import results
    from thermo_manifold.reproduce.catalog import by_name, entries

    known = by_name()
    if args.list:
        return _list(entries())
    if args.check == bool(args.names):     # exactly one of the two
        raise UserError("reproduce: give entry names, `all`, --list or --check")
    docs = _docs_dir(args.docs)
    if args.check:
        report = results.check(docs, entries())
        for note in report.notes:
            print(f"note: {note}")
        for problem in report.problems:
            print(f"FAIL {problem}")
        if not report.problems:
            print(f"ok: {sum(len(e.blocks) for e in entries())} blocks of {len(known)} entries "
                  f"match their results files")
        return 1 if report.problems else 0
    names = list(known) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"reproduce: unknown entry {unknown[0]!r}; choose from {', '.join(known)} or all")
    for name in names:
        entry = known[name]
        if args.render_only:
            results.render_only(docs, entry)
            print(f"{name}: re-rendered docs/{entry.doc}")
            continue
        seconds = results.run_and_write(docs, entry, args.quick, Path(args.work), args.allow_dirty)
        print(f"{name}: wrote docs/{entry.doc} ({', '.join(entry.blocks)}) and "
              f"docs/results/{name}.json in {seconds:.0f} s")
    return 0


__all__ = ["build_parser", "main"]
