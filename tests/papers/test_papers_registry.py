"""Registry: parser against the real seed (skipped without it), shipped JSON, query API, CLI."""

from __future__ import annotations

import importlib
import json

import pytest

from thermo_manifold.cli import main as top_main
from thermo_manifold.papers.audit import parse_seed
from thermo_manifold.papers.parser import SeedParseError
from thermo_manifold.papers.registry import (DATA_FILE, build_registry, dumps, load_registry,
                                             registry_from_json)

CARDS = ["TYPE_BASED_ROUNDING", "PATHTRACING_SDF", "GEOMCLIPMAP", "CONSTRAINT_TRANSPORT",
         "DEEPSEEK_R1", "GAIA2_WORLD_MODEL", "PAN_WORLD_MODEL", "QWEN25_OMNI", "PRETRAINING_NVFP4",
         "OPEN_PROBLEMS_MECHANISTIC_INTERPRETABILITY", "GAIA2_WORLD_MODEL#2", "PAN_WORLD_MODEL#2",
         "TERAAGENT_SIMULATION", "DREAMER4_WORLD_MODEL", "MINMO_VOICE", "MULTIMODAL_GUI",
         "GAMEFACTORY", "FP4_ALL_THE_WAY", "WORLDGEN_3D", "DEPTH_ANYTHING_3", "GAMEFACTORY#2",
         "SPATIA_VIDEO_MEMORY", "COSYVOICE2_TTS"]
MISSING = {"FOUR_OVER_SIX", "CLOTH_COLLISIONS_GPU", "TTM_TIME_TO_MOVE", "QUARTET_FP4",
           "MATSEG_MATERIAL_STATES", "WORLDGEN"}


# --- the real seed --------------------------------------------------------------------------

def test_parser_finds_every_card_in_order(parsed):
    cards = [r.id for r in parsed.records if r.status in ("full", "stub")]
    assert cards == CARDS


def test_six_missing_papers_recovered_from_their_orphan_grade_blocks(parsed):
    recovered = {r.id: r for r in parsed.records if r.status == "grade_only"}
    assert set(recovered) == MISSING
    expected_effect = {"FOUR_OVER_SIX": "ComputeNVFP4", "CLOTH_COLLISIONS_GPU": "SimulateCloth",
                       "TTM_TIME_TO_MOVE": "ControlMotion", "QUARTET_FP4": "MXFP4GEMM",
                       "MATSEG_MATERIAL_STATES": "SegmentMaterials", "WORLDGEN": "GenerateWorld"}
    for paper, effect in expected_effect.items():
        assert recovered[paper].grades.attributed
        assert effect in recovered[paper].grades.effects
    missing = {d.paper for d in parsed.defects if d.kind == "missing-paper"}
    assert missing == MISSING


def test_every_named_defect_is_reported(parsed):
    by_kind: dict[str, list] = {}
    for d in parsed.defects:
        by_kind.setdefault(d.kind, []).append(d)
    fences = by_kind["unclosed-fence"]
    assert [d.line for d in fences] == [3908, 5623]
    assert "DREAMER4_WORLD_MODEL" in fences[0].message and "SPATIA_VIDEO_MEMORY" in fences[1].message
    duplicates = {d.paper: d.message for d in by_kind["duplicate-card"]}
    assert set(duplicates) == {"GAIA2_WORLD_MODEL", "PAN_WORLD_MODEL", "GAMEFACTORY"}
    assert all("differences: title" in m for m in duplicates.values())
    assert "stub at lines 4664-4684 and full" in duplicates["GAMEFACTORY"]
    assert {d.paper for d in by_kind["unindexed-card"]} == {
        "MINMO_VOICE", "MULTIMODAL_GUI", "SPATIA_VIDEO_MEMORY", "COSYVOICE2_TTS"}
    counts = " ".join(d.message for d in by_kind["index-count"])
    assert "claims 25 completed" in counts and "claims 23 complete" in counts
    assert "says 21 but its table says 38" in counts


def test_records_carry_fields_and_line_ranges(parsed, seed_text):
    lines = seed_text.split("\n")
    sdf = next(r for r in parsed.records if r.id == "PATHTRACING_SDF")
    assert sdf.domain == "Computer Graphics / Ray Tracing"
    assert sdf.effects == ("Render(SDF)", "Intersect(Ray)", "Compute(Normal)")
    assert sdf.schema["algorithm"] == "SDFPathTracing"
    assert [a.number for a in sdf.algorithms] == ["1", "2", "3", "4", "5", "6"]
    for algorithm in sdf.algorithms:
        assert lines[algorithm.lines[0] - 1].strip().startswith("# Algorithm")
    for record in parsed.records:
        start, end = record.lines
        assert 1 <= start <= end <= len(lines)
        if record.status in ("full", "stub"):
            assert lines[start - 1].startswith(f"## {record.paper}")


def test_shipped_registry_equals_a_fresh_build(seed_text):
    fresh = dumps(build_registry(seed_text, "000_109aee671378a0b2.txt"))
    assert DATA_FILE.read_text(encoding="utf-8") == fresh, "run `thermo-manifold papers build`"


# --- the shipped JSON (always runs) ----------------------------------------------------------

def test_shipped_registry_is_valid_and_complete():
    registry = load_registry()
    assert len(registry.records) == 29 == registry.summary["records"]
    assert registry.summary["cards"] == 23
    assert len(set(registry.ids)) == len(registry.ids)
    assert {r.id for r in registry.records if r.status == "grade_only"} == MISSING
    for record in registry.records:
        assert record.to_json() == json.loads(json.dumps(record.to_json()))


# Every (record id, kernel) link, written out from the @implements decorators in
# papers/kernels/*.py and the per-kernel table of docs/papers.md. GAIA2's kernels serve both of
# its cards; QUARTET_FP4 has no card but keeps its MXFP4 kernel.
K = "thermo_manifold.papers.kernels."
EXPECTED_LINKS = {
    ("TYPE_BASED_ROUNDING", "rounding:forward_error_grade"),
    ("TYPE_BASED_ROUNDING", "rounding:relative_precision"),
    ("PATHTRACING_SDF", "sdf:cubic_coefficients"), ("PATHTRACING_SDF", "sdf:gradient"),
    ("PATHTRACING_SDF", "sdf:shadow"), ("PATHTRACING_SDF", "sdf:solve_polynomial"),
    ("PATHTRACING_SDF", "sdf:trace_ray"),
    ("GEOMCLIPMAP", "clipmap:ClipLevel.move_to"), ("GEOMCLIPMAP", "clipmap:memory_bytes"),
    ("GEOMCLIPMAP", "clipmap:morph_weight"), ("GEOMCLIPMAP", "clipmap:toroidal_index"),
    ("CONSTRAINT_TRANSPORT", "constraint_transport:advect"),
    ("CONSTRAINT_TRANSPORT", "constraint_transport:entropy_bits"),
    ("CONSTRAINT_TRANSPORT", "constraint_transport:select_precision"),
    ("DEEPSEEK_R1", "grpo:clipped_surrogate"), ("DEEPSEEK_R1", "grpo:group_advantages"),
    ("DEEPSEEK_R1", "grpo:k3_kl"),
    ("GAIA2_WORLD_MODEL", "gaia:compression_ratio"), ("GAIA2_WORLD_MODEL", "gaia:sample_flow_time"),
    ("GAIA2_WORLD_MODEL", "gaia:symlog_scaled"),
    ("GAIA2_WORLD_MODEL#2", "gaia:compression_ratio"), ("GAIA2_WORLD_MODEL#2", "gaia:sample_flow_time"),
    ("GAIA2_WORLD_MODEL#2", "gaia:symlog_scaled"),
    ("QWEN25_OMNI", "fsq:tmrope_position_ids"),
    ("PRETRAINING_NVFP4", "fp4:layer_precision"), ("PRETRAINING_NVFP4", "fp4:quantize_nvfp4"),
    ("PRETRAINING_NVFP4", "fp4:random_hadamard"), ("PRETRAINING_NVFP4", "fp4:stochastic_round_e2m1"),
    ("TERAAGENT_SIMULATION", "teraagent:aura_mask"), ("TERAAGENT_SIMULATION", "teraagent:delta_encode"),
    ("TERAAGENT_SIMULATION", "teraagent:diffusive_balance"),
    ("TERAAGENT_SIMULATION", "teraagent:partition_domain"),
    ("DREAMER4_WORLD_MODEL", "dreamer:lambda_returns"), ("DREAMER4_WORLD_MODEL", "dreamer:shortcut_schedule"),
    ("DREAMER4_WORLD_MODEL", "dreamer:symexp"), ("DREAMER4_WORLD_MODEL", "dreamer:twohot_encode"),
    ("DREAMER4_WORLD_MODEL", "dreamer:x_to_v"),
    ("FP4_ALL_THE_WAY", "fp4:round_e2m1"),
    ("COSYVOICE2_TTS", "fsq:fsq_encode"), ("COSYVOICE2_TTS", "fsq:fsq_quantize"),
    ("QUARTET_FP4", "fp4:quantize_mxfp4"),
}
VALID_KINDS = {"effects": {"pure", "random", "rounding", "allocates", "stateful"},
               "coeffects": {"precision", "generator", "parameter", "input_domain"},
               "grades": {"forward_error_bound", "sensitivity", "exact", "unbiased", "lossless", "conserves"}}


def _resolve(qualname: str):
    module, _, name = qualname.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_implementation_is_linked_importable_and_typed():
    from thermo_manifold.papers.metadata import all_implementations

    registry = load_registry()
    shipped = {(r.id, i["qualname"].removeprefix(K)) for r in registry.records for i in r.implementations}
    assert shipped == EXPECTED_LINKS
    # The live decorators say the same (paper = the record id without its "#n")...
    live = {(impl.paper, q.removeprefix(K)) for q, impl in all_implementations().items()}
    assert live == {(rid.partition("#")[0], q) for rid, q in EXPECTED_LINKS}
    assert registry.summary["implementations"] == len({q for _, q in EXPECTED_LINKS}) == 38
    for record in registry.records:
        for impl in record.implementations:
            # ...each link names the record's own paper, resolves to the decorated object...
            assert impl["paper"] == record.paper
            obj = _resolve(impl["qualname"])
            assert f"{obj.__module__}:{obj.__qualname__}" == impl["qualname"]
            # ...and carries metadata of the documented kinds, with a non-empty oracle.
            assert impl["summary"] and impl["oracle"]
            for field, kinds in VALID_KINDS.items():
                assert {item["kind"] for item in impl[field]} <= kinds, (impl["qualname"], field)
            assert impl["effects"], f"{impl['qualname']} declares no effect"


def test_bad_record_is_rejected_naming_the_field():
    document = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    document["records"][0]["status"] = "finished"
    with pytest.raises(ValueError, match="status must be one of"):
        registry_from_json(document)


def test_query_api():
    registry = load_registry()
    # A paper name gives every card, even though the first card's id is that very name.
    for paper in ("GAIA2_WORLD_MODEL", "PAN_WORLD_MODEL", "GAMEFACTORY"):
        assert [r.id for r in registry.get(paper)] == [paper, f"{paper}#2"]
    assert [r.id for r in registry.get("gaia2_world_model")] == ["GAIA2_WORLD_MODEL", "GAIA2_WORLD_MODEL#2"]
    assert [r.id for r in registry.get("GAIA2_WORLD_MODEL#2")] == ["GAIA2_WORLD_MODEL#2"]
    assert [r.id for r in registry.get("PATHTRACING_SDF")] == ["PATHTRACING_SDF"]
    assert registry.get("NO_SUCH_PAPER") == [] and registry.get("GAIA2_WORLD_MODEL#3") == []
    hits = {r.id for r, _ in registry.search("stochastic rounding")}
    assert "PRETRAINING_NVFP4" in hits and "DEEPSEEK_R1" not in hits


# --- a synthetic seed: parser robustness without the real file ------------------------------

MINI = """# Title
**Status**: 2 OF 3 COMPLETE

## COMPLETED ALGORITHMS (3)
| ID | Paper | Domain | Key Algorithm | Status |
|----|-------|--------|---------------|--------|
| 01 | ALPHA | D1 | thing | ok |
| 02 | GHOST_PAPER | Ghost Domain | spooky haunting | ok |

## ALPHA (First)
### Classification
- **Domain**: Maths
- **Effect**: Add(One), Mul(Two, Three)
- **Coeffect**: Precision
### Bounded Types
```purescript
newtype X = X Int

## BETA (Hidden by the fence)
### Classification
- **Domain**: Other
### Core Algorithms
```python
# Algorithm 1: Do It
def f(): pass
```
### Grade Tracking
```purescript
data Effect = Compute
```
### Grade Tracking
```purescript
data Effect
  = HauntGhost
  = SpookyThing
```

## ALPHA (Again)
### Classification
- **Domain**: Maths too
"""


def test_synthetic_seed_defects_and_records():
    parsed = parse_seed(MINI, "mini")
    ids = [r.id for r in parsed.records]
    assert ids == ["ALPHA", "BETA", "ALPHA#2", "GHOST_PAPER"]
    kinds = {d.kind for d in parsed.defects}
    assert {"unclosed-fence", "duplicate-card", "unindexed-card", "missing-paper",
            "orphan-grade-block", "grade-syntax", "index-count"} <= kinds
    fence = next(d for d in parsed.defects if d.kind == "unclosed-fence")
    assert fence.line == 16 and "BETA" in fence.message
    ghost = parsed.records[-1]
    assert ghost.status == "grade_only" and ghost.grades.effects == ("HauntGhost", "SpookyThing")
    assert parsed.records[0].effects == ("Add(One)", "Mul(Two, Three)")
    beta = parsed.records[1]
    assert beta.algorithms[0].name == "Do It" and beta.status == "full"


def test_not_a_seed_is_a_parse_failure():
    with pytest.raises(SeedParseError):
        parse_seed("# just a heading\n\nsome text\n", "x")


# --- CLI -------------------------------------------------------------------------------------

def test_cli_list_show_search(capsys):
    assert top_main(["papers", "list"]) == 0
    out = capsys.readouterr().out
    assert "PATHTRACING_SDF" in out and "29 records" in out
    assert top_main(["papers", "show", "TYPE_BASED_ROUNDING"]) == 0
    out = capsys.readouterr().out
    assert "forward_error_bound" in out and "rounding:forward_error_grade" in out
    assert "fixes seed: binary16 unit roundoff u = 2^-11" in out
    assert top_main(["papers", "search", "toroidal"]) == 0
    assert "GEOMCLIPMAP" in capsys.readouterr().out


def test_cli_unknown_id_is_one_line_error(capsys):
    assert top_main(["papers", "show", "NOPE"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NOPE" in err[0]


def test_cli_missing_seed_names_path_and_env(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("THERMO_MANIFOLD_SEEDS", str(tmp_path))
    for command in ("validate", "build"):
        assert top_main(["papers", command]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(tmp_path) in err[0] and "THERMO_MANIFOLD_SEEDS" in err[0]


def test_cli_validate_exit_codes(capsys, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("nothing here\n", encoding="utf-8")
    assert top_main(["papers", "validate", "--seed", str(bad)]) == 1
    assert "parse failure" in capsys.readouterr().err
    good = tmp_path / "mini.txt"
    good.write_text(MINI, encoding="utf-8")
    assert top_main(["papers", "validate", "--seed", str(good)]) == 0
    out = capsys.readouterr().out
    assert "[unclosed-fence]" in out and "[missing-paper]" in out


def test_cli_build_refuses_a_seed_missing_linked_papers(tmp_path, capsys):
    good = tmp_path / "mini.txt"
    good.write_text(MINI, encoding="utf-8")
    target = tmp_path / "out.json"
    # the kernels claim papers the mini seed lacks: a build must not silently drop their links
    assert top_main(["papers", "build", "--seed", str(good), "--output", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "claims paper" in err[0] and not target.exists()


def test_cli_validate_real_seed(seed_text, capsys):
    assert top_main(["papers", "validate"]) == 0
    out = capsys.readouterr().out
    # 47 found by the parser, 38 formula errors placed from the kernels' `fixes`
    assert "85 defects" in out and "formula 38" in out and "shipped registry: up to date" in out
