"""The reservoir readouts of cocktail_party, ablation and continuous on small streams."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from thermo_manifold.sensorium import reservoir_rows as rr
from thermo_manifold.sensorium.baselines import si_sdr
from thermo_manifold.sensorium.experiments import ablation, continuous
from thermo_manifold.sensorium.experiments import cocktail_party as cp
from thermo_manifold.sensorium.harness import RunContext


def _tones(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(offset, offset + n)
    return 0.4 * np.sin(2 * np.pi * t / 8.0), 0.4 * np.sin(2 * np.pi * t / 29.0 + 0.3)


def test_a_memory_separates_two_tones_that_the_current_sample_alone_cannot():
    """Two tones of different pitch: a linear readout of a reservoir with memory is a filter
    that splits them; `no memory` sees one sample and can only rescale the mixture, whose
    SI-SDR it then shares."""
    cfg = dataclasses.replace(cp.Config(), washout=16, rows=rr.RowsConfig(
        reservoir=cp.series_reservoir(), rows=(rr.MANIFOLD, rr.ESN, rr.NO_MEMORY)))
    a, b = _tones(400)
    test_a, test_b = _tones(200, offset=400)
    mixture = test_a + test_b
    rows, estimates = cp.reservoir_estimates(cfg, RunContext(), a + b, np.stack([a, b], 1),
                                             mixture)
    assert [r["method"] for r in rows] == [rr.MANIFOLD, rr.ESN, rr.NO_MEMORY]
    score = {row: np.mean([si_sdr(e[:, 0], test_a), si_sdr(e[:, 1], test_b)])
             for row, e in estimates.items()}
    unprocessed = np.mean([si_sdr(mixture, test_a), si_sdr(mixture, test_b)])
    assert score[rr.ESN] > unprocessed + 6.0, score
    assert score[rr.NO_MEMORY] < unprocessed + 2.0, score
    assert np.all(np.isfinite(estimates[rr.MANIFOLD]))


def test_cocktail_party_refuses_a_washout_longer_than_the_prompts():
    with pytest.raises(ValueError, match="washout"):
        cp.Config(washout=-1)
    a, b = _tones(50)
    with pytest.raises(ValueError, match="washout"):
        cp.reservoir_estimates(cp.Config(washout=48), RunContext(), a + b, np.stack([a, b], 1),
                               a[:10])


def test_continuous_vocabulary_is_fixed_before_the_stream_and_checked():
    assert continuous.STREAM_BYTES.size == 96  # newline and the 95 printable characters
    with pytest.raises(ValueError, match="stream_bytes"):
        continuous.Config(stream_bytes=1)
    with pytest.raises(ValueError, match="rows.reservoir.vocab"):
        continuous.Config(rows=rr.RowsConfig())


def test_the_continuous_stream_table_ranks_every_row_prequentially(tmp_path):
    """A text that repeats "hello world": after "l" comes "l", "o" or "d", so the current byte
    (no memory) and the bigram cannot always tell the next one, and a row with memory of the
    bytes before can; chance is the mean of 1/k over 97 tokens."""
    text = tmp_path / "t.txt"
    text.write_bytes(b"hello world\n" * 40)
    cfg = dataclasses.replace(continuous.Config(stream_bytes=240), rows=dataclasses.replace(
        continuous.Config().rows, rows=(rr.ESN, rr.NO_MEMORY)))
    name, rows, reciprocal = continuous.stream_table(cfg, RunContext(text=text))
    by_name = {r["method"]: r for r in rows}
    assert name == "t.txt" and set(by_name) == {rr.ESN, rr.NO_MEMORY, "online bigram (decay 0.99)",
                                                "chance (random ranking)"}
    assert by_name["chance (random ranking)"]["mrr"] == pytest.approx(
        np.mean(1.0 / np.arange(1, 98)))
    memory = by_name[rr.ESN]["mrr_last_quarter"]
    assert memory > 0.95
    assert memory > by_name["online bigram (decay 0.99)"]["mrr_last_quarter"] + 0.1
    assert memory > by_name[rr.NO_MEMORY]["mrr_last_quarter"] + 0.1
    assert all(len(v) == 240 for v in reciprocal.values())


def test_ablation_offers_both_readouts_and_keeps_the_seed_conditions():
    assert ablation.READOUTS == ("reservoir", "seed")
    assert set(ablation.BASELINE_ROWS) <= set(rr.ROWS) and rr.MANIFOLD not in ablation.BASELINE_ROWS
    assert list(ablation.CONDITIONS) == ["full", "no top-down", "no crystallization",
                                         "no splitting", "no exploration"]
