from __future__ import annotations

import math

import numpy as np
import pytest

from thermo_manifold.sensorium import baselines as b


def test_order2_markov_predicts_a_periodic_string_exactly():
    period = b"abcbd"  # order 1 is ambiguous after 'b'; order 2 is not
    train, test = period * 30, period * 10
    scores = b.online_ngram_scores(2, train, test)
    assert scores["accuracy"] == 1.0
    assert scores["bits_per_byte"] < 0.2
    assert b.online_ngram_scores(0, train, test)["accuracy"] < 0.5
    assert b.online_ngram_scores(1, train, test)["accuracy"] < 1.0


def test_ngram_probabilities_are_normalised_and_unigram_matches_counts():
    model = b.NGramModel(0, beta=1.0).fit(b"aab")
    p = model.probabilities(b"")
    assert p.sum() == pytest.approx(1.0)
    # (count + beta/256) / (3 + beta)
    assert p[ord("a")] == pytest.approx((2 + 1 / 256) / 4)


def test_compression_bits_are_small_for_repeats_and_text_rows_complete():
    train = b"hello world " * 50
    assert b.compression_bits_per_byte(train, b"hello world " * 10, "zlib") < 1.0
    rows = b.text_baselines(train, b"hello world " * 3)
    assert [r["method"] for r in rows] == ["uniform", "unigram", "order-2 Markov", "zlib",
                                           "lzma"]
    assert rows[0]["bits_per_byte"] == 8.0


def test_series_baselines_on_known_series():
    t = np.arange(200, dtype=float)
    seasonal = 100 + 50 * np.sin(2 * np.pi * t / 10)
    pred = b.seasonal_naive_forecast(seasonal, 50, 10)
    assert np.allclose(pred, seasonal[50:])
    line = 3.0 + 0.5 * t
    assert np.allclose(b.ar_forecast(line, 100, 2), line[100:], atol=1e-6)
    assert np.allclose(b.persistence_forecast(line, 100), line[99:-1])
    s = b.forecast_scores(np.array([1.2, 5.0]), np.array([1.0, 3.0]))
    assert s == {"accuracy": 0.5, "mae": 1.0, "mse": 2.0}


def test_classification_baselines_on_separable_data():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(40, 5, (30, 4)), rng.normal(200, 5, (10, 4))])
    y = np.array([0] * 30 + [1] * 10)
    rows = {r["method"]: r["accuracy"] for r in b.classification_baselines(x, y, x, y)}
    assert rows["majority class"] == pytest.approx(0.75)
    assert rows["nearest centroid"] == 1.0
    assert rows["logistic regression"] == 1.0


def test_fills():
    img = np.tile(np.linspace(0, 1, 8), (8, 1))
    observed = np.ones_like(img, dtype=bool)
    observed[3:5, 3:5] = False
    filled = b.neighbour_fill(img, observed)
    assert np.abs(filled - img).max() < 1e-3  # a linear ramp is harmonic
    assert np.array_equal(filled[observed], img[observed])
    sig = np.linspace(-1, 1, 50)
    obs = np.ones(50, dtype=bool)
    obs[10:20] = False
    assert np.allclose(b.linear_fill(sig, obs), sig)
    text = np.frombuffer(b"abababababab", dtype=np.uint8).copy()
    mask = np.ones(len(text), dtype=bool)
    mask[[3, 6, 9]] = False
    assert bytes(b.bigram_fill(text, mask)) == b"abababababab"
    assert set(b.most_frequent_fill(text, mask)[~mask].tolist()) <= {ord("a"), ord("b")}


def test_si_sdr_sanity():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=4000)
    assert b.si_sdr(ref, ref) > 100
    assert b.si_sdr(3.0 * ref, ref) > 100  # scale-invariant
    noise = rng.normal(size=4000)
    assert b.si_sdr(ref + noise, ref) == pytest.approx(0.0, abs=0.5)  # equal power
    assert b.si_sdr(ref + 0.1 * noise, ref) == pytest.approx(20.0, abs=0.5)


def test_oracle_mask_beats_the_mixture():
    t = np.arange(8000) / 8000
    a, c = np.sin(2 * np.pi * 200 * t), 0.8 * np.sin(2 * np.pi * 1300 * t)
    mix = a + c
    oa, oc = b.oracle_ratio_mask(mix, [a, c])
    assert b.si_sdr(oa, a) > b.si_sdr(mix, a) + 10
    assert b.si_sdr(oc, c) > b.si_sdr(mix, c) + 10


def test_rule_shift_metric_is_order_sensitive():
    forward = [0, 1, 2, 3, 4, 5]
    reverse = forward[::-1]
    # A fixed predictor that learned the forward transitions.
    rankings = [np.eye(6)[(x + 1) % 6] for x in forward]
    assert b.transition_mrr(rankings, forward) == 1.0
    rev_rankings = [np.eye(6)[(x + 1) % 6] for x in reverse]
    assert b.transition_mrr(rev_rankings, reverse) < 0.5
    # The seed's histogram metric sees no difference between the two orders.
    assert b.histogram_cosine(forward, reverse, 6) == pytest.approx(1.0)


def test_reciprocal_rank_and_bigram():
    assert b.reciprocal_rank(np.array([0.1, 0.9, 0.5]), 2) == 0.5
    assert b.reciprocal_rank(np.zeros(4), 1) == 0.25  # ties count against the target
    slow, fast = b.OnlineBigram(3, decay=0.9), b.OnlineBigram(3, decay=0.3)
    for model in (slow, fast):
        for _ in range(3):
            model.update(0, 1)
        model.update(0, 2)
    assert int(np.argmax(slow.scores(0))) == 1
    assert int(np.argmax(fast.scores(0))) == 2  # forgetting lets the new rule win
    with pytest.raises(ValueError):
        b.si_sdr(np.zeros(3), np.zeros(4))
    assert math.isnan(b.transition_mrr([], [1]))
