"""Honest baselines that every sensorium table reports beside the manifold (SENSORIUM.md).

All of them are small, deterministic and NumPy-based: they are the yardstick, not the subject.

text          uniform (8 bits/byte), unigram, order-2 Markov with interpolated smoothing, and
              zlib / lzma conditional compression (bits to code the test given the train)
series        persistence, seasonal naive, least-squares AR(p)
digits        majority class, nearest centroid, logistic regression (scikit-learn)
fills         most frequent byte, bigram fill (text); zero, mean, neighbour interpolation
              (images); mid-value and linear interpolation (audio)
separation    SI-SDR, the mixture itself and the oracle ideal ratio mask
rule shift    mean reciprocal rank of the true next token (order-sensitive) and an online
              bigram counter with forgetting
"""

from __future__ import annotations

import lzma
import math
import warnings
import zlib
from collections.abc import Sequence

import numpy as np
import torch

# ====================================================================== text: n-gram models


class NGramModel:
    """Byte n-gram model with interpolated (Dirichlet / Witten-Bell-like) back-off.

    P_k(b | ctx_k) = (n(ctx_k, b) + beta * P_{k-1}(b | ctx_{k-1})) / (n(ctx_k) + beta),
    P_{-1}(b) = 1/256. Order 0 is the unigram model. Counts can keep growing online
    (`update`), the same information the token engine gets when it observes each true byte.
    """

    def __init__(self, order: int, beta: float = 1.0):
        if order < 0:
            raise ValueError(f"order must be >= 0; got {order}")
        if beta <= 0:
            raise ValueError(f"beta must be > 0; got {beta}")
        self.order = order
        self.beta = beta
        # counts[k][context bytes] -> np.ndarray(256)
        self.counts: list[dict[bytes, np.ndarray]] = [dict() for _ in range(order + 1)]

    def _context(self, history: bytes, k: int) -> bytes | None:
        if k == 0:
            return b""
        return history[-k:] if len(history) >= k else None

    def update(self, history: bytes, byte_value: int) -> None:
        for k in range(self.order + 1):
            ctx = self._context(history, k)
            if ctx is None:
                continue
            row = self.counts[k].setdefault(ctx, np.zeros(256))
            row[byte_value] += 1.0

    def fit(self, data: bytes) -> "NGramModel":
        for i, b in enumerate(data):
            self.update(data[max(0, i - self.order):i], b)
        return self

    def probabilities(self, history: bytes) -> np.ndarray:
        p = np.full(256, 1.0 / 256)
        for k in range(self.order + 1):
            ctx = self._context(history, k)
            row = self.counts[k].get(ctx) if ctx is not None else None
            if row is None:
                continue
            p = (row + self.beta * p) / (row.sum() + self.beta)
        return p


def online_ngram_scores(order: int, train: bytes, test: bytes, beta: float = 1.0
                        ) -> dict[str, float]:
    """Fit on `train`, then predict each test byte and observe it: bits/byte and accuracy."""
    model = NGramModel(order, beta).fit(train)
    history = train[-order:] if order else b""
    bits = 0.0
    correct = 0
    for b in test:
        p = model.probabilities(history)
        bits -= math.log2(p[b])
        correct += int(np.argmax(p) == b)
        model.update(history, b)
        history = (history + bytes([b]))[-order:] if order else b""
    n = max(1, len(test))
    return {"bits_per_byte": bits / n, "accuracy": correct / n}


def compression_bits_per_byte(train: bytes, test: bytes, method: str) -> float:
    """Extra bits a compressor needs for `test` once it has seen `train` (same split as the
    models): (|C(train + test)| - |C(train)|) * 8 / |test|."""
    compress = {"zlib": lambda d: zlib.compress(d, 9),
                "lzma": lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME)}
    if method not in compress:
        raise ValueError(f"method must be one of {sorted(compress)}; got {method!r}")
    if not test:
        raise ValueError("test must not be empty")
    fn = compress[method]
    return (len(fn(train + test)) - len(fn(train))) * 8.0 / len(test)


def text_baselines(train: bytes, test: bytes) -> list[dict[str, float | str]]:
    """The text rows of every next-byte table (bits/byte and accuracy on `test`)."""
    rows: list[dict[str, float | str]] = [
        {"method": "uniform", "bits_per_byte": 8.0, "accuracy": 1.0 / 256}]
    for name, order in (("unigram", 0), ("order-2 Markov", 2)):
        rows.append({"method": name, **online_ngram_scores(order, train, test)})
    for method in ("zlib", "lzma"):
        rows.append({"method": method,
                     "bits_per_byte": compression_bits_per_byte(train, test, method),
                     "accuracy": float("nan")})
    return rows


# ====================================================================== series


def persistence_forecast(series: np.ndarray, start: int) -> np.ndarray:
    """y_hat[t] = y[t-1] for t >= start."""
    return np.asarray(series[start - 1:-1], dtype=np.float64)


def seasonal_naive_forecast(series: np.ndarray, start: int, season: int) -> np.ndarray:
    """y_hat[t] = y[t - season] for t >= start (needs start >= season)."""
    if season < 1 or start < season:
        raise ValueError(f"season must be in 1..start={start}; got {season}")
    return np.asarray(series[start - season:len(series) - season], dtype=np.float64)


def ar_forecast(series: np.ndarray, start: int, order: int) -> np.ndarray:
    """One-step forecasts for t >= start from an AR(order) with intercept, fitted by least
    squares on series[:start] only."""
    y = np.asarray(series, dtype=np.float64)
    if order < 1 or start <= 2 * order:
        raise ValueError(f"AR order {order} needs more than {2 * order} training points")
    rows = np.stack([y[t - order:t][::-1] for t in range(order, start)])
    design = np.hstack([rows, np.ones((len(rows), 1))])
    coef, *_ = np.linalg.lstsq(design, y[order:start], rcond=None)
    lags = np.stack([y[t - order:t][::-1] for t in range(start, len(y))])
    return np.hstack([lags, np.ones((len(lags), 1))]) @ coef


def forecast_scores(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Exact-byte accuracy, MAE and MSE after rounding forecasts to the byte grid."""
    pred = np.clip(np.round(np.asarray(prediction, dtype=np.float64)), 0, 255)
    true = np.asarray(truth, dtype=np.float64)
    err = pred - true
    return {"accuracy": float(np.mean(pred == true)), "mae": float(np.mean(np.abs(err))),
            "mse": float(np.mean(err ** 2))}


# ====================================================================== digits


def classification_baselines(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                             y_test: np.ndarray, seed: int = 0) -> list[dict[str, float | str]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import NearestCentroid

    rows: list[dict[str, float | str]] = []
    values, counts = np.unique(y_train, return_counts=True)
    majority = values[np.argmax(counts)]
    rows.append({"method": "majority class", "accuracy": float(np.mean(y_test == majority))})
    xtr = np.asarray(x_train, dtype=np.float64) / 255.0
    xte = np.asarray(x_test, dtype=np.float64) / 255.0
    with warnings.catch_warnings():  # constant pixels (digit borders) are expected here
        warnings.simplefilter("ignore", UserWarning)
        centroid = NearestCentroid().fit(xtr, y_train)
    rows.append({"method": "nearest centroid",
                 "accuracy": float(np.mean(centroid.predict(xte) == y_test))})
    logistic = LogisticRegression(max_iter=2000, random_state=seed).fit(xtr, y_train)
    rows.append({"method": "logistic regression",
                 "accuracy": float(np.mean(logistic.predict(xte) == y_test))})
    return rows


# ====================================================================== fills


def most_frequent_fill(data: np.ndarray, observed: np.ndarray) -> np.ndarray:
    values = np.asarray(data)[observed]
    mode = int(np.bincount(values, minlength=256).argmax()) if values.size else 0
    out = np.array(data, copy=True)
    out[~observed] = mode
    return out


def bigram_fill(data: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Fill masked bytes left to right with the most likely successor of the previous byte
    (observed or already filled), from the bigram counts of observed adjacent pairs."""
    data = np.asarray(data)
    pairs = np.zeros((256, 256))
    both = observed[:-1] & observed[1:]
    np.add.at(pairs, (data[:-1][both], data[1:][both]), 1.0)
    unigram = np.bincount(data[observed], minlength=256)
    fallback = int(unigram.argmax()) if observed.any() else 0
    out = np.array(data, copy=True)
    for i in np.flatnonzero(~observed):
        if i == 0 or pairs[out[i - 1]].sum() == 0:
            out[i] = fallback
        else:
            out[i] = int(pairs[out[i - 1]].argmax())
    return out


def constant_fill(values: np.ndarray, observed: np.ndarray, fill: float) -> np.ndarray:
    out = np.array(values, dtype=np.float64, copy=True)
    out[~observed] = fill
    return out


def mean_fill(values: np.ndarray, observed: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return constant_fill(v, observed, float(v[observed].mean()) if observed.any() else 0.0)


def neighbour_fill(image: np.ndarray, observed: np.ndarray, sweeps: int = 50) -> np.ndarray:
    """Masked pixels take the mean of their 4-neighbours, iterated (a discrete harmonic fill)
    starting from the observed mean; observed pixels never change."""
    img = mean_fill(image, observed)
    for _ in range(sweeps):
        padded = np.pad(img, 1, mode="edge")
        neighbours = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2]
                      + padded[1:-1, 2:]) / 4.0
        img = np.where(observed, img, neighbours)
    return img


def linear_fill(signal: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Linear interpolation of a 1-D signal between observed samples."""
    s = np.asarray(signal, dtype=np.float64)
    idx = np.arange(s.size)
    if not observed.any():
        return np.zeros_like(s)
    return np.where(observed, s, np.interp(idx, idx[observed], s[observed]))


# ====================================================================== separation


def si_sdr(estimate: np.ndarray, reference: np.ndarray, eps: float = 1e-12) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019); both signals
    are made zero-mean first."""
    est = np.asarray(estimate, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if est.shape != ref.shape:
        raise ValueError(f"estimate and reference shapes differ: {est.shape} vs {ref.shape}")
    est = est - est.mean()
    ref = ref - ref.mean()
    alpha = float(est @ ref) / (float(ref @ ref) + eps)
    target = alpha * ref
    noise = est - target
    return 10.0 * math.log10((float(target @ target) + eps) / (float(noise @ noise) + eps))


def oracle_ratio_mask(mixture: np.ndarray, stems: Sequence[np.ndarray], n_fft: int = 512,
                      hop: int = 128) -> list[np.ndarray]:
    """Ideal ratio mask |S_i| / sum_j |S_j| applied to the mixture STFT (an upper bound:
    it needs the true stems)."""
    window = torch.hann_window(n_fft, dtype=torch.float64)

    def stft(x: np.ndarray) -> torch.Tensor:
        return torch.stft(torch.as_tensor(np.asarray(x, dtype=np.float64)), n_fft, hop,
                          window=window, return_complex=True)

    mix = stft(mixture)
    mags = [stft(s).abs() for s in stems]
    total = sum(mags) + 1e-12
    out = []
    for mag in mags:
        y = torch.istft(mix * (mag / total), n_fft, hop, window=window, length=len(mixture))
        out.append(y.numpy())
    return out


# ====================================================================== rule shift


def reciprocal_rank(scores: np.ndarray, target: int) -> float:
    """1 / rank of `target` under descending `scores` (ties count against the target)."""
    s = np.asarray(scores, dtype=np.float64)
    return 1.0 / (1.0 + float(np.sum(s >= s[target]) - 1))


def transition_mrr(rankings: Sequence[np.ndarray], sequence: Sequence[int]) -> float:
    """Order-sensitive alignment: mean reciprocal rank of the true next token.

    `rankings[t]` are the scores over the vocabulary made after seeing sequence[:t+1];
    the target is sequence[t+1]. The same multiset of tokens in another order has other
    targets and so another score, which the seed's histogram cosine cannot see.
    """
    if len(rankings) < len(sequence) - 1:
        raise ValueError("need one score vector per transition")
    rr = [reciprocal_rank(rankings[t], int(sequence[t + 1])) for t in range(len(sequence) - 1)]
    return float(np.mean(rr)) if rr else float("nan")


def histogram_cosine(a: Sequence[int], b: Sequence[int], bins: int) -> float:
    """The seed's alignment: cosine of two token histograms (order-blind)."""
    ha = np.bincount(np.asarray(a), minlength=bins).astype(np.float64)
    hb = np.bincount(np.asarray(b), minlength=bins).astype(np.float64)
    return float(ha @ hb / (np.linalg.norm(ha) * np.linalg.norm(hb) + 1e-12))


class OnlineBigram:
    """Counts of token transitions with exponential forgetting (the rule-shift baseline)."""

    def __init__(self, vocab: int, decay: float = 0.99):
        if not 0 < decay <= 1:
            raise ValueError(f"decay must be in (0, 1]; got {decay}")
        self.decay = decay
        self.counts = np.zeros((vocab, vocab))

    def scores(self, current: int) -> np.ndarray:
        return self.counts[current].copy()

    def update(self, previous: int, current: int) -> None:
        self.counts[previous] *= self.decay
        self.counts[previous, current] += 1.0


__all__ = [
    "NGramModel",
    "OnlineBigram",
    "ar_forecast",
    "bigram_fill",
    "classification_baselines",
    "compression_bits_per_byte",
    "constant_fill",
    "forecast_scores",
    "histogram_cosine",
    "linear_fill",
    "mean_fill",
    "most_frequent_fill",
    "neighbour_fill",
    "online_ngram_scores",
    "oracle_ratio_mask",
    "persistence_forecast",
    "reciprocal_rank",
    "seasonal_naive_forecast",
    "si_sdr",
    "text_baselines",
    "transition_mrr",
]
