"""Feature reservoirs without physics: the rows every manifold-reservoir table is compared with.

Reservoir computing (Jaeger 2001; Maass et al. 2002; Tanaka et al. 2019) drives a fixed dynamical
system with an input stream and reads a fixed-size feature vector per input; only a linear readout
is trained. Issue 14 makes the Thermo-Manifold such a reservoir. To know whether its physics
contributes anything, each table puts it beside feature extractors that have memory but no
physics, all behind the same interface and the same readout:

EchoStateNetwork  the leaky-tanh echo state network (Jaeger 2001; Lukosevicius 2012), the
                  reference reservoir: memory and nonlinearity from a random recurrent matrix
DecayingBag       exponential moving averages of the input at several time scales: memory that
                  is linear and has no interactions between inputs
NoMemory          the current input alone: the floor every reservoir must beat

and `memory_capacity`, Jaeger's test of how far back a reservoir's state still tells which input
came: drive with i.i.d. inputs, fit a ridge readout to recall the input k steps back, score it on
later (held-out) time steps.

Inputs (`InputEncoding`). A reservoir is built for one of two input kinds, chosen by exactly one
of its keyword arguments:

- ``vocab=V``: discrete tokens, Python or NumPy integers in [0, V) (a `bytes` object is a stream
  of tokens in [0, 256)). A token enters as its one-hot vector e_u in R^V; reservoirs never build
  that vector when they can avoid it (the ESN gathers column u of its input matrix).
- ``input_dim=D``: real values; a step takes a float (D = 1) or a length-D vector, a stream is
  (T,) for D = 1 or (T, D). Integer arrays are accepted as values; NaN or infinity is an error.

Every reservoir has `n_features` (fixed by its parameters, never by the stream length),
`reset()`, `step(u) -> (n_features,)` and `transform(stream) -> (T, n_features)`, which resets and
steps through the stream (the state after the last token is kept, so `step` can continue it).
Inputs are validated before any state changes; a bad parameter or input raises ValueError naming
it and what is allowed. Everything is float64 NumPy, seeded from `np.random.default_rng(seed)`
and deterministic.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

try:  # scipy is optional: CSR products are ~2x (500 units) to ~8x (2,000 units) faster
    import scipy.sparse as _sparse
    import scipy.sparse.linalg as _sparse_linalg
except ImportError:  # pragma: no cover - exercised only without scipy
    _sparse = None
    _sparse_linalg = None

# The spectral radius is computed exactly (dense eigvals) up to this many units; above it,
# ARPACK (scipy) finds the largest-magnitude eigenvalue of the sparse matrix.
_DENSE_EIGVALS_MAX_UNITS = 2000
# Stored as CSR (when scipy is present) at or below this density.
_SPARSE_MAX_DENSITY = 0.5
# Steps whose input drive is gathered at once in `EchoStateNetwork.transform`.
_CHUNK = 1024

__all__ = [
    "DecayingBag",
    "EchoStateNetwork",
    "FeatureReservoir",
    "InputEncoding",
    "MemoryCapacity",
    "NoMemory",
    "memory_capacity",
]


# ====================================================================== parameter checks


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def _check_real(name: str, value: Any, low: float, high: float, *, low_open: bool,
                high_open: bool = False) -> float:
    interval = (("(" if low_open else "[") + f"{low:g}, {high:g}" + (")" if high_open else "]"))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number in {interval}; got {value!r}")
    v = float(value)
    above = v > low if low_open else v >= low
    below = v < high if high_open else v <= high
    if not (math.isfinite(v) and above and below):
        raise ValueError(f"{name} must be a real number in {interval}; got {value!r}")
    return v


# ====================================================================== inputs


@dataclass(frozen=True)
class InputEncoding:
    """How a reservoir reads its input: ``kind="token"`` (one-hot over `size` = vocab) or
    ``kind="value"`` (a real vector of length `size` = input_dim). Build with `tokens(vocab)`,
    `values(input_dim)` or `from_args(vocab, input_dim)` (exactly one of the two given)."""

    kind: str
    size: int

    def __post_init__(self) -> None:
        if self.kind not in ("token", "value"):
            raise ValueError(f"kind must be 'token' or 'value'; got {self.kind!r}")
        if self.kind == "token":
            _check_int("vocab", self.size, 2)
        else:
            _check_int("input_dim", self.size, 1)

    @classmethod
    def tokens(cls, vocab: int) -> InputEncoding:
        return cls("token", vocab)

    @classmethod
    def values(cls, input_dim: int = 1) -> InputEncoding:
        return cls("value", input_dim)

    @classmethod
    def from_args(cls, vocab: int | None, input_dim: int | None) -> InputEncoding:
        if (vocab is None) == (input_dim is None):
            raise ValueError("give exactly one of vocab (discrete tokens in [0, vocab)) and "
                             f"input_dim (real-valued inputs); got vocab={vocab!r}, "
                             f"input_dim={input_dim!r}")
        return cls.tokens(vocab) if vocab is not None else cls.values(input_dim)

    @property
    def is_token(self) -> bool:
        return self.kind == "token"

    def __str__(self) -> str:
        return f"vocab={self.size}" if self.is_token else f"input_dim={self.size}"

    # ------------------------------------------------------------------ validation

    def check_input(self, u: Any) -> int | np.ndarray:
        """One input, validated: an int token, or a float64 vector of length `size`."""
        if self.is_token:
            if isinstance(u, np.ndarray) and u.ndim == 0:
                u = u[()]
            if isinstance(u, (bool, np.bool_)) or not isinstance(u, Integral):
                raise ValueError(f"a token must be an integer in [0, {self.size}); got {u!r} "
                                 f"of type {type(u).__name__}")
            if not 0 <= u < self.size:
                raise ValueError(f"a token must be in [0, {self.size}) (vocab={self.size}); "
                                 f"got {u}")
            return int(u)
        arr = self._as_numeric(u, "a value")
        if arr.ndim == 0 and self.size == 1:
            arr = arr.reshape(1)
        if arr.shape != (self.size,):
            allowed = "a scalar or shape (1,)" if self.size == 1 else f"shape ({self.size},)"
            raise ValueError(f"a value must be {allowed} (input_dim={self.size}); got shape "
                             f"{arr.shape}")
        self._check_finite(arr, "a value")
        return arr

    def check_stream(self, stream: Any) -> np.ndarray:
        """A whole stream, validated: int64 (T,) tokens, or float64 (T, size) values."""
        if isinstance(stream, (bytes, bytearray, memoryview)):
            arr = np.frombuffer(bytes(stream), dtype=np.uint8)
        else:
            try:
                arr = np.asarray(stream)
            except (ValueError, TypeError) as exc:  # ragged nested sequences
                raise ValueError(f"stream must be a 1-D sequence of inputs; {exc}") from None
        if arr.size == 0:
            raise ValueError("stream is empty: give at least one input")
        if self.is_token:
            if arr.dtype.kind not in "iu":
                raise ValueError(f"a token stream must hold integers in [0, {self.size}); got "
                                 f"dtype {arr.dtype} (cast with .astype(int) if the values "
                                 "are token ids)")
            if arr.ndim != 1:
                raise ValueError(f"a token stream must be 1-D (T,); got shape {arr.shape}")
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 0 or hi >= self.size:
                bad = lo if lo < 0 else hi
                raise ValueError(f"tokens must be in [0, {self.size}) (vocab={self.size}); "
                                 f"the stream holds {bad}")
            return arr.astype(np.int64, copy=False)
        arr = self._as_numeric(arr, "a value stream")
        if arr.ndim == 1 and self.size == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] != self.size:
            allowed = "(T,) or (T, 1)" if self.size == 1 else f"(T, {self.size})"
            raise ValueError(f"a value stream must have shape {allowed} (input_dim="
                             f"{self.size}); got shape {arr.shape}")
        self._check_finite(arr, "a value stream")
        return arr

    @staticmethod
    def _as_numeric(u: Any, what: str) -> np.ndarray:
        try:
            arr = np.asarray(u)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{what} must be real numbers; {exc}") from None
        if arr.dtype.kind not in "iuf":
            raise ValueError(f"{what} must hold real numbers (int or float); got dtype "
                             f"{arr.dtype}")
        return arr.astype(np.float64, copy=False)

    @staticmethod
    def _check_finite(arr: np.ndarray, what: str) -> None:
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} must be finite; it holds NaN or infinity")

    # ------------------------------------------------------------------ dense form

    def dense(self, u: int | np.ndarray) -> np.ndarray:
        """The input as a vector of length `size` (one-hot for a token); `u` validated."""
        if self.is_token:
            v = np.zeros(self.size)
            v[u] = 1.0
            return v
        return np.array(u, dtype=np.float64)

    def dense_stream(self, arr: np.ndarray) -> np.ndarray:
        """A validated stream as a (T, size) matrix (one-hot rows for tokens)."""
        if self.is_token:
            out = np.zeros((len(arr), self.size))
            out[np.arange(len(arr)), arr] = 1.0
            return out
        return np.array(arr, dtype=np.float64)


# ====================================================================== the interface


class FeatureReservoir(ABC):
    """A driven system read as a fixed-size feature vector per input.

    Subclasses set `encoding` and implement `n_features`, `reset` and `_step` (which receives an
    already validated input: an int token or a float64 vector and returns the current features,
    possibly an internal buffer). `step` and `transform` validate, then call `_step`; their
    results are always fresh arrays the caller owns.
    """

    encoding: InputEncoding

    @property
    @abstractmethod
    def n_features(self) -> int:
        """Length of the feature vector, fixed by the parameters."""

    @abstractmethod
    def reset(self) -> None:
        """Return to the initial state (before any input)."""

    @abstractmethod
    def _step(self, u: int | np.ndarray) -> np.ndarray:
        """Advance by one validated input; return the features after it."""

    def step(self, u: Any) -> np.ndarray:
        """Feed one input (a token or a value); return the (n_features,) features after it."""
        return np.array(self._step(self.encoding.check_input(u)), dtype=np.float64)

    def transform(self, stream: Any) -> np.ndarray:
        """Reset, feed the whole stream, return the (T, n_features) features after each input.
        The stream is validated before the state is touched."""
        arr = self.encoding.check_stream(stream)
        self.reset()
        out = np.empty((len(arr), self.n_features))
        for t in range(len(arr)):
            out[t] = self._step(int(arr[t]) if self.encoding.is_token else arr[t])
        return out


# ====================================================================== echo state network


class EchoStateNetwork(FeatureReservoir):
    """Leaky-integrator echo state network with tanh units; the features are the state x_t.

        x_t = (1 - lr) x_{t-1} + lr tanh(W x_{t-1} + W_in u_t + b),   x_{-1} = 0 after `reset`.

    This is the ESN that reservoirpy (the reference users know) implements, with its parameters
    named as reservoirpy names them; it is written here in plain NumPy because reservoirpy is
    not a dependency of the library (and is not installed where the tables are made), and the
    whole model is the few lines above, so a dependency would add nothing but an install.

    units               reservoir size N (= n_features)
    vocab | input_dim   the input kind (see the module docstring); a token u enters as the
                        one-hot e_u, so W_in u_t is column u of W_in (gathered, no product)
    lr                  leak rate in (0, 1]; 1 is the non-leaky ESN
    sr                  spectral radius of W, > 0 (below 1 for the echo state property)
    input_scaling       the nonzero entries of W_in are +-input_scaling (random signs)
    rc_connectivity     fraction of nonzero entries of W: each row has exactly
                        max(1, round(rc_connectivity * N)) nonzeros at random columns, values
                        standard normal, then W is rescaled to spectral radius `sr`
    input_connectivity  fraction of units each input dimension (token) reaches: each column of
                        W_in has exactly max(1, round(input_connectivity * N)) nonzeros
    bias_scaling        b is uniform in [-bias_scaling, bias_scaling] (0 for no bias)
    seed                seeds np.random.default_rng; the same seed gives the same matrices
                        and the same features

    The spectral radius is set exactly: for N <= 2,000 the eigenvalues of the dense W are
    computed once with numpy.linalg.eigvals and W is multiplied by sr / max|lambda|; for larger
    N (where dense eigvals take minutes) ARPACK's largest-magnitude eigenvalue of the sparse W
    (scipy.sparse.linalg.eigs, tol 1e-10, start vector from the seeded generator) is used. A W
    with spectral radius 0 (possible only for tiny, very sparse reservoirs) raises ValueError.
    W is stored in CSR form when scipy is available and the density is at most 0.5 (faster
    products), dense otherwise; `W`, `W_in` and `bias` return copies.
    """

    def __init__(self, units: int, *, vocab: int | None = None, input_dim: int | None = None,
                 lr: float = 0.5, sr: float = 0.9, input_scaling: float = 1.0,
                 rc_connectivity: float = 0.1, input_connectivity: float = 0.1,
                 bias_scaling: float = 0.1, seed: int = 0):
        self.units = _check_int("units", units, 1)
        self.encoding = InputEncoding.from_args(vocab, input_dim)
        self.lr = _check_real("lr", lr, 0.0, 1.0, low_open=True)
        self.sr = _check_real("sr", sr, 0.0, math.inf, low_open=True, high_open=True)
        self.input_scaling = _check_real("input_scaling", input_scaling, 0.0, math.inf,
                                         low_open=True, high_open=True)
        self.rc_connectivity = _check_real("rc_connectivity", rc_connectivity, 0.0, 1.0,
                                           low_open=True)
        self.input_connectivity = _check_real("input_connectivity", input_connectivity, 0.0,
                                              1.0, low_open=True)
        self.bias_scaling = _check_real("bias_scaling", bias_scaling, 0.0, math.inf,
                                        low_open=False, high_open=True)
        self.seed = _check_int("seed", seed, 0)

        n, m = self.units, self.encoding.size
        rng = np.random.default_rng(self.seed)
        # recurrent matrix: a fixed number of nonzeros per row, so no unit is left without input
        k = max(1, round(self.rc_connectivity * n))
        rows = np.repeat(np.arange(n), k)
        cols = np.concatenate([rng.choice(n, size=k, replace=False) for _ in range(n)])
        vals = rng.standard_normal(n * k)
        rho = self._spectral_radius(n, rows, cols, vals, rng)
        if not rho > 0.0:
            raise ValueError(f"the random recurrent matrix has spectral radius 0 (units={n}, "
                             f"rc_connectivity={self.rc_connectivity}); increase units or "
                             "rc_connectivity, or change seed")
        vals *= self.sr / rho
        if _sparse is not None and k / n <= _SPARSE_MAX_DENSITY:
            self._W: Any = _sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
        else:
            W = np.zeros((n, n))
            W[rows, cols] = vals
            self._W = W
        # input matrix, stored transposed: row u of _W_in_T is column u of W_in
        kin = max(1, round(self.input_connectivity * n))
        W_in_T = np.zeros((m, n))
        for j in range(m):
            idx = rng.choice(n, size=kin, replace=False)
            W_in_T[j, idx] = self.input_scaling * rng.choice((-1.0, 1.0), size=kin)
        self._W_in_T = W_in_T
        self._bias = rng.uniform(-self.bias_scaling, self.bias_scaling, size=n)
        self._x = np.zeros(n)

    @staticmethod
    def _spectral_radius(n: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                         rng: np.random.Generator) -> float:
        if n <= _DENSE_EIGVALS_MAX_UNITS or _sparse is None:
            W = np.zeros((n, n))
            W[rows, cols] = vals
            return float(np.max(np.abs(np.linalg.eigvals(W))))
        S = _sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
        lam = _sparse_linalg.eigs(S, k=1, which="LM", tol=1e-10, v0=rng.standard_normal(n),
                                  return_eigenvectors=False)
        return float(np.abs(lam[0]))

    def __repr__(self) -> str:
        return (f"EchoStateNetwork(units={self.units}, {self.encoding}, lr={self.lr}, "
                f"sr={self.sr}, input_scaling={self.input_scaling}, rc_connectivity="
                f"{self.rc_connectivity}, input_connectivity={self.input_connectivity}, "
                f"bias_scaling={self.bias_scaling}, seed={self.seed})")

    # ------------------------------------------------------------------ matrices and state

    @property
    def n_features(self) -> int:
        return self.units

    @property
    def W(self) -> np.ndarray:
        """The recurrent matrix (N, N), a dense copy."""
        return self._W.toarray() if _sparse is not None and _sparse.issparse(self._W) \
            else self._W.copy()

    @property
    def W_in(self) -> np.ndarray:
        """The input matrix (N, vocab or input_dim), a copy."""
        return self._W_in_T.T.copy()

    @property
    def bias(self) -> np.ndarray:
        return self._bias.copy()

    @property
    def state(self) -> np.ndarray:
        """The current state x (a copy)."""
        return self._x.copy()

    def reset(self, state: Any = None) -> None:
        """Set x to zeros, or to `state` (a finite vector of length `units`)."""
        if state is None:
            self._x = np.zeros(self.units)
            return
        try:
            x = np.array(state, dtype=np.float64)
        except (ValueError, TypeError):
            raise ValueError(f"state must be a real vector of shape ({self.units},); got "
                             f"{state!r}") from None
        if x.shape != (self.units,) or not np.all(np.isfinite(x)):
            raise ValueError(f"state must be a finite vector of shape ({self.units},); got "
                             f"shape {x.shape}")
        self._x = x

    # ------------------------------------------------------------------ dynamics

    def _advance(self, drive: np.ndarray) -> np.ndarray:
        """x <- (1 - lr) x + lr tanh(W x + drive), drive = W_in u + b; in place."""
        pre = self._W @ self._x
        pre += drive
        np.tanh(pre, out=pre)
        if self.lr == 1.0:
            self._x = pre
        else:
            self._x *= 1.0 - self.lr
            pre *= self.lr
            self._x += pre
        return self._x

    def _step(self, u: int | np.ndarray) -> np.ndarray:
        if self.encoding.is_token:
            drive = self._W_in_T[u] + self._bias
        else:
            drive = u @ self._W_in_T + self._bias
        return self._advance(drive)

    def transform(self, stream: Any) -> np.ndarray:
        arr = self.encoding.check_stream(stream)
        self.reset()
        T = len(arr)
        out = np.empty((T, self.units))
        for start in range(0, T, _CHUNK):
            chunk = arr[start:start + _CHUNK]
            if self.encoding.is_token:
                drive = self._W_in_T[chunk]  # the one-hot product as a row gather
            else:
                drive = np.stack([u @ self._W_in_T for u in chunk])
            drive += self._bias
            for i in range(len(chunk)):
                out[start + i] = self._advance(drive[i])
        return out


# ====================================================================== decaying bag


class DecayingBag(FeatureReservoir):
    """Exponential moving averages of the input at several time scales, concatenated.

        h_t^(d) = d h_{t-1}^(d) + (1 - d) e_t,   h_{-1}^(d) = 0,   features = [h^(d_1), ...]

    with e_t the one-hot token (or the value vector) and one decay d per time scale tau,
    d = 1 - 1/tau (tau = 1 is the current input alone). A token seen once at t = 0 and never
    again has weight (1 - d) d^t at time t. Memory without physics: linear, no interaction
    between inputs. Give `timescales` (each >= 1; default (1, 2, 4, 8, 16)) or `decays` (each in
    [0, 1)), not both; the experiments choose them on validation data.
    n_features = len(decays) * (vocab or input_dim), ordered decay by decay.
    """

    def __init__(self, *, vocab: int | None = None, input_dim: int | None = None,
                 timescales: Sequence[float] | None = None,
                 decays: Sequence[float] | None = None):
        self.encoding = InputEncoding.from_args(vocab, input_dim)
        if timescales is not None and decays is not None:
            raise ValueError("give timescales or decays, not both")
        if decays is None:
            taus = (1, 2, 4, 8, 16) if timescales is None else timescales
            taus = self._sequence("timescales", taus)
            checked = [_check_real("each timescale", t, 1.0, math.inf, low_open=False,
                                   high_open=True) for t in taus]
            d = [1.0 - 1.0 / t for t in checked]
        else:
            ds = self._sequence("decays", decays)
            d = [_check_real("each decay", x, 0.0, 1.0, low_open=False, high_open=True)
                 for x in ds]
        self.decays: tuple[float, ...] = tuple(d)
        self._d = np.array(self.decays)[:, None]
        self._h = np.zeros((len(self.decays), self.encoding.size))

    @staticmethod
    def _sequence(name: str, value: Any) -> list[Any]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise ValueError(f"{name} must be a non-empty sequence of numbers; got {value!r}")
        items = list(value)
        if not items:
            raise ValueError(f"{name} must be a non-empty sequence of numbers; got {value!r}")
        return items

    @property
    def timescales(self) -> tuple[float, ...]:
        """tau = 1 / (1 - d) for each decay."""
        return tuple(1.0 / (1.0 - d) for d in self.decays)

    @property
    def n_features(self) -> int:
        return self._h.size

    def __repr__(self) -> str:
        return f"DecayingBag({self.encoding}, decays={self.decays})"

    def reset(self) -> None:
        self._h = np.zeros((len(self.decays), self.encoding.size))

    def _step(self, u: int | np.ndarray) -> np.ndarray:
        self._h *= self._d
        if self.encoding.is_token:
            self._h[:, u] += 1.0 - self._d[:, 0]
        else:
            self._h += (1.0 - self._d) * u
        return self._h.reshape(-1)


# ====================================================================== no memory


class NoMemory(FeatureReservoir):
    """The current input alone: the one-hot token (n_features = vocab) or the value vector
    (n_features = input_dim). Identical features for the same input in any context."""

    def __init__(self, *, vocab: int | None = None, input_dim: int | None = None):
        self.encoding = InputEncoding.from_args(vocab, input_dim)

    @property
    def n_features(self) -> int:
        return self.encoding.size

    def __repr__(self) -> str:
        return f"NoMemory({self.encoding})"

    def reset(self) -> None:  # no state
        return None

    def _step(self, u: int | np.ndarray) -> np.ndarray:
        return self.encoding.dense(u)

    def transform(self, stream: Any) -> np.ndarray:
        return self.encoding.dense_stream(self.encoding.check_stream(stream))


# ====================================================================== memory capacity


@dataclass(frozen=True)
class MemoryCapacity:
    """Per-delay recall scores from `memory_capacity`.

    metric   "accuracy" (tokens: fraction of test steps whose token k back is the readout's
             argmax) or "r2" (values: squared correlation of readout and true u_{t-k}, averaged
             over input dimensions; Jaeger's MC_k)
    chance   the score of a readout that knows nothing: 1/vocab for uniform tokens, 0 for r2
    """

    delays: tuple[int, ...]
    scores: tuple[float, ...]
    metric: str
    chance: float
    n_train: int
    n_test: int

    def score(self, k: int) -> float:
        try:
            return self.scores[self.delays.index(k)]
        except ValueError:
            raise ValueError(f"delay {k} was not measured; measured: {list(self.delays)}") \
                from None

    @property
    def total(self) -> float:
        """Jaeger's memory capacity over the measured delays: sum_k MC_k for values; for
        tokens, the sum of chance-corrected accuracies max(0, (acc - c) / (1 - c))."""
        s = np.array(self.scores)
        if self.metric == "r2":
            return float(s.sum())
        return float(np.clip((s - self.chance) / (1.0 - self.chance), 0.0, None).sum())

    def as_dict(self) -> dict[int, float]:
        return dict(zip(self.delays, self.scores))


def _ridge_fit(X: np.ndarray, Y: np.ndarray, alpha: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form ridge with an unpenalised intercept: (W, x_mean, y_mean). The penalty is
    alpha times the mean diagonal of the centred Gram matrix, so it does not depend on the
    features' scale."""
    xm, ym = X.mean(axis=0), Y.mean(axis=0)
    Xc = X - xm
    G = Xc.T @ Xc
    lam = alpha * (np.trace(G) / G.shape[0]) if np.trace(G) > 0 else alpha
    G[np.diag_indices_from(G)] += lam
    W = np.linalg.solve(G, Xc.T @ (Y - ym))
    return W, xm, ym


def memory_capacity(reservoir: FeatureReservoir, delays: Iterable[int] = range(1, 11), *,
                    n_steps: int = 3000, washout: int = 100, train_fraction: float = 0.7,
                    alpha: float = 1e-6, seed: int = 0, with_input: bool = False,
                    vocab: int | None = None, input_dim: int | None = None
                    ) -> MemoryCapacity:
    """Jaeger's memory capacity: how well a linear readout of the features at time t recalls
    the input at t - k.

    Drives `reservoir` (via `transform`) with `n_steps` i.i.d. inputs from
    np.random.default_rng(seed): uniform tokens in [0, vocab), or values uniform in [-1, 1].
    Time steps t >= max(washout, max(delays)) are split in time order: the first
    `train_fraction` fit one closed-form ridge readout (intercept, fixed small `alpha`, see
    `_ridge_fit`) per delay, the rest score it. Tokens: targets are the one-hot u_{t-k}, the
    score is the test accuracy of the argmax (chance 1/vocab). Values: targets are u_{t-k},
    the score is the squared correlation on the test steps (chance 0).

    with_input   append the current input (one-hot / value) to the features, as the
                 experiments' readouts do; with i.i.d. inputs it tells nothing about k >= 1
    vocab | input_dim  the input kind, by default `reservoir.encoding`
    """
    if vocab is None and input_dim is None:
        enc = getattr(reservoir, "encoding", None)
        if not isinstance(enc, InputEncoding):
            raise ValueError("the reservoir has no `encoding`; pass vocab or input_dim")
    else:
        enc = InputEncoding.from_args(vocab, input_dim)
    try:
        ks = sorted({_check_int("each delay", k, 0) for k in delays})
    except TypeError:
        raise ValueError(f"delays must be a sequence of integers >= 0; got {delays!r}") \
            from None
    if not ks:
        raise ValueError("delays must not be empty")
    n_steps = _check_int("n_steps", n_steps, 2)
    washout = _check_int("washout", washout, 0)
    train_fraction = _check_real("train_fraction", train_fraction, 0.0, 1.0, low_open=True,
                                 high_open=True)
    alpha = _check_real("alpha", alpha, 0.0, math.inf, low_open=True, high_open=True)
    seed = _check_int("seed", seed, 0)
    start = max(washout, ks[-1])
    n_rows = n_steps - start
    n_train = int(round(train_fraction * n_rows))
    n_test = n_rows - n_train
    if n_train < 10 or n_test < 10:
        raise ValueError(f"n_steps={n_steps} leaves {n_train} train and {n_test} test steps "
                         f"after washout={washout} and max delay {ks[-1]}; need >= 10 of "
                         "each: increase n_steps")

    rng = np.random.default_rng(seed)
    if enc.is_token:
        stream: np.ndarray = rng.integers(0, enc.size, size=n_steps)
    else:
        stream = rng.uniform(-1.0, 1.0, size=(n_steps, enc.size))
    X = np.asarray(reservoir.transform(stream if enc.size > 1 or enc.is_token
                                       else stream[:, 0]), dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != n_steps:
        raise ValueError(f"reservoir.transform returned shape {X.shape}; expected "
                         f"({n_steps}, n_features)")
    if not np.all(np.isfinite(X)):
        raise ValueError("reservoir.transform returned NaN or infinite features")
    U = enc.dense_stream(stream)  # (T, size)
    if with_input:
        X = np.hstack([X, U])

    t = np.arange(start, n_steps)
    tr, te = t[:n_train], t[n_train:]
    Y = np.hstack([U[t - k] for k in ks])  # one block of targets per delay
    W, xm, ym = _ridge_fit(X[tr], Y[:n_train], alpha)
    P = (X[te] - xm) @ W + ym
    m = enc.size
    scores = []
    for j, k in enumerate(ks):
        Pk, Yk = P[:, j * m:(j + 1) * m], U[te - k]
        if enc.is_token:
            scores.append(float(np.mean(np.argmax(Pk, axis=1) == stream[te - k])))
        else:
            r2 = []
            for d in range(m):
                p, y = Pk[:, d], Yk[:, d]
                sp, sy = p.std(), y.std()
                r2.append(0.0 if sp == 0 or sy == 0
                          else float(np.corrcoef(p, y)[0, 1] ** 2))
            scores.append(float(np.mean(r2)))
    chance = 1.0 / enc.size if enc.is_token else 0.0
    return MemoryCapacity(tuple(ks), tuple(scores), "accuracy" if enc.is_token else "r2",
                          chance, n_train, n_test)
