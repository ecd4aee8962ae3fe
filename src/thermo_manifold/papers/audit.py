"""Pass 3: cross-card checks and the final record list; the seed's known formula errors.

`parse_seed` turns seed text into records plus every defect PAPERS.md names: papers the index
claims but that have no card (recovered from orphan Grade Tracking blocks), duplicate cards with
their differences, cards missing from the index, unclosed fences and index counts that disagree.

`formula_defects` turns the `fixes` of the reference kernels (their `@implements` metadata) into
defects at the seed lines that hold the wrong formulas. The kernels say what is wrong; `SEED_ERRORS`
says where: for each fix, the seed's own text of the wrong line, searched for in the card, so the
line number is found in the seed rather than written down.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, replace

from thermo_manifold.papers.metadata import Implementation
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


# --- formula errors the kernels fix ---------------------------------------------------------

KERNELS = "thermo_manifold.papers.kernels."


@dataclass(frozen=True)
class SeedError:
    """Where the seed writes the wrong formula that one `fixes` entry of a kernel corrects."""

    kernel: str                          # qualname without the KERNELS prefix
    fix: str                             # words that occur in that `fixes` entry
    sites: tuple[tuple[str, str], ...]   # (paper whose cards hold it, the seed's text of the line)


SEED_ERRORS: tuple[SeedError, ...] = (
    SeedError("sdf:cubic_coefficients", "k-constant a", (("PATHTRACING_SDF", "a = s101 - s000"),)),
    SeedError("sdf:solve_polynomial", "mixes two normalisations",
              (("PATHTRACING_SDF", "p = (3*c1 - c2*c2) / 9"),)),
    SeedError("sdf:solve_polynomial", "dividing by c3", (("PATHTRACING_SDF", "if abs(c3) > 1e-10:"),)),
    SeedError("sdf:solve_polynomial", "p~0 branch",
              (("PATHTRACING_SDF", "roots.append(cbrt(-c0) - c2/3)"),
               ("PATHTRACING_SDF", "theta = acos(-q/2 / sqrt(-p*p*p/27))"))),
    SeedError("sdf:gradient", "df/dz", (("PATHTRACING_SDF", "z0 = lerp(y, s001-s000, s101-s100)"),)),
    SeedError("sdf:shadow", "sphere-traces",
              (("PATHTRACING_SDF", "if can_skip_to_next_voxel(d, direction):"),)),
    SeedError("sdf:trace_ray", "fixed voxel_size",
              (("PATHTRACING_SDF", "valid = [r for r in roots if r > 0 and r < 1]"),
               ("PATHTRACING_SDF", "t += voxel_size"))),
    SeedError("clipmap:ClipLevel.move_to", "update_L_region",
              (("GEOMCLIPMAP", "x_min = min(old_clip.x_min, new_clip.x_min)"),)),
    SeedError("clipmap:ClipLevel.move_to", "not snapped",
              (("GEOMCLIPMAP", "'x_min': viewer_pos.x - half_size,"),)),
    SeedError("clipmap:toroidal_index", "floor modulo", (("GEOMCLIPMAP", "return array[x % n][y % n]"),)),
    SeedError("constraint_transport:advect", "without dt",
              (("CONSTRAINT_TRANSPORT", "x_back = i - velocity[i, j, 0]"),)),
    SeedError("constraint_transport:entropy_bits", "natural log",
              (("CONSTRAINT_TRANSPORT", "H = -np.sum(p * np.log(p + 1e-10))"),)),
    SeedError("dreamer:lambda_returns", "V[t+1]",
              (("DREAMER4_WORLD_MODEL", "R_λ[t] = r[t] + γ * ((1 - λ) * V[t] + λ * R_λ[t+1])"),)),
    SeedError("dreamer:shortcut_schedule", "[1, 2, 4, 8, K_max]",
              (("DREAMER4_WORLD_MODEL", "k = np.random.choice([1, 2, 4, 8, K_max])"),)),
    SeedError("dreamer:twohot_encode", "clamp symlog(x)", (("DREAMER4_WORLD_MODEL", "x_log = symlog(x)"),)),
    SeedError("fp4:quantize_nvfp4", "amax / 448",
              (("FP4_ALL_THE_WAY", "scale = x_abs_max / (M_FP4 * M_FP8 / M_FP4)"),)),
    SeedError("fp4:random_hadamard", "unnormalised Hadamard",
              (("PRETRAINING_NVFP4", "transformed = tensor @ (H @ D)"),)),
    SeedError("fp4:round_e2m1", "E4M3 (1-4-3)",
              (("FP4_ALL_THE_WAY", "Format: 1 sign bit, 4 exponent bits, 3 mantissa bits"),)),
    SeedError("fp4:stochastic_round_e2m1", "bernoulli(frac)",
              (("PRETRAINING_NVFP4", "result = floor + prob"),
               ("FP4_ALL_THE_WAY", "scale_factor = 2 ** mantissa_bits"))),
    SeedError("fsq:fsq_encode", "negative and colliding",
              (("COSYVOICE2_TTS", "Token_Index = Σ_{j=0}^{D-1} ĥ_j × (2K + 1)^j"),)),
    SeedError("fsq:fsq_quantize", "unbounded projection",
              (("COSYVOICE2_TTS", "H_quantized = ROUND(ProjDown(H))"),)),
    SeedError("fsq:tmrope_position_ids", "milliseconds",
              (("QWEN25_OMNI", "return torch.arange(0, duration_ms, 40)"),)),
    SeedError("fsq:tmrope_position_ids", "(T, -1) expand",
              (("QWEN25_OMNI", "return torch.arange(T).unsqueeze(-1).expand(T, -1)"),)),
    SeedError("gaia:compression_ratio", "~400x",
              (("GAIA2_WORLD_MODEL", "compression_ratio = (Tv×Hv×Wv×3)/(T×H×W×L) ≈ 400×"),)),
    SeedError("gaia:sample_flow_time", "clamps it",
              (("GAIA2_WORLD_MODEL", "tau = np.clip(tau, 0.01, 0.99)"),
               ("GAIA2_WORLD_MODEL", "tau = clamp(tau, 0.01, 0.99)"),
               ("GAIA2_WORLD_MODEL", "tau = clamp(tau, 0.001, 0.1)"))),
    SeedError("grpo:clipped_surrogate", "forgets exp",
              (("DEEPSEEK_R1", "ratio = policy.log_prob(o) - policy_old.log_prob(o)"),)),
    SeedError("grpo:group_advantages", "adds 1e-8", (("DEEPSEEK_R1", "std_r = np.std(rewards) + 1e-8"),)),
    SeedError("rounding:forward_error_grade", "binary16 unit roundoff",
              (("TYPE_BASED_ROUNDING", "| Binary16 -- u ≈ 0.0009765625"),)),
    SeedError("rounding:forward_error_grade", "errors of a sum",
              (("TYPE_BASED_ROUNDING", "total_error = e1 + e2 + unit_roundoff()"),)),
    SeedError("rounding:forward_error_grade", "product rule",
              (("TYPE_BASED_ROUNDING", "total_error = s1 * e2 + s2 * e1 + e1 * e2 + unit_roundoff()"),)),
    SeedError("rounding:forward_error_grade", "u/(1-u)",
              (("TYPE_BASED_ROUNDING", "local_error = unit_roundoff * complexity(term)"),)),
    SeedError("teraagent:delta_encode", "(i, 0)",
              (("TERAAGENT_SIMULATION", "result.append((i, 0)) # Placeholder"),)),
    SeedError("teraagent:delta_encode", "arithmetic delta",
              (("TERAAGENT_SIMULATION", "result.append((i, msg_node.value - ref_node.value))"),)),
)


def _squeeze(text: str) -> str:
    # Compare lines with runs of whitespace collapsed: the seed aligns comments with spaces.
    return " ".join(text.split())


def _find_line(records: list[PaperRecord], lines: list[str], needle: str) -> int | None:
    """First seed line (1-based) inside one of `records` whose text contains `needle`."""
    wanted = _squeeze(needle)
    for record in records:
        for number in range(record.lines[0], record.lines[1] + 1):
            if wanted in _squeeze(lines[number - 1]):
                return number
    return None


def _place(record: PaperRecord, line: int) -> str:
    """'CARD, Algorithm 2 (Name)' or 'CARD, formula (1) Name': the part of the card at `line`."""
    for algorithm in record.algorithms:
        if algorithm.lines[0] <= line <= algorithm.lines[1]:
            if algorithm.number is None:   # unnumbered pseudo-code is named after its section
                return f"{record.id}, pseudo-code under '{algorithm.name}'"
            return f"{record.id}, Algorithm {algorithm.number} ({algorithm.name})"
    for formula in record.formulas:
        if formula.lines[0] <= line <= formula.lines[1]:
            return f"{record.id}, formula {formula.label} {formula.name}"
    return record.id


def _unplaced(records: tuple[PaperRecord, ...], paper: str, fix: str, kernel: str,
              why: str) -> Defect:
    # Still report a known error whose line cannot be found, at its paper's first line.
    anchor = next((r.lines[0] for r in records if r.paper == paper), 1)
    return Defect("formula", anchor, f"{paper}: {fix} [fixed in {kernel}; seed line not located: "
                  f"{why}]", paper)


def _site_defect(records: tuple[PaperRecord, ...], lines: list[str], site: tuple[str, str],
                 fix: str, kernel: str) -> Defect:
    paper, needle = site
    cards = [r for r in records if r.paper == paper]
    line = _find_line(cards, lines, needle)
    if line is None:
        return _unplaced(records, paper, fix, kernel, f"`{needle}` is not in its card")
    record = next(r for r in cards if r.lines[0] <= line <= r.lines[1])
    return Defect("formula", line, f"{_place(record, line)}: seed has `{_squeeze(lines[line - 1])}`; "
                  f"{fix} [fixed in {kernel}]", paper)


def formula_defects(records: tuple[PaperRecord, ...], implementations: list[Implementation],
                    text: str) -> list[Defect]:
    """One `formula` defect per seed line that a kernel's `fixes` entry corrects."""
    lines = text.split("\n")
    found: list[Defect] = []
    for impl in implementations:
        kernel = impl.qualname.removeprefix(KERNELS)
        for fix in impl.fixes:
            sites = [site for entry in SEED_ERRORS if entry.kernel == kernel and entry.fix in fix
                     for site in entry.sites]
            if not sites:
                found.append(_unplaced(records, impl.paper, fix, kernel,
                                       "audit.SEED_ERRORS has no entry for it"))
            found.extend(_site_defect(records, lines, site, fix, kernel) for site in sites)
    return found


__all__ = ["KERNELS", "ParsedSeed", "SEED_ERRORS", "SeedError", "formula_defects", "parse_seed", "words"]
