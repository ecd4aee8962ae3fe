"""Parse the paper-algorithm seed into records and a list of its defects.

The seed is Markdown written by hand and it is broken in known ways (PAPERS.md): two code fences
are never closed, some papers appear twice, six indexed papers exist only as orphan "Grade
Tracking" blocks pasted under another card. A Markdown parser would hide whole cards, so this one
is line based and deliberately forgiving:

* a line `## X` or `### X` at column 0 always starts a (sub)section, even inside an open fence,
  and the fence it interrupts is reported as unclosed (a separate CommonMark scan says which
  headings a Markdown reader would lose);
* inside a fence, a line such as ```` ```json ```` is content, not a closing fence (CommonMark);
* anything that cannot be understood becomes a `Defect`, never an exception. Only a document
  with no index table or no cards is a parse failure (`SeedParseError`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from thermo_manifold.papers.records import Algorithm, Defect, Formula, Grades, PaperRecord, Table

H2 = re.compile(r"^## (?!#)\s*(.*?)\s*$")
H3 = re.compile(r"^### (?!#)\s*(.*?)\s*$")
FENCE = re.compile(r"^ {0,3}(`{3,})\s*([^`]*?)\s*$")
CARD = re.compile(r"^([A-Z][A-Z0-9_]*)(?:\s+\((.*)\))?$")
ALGO = re.compile(r"^\s*#\s*Algorithm\b\s*(\d+)?\s*:\s*(.+?)\s*$")
FORMULA = re.compile(r"^\*\*\(([0-9A-Z]+)\)\s*(.*?)\s*\*\*\s*$")
BULLET = re.compile(r"^-\s+\*\*(\w+)\*\*:\s*(.*?)\s*$")
CHECKBOX = re.compile(r"^- \[[ xX]\] (\S+)")
INDEX_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*([A-Z0-9_]+)\s*\|(.*)\|\s*$")

EXPECTED_SECTIONS = ("Classification", "AST Schema", "Key Formulas", "Core Algorithms",
                     "Bounded Types", "Grade Tracking")
NON_ALGORITHM_SECTIONS = {"Classification", "AST Schema", "Key Formulas", "Bounded Types",
                          "Grade Tracking"}


class SeedParseError(ValueError):
    """The text is not a paper-algorithm seed at all (no index or no cards)."""


@dataclass
class Block:
    code: bool
    lang: str
    start: int
    lines: list[tuple[int, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(text for _, text in self.lines)

    @property
    def end(self) -> int:
        return self.lines[-1][0] if self.lines else self.start


@dataclass
class Sub:
    title: str
    start: int
    end: int
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Section:
    title: str
    start: int
    end: int
    subs: list[Sub] = field(default_factory=list)   # subs[0] is the text before the first ###


@dataclass
class UnclosedFence:
    line: int
    lang: str
    cut_at: int        # heading line where this parser closes it (0: end of file)


@dataclass
class SeedDocument:
    preamble: list[tuple[int, str]]
    sections: list[Section]
    unclosed: list[UnclosedFence]
    n_lines: int


def split_document(text: str) -> SeedDocument:
    """Pass 1: sections, subsections and text/code blocks, with every unclosed fence."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()          # a final newline ends the last line; it does not start another
    preamble: list[tuple[int, str]] = []
    sections: list[Section] = []
    unclosed: list[UnclosedFence] = []
    fence: tuple[int, str, str] | None = None     # (line, backticks, lang) of the open fence
    block: Block | None = None

    def new_block(code: bool, lang: str, start: int) -> Block:
        blk = Block(code, lang, start)
        sections[-1].subs[-1].blocks.append(blk)
        return blk

    for number, line in enumerate(lines, start=1):
        h2, h3 = H2.match(line), H3.match(line)
        if h2 or h3:
            if fence is not None:
                unclosed.append(UnclosedFence(fence[0], fence[2], number))
                fence = None
            if h2:
                sections.append(Section(h2.group(1), number, number, [Sub("", number, number)]))
            elif sections:
                sections[-1].subs.append(Sub(h3.group(1), number, number))
            block = None
        elif not sections:
            preamble.append((number, line))
            continue
        else:
            match = FENCE.match(line)
            if match and fence is None:
                fence = (number, match.group(1), match.group(2))
                block = new_block(True, match.group(2), number)
            elif match and not match.group(2) and len(match.group(1)) >= len(fence[1]):
                fence, block = None, None
            else:
                if block is None or block.code != (fence is not None):
                    block = new_block(fence is not None, fence[2] if fence else "", number)
                block.lines.append((number, line))
        sections[-1].end = number
        sections[-1].subs[-1].end = number
    if fence is not None:
        unclosed.append(UnclosedFence(fence[0], fence[2], 0))
    return SeedDocument(preamble, sections, unclosed, len(lines))


def markdown_hidden_headings(text: str, fence_line: int) -> tuple[int, list[tuple[int, str]]]:
    """CommonMark view of a fence opened at `fence_line`: where it really closes and which
    `##`/`###` headings it swallows on the way (0 when it never closes)."""
    lines = text.split("\n")
    opener = FENCE.match(lines[fence_line - 1])
    ticks = len(opener.group(1)) if opener else 3
    hidden: list[tuple[int, str]] = []
    for number in range(fence_line + 1, len(lines) + 1):
        line = lines[number - 1]
        match = FENCE.match(line)
        if match and not match.group(2) and len(match.group(1)) >= ticks:
            return number, hidden
        if H2.match(line) or H3.match(line):
            hidden.append((number, line.strip()))
    return 0, hidden


# --- pass 2: cards -------------------------------------------------------------------------------

def _split_top_level(text: str) -> tuple[str, ...]:
    """Split 'A(x, y), B, C(z)' on commas outside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return tuple(part for part in parts if part)


def _tables(sub: Sub) -> list[Table]:
    tables: list[Table] = []
    for block in sub.blocks:
        if block.code:
            continue
        run: list[tuple[int, str]] = []
        for number, line in block.lines + [(0, "")]:
            if line.lstrip().startswith("|"):
                run.append((number, line.strip()))
                continue
            if len(run) >= 2:
                cells = [[cell.strip() for cell in row.strip("|").split("|")] for _, row in run]
                body = [row for row in cells[1:] if not all(set(c) <= set("-: ") for c in row)]
                tables.append(Table(sub.title, tuple(cells[0]), tuple(tuple(r) for r in body),
                                    (run[0][0], run[-1][0])))
            run = []
    return tables


def _formulas(sub: Sub) -> list[Formula]:
    formulas: list[Formula] = []
    pending: dict | None = None

    def flush() -> None:
        if pending is not None:
            formulas.append(Formula(pending["label"], pending["name"], pending["text"],
                                    "\n".join(pending["note"]).strip(),
                                    (pending["start"], max(pending["end"], pending["start"]))))

    for block in sub.blocks:
        if block.code:
            if pending is not None and not pending["text"]:
                pending["text"] = block.text.strip("\n")
                pending["end"] = block.end + 1
            continue
        for number, line in block.lines:
            match = FORMULA.match(line.strip())
            if match:
                flush()
                pending = {"label": f"({match.group(1)})", "name": match.group(2), "text": "",
                           "note": [], "start": number, "end": number}
            elif pending is not None and pending["text"] and line.strip() not in ("", "---"):
                pending["note"].append(line.strip())
                pending["end"] = number
    flush()
    return formulas


def _algorithms(sub: Sub) -> list[Algorithm]:
    found: list[Algorithm] = []
    for block in sub.blocks:
        if not (block.code and block.lang == "python"):
            continue
        chunks: list[tuple[str | None, str, list[tuple[int, str]]]] = []
        for number, line in block.lines:
            match = ALGO.match(line)
            if match:
                chunks.append((match.group(1), match.group(2), [(number, line)]))
            elif chunks:
                chunks[-1][2].append((number, line))
            elif line.strip():
                chunks.append((None, sub.title, [(number, line)]))
        for num, name, body in chunks:
            while body and not body[-1][1].strip():
                body.pop()
            found.append(Algorithm(num, name, sub.title, "\n".join(t for _, t in body),
                                   (body[0][0], body[-1][0])))
    return found


_DATA = re.compile(r"^\s*data\s+(Effect|CoEffect)\b(.*)$")


def parse_grade_code(code: str) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """Constructors of `data Effect` and `data CoEffect`, and syntax problems found on the way."""
    result: dict[str, list[str]] = {"Effect": [], "CoEffect": []}
    problems: list[str] = []
    current: str | None = None
    text = ""
    decls: list[tuple[str, str]] = []
    for line in code.split("\n"):
        stripped = line.split("--")[0].rstrip()
        match = _DATA.match(stripped)
        if match:
            if current:
                decls.append((current, text))
            current, text = match.group(1), match.group(2)
        elif current and stripped.startswith((" ", "\t")) and stripped.strip():
            text += " " + stripped.strip()
        elif current and stripped.strip():
            decls.append((current, text))
            current, text = None, ""
    if current:
        decls.append((current, text))
    for name, body in decls:
        body = body.strip()
        if body.count("=") > 1:
            problems.append(f"`data {name}` has {body.count('=')} '=' (constructors after the "
                            "first must be separated by '|')")
        body = body.lstrip("=")
        for ctor in re.split(r"[|=]", body):
            ctor = " ".join(ctor.split())
            if ctor:
                result[name].append(ctor)
    return tuple(result["Effect"]), tuple(result["CoEffect"]), problems


@dataclass
class Card:
    paper: str
    title: str
    section: Section
    record: PaperRecord
    orphan_grades: list[Sub]


def parse_card(section: Section, defects: list[Defect]) -> Card:
    match = CARD.match(section.title)
    assert match is not None
    paper, title = match.group(1), match.group(2) or match.group(1)
    subs = section.subs[1:]
    titles = [sub.title for sub in subs]
    domain, effects, coeffects = "", (), ()
    schema = None
    formulas: list[Formula] = []
    algorithms: list[Algorithm] = []
    tables: list[Table] = []
    bounded: list[str] = []
    grade_subs = [sub for sub in subs if sub.title == "Grade Tracking"]
    for sub in subs:
        if sub.title == "Classification":
            for block in sub.blocks:
                for _, line in block.lines:
                    bullet = BULLET.match(line.strip())
                    if bullet and bullet.group(1) == "Domain":
                        domain = bullet.group(2)
                    elif bullet and bullet.group(1) == "Effect":
                        effects = _split_top_level(bullet.group(2))
                    elif bullet and bullet.group(1) == "Coeffect":
                        coeffects = _split_top_level(bullet.group(2))
        elif sub.title == "AST Schema":
            code = next((b for b in sub.blocks if b.code), None)
            if code is not None:
                try:
                    schema = json.loads(code.text)
                except json.JSONDecodeError as error:
                    defects.append(Defect("schema-json", code.start,
                                          f"AST Schema is not valid JSON: {error.msg}", paper))
        elif sub.title == "Bounded Types":
            bounded.extend(b.text for b in sub.blocks if b.code)
        if sub.title == "Key Formulas":
            formulas.extend(_formulas(sub))
        if sub.title not in NON_ALGORITHM_SECTIONS:
            algorithms.extend(_algorithms(sub))
        tables.extend(_tables(sub))
        for block in sub.blocks:
            boxes = [(n, CHECKBOX.match(l)) for n, l in block.lines if not block.code]
            boxes = [(n, m) for n, m in boxes if m]
            if boxes:
                defects.append(Defect("stray-checklist", boxes[0][0],
                                      f"progress checklist ({len(boxes)} items) pasted inside "
                                      f"{paper}: " + ", ".join(m.group(0)[2:] for _, m in boxes),
                                      paper))
    grades = None
    if grade_subs:
        own = grade_subs[0]
        code = "\n".join(b.text for b in own.blocks if b.code)
        g_eff, g_co, problems = parse_grade_code(code)
        if not g_eff and not g_co:   # some cards declare them under Bounded Types instead
            g_eff, g_co, problems = parse_grade_code("\n".join(bounded))
        for problem in problems:
            defects.append(Defect("grade-syntax", own.start, f"{paper} Grade Tracking: {problem}", paper))
        grades = Grades(g_eff, g_co, code, (own.start, own.end))
    present = set(titles)
    if algorithms:
        present.add("Core Algorithms")
    missing = tuple(name for name in EXPECTED_SECTIONS if name not in present)
    record = PaperRecord(
        id=paper, paper=paper, title=title, status="full" if algorithms else "stub",
        lines=(section.start, section.end), domain=domain, effects=effects, coeffects=coeffects,
        schema=schema, formulas=tuple(formulas), algorithms=tuple(algorithms),
        tables=tuple(tables), bounded_types="\n".join(bounded), grades=grades,
        sections=tuple(titles), missing_sections=missing)
    return Card(paper, title, section, record, grade_subs[1:])


@dataclass
class IndexRow:
    number: int
    paper: str
    domain: str
    key_algorithm: str
    status: str
    line: int


def parse_index(section: Section) -> list[IndexRow]:
    rows = []
    for sub in section.subs:
        for block in sub.blocks:
            for number, line in block.lines:
                match = INDEX_ROW.match(line.strip())
                if match:
                    cells = [c.strip() for c in match.group(3).split("|")]
                    cells += [""] * (3 - len(cells))
                    rows.append(IndexRow(int(match.group(1)), match.group(2), cells[0], cells[1],
                                         cells[2], number))
    return rows


__all__ = ["Card", "EXPECTED_SECTIONS", "IndexRow", "SeedDocument", "SeedParseError",
           "markdown_hidden_headings", "parse_card", "parse_grade_code", "parse_index",
           "split_document"]
