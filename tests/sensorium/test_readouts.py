"""Linear readouts (sensorium/readouts.py) against independent oracles: closed forms computed
here, numpy.linalg.lstsq, scikit-learn's LogisticRegression and Ridge, finite differences, the
generating model's Bayes rate and additive-smoothing probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from thermo_manifold.sensorium import baselines
from thermo_manifold.sensorium.readouts import (
    OnlineReadout,
    RidgeReadout,
    SoftmaxReadout,
    _softmax_objective,
)

ALPHAS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def _softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _sample_classes(rng, n, W, b):
    """Features N(0, I) and labels drawn from softmax(X W + b)."""
    X = rng.standard_normal((n, W.shape[0]))
    P = _softmax(X @ W + b)
    u = rng.random((n, 1))
    y = (P.cumsum(axis=1) < u).sum(axis=1)
    return X, np.minimum(y, W.shape[1] - 1), P


# ====================================================================== ridge


def test_ridge_recovers_a_known_linear_map_with_noise():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 5)) * np.array([1.0, 10.0, 0.1, 3.0, 1.0]) + 4.0
    W = rng.standard_normal((5, 3))
    b = np.array([1.0, -2.0, 0.5])
    Y = X @ W + b + 0.05 * rng.standard_normal((3000, 3))
    r = RidgeReadout().fit(X, Y)
    assert r.coef_.shape == (3, 5) and r.intercept_.shape == (3,)
    # standard errors are ~0.05 / (sqrt(3000) * scale): scale the tolerance per feature
    tol = 6 * 0.05 / np.sqrt(3000) / np.array([1.0, 10.0, 0.1, 3.0, 1.0])
    assert np.all(np.abs(r.coef_ - W.T) < tol[None, :])
    assert np.allclose(r.intercept_, b, atol=0.05)
    assert r.alpha_ <= 1e-2  # low noise: little shrinkage is best
    assert set(r.validation_scores_) == set(ALPHAS)
    X_new = rng.standard_normal((50, 5)) * np.array([1.0, 10.0, 0.1, 3.0, 1.0]) + 4.0
    assert np.allclose(r.predict(X_new), X_new @ W + b, atol=0.02)


def test_ridge_with_one_alpha_is_the_closed_form():
    rng = np.random.default_rng(1)
    n, d, a = 120, 6, 0.3
    X = rng.standard_normal((n, d)) + 1.0
    Y = rng.standard_normal((n, 2))
    # per-row penalty: argmin (1/n)||Y - XW||^2 + a||W||^2 = (X^T X + n a I)^-1 X^T Y
    r = RidgeReadout(alphas=(a,), fit_intercept=False, standardize=False).fit(X, Y)
    W = np.linalg.solve(X.T @ X + n * a * np.eye(d), X.T @ Y)
    assert np.allclose(r.coef_, W.T, rtol=1e-10, atol=1e-12)
    assert np.all(r.intercept_ == 0) and r.validation_scores_ == {} and r.alpha_ == a
    # with standardisation and an intercept: the same closed form on standardised, centred data
    r = RidgeReadout(alphas=(a,)).fit(X, Y)
    mu, sd = X.mean(axis=0), X.std(axis=0)
    Xs = (X - mu) / sd
    Ws = np.linalg.solve(Xs.T @ Xs + n * a * np.eye(d), Xs.T @ (Y - Y.mean(axis=0)))
    X_new = rng.standard_normal((7, d))
    expected = ((X_new - mu) / sd) @ Ws + Y.mean(axis=0)
    assert np.allclose(r.predict(X_new), expected, rtol=1e-10, atol=1e-12)
    # and scikit-learn's Ridge (sum-of-squares loss, so its alpha is n * a)
    from sklearn.linear_model import Ridge

    sk = Ridge(alpha=n * a).fit(Xs, Y)
    assert np.allclose(r.predict(X_new), sk.predict((X_new - mu) / sd), atol=1e-10)


def test_ridge_chooses_tiny_alpha_without_noise_and_a_large_one_for_noise_features():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 5))
    Y = X @ rng.standard_normal(5)
    assert RidgeReadout().fit(X, Y).alpha_ == min(ALPHAS)
    # one signal feature among 60, 100 rows, noise twice the signal: least squares overfits
    X = rng.standard_normal((100, 60))
    Y = X[:, 0] + 2.0 * rng.standard_normal(100)
    r = RidgeReadout().fit(X, Y)
    assert r.alpha_ >= 0.1
    assert r.validation_scores_[r.alpha_] < 0.7 * r.validation_scores_[min(ALPHAS)]


def test_ridge_validation_scores_are_head_fits_scored_on_the_last_rows():
    rng = np.random.default_rng(3)
    n, d = 50, 4
    X = rng.standard_normal((n, d))
    Y = X @ rng.standard_normal((d, 2)) + 0.5 * rng.standard_normal((n, 2))
    alphas = (1e-3, 1e-1, 1.0)
    r = RidgeReadout(alphas=alphas, fit_intercept=False, standardize=False).fit(X, Y)
    n_fit = 40  # the last 20% validate
    for a in alphas:
        Xh, Yh = X[:n_fit], Y[:n_fit]
        W = np.linalg.solve(Xh.T @ Xh + n_fit * a * np.eye(d), Xh.T @ Yh)
        assert r.validation_scores_[a] == pytest.approx(np.mean((X[n_fit:] @ W - Y[n_fit:]) ** 2),
                                                        rel=1e-10)


def test_ridge_validation_part_is_the_tail_not_the_head():
    # the first 80% follow y = x w exactly, the last 20% have y = 0: a fit on the head scored
    # on the tail prefers the most shrinkage; a head-validated fit would prefer the least
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 3))
    Y = X @ np.array([1.0, -2.0, 3.0])
    Y[160:] = 0.0
    r = RidgeReadout().fit(X, Y)
    assert r.alpha_ == max(ALPHAS)
    # the same data with the zeros at the front is fitted and validated on the head's rule
    X2 = np.vstack((X[160:], X[:160]))
    Y2 = np.concatenate((np.zeros(40), X[:160] @ np.array([1.0, -2.0, 3.0])))
    assert RidgeReadout().fit(X2, Y2).alpha_ <= 1e-4


def test_ridge_1d_targets_and_score():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((100, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + 1.0
    r = RidgeReadout().fit(X, y)
    assert r.coef_.shape == (3,) and isinstance(r.intercept_, float)
    assert r.predict(X).shape == (100,)
    assert r.score(X, y) > 0.999


# ====================================================================== softmax


def test_softmax_reaches_the_bayes_rate_of_known_logits():
    rng = np.random.default_rng(6)
    W = np.array([[2.0, -1.0, 0.0], [0.0, 1.5, -1.5], [-1.0, 0.5, 1.0], [0.0, 0.0, 0.0]])
    b = np.array([0.3, 0.0, -0.3])
    X, y, _ = _sample_classes(rng, 4000, W, b)
    Xt, yt, Pt = _sample_classes(rng, 4000, W, b)
    m = SoftmaxReadout().fit(X, y)
    bayes_acc = float(np.mean(np.argmax(Pt, axis=1) == yt))  # the generating model's argmax
    bayes_bits = float(-np.mean(np.log2(Pt[np.arange(yt.size), yt])))
    assert m.score(Xt, yt) > bayes_acc - 0.02
    assert m.log_loss_bits(Xt, yt) < bayes_bits + 0.02
    assert np.mean(m.predict(Xt) == np.argmax(Pt, axis=1)) > 0.95
    assert m.converged_
    # far outside the training range the logits are in the thousands: still finite, normalised
    P = m.predict_proba(1e4 * Xt[:50])
    assert np.all(np.isfinite(P)) and np.allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert np.isfinite(m.log_loss_bits(1e4 * Xt[:50], yt[:50]))


def test_softmax_matches_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    W = rng.standard_normal((3, 4))
    X, y, _ = _sample_classes(rng, 600, W, np.zeros(4))
    n, l2 = X.shape[0], 0.01
    # ours: mean NLL + l2 ||W||^2; sklearn: 0.5 ||W||^2 + C sum NLL. Multiply ours by
    # n / (2 l2): 0.5 ||W||^2 + sum NLL / (2 n l2), so C = 1 / (2 n l2).
    sk = LogisticRegression(C=1.0 / (2 * n * l2), tol=1e-12, max_iter=10_000).fit(X, y)
    m = SoftmaxReadout(l2s=(l2,), standardize=False, prior_count=0.0, tol=1e-10,
                       max_iter=10_000).fit(X, y)
    p_sk = sk.predict_proba(X)
    nll_sk = -np.mean(np.log2(p_sk[np.arange(n), y]))
    assert m.log_loss_bits(X, y) == pytest.approx(nll_sk, abs=1e-6)
    assert np.allclose(m.predict_proba(X), p_sk, atol=1e-5)
    # both penalise the full W, so the centred weights agree too
    assert np.allclose(m.coef_, sk.coef_, atol=1e-4)


def test_softmax_gradient_matches_finite_differences():
    rng = np.random.default_rng(8)
    n, d, K = 30, 3, 4
    X = rng.standard_normal((n, d))
    y = rng.integers(0, K, n)
    theta = rng.standard_normal(d * K + K)
    for l2, prior in ((0.0, 0.0), (0.3, 0.0), (0.3, 2.0)):
        f, g = _softmax_objective(theta, X, y, K, l2, prior)
        h = 1e-6
        num = np.array([(_softmax_objective(theta + h * e, X, y, K, l2, prior)[0]
                         - _softmax_objective(theta - h * e, X, y, K, l2, prior)[0]) / (2 * h)
                        for e in np.eye(theta.size)])
        assert np.allclose(g, num, atol=1e-7), (l2, prior)
    # and the value is the objective written out independently
    W, b = theta[:d * K].reshape(d, K), theta[d * K:]
    P = _softmax(X @ W + b)
    pb = _softmax(b[None, :])[0]
    expected = (-np.log(P[np.arange(n), y]).sum() - 2.0 / K * np.log(pb).sum()) / n \
        + 0.3 * np.sum(W ** 2)
    assert _softmax_objective(theta, X, y, K, 0.3, 2.0)[0] == pytest.approx(expected, rel=1e-12)


def test_unseen_classes_get_the_smoothed_small_positive_probability():
    rng = np.random.default_rng(9)
    n, K = 1000, 6
    X = rng.standard_normal((n, 2))  # uninformative features
    y = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])  # classes 3..5 never occur
    m = SoftmaxReadout(l2s=(10.0,), n_classes=K).fit(X, y)
    P = m.predict_proba(rng.standard_normal((20, 2)))
    assert P.shape == (20, K) and np.allclose(P.sum(axis=1), 1.0, atol=1e-12)
    # additive smoothing: (n_k + prior / K) / (n + prior) with prior = 1
    counts = np.bincount(y, minlength=K)
    smoothed = (counts + 1.0 / K) / (n + 1.0)
    assert np.all(P[:, 3:] > 0)
    assert np.allclose(P, smoothed, rtol=0.05)
    assert m.log_loss_bits(X[:1], [5]) == pytest.approx(-math.log2(smoothed[5]), rel=0.05)
    # without the prior count the probability is still positive but far smaller
    m0 = SoftmaxReadout(l2s=(10.0,), n_classes=K, prior_count=0.0).fit(X, y)
    p0 = m0.predict_proba(X[:5])
    assert np.all(p0 > 0) and np.all(p0[:, 3:] < 0.1 * smoothed[3])


def test_log_loss_bits_of_a_uniform_model_is_log2_k():
    for K in (2, 10, 256):
        y = np.tile(np.arange(K), 3)
        X = np.zeros((y.size, 1))  # no information: balanced counts give the uniform model
        m = SoftmaxReadout(l2s=(1e-3,), n_classes=K).fit(X, y)
        assert m.log_loss_bits(X, y) == pytest.approx(math.log2(K), abs=1e-6)
        assert np.allclose(m.predict_proba(X[:3]), 1.0 / K, atol=1e-8)


def test_softmax_l2_is_chosen_on_the_tail():
    # head: the label is the sign of x0; tail: labels unrelated to x. Fitted on the head and
    # scored on the tail, the strongest penalty (the flattest model) wins; moved to the front,
    # the noise is fitted and the clean rule validates, so the weakest penalties win
    rng = np.random.default_rng(10)
    X = rng.standard_normal((500, 2))
    y = (X[:, 0] > 0).astype(int)
    y[400:] = rng.integers(0, 2, 100)
    l2s = (1e-4, 1e-2, 1.0)
    assert SoftmaxReadout(l2s=l2s).fit(X, y).l2_ == 1.0
    order = np.r_[400:500, 0:400]
    assert SoftmaxReadout(l2s=l2s).fit(X[order], y[order]).l2_ == 1e-4


def test_softmax_warm_start_keeps_the_logits_across_standardisations():
    # the chosen head solution is moved from the head's standardisation to that of all rows
    rng = np.random.default_rng(17)
    d, K = 3, 4
    X = rng.standard_normal((40, d)) * np.array([100.0, 0.01, 3.0]) + np.array([50.0, -3.0, 0.0])
    mean_h, std_h = X[:30].mean(axis=0), X[:30].std(axis=0)
    mean_f, std_f = X.mean(axis=0), X.std(axis=0)
    theta = rng.standard_normal(d * K + K)
    W_h, b_h = theta[:d * K].reshape(d, K), theta[d * K:]
    moved = SoftmaxReadout._from_raw(*SoftmaxReadout._to_raw(theta, d, K, mean_h, std_h),
                                     mean_f, std_f)
    W_f, b_f = moved[:d * K].reshape(d, K), moved[d * K:]
    assert np.allclose(((X - mean_f) / std_f) @ W_f + b_f, ((X - mean_h) / std_h) @ W_h + b_h,
                       rtol=1e-9, atol=1e-9)


def test_softmax_with_string_labels_predicts_labels():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((300, 2))
    y = np.where(X[:, 0] > 0, "pos", "neg")
    m = SoftmaxReadout().fit(X, y)
    assert list(m.classes_) == ["neg", "pos"]
    assert np.mean(m.predict(X) == y) > 0.95
    with pytest.raises(ValueError, match="y contains labels"):
        m.log_loss_bits(X[:2], ["pos", "zero"])


# ====================================================================== online RLS


def test_rls_without_forgetting_converges_to_batch_least_squares():
    rng = np.random.default_rng(12)
    n, d = 400, 5
    X = rng.standard_normal((n, d)) + 0.5
    Y = X @ rng.standard_normal((d, 3)) + 1.0 + 0.3 * rng.standard_normal((n, 3))
    rls = OnlineReadout(n_outputs=3, forgetting=1.0, delta=1e-8)
    for x, y in zip(X, Y):
        rls.partial_fit(x, y)
    A = np.hstack((X, np.ones((n, 1))))
    sol = np.linalg.lstsq(A, Y, rcond=None)[0]
    assert np.allclose(rls.coef_, sol[:d].T, atol=1e-6)
    assert np.allclose(rls.intercept_, sol[d], atol=1e-6)
    # a few rows at a time is the same update
    batched = OnlineReadout(n_outputs=3, forgetting=1.0, delta=1e-8)
    for i in range(0, n, 7):
        batched.partial_fit(X[i:i + 7], Y[i:i + 7])
    assert np.allclose(batched.coef_, rls.coef_, atol=1e-9) and batched.n_seen_ == n


def test_rls_with_forgetting_is_the_exponentially_weighted_ridge_solution():
    # after rows 1..t: argmin sum_i f^(t-i) ||y_i - W^T a_i||^2 + delta f^t ||W||^2, a_i = [x_i, 1]
    rng = np.random.default_rng(16)
    n, d, f, delta = 80, 3, 0.9, 0.5
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, 2))
    A = np.hstack((X, np.ones((n, 1))))
    rls = OnlineReadout(n_outputs=2, forgetting=f, delta=delta)
    seen = 0
    for t in (1, 2, 5, 20, n):  # early on the decayed prior delta f^t matters, later the data
        rls.partial_fit(X[seen:t], Y[seen:t])
        seen = t
        w = f ** np.arange(t - 1, -1, -1)
        sol = np.linalg.solve(A[:t].T @ (w[:, None] * A[:t]) + delta * f ** t * np.eye(d + 1),
                              A[:t].T @ (w[:, None] * Y[:t]))
        assert np.allclose(rls.coef_, sol[:d].T, atol=1e-9), t
        assert np.allclose(rls.intercept_, sol[d], atol=1e-9), t


def _switched_stream_errors(forgetting):
    rng = np.random.default_rng(13)
    n, d = 2000, 4
    X = rng.standard_normal((n, d))
    W1, W2 = rng.standard_normal((d, 2)), rng.standard_normal((d, 2))
    Y = np.where(np.arange(n)[:, None] < n // 2, X @ W1, X @ W2) + 0.1 * rng.standard_normal((n, 2))
    rls = OnlineReadout(n_outputs=2, forgetting=forgetting, delta=1.0)
    err = np.empty(n)
    for t in range(n):  # predict, then observe
        err[t] = np.mean((rls.predict(X[t]) - Y[t]) ** 2) if t else np.nan
        rls.partial_fit(X[t], Y[t])
    return err


def test_rls_with_forgetting_tracks_a_map_that_switches_halfway():
    err = _switched_stream_errors(0.97)  # memory of about 33 rows
    assert np.mean(err[800:1000]) < 0.03  # noise variance 0.01
    assert np.mean(err[1000:1010]) > 1.0  # the switch is visible ...
    assert np.mean(err[1150:1300]) < 0.03  # ... and recovered from within 150 rows
    stale = _switched_stream_errors(1.0)
    assert np.mean(stale[1150:1300]) > 10 * np.mean(err[1150:1300])


def test_rls_covariance_stays_symmetric_and_bounded_under_strong_forgetting():
    # forgetting 0.5 multiplies an unexcited direction's P entry by 2 per row: 2^1500 overflows
    rng = np.random.default_rng(14)
    X = np.hstack((rng.standard_normal((1500, 3)), np.zeros((1500, 1))))
    Y = X[:, :3] @ np.array([[1.0], [-1.0], [2.0]])
    rls = OnlineReadout(n_outputs=1, forgetting=0.5, delta=0.1)
    for i in range(0, 1500, 10):
        rls.partial_fit(X[i:i + 10], Y[i:i + 10])
    assert np.all(np.isfinite(rls.P_)) and np.array_equal(rls.P_, rls.P_.T)
    assert np.max(np.diag(rls.P_)) <= 1.0 / 0.1 * (1 + 1e-12)
    assert np.min(np.linalg.eigvalsh(rls.P_)) > -1e-10
    assert np.allclose(rls.coef_[0, :3], [1.0, -1.0, 2.0], atol=1e-6)
    x_new = np.array([0.5, 0.5, 0.5, 0.0])
    assert rls.predict(x_new) == pytest.approx([1.0], abs=1e-6)


def test_rls_rank_of_gives_reciprocal_ranks_for_one_hot_targets():
    rng = np.random.default_rng(15)
    K = 4
    X = rng.standard_normal((600, 3))
    y = np.argmax(X @ rng.standard_normal((3, K)), axis=1)  # a linear rule
    rls = OnlineReadout(n_outputs=K, forgetting=0.999, delta=1.0)
    rls.partial_fit(X[:500], np.eye(K)[y[:500]])
    ranks = rls.rank_of(X[500:], y[500:])
    assert ranks.shape == (100,) and ranks.dtype.kind == "i"
    assert np.mean(1.0 / ranks) > 0.8  # chance is (1 + 1/2 + 1/3 + 1/4) / 4 = 0.52
    # the same convention as baselines.reciprocal_rank (ties count against the target)
    for x, t in zip(X[500:520], y[500:520]):
        assert 1.0 / rls.rank_of(x, int(t)) == baselines.reciprocal_rank(rls.predict(x), int(t))
    tied = OnlineReadout(n_outputs=3, fit_intercept=False).partial_fit(np.zeros(2), np.zeros(3))
    assert tied.rank_of(np.ones(2), 1) == 3


# ====================================================================== errors and state


def _xy(n=50, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X @ np.arange(1.0, d + 1)


def _labels(n=50):
    return np.arange(n) % 3


@pytest.mark.parametrize("make, X, y, param", [
    (lambda: RidgeReadout(), np.zeros(10), np.zeros(10), "X must be a 2-D"),
    (lambda: RidgeReadout(), np.zeros((10, 2)), np.zeros(9), "same number of rows"),
    (lambda: RidgeReadout(), np.full((10, 2), np.nan), np.zeros(10), "X contains NaN"),
    (lambda: RidgeReadout(), np.zeros((10, 2)), np.r_[np.inf, np.zeros(9)], "Y contains NaN"),
    (lambda: RidgeReadout(), np.zeros((2, 2)), np.zeros(2), "too few for validation_fraction"),
    (lambda: RidgeReadout(alphas=()), np.zeros((10, 2)), np.zeros(10), "alphas must be"),
    (lambda: RidgeReadout(alphas=(1.0, -1.0)), np.zeros((10, 2)), np.zeros(10), "alphas must be"),
    (lambda: RidgeReadout(alphas="1"), np.zeros((10, 2)), np.zeros(10), "alphas must be"),
    (lambda: RidgeReadout(validation_fraction=1.0), np.zeros((10, 2)), np.zeros(10),
     "validation_fraction must be"),
    (lambda: RidgeReadout(fit_intercept="yes"), np.zeros((10, 2)), np.zeros(10),
     "fit_intercept must be"),
    (lambda: RidgeReadout(), np.array([["a", "b"]] * 10), np.zeros(10), "X must be a numeric"),
    (lambda: SoftmaxReadout(), np.zeros((10, 2, 1)), _labels(10), "X must be a 2-D"),
    (lambda: SoftmaxReadout(), np.zeros((10, 2)), _labels(11), "same number of rows"),
    (lambda: SoftmaxReadout(), np.zeros((10, 2)), np.zeros((10, 1)), "y must be a 1-D"),
    (lambda: SoftmaxReadout(), np.zeros((2, 2)), _labels(2), "too few for validation_fraction"),
    (lambda: SoftmaxReadout(l2s=(-1e-3,)), np.zeros((10, 2)), _labels(10), "l2s must be"),
    (lambda: SoftmaxReadout(l2s=[]), np.zeros((10, 2)), _labels(10), "l2s must be"),
    (lambda: SoftmaxReadout(max_iter=0), np.zeros((10, 2)), _labels(10), "max_iter must be"),
    (lambda: SoftmaxReadout(n_classes=1), np.zeros((10, 2)), _labels(10), "n_classes must be"),
    (lambda: SoftmaxReadout(n_classes=2), np.zeros((10, 2)), _labels(10), "n_classes=2"),
    (lambda: SoftmaxReadout(n_classes=3), np.zeros((10, 2)), _labels(10) + 0.5, "n_classes=3"),
    (lambda: SoftmaxReadout(prior_count=-1), np.zeros((10, 2)), _labels(10), "prior_count"),
    (lambda: SoftmaxReadout(), np.zeros((10, 2)), np.zeros(10), "at least 2"),
    (lambda: SoftmaxReadout(validation_fraction=0), np.zeros((10, 2)), _labels(10),
     "validation_fraction must be"),
    (lambda: OnlineReadout(n_outputs=0), np.zeros(2), np.zeros(1), "n_outputs must be"),
    (lambda: OnlineReadout(n_outputs=1, forgetting=0.0), np.zeros(2), np.zeros(1), "forgetting"),
    (lambda: OnlineReadout(n_outputs=1, forgetting=1.5), np.zeros(2), np.zeros(1), "forgetting"),
    (lambda: OnlineReadout(n_outputs=1, delta=0), np.zeros(2), np.zeros(1), "delta must be"),
    (lambda: OnlineReadout(n_outputs=2), np.zeros(2), np.zeros(3), "n_outputs=2"),
    (lambda: OnlineReadout(n_outputs=1), np.zeros((3, 2)), np.zeros((2, 1)), "same number"),
    (lambda: OnlineReadout(n_outputs=1), np.array([np.nan, 1.0]), np.zeros(1), "X contains NaN"),
    (lambda: OnlineReadout(n_outputs=1), np.zeros((1, 2, 2)), np.zeros(1), "X must be a 2-D"),
])
def test_bad_inputs_raise_value_errors_naming_the_parameter(make, X, y, param):
    est = make()
    with pytest.raises(ValueError, match=param):
        (est.partial_fit if isinstance(est, OnlineReadout) else est.fit)(X, y)


def test_using_an_unfitted_readout_raises_not_fitted():
    X = np.zeros((3, 2))
    for call in (RidgeReadout().predict, SoftmaxReadout().predict,
                 SoftmaxReadout().predict_proba, OnlineReadout(n_outputs=2).predict):
        with pytest.raises(NotFittedError, match="not fitted"):
            call(X)
    with pytest.raises(NotFittedError):
        SoftmaxReadout().log_loss_bits(X, [0, 1, 0])
    with pytest.raises(NotFittedError):
        OnlineReadout(n_outputs=2).rank_of(X[0], 1)


def test_wrong_feature_count_at_predict():
    X, y = _xy()
    for est in (RidgeReadout().fit(X, y), SoftmaxReadout().fit(X, _labels()),
                OnlineReadout(n_outputs=1).partial_fit(X, y)):
        with pytest.raises(ValueError, match="X has 4 features, but .* fitted with 3"):
            est.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="X has 4 features"):
        OnlineReadout(n_outputs=1).partial_fit(X, y).partial_fit(np.zeros(4), [0.0])
    with pytest.raises(ValueError, match="true_class must be"):
        OnlineReadout(n_outputs=3).partial_fit(X, np.eye(3)[_labels()]).rank_of(X[0], 3)


def _state(est):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items()}


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


def test_a_failed_fit_leaves_a_fitted_readout_unchanged():
    X, y = _xy()
    ridge = RidgeReadout().fit(X, y)
    soft = SoftmaxReadout().fit(X, _labels())
    rls = OnlineReadout(n_outputs=1).partial_fit(X, y)
    bad_X = X.copy()
    bad_X[-1, 0] = np.nan
    for est, fit, good_y in ((ridge, ridge.fit, y), (soft, soft.fit, _labels()),
                             (rls, rls.partial_fit, y)):
        before = _state(est)
        with pytest.raises(ValueError):
            fit(bad_X, good_y)
        _same(before, _state(est))
    ridge_before = _state(ridge)
    ridge.alphas = (1.0, 0.0)  # a bad parameter set after fitting
    with pytest.raises(ValueError, match="alphas"):
        ridge.fit(X, y)
    ridge.alphas = ridge_before["alphas"]
    _same(ridge_before, _state(ridge))
    # errors found late in validation: row mismatch, too few rows, wrong target width
    before = _state(ridge)
    with pytest.raises(ValueError, match="same number of rows"):
        ridge.fit(np.zeros((20, 5)), np.zeros(19))
    with pytest.raises(ValueError, match="too few"):
        ridge.fit(X[:2], y[:2])
    _same(before, _state(ridge))
    before = _state(soft)
    with pytest.raises(ValueError, match="too few"):
        soft.fit(X[:2], _labels(2))
    with pytest.raises(ValueError, match="n_classes=2"):
        soft.n_classes = 2
        soft.fit(np.zeros((20, 5)), _labels(20))
    soft.n_classes = None
    _same(before, _state(soft))
    before = _state(rls)
    with pytest.raises(ValueError, match="n_outputs=1"):
        rls.partial_fit(X[:3], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="X has 5 features"):
        rls.partial_fit(np.zeros((3, 5)), np.zeros(3))
    _same(before, _state(rls))
