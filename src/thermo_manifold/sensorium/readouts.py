"""Linear readouts for reservoir computing: ridge, softmax regression and online RLS.

A reservoir (the Thermo-Manifold driven by tokens, an echo state network, a decaying bag, or
the current input alone) turns a stream into one fixed-size feature vector per step; a trained
**linear** readout maps those features to predictions (Jaeger 2001; Lukosevicius and Jaeger
2009). Every reservoir row of every sensorium table uses the estimators of this module, so the
rows differ only in their features:

RidgeReadout      multi-output ridge regression for values (series, pixels, audio samples)
SoftmaxReadout    multinomial logistic regression trained by mean negative log-likelihood
                  with L-BFGS, for bytes and classes; `log_loss_bits` is bits per symbol
OnlineReadout     recursive least squares with exponential forgetting, for streams whose rule
                  can change (rule_shift, continuous); fed one-hot rows it gives class scores

Why no hidden layers. The question every table asks is whether the *reservoir* computes
something useful. A readout with hidden units could learn conjunctions of tokens itself and
would hide whether the physics contributed anything; with a linear readout, all memory and all
nonlinearity must come from the reservoir, and `no memory` (the current input alone, through the
same readout) is the floor each reservoir must beat.

Why the validation part is the time-ordered tail. The regularisation strength is chosen on a
validation part of the *training* split, never on the test split. The training rows of a stream
are consecutive in time and neighbouring rows share most of their reservoir state, so a shuffled
validation set would be nearly a copy of the fitting rows and would favour too little
regularisation. Validation is therefore the last `validation_fraction` of the training rows (the
test split comes later still); each candidate is fitted on the rows before it, the best is chosen
by validation error, and the chosen one is refitted on all training rows. With a single
candidate nothing is chosen and no split is made (`validation_scores_` is then empty).

Standardisation. Features are standardised with the mean and standard deviation of the rows the
model is fitted on (a constant feature gets scale 1), so one grid of regularisation strengths is
comparable across feature families of very different scales. `coef_` and `intercept_` are given
in the original feature units. Penalties are per row: ridge minimises
(1/n) ||Y - b - X W||^2 + alpha ||W||^2 and softmax minimises mean NLL + l2 ||W||^2, so a
strength chosen on the fitting rows carries over to the refit on all rows (with a sum-of-squares
loss the same alpha would act 1 - validation_fraction times as strongly per row in the refit as
in the fit that chose it); RidgeReadout's alpha is scikit-learn Ridge's alpha divided by the
number of rows. The intercepts of both are never penalised (the online readout's intercept
column shares its decaying `delta` prior).

Conventions. These are scikit-learn style estimators, not frozen-dataclass configs: constructor
parameters are stored as given and validated in `fit` / `partial_fit`, errors are `ValueError`
naming the parameter and what is allowed, using an estimator before it is fitted raises
`sklearn.exceptions.NotFittedError`, and a failed `fit` leaves an already fitted estimator as it
was (everything is validated and computed before any attribute is assigned). Work is in float64.
SciPy (a dependency of scikit-learn) provides L-BFGS; it and scikit-learn are imported lazily.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

_LN2 = math.log(2.0)

# ====================================================================== validation helpers


def _not_fitted(estimator: object, method: str) -> Exception:
    from sklearn.exceptions import NotFittedError

    name = type(estimator).__name__
    return NotFittedError(f"This {name} instance is not fitted yet; call 'fit' (or "
                          f"'partial_fit') with training data before calling '{method}'.")


def _check_matrix(name: str, X: Any) -> np.ndarray:
    """X as a finite float64 2-D array with at least one row and one column."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array; got {type(X).__name__} that cannot "
                         f"be converted to float64 ({exc})") from None
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features); got "
                         f"shape {arr.shape}. Reshape a single feature with x.reshape(-1, 1) "
                         f"or a single sample with x.reshape(1, -1).")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column; got shape "
                         f"{arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity; remove or impute those values")
    return arr


def _check_features(estimator: object, name: str, X: Any, n_features: int) -> np.ndarray:
    arr = _check_matrix(name, X)
    if arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, but {type(estimator).__name__} "
                         f"was fitted with {n_features} features")
    return arr


def _check_same_rows(x_name: str, n_x: int, y_name: str, n_y: int) -> None:
    if n_x != n_y:
        raise ValueError(f"{x_name} and {y_name} must have the same number of rows; got "
                         f"{n_x} and {n_y}")


def _check_candidates(name: str, values: Any, allow_zero: bool) -> tuple[float, ...]:
    kind = "non-negative" if allow_zero else "positive"
    msg = f"{name} must be a non-empty sequence of {kind} finite floats; got {values!r}"
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise ValueError(msg)
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, Real):
            raise ValueError(msg)
        v = float(v)
        if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
            raise ValueError(msg)
        out.append(v)
    if not out:
        raise ValueError(msg)
    return tuple(dict.fromkeys(out))  # duplicates removed, order kept


def _check_fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"validation_fraction must be a float in the open interval (0, 1); "
                         f"got {value!r}")
    return float(value)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _check_real(name: str, value: Any, low: float, low_open: bool, high: float | None = None,
                high_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low)
        if high is not None:
            ok = ok and (v < high if high_open else v <= high)
    if not ok:
        lo = f"{'(' if low_open else '['}{low:g}"
        hi = f"{high:g}{')' if high_open else ']'}" if high is not None else "inf)"
        raise ValueError(f"{name} must be a finite float in {lo}, {hi}; got {value!r}")
    return float(value)


def _validation_split(n_rows: int, fraction: float, x_name: str = "X") -> int:
    """Number of fitting rows: the last round(fraction * n) rows (at least 1) validate."""
    n_val = max(1, int(round(fraction * n_rows)))
    n_fit = n_rows - n_val
    if n_fit < 2:
        raise ValueError(
            f"{x_name} has {n_rows} rows, too few for validation_fraction={fraction:g}: choosing "
            f"among several candidates needs at least 2 fitting rows followed by {n_val} "
            f"validation row(s); pass more rows or a single candidate")
    return n_fit


def _scaler(X: np.ndarray, center: bool, scale: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (mean, std) of X; mean 0 without centering, std 1 without scaling, and std 1
    where a feature is constant (up to round-off)."""
    mean = X.mean(axis=0)
    if scale:
        std = X.std(axis=0)
        std[std <= 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))] = 1.0
    else:
        std = np.ones(X.shape[1])
    if not center:
        mean = np.zeros(X.shape[1])
    return mean, std


# ====================================================================== ridge regression


def _ridge_solutions(Xs: np.ndarray, Yc: np.ndarray, alphas: Sequence[float]
                     ) -> list[np.ndarray]:
    """argmin_W (1/n)||Yc - Xs W||^2 + alpha ||W||^2 for every alpha, from one eigendecomposition
    of the Gram matrix Xs^T Xs = V diag(e) V^T: W = V diag(1 / (e + n alpha)) V^T Xs^T Yc.
    (The d x d Gram matrix rather than an SVD of the n x d data: the same solutions, with memory
    that does not grow with the number of rows.)"""
    n = Xs.shape[0]
    e, V = np.linalg.eigh(Xs.T @ Xs)
    e = np.clip(e, 0.0, None)
    Z = V.T @ (Xs.T @ Yc)
    return [V @ (Z / (e + n * a)[:, None]) for a in alphas]


class RidgeReadout:
    """Multi-output ridge regression, regularisation chosen on the training split's tail.

    Minimises (1/n) sum_i ||y_i - b - W^T x_i||^2 + alpha ||W||_F^2 on standardised features
    (see the module docstring), with alpha chosen from `alphas` by validation mean squared
    error on the last `validation_fraction` of the rows given to `fit`, then refitted on all of
    them.

    Parameters
    ----------
    alphas : sequence of positive floats
        Candidate penalty strengths (per row, on standardised features).
    validation_fraction : float in (0, 1)
        Share of the training rows, taken from the end, that validates the candidates.
    fit_intercept : bool
        Fit an unpenalised intercept (features and targets are centred).
    standardize : bool
        Divide each feature by its standard deviation on the fitting rows.

    Attributes (after fit)
    ----------------------
    alpha_ : float                 the chosen alpha
    coef_ : (n_outputs, n_features), or (n_features,) for 1-D Y, in original feature units
    intercept_ : (n_outputs,) or float
    validation_scores_ : dict      alpha -> validation MSE (empty with a single alpha)
    n_features_in_ : int
    """

    def __init__(self, alphas: Sequence[float] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0,
                                                  10.0, 100.0),
                 validation_fraction: float = 0.2, fit_intercept: bool = True,
                 standardize: bool = True):
        self.alphas = alphas
        self.validation_fraction = validation_fraction
        self.fit_intercept = fit_intercept
        self.standardize = standardize

    def _fit_one(self, X: np.ndarray, Y: np.ndarray, alphas: Sequence[float], center: bool,
                 scale: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        mean, std = _scaler(X, center, scale)
        y_mean = Y.mean(axis=0) if center else np.zeros(Y.shape[1])
        sols = _ridge_solutions((X - mean) / std, Y - y_mean, alphas)
        out = []
        for W in sols:
            coef = W / std[:, None]  # (n_features, n_outputs) in original units
            out.append((coef, y_mean - mean @ coef))
        return out

    def fit(self, X: Any, Y: Any) -> "RidgeReadout":
        """Choose alpha on the time-ordered validation tail, then refit on all rows."""
        alphas = _check_candidates("alphas", self.alphas, allow_zero=False)
        fraction = _check_fraction(self.validation_fraction)
        center = _check_bool("fit_intercept", self.fit_intercept)
        scale = _check_bool("standardize", self.standardize)
        X = _check_matrix("X", X)
        Y_arr = np.asarray(Y)
        one_d = Y_arr.ndim == 1
        Y = _check_matrix("Y", Y_arr[:, None] if one_d else Y_arr)
        _check_same_rows("X", X.shape[0], "Y", Y.shape[0])
        n = X.shape[0]

        scores: dict[float, float] = {}
        if len(alphas) > 1:
            n_fit = _validation_split(n, fraction)
            X_val, Y_val = X[n_fit:], Y[n_fit:]
            for a, (coef, icpt) in zip(alphas, self._fit_one(X[:n_fit], Y[:n_fit], alphas,
                                                             center, scale)):
                scores[a] = float(np.mean((X_val @ coef + icpt - Y_val) ** 2))
            # the smallest validation error; exact ties go to the larger (simpler) alpha
            alpha = min(alphas, key=lambda a: (scores[a], -a))
        else:
            alpha = alphas[0]
        ((coef, icpt),) = self._fit_one(X, Y, [alpha], center, scale)

        self.alpha_ = alpha
        self.validation_scores_ = scores
        self.coef_ = coef.T[0] if one_d else coef.T
        self.intercept_ = float(icpt[0]) if one_d else icpt
        self.n_features_in_ = X.shape[1]
        self._one_d = one_d
        return self

    def predict(self, X: Any) -> np.ndarray:
        """(n_samples, n_outputs) predictions, or (n_samples,) if fitted on 1-D Y."""
        if not hasattr(self, "coef_"):
            raise _not_fitted(self, "predict")
        X = _check_features(self, "X", X, self.n_features_in_)
        return X @ self.coef_.T + self.intercept_

    def score(self, X: Any, Y: Any) -> float:
        """Coefficient of determination R^2, averaged uniformly over outputs."""
        pred = self.predict(X)
        Y = np.asarray(Y, dtype=np.float64).reshape(pred.shape)
        ss_res = ((Y - pred) ** 2).sum(axis=0)
        ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
        return float(np.mean(1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0)))


# ====================================================================== softmax regression


def _log_softmax_inplace(Z: np.ndarray) -> np.ndarray:
    """Z <- Z - logsumexp(Z, axis=1), stably (the row maximum is subtracted first)."""
    Z -= Z.max(axis=1, keepdims=True)
    Z -= np.log(np.exp(Z).sum(axis=1, keepdims=True))
    return Z


def _softmax_objective(theta: np.ndarray, X: np.ndarray, y: np.ndarray, n_classes: int,
                       l2: float, prior_count: float) -> tuple[float, np.ndarray]:
    """Objective and gradient of the softmax readout.

    theta = [W.ravel() (n_features x n_classes), b (n_classes)];
    f = (1/n) [sum_i -log p(y_i | x_i) + (prior_count / K) sum_k -log softmax(b)_k]
        + l2 ||W||^2,
    the prior term being prior_count pseudo-observations at x = 0 (the centre of the
    standardised features) spread evenly over the K classes: an additive smoothing that keeps
    every class's probability above zero; it acts through the bias only. The bias carries no
    L2 penalty.
    """
    n, d = X.shape
    K = n_classes
    W = theta[:d * K].reshape(d, K)
    b = theta[d * K:]
    rows = np.arange(n)
    G = _log_softmax_inplace(X @ W + b)  # log-probabilities
    nll = -G[rows, y].sum()
    np.exp(G, out=G)  # probabilities
    G[rows, y] -= 1.0  # d(sum NLL)/dZ
    gW = X.T @ G
    gb = G.sum(axis=0)
    if prior_count > 0:
        lb = b - b.max()
        lb = lb - np.log(np.exp(lb).sum())
        nll -= prior_count / K * lb.sum()
        gb = gb + prior_count * (np.exp(lb) - 1.0 / K)
    f = nll / n + l2 * float(np.sum(W * W))
    grad = np.concatenate(((gW / n + 2.0 * l2 * W).ravel(), gb / n))
    return float(f), grad


class SoftmaxReadout:
    """Multinomial logistic regression (softmax) by L-BFGS, L2 chosen on the training tail.

    Minimises mean NLL + l2 ||W||_F^2 (no penalty on the bias) on standardised features with
    scipy's L-BFGS-B and an analytic gradient; l2 is chosen from `l2s` by validation log-loss on
    the last `validation_fraction` of the training rows (candidates fitted from the largest l2
    down, each warm-started from the previous), then the model is refitted on all training rows,
    warm-started from the chosen candidate's solution.

    Parameters
    ----------
    l2s : sequence of non-negative floats
        Candidate penalty strengths (per row, on standardised features).
    validation_fraction : float in (0, 1)
    max_iter : int >= 1
        L-BFGS iterations per fit.
    n_classes : int >= 2 or None
        Fix the classes to 0 .. n_classes - 1 (for example 256 bytes) even if some never occur
        in training; None takes the sorted distinct labels of y (any hashable labels).
    prior_count : float >= 0
        Pseudo-observations, spread evenly over the classes, through the bias only (see
        `_softmax_objective`): with no informative features a class seen n_k times in n rows
        gets probability (n_k + prior_count / K) / (n + prior_count), so a class never seen in
        training gets a small but non-zero probability. 0 gives the plain maximum-likelihood
        fit, under which an unseen class's probability is limited only by the optimiser.
    tol : float > 0
        L-BFGS tolerance on the projected gradient of the objective (a per-row mean).
    standardize : bool

    Attributes (after fit)
    ----------------------
    classes_ : (n_classes,)        labels, in the order of the probability columns
    coef_ : (n_classes, n_features) in original feature units;  intercept_ : (n_classes,)
    l2_ : float                    the chosen l2
    validation_scores_ : dict      l2 -> validation log-loss in bits per symbol
    n_iter_ : int, converged_ : bool   of the final refit
    n_features_in_ : int
    """

    def __init__(self, l2s: Sequence[float] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1),
                 validation_fraction: float = 0.2, max_iter: int = 500,
                 n_classes: int | None = None, prior_count: float = 1.0, tol: float = 1e-6,
                 standardize: bool = True):
        self.l2s = l2s
        self.validation_fraction = validation_fraction
        self.max_iter = max_iter
        self.n_classes = n_classes
        self.prior_count = prior_count
        self.tol = tol
        self.standardize = standardize

    # ------------------------------------------------------------------ helpers
    def _labels(self, y: Any, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """(classes, class indices of y), validated."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-D array of class labels; got shape {y.shape}")
        _check_same_rows("X", n_rows, "y", y.shape[0])
        if self.n_classes is not None:
            K = _check_int("n_classes", self.n_classes, 2)
            try:
                yf = y.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"y must hold integer labels in [0, n_classes={K}) when "
                                 f"n_classes is set; got dtype {y.dtype}") from None
            if not np.all(np.isfinite(yf)) or np.any(yf != np.round(yf)) or np.any(yf < 0) \
                    or np.any(yf >= K):
                raise ValueError(f"y must hold integer labels in [0, n_classes={K}) when "
                                 f"n_classes is set; got values in "
                                 f"[{yf.min() if yf.size else 0:g}, "
                                 f"{yf.max() if yf.size else 0:g}]")
            return np.arange(K), yf.astype(np.int64)
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinity")
        classes, idx = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"y has {classes.size} distinct class(es); a softmax readout needs "
                             f"at least 2, or pass n_classes to fix the class set")
        return classes, idx.astype(np.int64)

    def _minimize(self, theta0: np.ndarray, Xs: np.ndarray, y: np.ndarray, K: int, l2: float,
                  prior: float, max_iter: int, tol: float) -> Any:
        from scipy.optimize import minimize
        from threadpoolctl import threadpool_limits

        # One BLAS thread: L-BFGS-B's own vector updates (tens of thousands of parameters) run
        # 7x slower on two OpenBLAS threads than on one on a busy 2-core machine (measured:
        # 9.8 s against 1.4 s for a 1,500 x 700 fit with 53 classes), and the objective's matrix
        # products were measured no faster on two (20,000 x 1,000, 100 classes: 10.9 s both).
        with threadpool_limits(limits=1, user_api="blas"):
            return minimize(_softmax_objective, theta0, args=(Xs, y, K, l2, prior), jac=True,
                            method="L-BFGS-B",
                            # near a minimum f falls by about |g|^2 / curvature per step, so a
                            # relative-decrease stop of tol^2 does not end the run before
                            # |g| < tol
                            options={"maxiter": max_iter, "gtol": tol, "ftol": tol * tol})

    @staticmethod
    def _to_raw(theta: np.ndarray, d: int, K: int, mean: np.ndarray, std: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        W = theta[:d * K].reshape(d, K) / std[:, None]
        return W, theta[d * K:] - mean @ W

    @staticmethod
    def _from_raw(W: np.ndarray, b: np.ndarray, mean: np.ndarray, std: np.ndarray
                  ) -> np.ndarray:
        return np.concatenate(((W * std[:, None]).ravel(), b + mean @ W))

    # ------------------------------------------------------------------ API
    def fit(self, X: Any, y: Any) -> "SoftmaxReadout":
        """Choose l2 on the time-ordered validation tail, then refit on all rows."""
        l2s = _check_candidates("l2s", self.l2s, allow_zero=True)
        fraction = _check_fraction(self.validation_fraction)
        max_iter = _check_int("max_iter", self.max_iter, 1)
        prior = _check_real("prior_count", self.prior_count, 0.0, low_open=False)
        tol = _check_real("tol", self.tol, 0.0, low_open=True)
        scale = _check_bool("standardize", self.standardize)
        if self.n_classes is not None:
            _check_int("n_classes", self.n_classes, 2)
        X = _check_matrix("X", X)
        classes, idx = self._labels(y, X.shape[0])
        n, d = X.shape
        K = classes.size
        n_fit = _validation_split(n, fraction) if len(l2s) > 1 else n

        def init(rows: np.ndarray) -> np.ndarray:
            a = prior if prior > 0 else 1.0
            counts = np.bincount(rows, minlength=K)
            b = np.log((counts + a / K) / (rows.size + a))
            return np.concatenate((np.zeros(d * K), b - b.mean()))

        scores: dict[float, float] = {}
        if len(l2s) > 1:
            Xh, yh = X[:n_fit], idx[:n_fit]
            mean_h, std_h = _scaler(Xh, True, scale)
            Xhs = (Xh - mean_h) / std_h
            theta = init(yh)
            solutions = {}
            for l2 in sorted(l2s, reverse=True):  # strong to weak penalty, warm-started
                theta = self._minimize(theta, Xhs, yh, K, l2, prior, max_iter, tol).x
                W, b = self._to_raw(theta, d, K, mean_h, std_h)
                solutions[l2] = (W, b)
                scores[l2] = _mean_bits(X[n_fit:] @ W + b, idx[n_fit:])
            l2 = min(l2s, key=lambda v: (scores[v], -v))
            W0, b0 = solutions[l2]
        else:
            l2 = l2s[0]
        mean, std = _scaler(X, True, scale)
        theta0 = self._from_raw(W0, b0, mean, std) if scores else init(idx)
        res = self._minimize(theta0, (X - mean) / std, idx, K, l2, prior, max_iter, tol)
        W, b = self._to_raw(res.x, d, K, mean, std)

        self.classes_ = classes
        self.coef_ = W.T.copy()
        self.intercept_ = b
        self.l2_ = l2
        self.validation_scores_ = scores
        self.n_iter_ = int(res.nit)
        self.converged_ = bool(res.success)
        self.n_features_in_ = d
        return self

    def _logits(self, X: Any, method: str) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise _not_fitted(self, method)
        X = _check_features(self, "X", X, self.n_features_in_)
        return X @ self.coef_.T + self.intercept_

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """(n_samples, n_classes) natural-log probabilities."""
        return _log_softmax_inplace(self._logits(X, "predict_log_proba"))

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n_samples, n_classes) probabilities; each row sums to 1."""
        return np.exp(_log_softmax_inplace(self._logits(X, "predict_proba")))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each row."""
        Z = self._logits(X, "predict")
        return self.classes_[np.argmax(Z, axis=1)]

    def log_loss_bits(self, X: Any, y: Any) -> float:
        """Mean -log2 p(true class) over the rows: bits per symbol (bits per byte for bytes)."""
        Z = self._logits(X, "log_loss_bits")
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-D array of class labels; got shape {y.shape}")
        _check_same_rows("X", Z.shape[0], "y", y.shape[0])
        pos = np.searchsorted(self.classes_, y)
        pos = np.clip(pos, 0, self.classes_.size - 1)
        if not np.all(self.classes_[pos] == y):
            bad = y[self.classes_[pos] != y][:5]
            shown = self.classes_.tolist()[:10]
            more = "..." if self.classes_.size > 10 else ""
            raise ValueError(f"y contains labels the readout was not fitted with "
                             f"(for example {bad.tolist()}); classes_ are {shown}{more}; "
                             f"pass n_classes to fit to fix the class set")
        return _mean_bits(Z, pos)

    def score(self, X: Any, y: Any) -> float:
        """Accuracy."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


def _mean_bits(Z: np.ndarray, idx: np.ndarray) -> float:
    logp = _log_softmax_inplace(np.array(Z, dtype=np.float64))
    return float(-logp[np.arange(idx.size), idx].mean() / _LN2)


# ====================================================================== online RLS


class OnlineReadout:
    """Recursive least squares with exponential forgetting, one row (or a few) at a time.

    After rows 1..t the weights minimise
        sum_i forgetting^(t-i) ||y_i - W^T [x_i, 1]||^2 + delta forgetting^t ||W||^2,
    so old rows fade with time constant 1 / (1 - forgetting) rows and the readout tracks a rule
    that changes; forgetting = 1 is ordinary (ridge-started) least squares over all rows. The
    standard update with the inverse correlation matrix P (Haykin, Adaptive Filter Theory):
        k = P x / (forgetting + x^T P x),  W += k (y - W^T x)^T,  P = (P - k (P x)^T) / forgetting.
    Features are used as given (no standardisation is possible online), so choose `delta` for
    their scale; the intercept column, when fitted, is regularised like the features.

    Numerical guards, both needed only because of floating point or of forgetting:
    * P is symmetrised, (P + P^T) / 2, after every update. The update subtracts two nearly equal
      matrices, and its round-off is not symmetric; with forgetting < 1 every step also divides
      the error by forgetting, so the asymmetric part grows until P is no longer positive
      definite, the gain k points the wrong way and the filter diverges - the classic instability
      of the conventional RLS form (Verhaegen 1989; Haykin, ch. on finite-precision effects).
      Without it, the 4-feature, forgetting-0.97 stream of the tests overflows within 2,000 rows.
    * Anti-windup: P's diagonal is capped at its initial value 1 / delta by a symmetric rescaling
      P <- D P D (D diagonal, entries <= 1), which keeps P symmetric positive semi-definite. With
      forgetting < 1 a direction the inputs stop exciting (a feature stuck at 0, a token no longer
      seen) has its P entry multiplied by 1 / forgetting every row, growing like forgetting^-t
      until it overflows. The cap never acts when forgetting = 1 (P then only shrinks) and, in
      practice, not in excited directions, whose variance is about (1 - forgetting) / E[x^2].

    Parameters
    ----------
    n_outputs : int >= 1
        Width of the targets (the number of classes when fed one-hot rows).
    forgetting : float in (0, 1]
    delta : float > 0
        Initial regularisation: P starts at I / delta.
    fit_intercept : bool

    Attributes (after the first partial_fit)
    ----------------------------------------
    coef_ : (n_outputs, n_features);  intercept_ : (n_outputs,);  P_ : the inverse correlation
    matrix (intercept last);  n_features_in_ : int;  n_seen_ : rows seen so far
    """

    def __init__(self, n_outputs: int, forgetting: float = 0.999, delta: float = 1.0,
                 fit_intercept: bool = True):
        self.n_outputs = n_outputs
        self.forgetting = forgetting
        self.delta = delta
        self.fit_intercept = fit_intercept

    def _check_params(self) -> tuple[int, float, float, bool]:
        m = _check_int("n_outputs", self.n_outputs, 1)
        lam = _check_real("forgetting", self.forgetting, 0.0, low_open=True, high=1.0)
        delta = _check_real("delta", self.delta, 0.0, low_open=True)
        icpt = _check_bool("fit_intercept", self.fit_intercept)
        return m, lam, delta, icpt

    def _rows(self, X: Any) -> tuple[np.ndarray, bool]:
        arr = np.asarray(X)
        single = arr.ndim == 1
        X = _check_matrix("X", arr[None, :] if single else arr)
        if hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} was "
                             f"fitted with {self.n_features_in_} features")
        return X, single

    def partial_fit(self, X: Any, Y: Any) -> "OnlineReadout":
        """Update with one row (x of shape (n_features,), y of shape (n_outputs,)) or a few
        rows ((n, n_features), (n, n_outputs)), in order."""
        m, lam, delta, icpt = self._check_params()
        if hasattr(self, "P_") and (m, icpt) != (self._n_outputs, self._intercept):
            raise ValueError("n_outputs and fit_intercept cannot change after the first "
                             "partial_fit; create a new OnlineReadout")
        X, single = self._rows(X)
        Y = np.asarray(Y)
        if Y.ndim == 1:
            Y = Y[None, :] if single else (Y[:, None] if m == 1 else Y)
        Y = _check_matrix("Y", Y)
        _check_same_rows("X", X.shape[0], "Y", Y.shape[0])
        if Y.shape[1] != m:
            raise ValueError(f"Y has {Y.shape[1]} columns, but n_outputs={m}")

        if icpt:
            X = np.hstack((X, np.ones((X.shape[0], 1))))
        if hasattr(self, "P_"):
            P, W = self.P_.copy(), self.W_.copy()
        else:
            P, W = np.eye(X.shape[1]) / delta, np.zeros((X.shape[1], m))
        p_max = 1.0 / delta
        for x, y in zip(X, Y):
            Px = P @ x
            k = Px / (lam + x @ Px)
            W += np.outer(k, y - x @ W)
            P -= np.outer(k, Px)
            if lam != 1.0:
                P /= lam
            P = 0.5 * (P + P.T)
            diag = np.diag(P)
            if np.any(diag > p_max):
                s = np.sqrt(np.minimum(1.0, p_max / diag))
                P = P * s[:, None] * s[None, :]
        if not (np.all(np.isfinite(P)) and np.all(np.isfinite(W))):
            raise FloatingPointError("the RLS update produced non-finite values; the readout "
                                     "was left unchanged (try a larger delta)")

        self.P_, self.W_ = P, W
        self.n_features_in_ = X.shape[1] - int(icpt)
        self.n_seen_ = getattr(self, "n_seen_", 0) + X.shape[0]
        self._n_outputs, self._intercept = m, icpt
        return self

    @property
    def coef_(self) -> np.ndarray:
        if not hasattr(self, "W_"):
            raise _not_fitted(self, "coef_")
        return self.W_[:self.n_features_in_].T

    @property
    def intercept_(self) -> np.ndarray:
        if not hasattr(self, "W_"):
            raise _not_fitted(self, "intercept_")
        return self.W_[self.n_features_in_] if self._intercept else np.zeros(self._n_outputs)

    def predict(self, X: Any) -> np.ndarray:
        """Scores (n_outputs,) for one row x, or (n, n_outputs) for rows X."""
        if not hasattr(self, "W_"):
            raise _not_fitted(self, "predict")
        X, single = self._rows(X)
        out = X @ self.coef_.T + self.intercept_
        return out[0] if single else out

    def rank_of(self, X: Any, true_class: Any) -> Any:
        """Rank (1 = best) of `true_class` under descending scores; ties count against the true
        class, as in `baselines.reciprocal_rank`. One row and an int give an int; rows and an
        array of classes give an int array. Mean reciprocal rank is mean(1 / rank)."""
        scores = self.predict(X)
        single = scores.ndim == 1
        S = scores[None, :] if single else scores
        t = np.asarray(true_class)
        t_rows = t.reshape(1) if t.ndim == 0 else t
        if t_rows.ndim != 1 or t_rows.shape[0] != S.shape[0] or t_rows.dtype.kind not in "iu" \
                or np.any(t_rows < 0) or np.any(t_rows >= S.shape[1]):
            raise ValueError(f"true_class must be one integer in [0, n_outputs={S.shape[1]}) per "
                             f"row of X; got {true_class!r}")
        target = S[np.arange(S.shape[0]), t_rows]
        ranks = (S >= target[:, None]).sum(axis=1)
        return int(ranks[0]) if single else ranks


__all__ = ["OnlineReadout", "RidgeReadout", "SoftmaxReadout"]
