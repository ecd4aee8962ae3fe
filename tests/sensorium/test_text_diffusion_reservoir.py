"""text_diffusion's reservoir readout: the table, the split, the bidirectional features, the
config."""

from __future__ import annotations

import numpy as np
import pytest

from thermo_manifold.sensorium import reservoir_rows as rr
from thermo_manifold.sensorium.experiments import text_diffusion as td
from thermo_manifold.sensorium.harness import RunContext
from thermo_manifold.sensorium.report import Report
from thermo_manifold.sensorium.reservoir import ReservoirConfig

SMALL = ReservoirConfig(vocab=6, taps=2, trail_period=16, identity_radius=0.25,
                        max_particles=64, pool=8, carrier_bins=4)
TINY = td.Config(max_bytes=12, text_bytes=100,
                 rows=rr.RowsConfig(reservoir=SMALL, bag_decays=(0.5,), softmax_l2s=(1e-2,),
                                    softmax_max_iter=10))


def _table(tmp_path, readout):
    report = Report(tmp_path / str(readout), "text_diffusion")
    td.run(TINY, RunContext(readout=readout), report)
    return report.metrics["tables"]["text_diffusion"]["rows"]


def test_the_reservoir_table_holds_every_row_on_the_same_masked_bytes(tmp_path):
    rows = _table(tmp_path, None)  # the default readout
    methods = [r["method"] for r in rows]
    assert methods == [*rr.ROWS, td.SEED_ROW, *td.BASELINES]
    scored = {r["method"]: r["scored"] for r in rows}
    same = {scored[m] for m in (*rr.ROWS, *td.BASELINES)}
    assert len(same) == 1 and same.pop() > 0
    assert 0 < scored[td.SEED_ROW] <= scored[rr.MANIFOLD]  # the seed fills a prefix
    assert all(0.0 <= r["masked_accuracy"] <= 1.0 for r in rows)


def test_the_seed_readout_keeps_the_seed_table(tmp_path):
    rows = _table(tmp_path, "seed")
    assert [r["method"] for r in rows] == ["manifold", *td.BASELINES]
    assert set(rows[0]) == {"method", "masked_accuracy"}


def test_training_positions_never_include_a_scored_or_masked_position():
    masked, observed = td.make_mask(500, 0.2, seed=1)
    train, scored, start = td.split_positions(observed, 0.25)
    assert start == 375
    assert not set(train) & set(scored)
    assert not set(train) & set(masked.tolist())  # only bytes the text shows are trained on
    assert np.all(train < start) and np.all(scored >= start)
    assert np.all(observed[train]) and not np.any(observed[scored])
    # Every masked held-out position with both neighbours is scored; the ends never are.
    expected = [p for p in masked.tolist() if start <= p < 499]
    assert sorted(scored.tolist()) == sorted(expected)
    assert train.min() >= 1 and scored.max() <= 498


def test_the_features_of_a_position_do_not_depend_on_its_token():
    """Change the token at t: every row's features of t (inputs and bag included) stay
    identical, while changing a neighbour changes them (so the check can fail)."""
    config = rr.RowsConfig(reservoir=SMALL)
    tokens = np.random.default_rng(0).integers(0, SMALL.vocab, 30)
    t = 12
    positions = np.array([t])
    bar = lambda it, total, desc: it  # noqa: E731

    def features(stream):
        sets = td.bidirectional_features(stream, positions, config, seed=0, bar=bar)
        return [sets.inputs, *sets.features.values(), *sets.bag.values()]

    before = features(tokens)
    changed = tokens.copy()
    changed[t] = (tokens[t] + 1) % SMALL.vocab
    for a, b in zip(before, features(changed)):
        np.testing.assert_array_equal(a, b)
    for neighbour in (t - 1, t + 1):
        moved = tokens.copy()
        moved[neighbour] = (tokens[neighbour] + 1) % SMALL.vocab
        assert not np.array_equal(before[0], features(moved)[0])


def test_bidirectional_rows_pair_the_left_and_right_neighbours():
    """With one-hot inputs as the only features, row p is [token p - 1, token p + 1]."""
    tokens = np.array([0, 1, 2, 3, 4, 5])
    config = rr.RowsConfig(reservoir=SMALL, rows=(rr.NO_MEMORY,))
    forward = rr.stream_features(tokens, config, seed=0)
    backward = rr.stream_features(tokens[::-1].copy(), config, seed=0)
    sets = td.bidirectional(forward, backward, np.array([1, 4]))
    eye = np.eye(SMALL.vocab)
    np.testing.assert_array_equal(sets.inputs, [np.r_[eye[0], eye[2]], np.r_[eye[3], eye[5]]])
    with pytest.raises(ValueError, match="positions"):
        td.bidirectional(forward, backward, np.array([5]))


def test_the_vocabulary_counts_observed_bytes_only():
    data = np.frombuffer(b"aaabbbc" + b"z", dtype=np.uint8).copy()
    observed = np.array([True] * 7 + [False])  # "z" only under the mask
    lookup, symbols = td.compact_vocabulary(data, observed, vocab=4)
    assert lookup[ord("a")] == 0 and lookup[ord("b")] == 1  # ties broken by byte value
    assert lookup[ord("c")] == lookup[ord("z")] == 2  # RARE
    assert symbols.tolist() == [ord("a"), ord("b"), td.NO_BYTE, td.NO_BYTE]
    tokens = td.masked_stream(data, observed, lookup, vocab=4)
    assert tokens.tolist() == [0, 0, 0, 1, 1, 1, 2, 3]  # MASK = 3


@pytest.mark.parametrize("field, value", [("text_bytes", 10), ("text_bytes", 1.5e4),
                                          ("max_bytes", 1), ("ingest_step_every", 0),
                                          ("mask_fraction", 1.0), ("mask_fraction", True),
                                          ("test_fraction", 0.0), ("engine", None),
                                          ("rows", None)])
def test_bad_config_values_are_refused_with_the_field_named(field, value):
    with pytest.raises(ValueError, match=field):
        td.Config(**{field: value})


def test_a_reservoir_vocabulary_without_room_for_a_byte_is_refused():
    with pytest.raises(ValueError, match="rows.reservoir.vocab"):
        td.Config(rows=rr.RowsConfig(reservoir=SMALL.replace(vocab=2)))
