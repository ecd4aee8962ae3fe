"""Pass 3: cross-card checks and the final record list.

`parse_seed` turns seed text into records plus every defect PAPERS.md names: papers the index
claims but that have no card (recovered from orphan Grade Tracking blocks), duplicate cards with
their differences, cards missing from the index, unclosed fences and index counts that disagree.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, replace

from thermo_manifold.papers.parser import (CARD, Card, IndexRow, SeedParseError, Sub,
                                           markdown_hidden_headings, parse_card, parse_grade_code,
                                           parse_index, split_document)
from thermo_manifold.papers.records import Defect, Grades, IndexEntry, PaperRecord

STOP = {"needs", "need", "require", "requires", "data", "effect", "coeffect", "int", "number",
        "and", "the", "for", "with", "vs", "bool", "int", "array", "all", "way"}


@dataclass(frozen=True)
class ParsedSeed:
    records: tuple[PaperRecord, ...]
    defects: tuple[Defect, ...]
    index: tuple[IndexRow, ...]
    source: dict


def _stem(word: str) -> str:
    for suffix in ("ization", "ation", "ing", "ize", "ate", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def words(*texts: str) -> set[str]:
    """Lower-cased, camelCase-split, crudely stemmed content words (for orphan attribution)."""
    found: set[str] = set()
    for text in texts:
        for token in re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+", text):
            token = token.lower()
            if len(token) >= 3 and token not in STOP:
                found.add(_stem(token))
    return found


def _differences(first: PaperRecord, second: PaperRecord) -> list[str]:
    diffs = []
    for name in ("title", "domain", "effects", "coeffects", "status"):
        a, b = getattr(first, name), getattr(second, name)
        if a != b:
            diffs.append(f"{name}: {_short(a)} vs {_short(b)}")
    keys_a = set((first.schema or {}).keys())
    keys_b = set((second.schema or {}).keys())
    if keys_a != keys_b:
        diffs.append(f"schema keys: {sorted(keys_a)} vs {sorted(keys_b)}")
    fa, fb = [f.name for f in first.formulas], [f.name for f in second.formulas]
    if fa != fb:
        diffs.append(f"formulas: {fa} vs {fb}")
    aa = [f"{a.number or '-'}:{a.name}" for a in first.algorithms]
    ab = [f"{a.number or '-'}:{a.name}" for a in second.algorithms]
    if aa != ab:
        diffs.append(f"algorithms ({len(aa)} vs {len(ab)}): {aa} vs {ab}")
    if first.sections != second.sections:
        diffs.append(f"sections: {list(first.sections)} vs {list(second.sections)}")
    return diffs


def _short(value: object) -> str:
    text = repr(list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= 160 else text[:157] + "..."


def _count_claims(preamble: list[tuple[int, str]], sections) -> list[tuple[str, int, int]]:
    """(what, line, claimed number) for every count the document states about itself."""
    claims = []
    for number, line in preamble:
        match = re.search(r"(\d+)\s+OF\s+(\d+)\s+COMPLETE", line)
        if match:
            claims.append(("complete", number, int(match.group(1))))
            claims.append(("total", number, int(match.group(2))))
    for section in sections:
        match = re.match(r"COMPLETED ALGORITHMS \((\d+)\)", section.title)
        if match:
            claims.append(("completed heading", section.start, int(match.group(1))))
        match = re.match(r"REMAINING \((\d+)\)", section.title)
        if match:
            claims.append(("remaining heading", section.start, int(match.group(1))))
            for sub in section.subs:
                for block in sub.blocks:
                    for line_no, line in block.lines:
                        cells = [c.strip() for c in line.strip().strip("|").split("|")]
                        if len(cells) >= 2 and cells[1].isdigit():
                            claims.append(("remaining table", line_no, int(cells[1])))
    return claims


def parse_seed(text: str, source_name: str = "seed") -> ParsedSeed:
    document = split_document(text)
    defects: list[Defect] = []
    index_rows: list[IndexRow] = []
    cards: list[Card] = []
    for section in document.sections:
        title = section.title
        if title.startswith("COMPLETED ALGORITHMS"):
            index_rows.extend(parse_index(section))
        elif title.startswith("[") and title.endswith("]"):
            defects.append(Defect("template-section", section.start,
                                  f"template heading '## {title}' left in the document "
                                  f"(lines {section.start}-{section.end})"))
        elif CARD.match(title) and any(sub.title == "Classification" for sub in section.subs):
            cards.append(parse_card(section, defects))
    if not index_rows:
        raise SeedParseError("no 'COMPLETED ALGORITHMS' index table with | NN | ID | rows found")
    if not cards:
        raise SeedParseError("no algorithm cards ('## ID (Title)' with a ### Classification) found")

    for fence in document.unclosed:
        closes, hidden = markdown_hidden_headings(text, fence.line)
        inside = next((c.paper for c in cards if c.section.start <= fence.line <= c.section.end), "")
        where = (f"this parser closes it at the heading on line {fence.cut_at}" if fence.cut_at
                 else "it runs to the end of the file")
        h2 = [f"{n}: {h}" for n, h in hidden if h.startswith("## ")]
        message = (f"code fence ```{fence.lang} opened at line {fence.line} is never closed; "
                   f"{where}. A Markdown parser reads it as code up to line "
                   f"{closes or 'EOF'} and so hides {len(hidden)} heading(s)"
                   + (f", including {', '.join(h2)}" if h2 else ""))
        defects.append(Defect("unclosed-fence", fence.line, message, inside))

    # Duplicates: keep every card, give later ones a distinct id, and say what differs.
    by_paper: dict[str, list[int]] = defaultdict(list)
    for position, card in enumerate(cards):
        by_paper[card.paper].append(position)
    for paper, positions in by_paper.items():
        for ordinal, position in enumerate(positions[1:], start=2):
            card = cards[position]
            card.record = replace(card.record, id=f"{paper}#{ordinal}")
            first = cards[positions[0]].record
            diffs = _differences(first, card.record)
            kinds = f"{first.status} at lines {first.lines[0]}-{first.lines[1]} and {card.record.status} at lines {card.record.lines[0]}-{card.record.lines[1]}"
            defects.append(Defect("duplicate-card", card.section.start,
                                  f"{paper} appears {len(positions)} times ({kinds}); "
                                  f"differences: " + ("; ".join(diffs) or "none"), paper))

    # Index against cards.
    indexed: dict[str, list[IndexRow]] = defaultdict(list)
    for row in index_rows:
        indexed[row.paper].append(row)
    card_papers = {card.paper for card in cards}
    for paper, rows in indexed.items():
        if len(rows) > 1:
            defects.append(Defect("index-count", rows[1].line,
                                  f"index lists {paper} {len(rows)} times (rows "
                                  + ", ".join(f"{r.number:02d}" for r in rows) + ")", paper))
    for card in cards:
        entries = tuple(IndexEntry(r.number, r.domain, r.key_algorithm, r.status, r.line)
                        for r in indexed.get(card.paper, ()))
        card.record = replace(card.record, index=entries)
        if entries or card.record.id != card.paper:
            continue
        near = [p for p in indexed if card.paper.startswith(p + "_") or p.startswith(card.paper + "_")]
        if near:
            defects.append(Defect("index-name-mismatch", card.section.start,
                                  f"card {card.paper} (line {card.section.start}) is not in the index "
                                  f"under that name; the index has {near[0]}, which has no card of "
                                  f"its own and is counted as missing", card.paper))
        else:
            defects.append(Defect("unindexed-card", card.section.start,
                                  f"card {card.paper} (lines {card.section.start}-{card.section.end}) "
                                  "is not listed in the COMPLETED ALGORITHMS index", card.paper))
    missing = [paper for paper in indexed if paper not in card_papers]
    for card in cards:
        if card.record.missing_sections:
            defects.append(Defect("missing-section", card.section.start,
                                  f"{card.record.id} lacks: " + ", ".join(card.record.missing_sections),
                                  card.paper))

    # Orphan Grade Tracking blocks: attribute each to the paper whose words it shares most.
    orphans: list[tuple[Card, Sub]] = [(card, sub) for card in cards for sub in card.orphan_grades]
    candidates: dict[str, set[str]] = {}
    for paper in missing:
        row = indexed[paper][0]
        candidates[paper] = words(paper.replace("_", " "), row.domain, row.key_algorithm)
    for card in cards:
        if card.record.grades is None and card.paper not in candidates:
            r = card.record
            candidates[card.paper] = words(card.paper.replace("_", " "), r.title, r.domain,
                                           *r.effects, *r.coeffects,
                                           *(e.domain + " " + e.key_algorithm for e in r.index))
    scored = []
    parsed_orphans = {}
    for host, sub in orphans:
        code = "\n".join(b.text for b in sub.blocks if b.code)
        effects, coeffects, problems = parse_grade_code(code)
        parsed_orphans[sub.start] = (host, sub, code, effects, coeffects, problems)
        if not effects and not coeffects:
            defects.append(Defect("empty-grade-block", sub.start,
                                  f"'### Grade Tracking' at line {sub.start} (inside {host.record.id}) "
                                  "declares no Effect or CoEffect", host.paper))
            continue
        mine = words(*effects, *coeffects)
        for paper, theirs in candidates.items():
            shared = mine & theirs
            if shared:
                scored.append((len(shared), -sub.start, paper, sub.start, sorted(shared)))
    # Papers the index claims but that have no card come first: the orphan blocks sit together
    # where their cards should have been. Only then may a card that lacks a block claim one.
    attributed: dict[int, tuple[str, list[str]]] = {}
    for pool in (set(missing), set(candidates) - set(missing)):
        ranked = sorted((s for s in scored if s[2] in pool), reverse=True)
        taken = {paper for paper, _ in attributed.values()}
        for _, _, paper, start, shared in ranked:
            if paper in taken or start in attributed:
                continue
            taken.add(paper)
            attributed[start] = (paper, shared)
    grades_for: dict[str, Grades] = {}
    for start, (host, sub, code, effects, coeffects, problems) in sorted(parsed_orphans.items()):
        if not effects and not coeffects:
            continue
        if start not in attributed:
            defects.append(Defect("orphan-grade-block", start,
                                  f"orphan '### Grade Tracking' at line {start} inside {host.record.id} "
                                  "matches no card-less paper", host.paper))
            continue
        paper, shared = attributed[start]
        grades_for[paper] = Grades(effects, coeffects, code, (sub.start, sub.end), attributed=True)
        status = "has no card" if paper in missing else "has a card without one"
        defects.append(Defect("orphan-grade-block", start,
                              f"orphan '### Grade Tracking' at lines {sub.start}-{sub.end} sits inside "
                              f"{host.record.id}; attributed to {paper} ({status}; shared words: "
                              f"{', '.join(shared)})", paper))
        for problem in problems:
            defects.append(Defect("grade-syntax", start, f"{paper} Grade Tracking: {problem}", paper))

    records = []
    for card in cards:
        record = card.record
        if record.grades is None and record.paper in grades_for and record.id == record.paper:
            record = replace(record, grades=grades_for[record.paper],
                             missing_sections=tuple(s for s in record.missing_sections
                                                    if s != "Grade Tracking"))
        records.append(record)
    for paper in missing:
        rows = indexed[paper]
        grades = grades_for.get(paper)
        lines = grades.lines if grades else (rows[0].line, rows[0].line)
        entries = tuple(IndexEntry(r.number, r.domain, r.key_algorithm, r.status, r.line) for r in rows)
        records.append(PaperRecord(
            id=paper, paper=paper, title=rows[0].key_algorithm, status="grade_only" if grades else "index_only",
            lines=lines, domain=rows[0].domain, grades=grades, index=entries,
            missing_sections=tuple(s for s in ("Classification", "AST Schema", "Key Formulas",
                                               "Core Algorithms", "Bounded Types") )
            + (() if grades else ("Grade Tracking",))))
        found = f"only an orphan Grade Tracking block (lines {lines[0]}-{lines[1]})" if grades else "nothing"
        defects.append(Defect("missing-paper", rows[0].line,
                              f"index row {rows[0].number:02d} claims {paper} is ready, but the seed "
                              f"has no card for it: {found}", paper))

    # Counts the document states about itself.
    distinct = len(indexed)
    with_card = distinct - len(missing)
    claims = _count_claims(document.preamble, document.sections)
    remaining_heading = next((c for c in claims if c[0] == "remaining heading"), None)
    for what, line, claimed in claims:
        if what == "completed heading" and claimed != len(index_rows):
            defects.append(Defect("index-count", line,
                                  f"heading claims {claimed} completed algorithms; the table has "
                                  f"{len(index_rows)} rows for {distinct} distinct papers, of which "
                                  f"{with_card} have a card"))
        elif what == "complete" and claimed != with_card:
            defects.append(Defect("index-count", line,
                                  f"status line claims {claimed} complete; the index has "
                                  f"{len(index_rows)} rows but {distinct} distinct papers and only "
                                  f"{with_card} with a card ({len(cards)} cards in all, "
                                  f"{len(by_paper)} distinct)"))
        elif what == "remaining table" and remaining_heading and remaining_heading[2] != claimed:
            defects.append(Defect("index-count", line,
                                  f"REMAINING heading says {remaining_heading[2]} but its table says "
                                  f"{claimed} papers need extraction"))
    source = {"file": source_name, "lines": document.n_lines,
              "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    defects.sort(key=lambda d: (d.line, d.kind))
    return ParsedSeed(tuple(records), tuple(defects), tuple(index_rows), source)


__all__ = ["ParsedSeed", "parse_seed", "words"]
