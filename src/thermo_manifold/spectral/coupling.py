"""Carrier-oscillator coupling in frequency space: the dense reference and the banded path.

Tuning T_ik = exp(-(w_i - w_k)^2 / sigma_k^2). Every reduction of a tick is one of two kinds:
per carrier, a sum (or an argmax) over the oscillators it touches; per oscillator, a sum over the
carriers that touch it. Both paths evaluate the same per-pair formulas on an "oscillator view"
and differ only in which pairs the view holds:

- dense: every oscillator for every carrier, as a (1, N) row broadcast against (K, 1) carriers;
- banded: oscillators sorted by frequency once; carrier k sees the contiguous run of sorted
  oscillators with |w_i - w_k| <= h_k, padded to the longest run in its chunk, shape (K, L).
  Gathering a band costs more per pair than broadcasting, so when the bands together hold more
  than `dense_fraction` of all K * N pairs (wide gates over a narrow spectrum, as in the seed's
  excitations U[0, 2]) the banded path evaluates that call densely: the pairs it adds lie
  beyond the cutoff and change nothing above the floor.

Carriers are processed in chunks so a view never holds more than `budget` pairs, which bounds
memory for N = 1e6 oscillators and 64 carriers on either path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

MIN_SIGMA = 1e-4  # the seed's floor inside tuning_from_freq
PAIR_BUDGET = 1 << 22  # pairs per chunk (16 MiB per float32 pair tensor)


def tuning(osc_freq: torch.Tensor, carrier_freq: torch.Tensor, sigma: torch.Tensor
           ) -> torch.Tensor:
    """exp(-(w_i - w_k)^2 / sigma_k^2), broadcasting its arguments."""
    d = osc_freq - carrier_freq
    s = sigma.clamp(min=MIN_SIGMA)
    return torch.exp(-(d * d) / (s * s))


def wrap_pi(angle: torch.Tensor) -> torch.Tensor:
    """Wrap to [-pi, pi), as the seed does: d - 2 pi floor((d + pi) / 2 pi)."""
    return angle - (2.0 * math.pi) * torch.floor((angle + math.pi) / (2.0 * math.pi))


def wrap_two_pi(angle: torch.Tensor) -> torch.Tensor:
    """Wrap to [0, 2 pi); rounding can land exactly on 2 pi, which is folded to 0."""
    two_pi = 2.0 * math.pi
    out = torch.remainder(angle, two_pi)
    return torch.where(out >= two_pi, torch.zeros_like(out), out)


@dataclass
class View:
    """Oscillators seen by a chunk of carriers `rows` (a slice of the K carriers).

    `index` (K_chunk, L) holds original oscillator indices (banded) or is None (dense: the view
    is the whole (1, N) row). `mask` marks real pairs in the padded banded layout.
    """

    rows: slice
    index: torch.Tensor | None
    mask: torch.Tensor | None

    def gather(self, values: torch.Tensor) -> torch.Tensor:
        if self.index is None:
            return values[None, :]
        # index_select is about twice as fast as advanced indexing on the CPU.
        return values.index_select(0, self.index.reshape(-1)).view(self.index.shape)

    def keep(self, values: torch.Tensor) -> torch.Tensor:
        """Zero the padding of a per-pair tensor."""
        return values if self.mask is None else values * self.mask

    def scatter_sum(self, values: torch.Tensor, out: torch.Tensor) -> None:
        """out[i] += sum over carriers of values[k, i] (values already padding-free)."""
        if self.index is None:
            out += values.sum(dim=0)
        else:
            out.index_add_(0, self.index.reshape(-1), values.reshape(-1))


class Coupling:
    """Pair enumeration for one set of oscillator frequencies (rebuilt every tick)."""

    def __init__(self, frequencies: torch.Tensor, method: str, band_sigmas: float,
                 budget: int = PAIR_BUDGET, dense_fraction: float = math.inf,
                 presorted: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        if method not in ("banded", "dense"):
            raise ValueError(f"coupling method must be 'banded' or 'dense'; got {method!r}")
        self.method = method
        self.band_sigmas = float(band_sigmas)
        self.budget = int(budget)
        self.dense_fraction = float(dense_fraction)
        self.num_osc = int(frequencies.shape[0])
        self.sorted_freq: torch.Tensor | None = None
        self.order: torch.Tensor | None = None  # oscillators by frequency (banded only)
        if method == "banded":
            # Stable sort: equal frequencies keep index order, so ties break like the dense path.
            # `presorted` is that sort from an earlier tick over the very same frequencies.
            self.sorted_freq, self.order = (presorted if presorted is not None
                                            else torch.sort(frequencies, stable=True))

    def views(self, centres: torch.Tensor, half_widths: torch.Tensor) -> Iterator[View]:
        """Chunks of carriers with the oscillators each one touches.

        `half_widths` (K,) bounds |w_i - w_k| on the banded path; the dense path ignores it.
        """
        k = int(centres.shape[0])
        n = self.num_osc
        if k == 0 or n == 0:
            return
        if self.method == "banded":
            lo = torch.searchsorted(self.sorted_freq, centres - half_widths, right=False)
            hi = torch.searchsorted(self.sorted_freq, centres + half_widths, right=True)
            counts = (hi - lo).tolist()
            if sum(counts) < self.dense_fraction * k * n:
                yield from self._band_views(centres, lo, hi, counts)
                return
        step = max(1, self.budget // n)
        for start in range(0, k, step):
            yield View(slice(start, min(k, start + step)), None, None)

    def _band_views(self, centres: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                    counts: list[int]) -> Iterator[View]:
        k, n = len(counts), self.num_osc
        start = 0
        while start < k:
            # Grow the chunk while its padded size stays inside the budget.
            stop, width = start + 1, max(counts[start], 1)
            while stop < k and (stop + 1 - start) * max(width, counts[stop]) <= self.budget:
                width = max(width, counts[stop])
                stop += 1
            offsets = torch.arange(width, device=centres.device)
            pos = lo[start:stop, None] + offsets[None, :]
            mask = offsets[None, :] < (hi - lo)[start:stop, None]
            pos = torch.where(mask, pos, torch.zeros_like(pos)).clamp_(max=max(n - 1, 0))
            yield View(slice(start, stop), self.order[pos], mask)
            start = stop

    def exact_half_widths(self, sigma: torch.Tensor, amp_max: float, floor: float
                          ) -> torch.Tensor:
        """Band half-widths outside which T * A <= floor for every oscillator.

        Pairs at or below the floor are ignored by the carrier update, so with these widths the
        banded carrier update sees exactly the pairs the dense one does. A zero floor falls back
        to `band_sigmas` widths.
        """
        sigmas = self.band_sigmas
        if floor > 0.0 and amp_max > floor:
            sigmas = max(sigmas, math.sqrt(math.log(amp_max / floor)))
        return sigma.clamp(min=MIN_SIGMA) * sigmas

    def band_half_widths(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma.clamp(min=MIN_SIGMA) * self.band_sigmas


@dataclass
class CarrierSums:
    """Per-carrier sums over pairs with w = T * A above the floor."""

    force_re: torch.Tensor  # sum w A cos(theta)
    force_im: torch.Tensor  # sum w A sin(theta)
    weight: torch.Tensor  # sum w
    weight_freq: torch.Tensor  # sum w w_i
    weight_amp: torch.Tensor  # sum w A


def carrier_sums(coupling: Coupling, centres: torch.Tensor, sigma: torch.Tensor,
                 freq: torch.Tensor, amp: torch.Tensor, z_re: torch.Tensor, z_im: torch.Tensor,
                 floor: float) -> CarrierSums:
    k = int(centres.shape[0])
    out = [torch.zeros(k, dtype=freq.dtype, device=freq.device) for _ in range(5)]
    if k == 0 or freq.shape[0] == 0:
        return CarrierSums(*out)
    half = coupling.exact_half_widths(sigma, float(amp.max()), floor)
    for view in coupling.views(centres, half):
        rows = view.rows
        a = view.gather(amp)
        w = tuning(view.gather(freq), centres[rows, None], sigma[rows, None]) * a
        w = view.keep(torch.where(w > floor, w, torch.zeros_like(w)))
        out[0][rows] = (w * view.gather(z_re)).sum(dim=1)
        out[1][rows] = (w * view.gather(z_im)).sum(dim=1)
        out[2][rows] = w.sum(dim=1)
        out[3][rows] = (w * view.gather(freq)).sum(dim=1)
        out[4][rows] = (w * a).sum(dim=1)
    return CarrierSums(*out)


def offenders(coupling: Coupling, centres: torch.Tensor, sigma: torch.Tensor,
              freq: torch.Tensor, amp: torch.Tensor, phase: torch.Tensor,
              target: torch.Tensor, floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per carrier, the oscillator of largest phase stress w (1 - cos(theta_i - psi_target)).

    Returns (score, index); score is 0 and index 0 where no pair scores above 0 (the seed's
    strict comparison against an initial score of 0). Ties go to the lowest oscillator index.
    """
    k = int(centres.shape[0])
    score = torch.zeros(k, dtype=freq.dtype, device=freq.device)
    index = torch.zeros(k, dtype=torch.int64, device=freq.device)
    if k == 0 or freq.shape[0] == 0:
        return score, index
    half = coupling.exact_half_widths(sigma, float(amp.max()), floor)
    for view in coupling.views(centres, half):
        rows = view.rows
        w = tuning(view.gather(freq), centres[rows, None], sigma[rows, None]) * view.gather(amp)
        stress = 1.0 - torch.cos(wrap_pi(view.gather(phase) - target[rows, None]))
        s = view.keep(torch.where(w > floor, w * stress, torch.zeros_like(w)))
        best = s.max(dim=1).values
        if view.index is None:
            arg = torch.argmax(s, dim=1)  # first maximal index = lowest oscillator index
        else:
            big = torch.full_like(view.index, coupling.num_osc)
            arg = torch.where(s == best[:, None], view.index, big).min(dim=1).values
        score[rows] = best
        index[rows] = torch.where(best > 0, arg, torch.zeros_like(arg))
    return score, index


def oscillator_drive(coupling: Coupling, centres: torch.Tensor, sigma: torch.Tensor,
                     c_re: torch.Tensor, c_im: torch.Tensor, freq: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per oscillator: sum_k T_ik Re C_k, sum_k T_ik Im C_k and sum_k T_ik."""
    n = int(freq.shape[0])
    out = [torch.zeros(n, dtype=freq.dtype, device=freq.device) for _ in range(3)]
    for view in coupling.views(centres, coupling.band_half_widths(sigma)):
        rows = view.rows
        t = view.keep(tuning(view.gather(freq), centres[rows, None], sigma[rows, None]))
        view.scatter_sum(t * c_re[rows, None], out[0])
        view.scatter_sum(t * c_im[rows, None], out[1])
        view.scatter_sum(t, out[2])
    return out[0], out[1], out[2]


__all__ = [
    "MIN_SIGMA",
    "CarrierSums",
    "Coupling",
    "View",
    "carrier_sums",
    "offenders",
    "oscillator_drive",
    "tuning",
    "wrap_pi",
    "wrap_two_pi",
]
