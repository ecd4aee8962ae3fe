"""The seed's formula errors that the kernels fix, reported by `papers validate` at their lines."""

from __future__ import annotations

import re

from thermo_manifold.cli import main as top_main
from thermo_manifold.papers.audit import KERNELS, formula_defects, parse_seed
from thermo_manifold.papers.metadata import Implementation, all_implementations

# (seed line, the wrong formula as the seed writes it, kernel that fixes it). The lines were
# read off the seed with `grep -nF` and `sed -n 'Np'`, not produced by the code under test.
KNOWN_ERRORS = [
    (491, "a = s101 - s000", "sdf:cubic_coefficients"),                       # k-constant a
    (532, "p = (3*c1 - c2*c2) / 9", "sdf:solve_polynomial"),                  # Vieta's p
    (586, "z0 = lerp(y, s001-s000, s101-s100)", "sdf:gradient"),              # normal's df/dz
    (1320, "ratio = policy.log_prob(o) - policy_old.log_prob(o)", "grpo:clipped_surrogate"),  # no exp
    (4746, "scale = x_abs_max / (M_FP4 * M_FP8 / M_FP4)", "fp4:quantize_nvfp4"),              # amax/448
    (1585, "tau = np.clip(tau, 0.01, 0.99)", "gaia:sample_flow_time"),        # clamp, not sigmoid
    (3260, "tau = clamp(tau, 0.01, 0.99)", "gaia:sample_flow_time"),          # (second GAIA2 card)
    (385, "| Binary16    -- u ≈ 0.0009765625", "rounding:forward_error_grade"),  # u = 2^-10
]
FORMULA_LINE = re.compile(r"^line +(\d+) \[formula\] (.*)$")


def _formula_lines(out: str) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for line in out.splitlines():
        match = FORMULA_LINE.match(line)
        if match:
            found.setdefault(int(match.group(1)), []).append(match.group(2))
    return found


def test_the_oracle_lines_hold_the_wrong_formulas(seed_text):
    lines = seed_text.split("\n")
    for number, wrong, _ in KNOWN_ERRORS:
        assert lines[number - 1].strip() == wrong, number


def test_validate_reports_each_known_formula_error_at_its_line(seed_text, capsys):
    assert top_main(["papers", "validate"]) == 0
    found = _formula_lines(capsys.readouterr().out)
    for number, wrong, kernel in KNOWN_ERRORS:
        messages = found.get(number, [])
        assert any(f"[fixed in {kernel}]" in m and " ".join(wrong.split()) in m for m in messages), \
            (number, messages)


def test_every_fix_of_every_kernel_is_placed_on_a_line_that_quotes_the_seed(parsed, seed_text):
    impls = list(all_implementations().values())
    defects = formula_defects(parsed.records, impls, seed_text)
    assert not [d.message for d in defects if "not located" in d.message]
    fixes = {fix for impl in impls for fix in impl.fixes}
    assert {fix for fix in fixes if any(fix in d.message for d in defects)} == fixes
    lines = seed_text.split("\n")
    for defect in defects:
        quoted = re.search(r"seed has `(.*?)`;", defect.message).group(1)
        assert quoted == " ".join(lines[defect.line - 1].split())
        record = next(r for r in parsed.records if r.lines[0] <= defect.line <= r.lines[1]
                      and r.status in ("full", "stub"))
        assert record.paper == defect.paper


MINI = """# Title
## COMPLETED ALGORITHMS (1)
| ID | Paper | Domain | Key Algorithm | Status |
|----|-------|--------|---------------|--------|
| 01 | PATHTRACING_SDF | SDF | cubic | ok |

## PATHTRACING_SDF (Rewritten)
### Classification
- **Domain**: Graphics
### Core Algorithms
```python
# Algorithm 1: Coefficients
a = s101 - s001
```
"""


def _impl(qualname: str, fix: str) -> Implementation:
    return Implementation(paper="PATHTRACING_SDF", qualname=KERNELS + qualname, summary="s",
                          oracle="o", fixes=(fix,))


def test_a_fix_whose_line_is_gone_is_still_reported_and_says_so():
    parsed = parse_seed(MINI, "mini")
    # The seed was corrected, so the entry's text is not in the card any more.
    fixed = _impl("sdf:cubic_coefficients", "k-constant a = s101 - s001")
    gone = formula_defects(parsed.records, [fixed], MINI)
    # A fix the table knows nothing about.
    unknown = formula_defects(parsed.records, [_impl("sdf:new_kernel", "a new fix")], MINI)
    for defects, why in ((gone, "`a = s101 - s000` is not in its card"), (unknown, "no entry")):
        assert len(defects) == 1
        assert defects[0].kind == "formula" and defects[0].line == 7 and why in defects[0].message
