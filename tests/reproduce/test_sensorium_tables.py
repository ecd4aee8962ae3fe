"""The sensorium entries' renderers on small hand-made results (no experiment runs)."""

from __future__ import annotations

import json

from thermo_manifold.reproduce import sensorium_tables as st
from thermo_manifold.sensorium.harness import EXPERIMENTS


def _raw(name: str, caption: str, columns: list[str], rows: list[dict], **extras) -> dict:
    return {"experiment": name, "quick": False, "seed": 0, "config": {"steps": 1500},
            "environment": {"python": "3.11.7", "statsmodels": "0.15.0",
                            "scikit-learn": "1.9.1", "espeak-ng": None},
            "load_average_1min": [4.5, 6.25],
            "metrics": {"tables": {name: {"caption": caption, "columns": columns, "rows": rows}},
                        "comparisons": [], "skipped_sources": extras.pop("skipped", []),
                        "seconds": 10.4, "seed": 0, "quick": False, "extras": extras}}


NEXT_TOKEN = _raw(
    "next_token", "Next-byte prediction on pydoc_data.topics: 264 training bytes, 600 test bytes.",
    ["method", "bits_per_byte", "accuracy"],
    [{"method": "manifold (calibrated softmax)", "bits_per_byte": 9.115, "accuracy": 5 / 600},
     {"method": "manifold (seed softmax T=0.5)", "bits_per_byte": 26.87, "accuracy": 5 / 600},
     {"method": "uniform", "bits_per_byte": 8.0, "accuracy": 1 / 256},
     {"method": "unigram", "bits_per_byte": 4.795, "accuracy": 0.145},
     {"method": "zlib", "bits_per_byte": 3.133, "accuracy": "nan"}],
    source="pydoc_data.topics", test_bytes=600)


def _blocks(raw: dict) -> dict[str, str]:
    entry = st.ENTRIES[st.EXPERIMENTS.index(raw["experiment"])]
    return entry.render(raw)


def test_one_entry_per_experiment_with_a_table_and_a_comparison_block():
    assert st.EXPERIMENTS == EXPERIMENTS
    assert [e.name for e in st.ENTRIES] == [f"sensorium.{n}" for n in EXPERIMENTS]
    for entry in st.ENTRIES:
        assert entry.doc == "sensorium.md"
        assert entry.blocks == (entry.name, f"{entry.name}.vs")
        assert entry.sources == st.sources(entry.name.split(".")[1])  # tests/reproduce/test_imports
        (command,) = entry.commands(False)
        assert command.startswith(f"thermo-manifold experiment {entry.name.split('.')[1]} --seed 0")
        assert "--quick" not in command and "--quick" in entry.commands(True)[0]


def test_table_block_shows_caption_rows_sources_and_wall_time():
    block = _blocks(NEXT_TOKEN)["sensorium.next_token"]
    assert "`thermo-manifold experiment next_token --seed 0`, the seed's (full) settings." in block
    assert "Next-byte prediction on pydoc_data.topics: 264 training bytes, 600 test bytes." in block
    assert "| method | bits_per_byte | accuracy |" in block
    assert "| manifold (calibrated softmax) | 9.115 | 0.008333 |" in block
    assert "| zlib | 3.133 | nan |" in block
    assert "Text: `pydoc_data.topics` of Python 3.11.7." in block
    assert "Experiment wall time 10 s; 1-minute load average 4.5 before and 6.25 after the run." in block


def test_comparison_block_says_what_the_manifold_beats_and_loses_to():
    block = _blocks(NEXT_TOKEN)["sensorium.next_token.vs"]
    assert ("- bits per byte on the test part (lower is better): manifold (calibrated softmax) "
            "9.115: loses to uniform (8), unigram (4.795), zlib (3.133).") in block
    # zlib has no accuracy (nan) and is left out; the hit count comes from test_bytes.
    assert ("- accuracy (higher is better): manifold (calibrated softmax) 0.008333 (5 of 600 test "
            "bytes): beats uniform (0.003906); loses to unigram (0.145).") in block
    assert "- manifold (seed softmax T=0.5), on the same predictions: 26.87 bits per byte." in block


def test_verdicts_group_beats_ties_and_losses_and_skip_missing_values():
    text = st.verdicts(2.0, [("a", 1.0), ("b", 2), ("c", 3.0), ("d", "nan"), ("e", None)],
                       higher_is_better=True)
    assert text == "beats a (1); ties b (2); loses to c (3)"
    assert st.verdicts(2.0, [("a", 1.0)], higher_is_better=False) == "loses to a (1)"
    assert st.verdicts(2.0, [("d", "nan")], higher_is_better=False) == "no baseline with a finite value"


def test_timeseries_compares_within_each_series_and_gives_the_mae_ratio():
    rows = [{"series": s, "method": m, "accuracy": a, "mae": mae, "mse": mae * mae}
            for s, m, a, mae in (("co2", "manifold", 0.0, 90.0), ("co2", "persistence", 0.2, 1.5),
                                 ("co2", "AR(52) least squares", 0.0, 3.0),
                                 ("synthetic", "manifold", 0.1, 10.0),
                                 ("synthetic", "persistence", 0.1, 20.0))]
    raw = _raw("timeseries", "Next-value prediction.", ["series", "method", "accuracy", "mae", "mse"],
               rows, series_run=["co2", "synthetic"])
    blocks = _blocks(raw)
    assert ("- co2, MAE (lower is better): manifold 90: loses to persistence (1.5), AR(52) least "
            "squares (3); manifold MAE / baseline MAE 30 to 60.") in blocks["sensorium.timeseries.vs"]
    assert ("- synthetic, exact-byte accuracy (higher is better): manifold 0.1: ties persistence "
            "(0.1).") in blocks["sensorium.timeseries.vs"]
    assert ("- synthetic, MAE (lower is better): manifold 10: beats persistence (20); manifold "
            "MAE / baseline MAE 0.5 to 0.5.") in blocks["sensorium.timeseries.vs"]
    assert ("Series run: co2, synthetic (the real series come from statsmodels "
            "0.15.0).") in blocks["sensorium.timeseries"]


def test_cocktail_party_names_the_voices_and_the_skipped_source():
    raw = _raw("cocktail_party", "Two-voice separation.",
               ["method", "si_sdr_a_db", "si_sdr_b_db", "si_sdr_mean_db"],
               [{"method": "manifold (masked carriers)", "si_sdr_a_db": -40.0, "si_sdr_b_db": -30.0,
                 "si_sdr_mean_db": -35.0},
                {"method": "mixture as estimate", "si_sdr_a_db": 0.0, "si_sdr_b_db": -0.5,
                 "si_sdr_mean_db": -0.25}],
               voices="synthetic",
               skipped=[{"source": "espeak-ng voices", "reason": "espeak-ng is not on PATH"}])
    blocks = _blocks(raw)
    assert "Voices: synthetic (espeak-ng is not installed here)." in blocks["sensorium.cocktail_party"]
    assert "Skipped: espeak-ng voices (espeak-ng is not on PATH)." in blocks["sensorium.cocktail_party"]
    assert "| manifold (masked carriers) | -40 | -30 | -35 |" in blocks["sensorium.cocktail_party"]
    assert ("- mean SI-SDR in dB (higher is better): manifold (masked carriers) -35: loses to "
            "mixture as estimate (-0.25).") in blocks["sensorium.cocktail_party.vs"]
    raw["metrics"]["extras"]["voices"] = "espeak-ng"
    raw["environment"]["espeak-ng"] = "1.51"
    assert "Voices: real speech from espeak-ng 1.51." in _blocks(raw)["sensorium.cocktail_party"]


def test_ablation_lists_identical_conditions_and_the_ones_that_differ():
    def row(condition, pre, carriers, recovery=None):
        return {"condition": condition, "pre_shift": pre, "post_shift_immediate": pre,
                "recovery_steps": recovery, "final_carriers": carriers, "final_crystallized": 0}

    rows = [row("full", 0.1224, 64), row("no top-down", 0.1224, 64), row("no splitting", 0.1207, 10),
            {"condition": "baseline: online bigram", "pre_shift": 0.9951,
             "post_shift_immediate": 0.18, "recovery_steps": 782},
            {"condition": "baseline: chance", "pre_shift": 0.1211, "post_shift_immediate": 0.1211}]
    raw = _raw("ablation", "Ablations.", ["condition", "pre_shift", "post_shift_immediate",
                                          "recovery_steps", "final_carriers", "final_crystallized"],
               rows)
    blocks = _blocks(raw)
    vs = blocks["sensorium.ablation.vs"]
    assert ("- Pre-shift MRR against chance (0.1211): 2 of 3 conditions above it: full (0.1224), "
            "no top-down (0.1224).") in vs
    assert ("- baseline: online bigram (0.9951 before, 0.18 after, recovers in 782 steps) beats 3 "
            "of 3 conditions on pre-shift MRR.") in vs
    assert '- Identical to "full" in every column: no top-down.' in vs
    assert '- no splitting: pre-shift 0.1207, final carriers 10 ("full": 0.1224, 64).' in vs
    # Missing cells of the baseline rows stay empty; None prints as None.
    assert "| baseline: chance | 0.1211 | 0.1211 |  |  |  |" in blocks["sensorium.ablation"]
    assert "| full | 0.1224 | 0.1224 | None | 64 | 0 |" in blocks["sensorium.ablation"]


def test_rendering_does_not_depend_on_key_order_of_the_results_file():
    for raw in (NEXT_TOKEN, {**NEXT_TOKEN, "quick": True}):
        reloaded = json.loads(json.dumps(raw, sort_keys=True))
        assert _blocks(reloaded) == _blocks(raw)


def test_keep_drops_long_histories_but_keeps_tables_and_small_values():
    metrics = {"experiment": "continuous", "tables": {"t": {"caption": "", "columns": [], "rows": []}},
               "comparisons": [], "skipped_sources": [], "seconds": 1.0, "seed": 0, "quick": True,
               "final_ledger": {"residual": 1e-4}, "history": {"step": list(range(5000))}}
    kept = st.keep(metrics)
    assert kept["extras"] == {"final_ledger": {"residual": 1e-4}}
    assert set(kept) == {"tables", "comparisons", "skipped_sources", "seconds", "seed", "quick", "extras"}


def test_quick_results_say_so_in_both_blocks():
    raw = {**NEXT_TOKEN, "quick": True}
    blocks = _blocks(raw)
    assert "`--quick` settings." in blocks["sensorium.next_token"]
    assert blocks["sensorium.next_token.vs"].startswith("next_token, seed 0 (`--quick` settings):")


def test_rule_shift_compares_before_and_after_and_quotes_the_seed_metric():
    rows = [{"method": "manifold", "pre_shift": 0.1224, "post_shift_immediate": 0.1246,
             "recovery_steps": None},
            {"method": "online bigram (decay 0.99)", "pre_shift": 0.9951,
             "post_shift_immediate": 0.18, "recovery_steps": 782},
            {"method": "chance (random ranking)", "pre_shift": 0.1211,
             "post_shift_immediate": 0.1211, "recovery_steps": None}]
    raw = _raw("rule_shift", "Rule shift.", ["method", "pre_shift", "post_shift_immediate",
                                             "recovery_steps"], rows,
               seed_alignment_gap=0.0, histogram_cosine_fwd_vs_rev=1.0)
    vs = _blocks(raw)["sensorium.rule_shift.vs"]
    assert ("- next-token MRR before the shift (higher is better): manifold 0.1224: beats "
            "chance (random ranking) (0.1211); loses to online bigram (decay 0.99) (0.9951).") in vs
    assert ("- online bigram (decay 0.99): 0.9951 before, 0.18 right after, recovers in 782 "
            "steps.") in vs
    assert "chance (random ranking): 0.1211 before" not in vs   # flat rows are not repeated
    assert "`seed_alignment_gap` = 0; cosine of the forward and reversed token histograms 1." in vs


def test_reservoir_tables_say_whether_the_physics_contributes():
    """A table with reservoir rows compares the manifold reservoir with its ablations and the
    memories without physics on a line of its own; the seed readout is a manifold row too."""
    rows = [{"method": m, "bits_per_byte": b, "accuracy": a} for m, b, a in (
        ("manifold reservoir", 3.5, 0.4), ("reservoir, physics frozen", 3.75, 0.3),
        ("echo state network", 3.25, 0.45), ("no memory", 4.0, 0.25),
        ("manifold, seed readout", 7.5, 0.0), ("order-2 Markov", 3.0, 0.5))]
    raw = _raw("next_token", "Next-byte prediction.", ["method", "bits_per_byte", "accuracy"],
               rows, source="pydoc_data.topics", test_bytes=100)
    block = _blocks(raw)["sensorium.next_token.vs"]
    assert ("- bits per byte, does the physics contribute? the manifold reservoir against its "
            "ablations and the reservoirs without physics (lower is better): manifold reservoir "
            "3.5: beats reservoir, physics frozen (3.75), no memory (4); loses to echo state "
            "network (3.25).") in block
    assert ("- bits per byte on the test part (lower is better): manifold, seed readout 7.5: "
            "loses to reservoir, physics frozen (3.75), echo state network (3.25), no memory "
            "(4), order-2 Markov (3).") in block
    seed_only = _blocks(NEXT_TOKEN)["sensorium.next_token.vs"]
    assert "does the physics contribute" not in seed_only


def test_continuous_with_the_reservoir_readout_compares_the_stream_and_keeps_the_ledger():
    rows = [{"method": m, "mrr": v, "mrr_last_quarter": v, "accuracy_last_quarter": v / 2}
            for m, v in (("manifold reservoir", 0.5), ("reservoir, physics frozen", 0.25),
                         ("online bigram (decay 0.99)", 0.75))]
    raw = _raw("continuous", "Learning on a continuous stream.",
               ["method", "mrr", "mrr_last_quarter", "accuracy_last_quarter"], rows,
               ledger_residual=7.2e-06, ledger_steps=1500, ledger_injections=29,
               ledger_particles=2348, ledger_carriers=64)
    block = _blocks(raw)["sensorium.continuous.vs"]
    assert ("- next-byte MRR over the stream's last quarter (higher is better): manifold "
            "reservoir 0.5: beats reservoir, physics frozen (0.25); loses to online bigram "
            "(decay 0.99) (0.75).") in block
    assert ("- The ledger run beside it: energy ledger relative residual 7.200e-06 after 1500 "
            "steps (injections: 29); 2348 particles and 64 carriers at the end.") in block
    assert "does the physics contribute? the manifold reservoir against" in block
