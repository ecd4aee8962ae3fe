from __future__ import annotations

import math

import numpy as np
import pytest

from thermo_manifold.sensorium import memory_features as mf
from thermo_manifold.sensorium.memory_features import (
    DecayingBag,
    EchoStateNetwork,
    FeatureReservoir,
    InputEncoding,
    MemoryCapacity,
    NoMemory,
    memory_capacity,
)


def _one_hot(u: int, n: int) -> np.ndarray:
    v = np.zeros(n)
    v[u] = 1.0
    return v


def _all_reservoirs(**enc):
    return [EchoStateNetwork(30, seed=3, **enc), DecayingBag(**enc), NoMemory(**enc)]


# ====================================================================== echo state network


@pytest.mark.parametrize("sr", [0.9, 1.3])
def test_esn_spectral_radius_is_exactly_sr(sr):
    esn = EchoStateNetwork(80, vocab=5, sr=sr, seed=1)
    rho = np.max(np.abs(np.linalg.eigvals(esn.W)))
    assert rho == pytest.approx(sr, rel=1e-9)


def test_esn_spectral_radius_by_arpack_above_the_dense_limit(monkeypatch):
    pytest.importorskip("scipy")
    monkeypatch.setattr(mf, "_DENSE_EIGVALS_MAX_UNITS", 10)
    esn = EchoStateNetwork(60, vocab=3, sr=0.7, rc_connectivity=0.2, seed=2)
    assert np.max(np.abs(np.linalg.eigvals(esn.W))) == pytest.approx(0.7, rel=1e-7)


def test_esn_matrices_follow_the_connectivity_and_scalings():
    esn = EchoStateNetwork(50, vocab=7, input_scaling=0.3, rc_connectivity=0.2,
                           input_connectivity=0.1, bias_scaling=0.25, seed=4)
    W, W_in, b = esn.W, esn.W_in, esn.bias
    assert W.shape == (50, 50) and W_in.shape == (50, 7) and b.shape == (50,)
    assert np.all(np.count_nonzero(W, axis=1) == 10)  # 0.2 * 50 per row
    assert np.all(np.count_nonzero(W_in, axis=0) == 5)  # 0.1 * 50 per token
    assert set(np.unique(W_in[W_in != 0])) <= {-0.3, 0.3}
    assert np.all(np.abs(b) <= 0.25) and np.any(b != 0)
    # the copies handed out do not alias the reservoir
    W_in[:] = 0.0
    assert np.any(esn.W_in != 0)


def test_esn_step_is_the_leaky_tanh_formula_tokens():
    lr = 0.3
    esn = EchoStateNetwork(40, vocab=6, lr=lr, sr=0.8, seed=5)
    W, W_in, b = esn.W, esn.W_in, esn.bias
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 40)
    esn.reset(state=x)
    for u in (4, 0, 4):
        expected = (1 - lr) * x + lr * np.tanh(W @ x + W_in @ _one_hot(u, 6) + b)
        got = esn.step(u)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
        x = expected
    np.testing.assert_allclose(esn.state, x, rtol=1e-12, atol=1e-14)


def test_esn_step_is_the_leaky_tanh_formula_values():
    lr = 0.6
    esn = EchoStateNetwork(30, input_dim=2, lr=lr, sr=0.95, input_connectivity=0.5, seed=6)
    W, W_in, b = esn.W, esn.W_in, esn.bias
    x = np.zeros(30)
    esn.reset()
    for u in ([0.5, -1.0], [2.0, 0.25]):
        u = np.array(u)
        x = (1 - lr) * x + lr * np.tanh(W @ x + W_in @ u + b)
        np.testing.assert_allclose(esn.step(u), x, rtol=1e-12, atol=1e-14)
    # lr = 1: no leak; a scalar value for input_dim = 1
    esn1 = EchoStateNetwork(20, input_dim=1, lr=1.0, seed=7)
    expected = np.tanh(esn1.W_in[:, 0] * 0.7 + esn1.bias)
    np.testing.assert_allclose(esn1.step(0.7), expected, rtol=1e-12)


def test_esn_echo_state_property_forgets_the_initial_state():
    esn = EchoStateNetwork(100, vocab=8, sr=0.9, lr=1.0, seed=8)
    rng = np.random.default_rng(1)
    stream = rng.integers(0, 8, 300)
    runs = []
    for x0 in (rng.uniform(-1, 1, 100), rng.uniform(-1, 1, 100)):
        esn.reset(state=x0)
        runs.append(np.stack([esn.step(u) for u in stream]))
    dist = np.linalg.norm(runs[0] - runs[1], axis=1)
    assert dist[0] > 0.1
    assert dist[-1] < 1e-6
    assert dist[-50:].max() < dist[:50].min()


def test_esn_deterministic_for_a_seed_and_different_across_seeds():
    stream = np.random.default_rng(2).integers(0, 10, 200)
    a = EchoStateNetwork(60, vocab=10, seed=11).transform(stream)
    b = EchoStateNetwork(60, vocab=10, seed=11).transform(stream)
    c = EchoStateNetwork(60, vocab=10, seed=12).transform(stream)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c, atol=1e-3)


def test_n_features_is_fixed_by_the_parameters_not_the_stream():
    esn = EchoStateNetwork(45, vocab=4)
    bag = DecayingBag(vocab=4, timescales=(1, 3, 9))
    none = NoMemory(vocab=4)
    assert (esn.n_features, bag.n_features, none.n_features) == (45, 12, 4)
    for T in (1, 7, 300):
        stream = np.arange(T) % 4
        for r in (esn, bag, none):
            assert r.transform(stream).shape == (T, r.n_features)
            assert r.step(1).shape == (r.n_features,)
    assert DecayingBag(input_dim=3).n_features == 15
    assert NoMemory(input_dim=3).n_features == 3


@pytest.mark.parametrize("enc", [{"vocab": 5}, {"input_dim": 2}])
def test_transform_is_reset_then_step_and_forgets_earlier_calls(enc):
    rng = np.random.default_rng(3)
    stream = (rng.integers(0, 5, 60) if "vocab" in enc else rng.normal(size=(60, 2)))
    for r in _all_reservoirs(**enc):
        assert isinstance(r, FeatureReservoir)
        first = r.transform(stream)
        r.step(stream[0])  # disturb the state; transform must reset it
        second = r.transform(stream)
        r.reset()
        stepped = np.stack([r.step(u) for u in stream])
        np.testing.assert_allclose(first, stepped, rtol=1e-12, atol=1e-15)
        assert np.array_equal(first, second)
        # the state after transform continues with step
        r.transform(stream[:30])
        np.testing.assert_allclose(r.step(stream[30]), stepped[30], rtol=1e-12, atol=1e-15)


def test_step_returns_an_array_the_caller_owns():
    for r in _all_reservoirs(vocab=3):
        r.reset()
        out = r.step(1)
        out[:] = 123.0
        r.reset()
        assert not np.any(r.step(1) == 123.0)
    bag = DecayingBag(vocab=3)
    a = bag.step(0)
    bag.step(1)
    assert a[0] == 1.0  # an earlier result is not a view of the later state


def test_bytes_are_a_token_stream():
    esn = EchoStateNetwork(20, vocab=256)
    np.testing.assert_array_equal(esn.transform(b"hi!"),
                                  esn.transform(np.frombuffer(b"hi!", dtype=np.uint8)))


# ====================================================================== decaying bag


def test_decaying_bag_follows_the_closed_form_after_a_single_token():
    taus = (1, 2, 4, 8)
    bag = DecayingBag(vocab=3, timescales=taus)
    F = bag.transform([0] + [1] * 25).reshape(26, len(taus), 3)
    for j, tau in enumerate(taus):
        a = 1.0 / tau  # the weight of the newest input
        for t in range(26):
            # token 0, seen once at t = 0: a (1 - a)^t
            assert F[t, j, 0] == pytest.approx(a * (1 - a) ** t, rel=1e-12, abs=1e-300)
            # token 1, seen at 1..t: a sum_{s<t} (1 - a)^s = 1 - (1 - a)^t
            assert F[t, j, 1] == pytest.approx(1 - (1 - a) ** t, rel=1e-12, abs=1e-15)
            assert F[t, j, 2] == 0.0
    assert F[5, 2, 0] == pytest.approx(0.25 * 0.75 ** 5)


def test_decaying_bag_decays_values_and_accepts_decays():
    bag = DecayingBag(input_dim=1, decays=(0.0, 0.9))
    assert bag.timescales == pytest.approx((1.0, 10.0))
    F = bag.transform(np.full(12, 2.0))
    t = np.arange(12)
    np.testing.assert_allclose(F[:, 0], 2.0)
    np.testing.assert_allclose(F[:, 1], 2.0 * (1 - 0.9 ** (t + 1)), rtol=1e-12)
    same = DecayingBag(input_dim=1, timescales=(1, 10)).transform(np.full(12, 2.0))
    np.testing.assert_allclose(F, same, rtol=1e-12)


def test_decaying_bag_default_timescales():
    assert DecayingBag(vocab=2).timescales == pytest.approx((1, 2, 4, 8, 16))


# ====================================================================== no memory


def test_no_memory_features_are_the_current_input_only():
    none = NoMemory(vocab=5)
    stream = [2, 0, 2, 4, 4, 2, 1, 2]
    F = none.transform(stream)
    np.testing.assert_array_equal(F, np.eye(5)[stream])
    rows_of_2 = F[[i for i, u in enumerate(stream) if u == 2]]
    assert np.all(rows_of_2 == rows_of_2[0])
    none.step(3)
    np.testing.assert_array_equal(none.step(2), F[0])
    vals = np.array([[0.5, -1.0], [3.0, 0.0], [0.5, -1.0]])
    G = NoMemory(input_dim=2).transform(vals)
    np.testing.assert_array_equal(G, vals)


# ====================================================================== memory capacity


def test_memory_capacity_esn_recalls_past_tokens_no_memory_is_at_chance():
    vocab, delays = 4, range(0, 6)
    chance = 1.0 / vocab
    esn = memory_capacity(EchoStateNetwork(100, vocab=vocab, seed=0), delays, n_steps=3000)
    none = memory_capacity(NoMemory(vocab=vocab), delays, n_steps=3000)
    bag = memory_capacity(DecayingBag(vocab=vocab), delays, n_steps=3000)
    assert esn.metric == none.metric == "accuracy" and esn.chance == chance
    assert none.score(0) == 1.0 and esn.score(0) > 0.95
    for k in (1, 2, 3):
        assert esn.score(k) > chance + 0.45, (k, esn.scores)
    for k in (1, 2, 3, 4, 5):
        # ~870 test steps: the binomial sd of the accuracy is ~0.015
        assert abs(none.score(k) - chance) < 0.07, (k, none.scores)
    for k in (2, 3, 4, 5):  # the test: the reservoir beats no memory for k >= 2
        assert esn.score(k) > none.score(k) + 0.2
    assert bag.score(1) > none.score(1) + 0.3
    assert esn.total > none.total + 2.0


def test_memory_capacity_with_the_current_input_appended():
    none = memory_capacity(NoMemory(vocab=4), (0, 1, 2), n_steps=2000, with_input=True)
    assert none.score(0) == 1.0
    assert abs(none.score(1) - 0.25) < 0.08 and abs(none.score(2) - 0.25) < 0.08
    bag = memory_capacity(DecayingBag(vocab=4, timescales=(1,)), (1,), n_steps=2000,
                          with_input=True)
    assert abs(bag.score(1) - 0.25) < 0.08  # tau = 1 holds the current input only


def test_memory_capacity_for_values_is_the_squared_correlation():
    esn = memory_capacity(EchoStateNetwork(60, input_dim=1, lr=1.0, seed=1), (0, 1, 2, 3),
                          n_steps=2000)
    none = memory_capacity(NoMemory(input_dim=1), (0, 1, 2, 3), n_steps=2000)
    assert esn.metric == "r2" and esn.chance == 0.0
    assert none.score(0) == pytest.approx(1.0)
    for k in (1, 2, 3):
        assert esn.score(k) > 0.9
        assert none.score(k) < 0.02
    assert esn.total == pytest.approx(sum(esn.scores))


def test_memory_capacity_result_total_and_split():
    r = MemoryCapacity(delays=(1, 2, 3), scores=(1.0, 0.5, 0.1), metric="accuracy",
                       chance=0.25, n_train=10, n_test=10)
    # chance-corrected, clipped at zero: 1 + (0.25 / 0.75) + 0
    assert r.total == pytest.approx(1 + 1 / 3)
    assert r.as_dict() == {1: 1.0, 2: 0.5, 3: 0.1}
    with pytest.raises(ValueError, match="delay 7"):
        r.score(7)
    m = memory_capacity(NoMemory(vocab=3), (1, 2), n_steps=1100, washout=100,
                        train_fraction=0.6)
    assert (m.n_train, m.n_test) == (600, 400)


def test_memory_capacity_scores_on_held_out_steps():
    class Noise:  # random features, unrelated to the input: a readout can only memorise
        encoding = InputEncoding.tokens(4)
        n_features = 500

        def reset(self):
            pass

        def transform(self, stream):
            return np.random.default_rng(9).normal(size=(len(stream), self.n_features))

    m = memory_capacity(Noise(), (0, 1), n_steps=600, washout=0, train_fraction=0.5)
    # 300 train steps < 500 features: the train fit is perfect, the test steps at chance
    assert m.score(0) < 0.4 and m.score(1) < 0.4


def test_memory_capacity_is_deterministic_and_uses_its_seed():
    esn = EchoStateNetwork(40, vocab=3, seed=0)
    a = memory_capacity(esn, (3, 6), n_steps=800, seed=5)
    b = memory_capacity(esn, (3, 6), n_steps=800, seed=5)
    c = memory_capacity(esn, (3, 6), n_steps=800, seed=6)
    assert a == b
    assert a.scores != c.scores


# ====================================================================== errors


@pytest.mark.parametrize("kwargs, name", [
    ({"units": 0}, "units"),
    ({"units": 2.5}, "units"),
    ({"lr": 0.0}, "lr"),
    ({"lr": 1.5}, "lr"),
    ({"lr": math.nan}, "lr"),
    ({"sr": 0.0}, "sr"),
    ({"sr": -1.0}, "sr"),
    ({"input_scaling": 0.0}, "input_scaling"),
    ({"rc_connectivity": 0.0}, "rc_connectivity"),
    ({"rc_connectivity": 1.2}, "rc_connectivity"),
    ({"input_connectivity": 0.0}, "input_connectivity"),
    ({"input_connectivity": 2.0}, "input_connectivity"),
    ({"bias_scaling": -0.1}, "bias_scaling"),
    ({"seed": -1}, "seed"),
    ({"vocab": 1}, "vocab"),
    ({"vocab": None, "input_dim": 0}, "input_dim"),
    ({"vocab": 4, "input_dim": 2}, "exactly one of vocab"),
    ({"vocab": None}, "exactly one of vocab"),
])
def test_esn_rejects_bad_parameters(kwargs, name):
    params = {"units": 10, "vocab": 4, **kwargs}
    with pytest.raises(ValueError, match=name):
        EchoStateNetwork(**params)


@pytest.mark.parametrize("kwargs, name", [
    ({"vocab": 1}, "vocab"),
    ({"timescales": (1, 0.5)}, "timescale"),
    ({"timescales": ()}, "timescales"),
    ({"decays": (0.5, 1.0)}, "decay"),
    ({"decays": (-0.1,)}, "decay"),
    ({"timescales": (2,), "decays": (0.5,)}, "not both"),
])
def test_decaying_bag_rejects_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DecayingBag(**{"vocab": 4, **kwargs})


def test_no_memory_rejects_bad_parameters():
    with pytest.raises(ValueError, match="vocab"):
        NoMemory(vocab=1)
    with pytest.raises(ValueError, match="exactly one"):
        NoMemory()


@pytest.mark.parametrize("stream, message", [
    ([], "empty"),
    ([0, 1, 4], r"\[0, 4\)"),
    ([0, -1, 2], r"\[0, 4\)"),
    ([0.0, 1.0], "dtype float64"),
    (np.array([True, False]), "dtype bool"),
    (np.zeros((3, 2), dtype=int), "1-D"),
    (["a", "b"], "dtype"),
])
def test_token_streams_are_validated(stream, message):
    for r in _all_reservoirs(vocab=4):
        with pytest.raises(ValueError, match=message):
            r.transform(stream)


@pytest.mark.parametrize("u, message", [(4, r"\[0, 4\)"), (-1, r"\[0, 4\)"),
                                        (1.0, "integer"), (True, "integer"),
                                        ("a", "integer")])
def test_token_steps_are_validated(u, message):
    for r in _all_reservoirs(vocab=4):
        with pytest.raises(ValueError, match=message):
            r.step(u)


@pytest.mark.parametrize("stream, message", [
    (np.zeros((0, 2)), "empty"),
    (np.array([[0.1, math.nan]]), "NaN"),
    (np.array([[0.1, math.inf]]), "finite"),
    (np.zeros(5), r"\(T, 2\)"),
    (np.zeros((5, 3)), r"\(T, 2\)"),
    (np.array([[1 + 1j, 0]]), "real numbers"),
    (np.array([["a", "b"]]), "real numbers"),
])
def test_value_streams_are_validated(stream, message):
    for r in _all_reservoirs(input_dim=2):
        with pytest.raises(ValueError, match=message):
            r.transform(stream)


@pytest.mark.parametrize("u, message", [
    ([0.1, math.nan], "NaN"), ([math.inf, 0.0], "finite"), (0.5, r"shape \(2,\)"),
    ([1.0, 2.0, 3.0], r"shape \(2,\)"), ([1j, 0], "real numbers"), (None, "real numbers"),
])
def test_value_steps_are_validated(u, message):
    for r in _all_reservoirs(input_dim=2):
        with pytest.raises(ValueError, match=message):
            r.step(u)


def test_bad_input_leaves_the_state_untouched():
    esn = EchoStateNetwork(20, vocab=4, seed=1)
    bag = DecayingBag(vocab=4)
    for r in (esn, bag):
        r.transform([0, 1, 2, 3, 1])
        ref = r.step(2)
        r.transform([0, 1, 2, 3, 1])
        for bad_stream in ([], [0, 9], [0.5]):
            with pytest.raises(ValueError):
                r.transform(bad_stream)  # must fail before its reset
        for bad in (9, -2, 0.5):
            with pytest.raises(ValueError):
                r.step(bad)
        np.testing.assert_array_equal(r.step(2), ref)
    with pytest.raises(ValueError, match="shape"):
        esn.reset(state=np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        esn.reset(state=np.full(20, math.nan))
    esn.reset(state=np.ones(20))
    np.testing.assert_array_equal(esn.state, np.ones(20))


def test_value_inputs_of_dimension_one_accept_scalars_and_columns():
    esn = EchoStateNetwork(10, input_dim=1)
    a = esn.transform([0.5, -0.25, 1])
    b = esn.transform(np.array([[0.5], [-0.25], [1.0]]))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="scalar or shape"):
        esn.step([0.5, 0.5])


@pytest.mark.parametrize("kwargs, name", [
    ({"delays": ()}, "delays"),
    ({"delays": (1, -1)}, "delay"),
    ({"delays": (1.5,)}, "delay"),
    ({"delays": 3}, "delays"),
    ({"n_steps": 50}, "n_steps"),
    ({"train_fraction": 1.0}, "train_fraction"),
    ({"alpha": 0.0}, "alpha"),
    ({"washout": -1}, "washout"),
])
def test_memory_capacity_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        memory_capacity(NoMemory(vocab=3), **kwargs)


def test_memory_capacity_needs_an_input_kind_for_foreign_reservoirs():
    class Foreign:  # implements the interface without subclassing, and has no encoding
        n_features = 3

        def reset(self):
            pass

        def transform(self, stream):
            return np.eye(3)[np.asarray(stream)]

    with pytest.raises(ValueError, match="pass vocab or input_dim"):
        memory_capacity(Foreign(), (0, 1), n_steps=500)
    m = memory_capacity(Foreign(), (0, 1), n_steps=500, vocab=3)
    assert m.score(0) == 1.0

    class Blind(Foreign):  # constant features: only the appended input can tell the token
        def transform(self, stream):
            return np.zeros((len(stream), 3))

    blind = memory_capacity(Blind(), (0,), n_steps=600, vocab=3)
    assert blind.score(0) < 0.5
    assert memory_capacity(Blind(), (0,), n_steps=600, vocab=3, with_input=True).score(0) == 1.0


def test_input_encoding_kinds():
    assert InputEncoding.from_args(5, None) == InputEncoding.tokens(5)
    assert InputEncoding.from_args(None, 2) == InputEncoding.values(2)
    with pytest.raises(ValueError, match="kind"):
        InputEncoding("image", 3)
    np.testing.assert_array_equal(InputEncoding.tokens(3).dense(2), [0.0, 0.0, 1.0])
