"""Distribution head: a Gaussian mixture over a prediction's residual, Cold by default.

With no Hot component the head is deterministic (it returns the mean) and scores a single
Gaussian whose spread is learned. A component (offset, log-std, logit) is grown only when
(1) calibration fails persistently: the probability integral transform of held-out residuals
is not uniform by a Kolmogorov-Smirnov test at level 0.05 on every window checked, and (2) a
frozen micro-rollout on the candidate component, judged on fresh batches, lowers the NLL.
Sampling is memoryless (i.i.d. draws from the seeded generator) or deterministic, per the
Decision Update of 2025-09-18: no error-feedback sampler.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class GaussianMixtureHead(nn.Module):
    def __init__(self, dim: int, max_components: int = 4, dtype: torch.dtype = torch.float32):
        super().__init__()
        if dim < 1 or max_components < 1:
            raise ValueError(f"dim and max_components must be >= 1; got {dim}, {max_components}")
        k = max_components + 1  # slot 0 is the base Gaussian around the deterministic mean
        self.dim = dim
        self.logits = nn.Parameter(torch.zeros(k, dtype=dtype))
        self.offsets = nn.Parameter(torch.zeros(k, dim, dtype=dtype))
        self.log_std = nn.Parameter(torch.zeros(k, dim, dtype=dtype))
        self.register_buffer("hot", torch.tensor([True] + [False] * max_components))

    @property
    def c_struct(self) -> int:
        """Hot mixture components beyond the base Gaussian (complexity tokens)."""
        return int(self.hot.sum()) - 1

    def _parts(self, extra: tuple[int, torch.Tensor, torch.Tensor, torch.Tensor] | None = None):
        hot = self.hot.clone()
        logits, offsets, log_std = self.logits, self.offsets, self.log_std
        if extra is not None:  # shadow component for a probe
            slot, lg, off, ls = extra
            hot[slot] = True
            logits = logits.index_put((torch.tensor([slot]),), lg.reshape(1))
            offsets = offsets.index_put((torch.tensor([slot]),), off.reshape(1, -1))
            log_std = log_std.index_put((torch.tensor([slot]),), ls.reshape(1, -1))
        return torch.log_softmax(logits[hot], 0), offsets[hot], log_std[hot]

    def nll(self, mean: torch.Tensor, target: torch.Tensor, extra=None) -> torch.Tensor:
        log_pi, off, log_std = self._parts(extra)
        z = (target.unsqueeze(1) - mean.unsqueeze(1) - off) / log_std.exp()
        comp = (-0.5 * z ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return -torch.logsumexp(comp + log_pi, dim=1).mean()

    @torch.no_grad()
    def pit(self, mean: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Marginal CDF values F(y) per dimension (uniform when calibrated)."""
        log_pi, off, log_std = self._parts()
        z = (target.unsqueeze(1) - mean.unsqueeze(1) - off) / log_std.exp()
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
        return (log_pi.exp().unsqueeze(-1) * cdf).sum(1)

    @torch.no_grad()
    def miscalibrated(self, mean: torch.Tensor, target: torch.Tensor) -> bool:
        """Kolmogorov-Smirnov test of the PIT against U(0, 1), any dimension, level 0.05."""
        u = torch.sort(self.pit(mean, target), dim=0).values
        n = u.shape[0]
        grid = torch.arange(1, n + 1, dtype=u.dtype).unsqueeze(1) / n
        stat = torch.maximum(grid - u, u - (grid - 1.0 / n)).max()
        return bool(stat > 1.36 / math.sqrt(n))

    @torch.no_grad()
    def sample(self, mean: torch.Tensor, generator: torch.Generator,
               deterministic: bool = False) -> torch.Tensor:
        if deterministic or self.c_struct == 0:
            return mean
        log_pi, off, log_std = self._parts()
        k = torch.multinomial(log_pi.exp(), mean.shape[0], replacement=True, generator=generator)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        return mean + off[k] + log_std.exp()[k] * noise

    def fit_base(self, mean: torch.Tensor, target: torch.Tensor, steps: int = 200,
                 lr: float = 0.05) -> None:
        """Train the Hot components' parameters (Adam) on (mean, target)."""
        opt = torch.optim.Adam([self.logits, self.offsets, self.log_std], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            self.nll(mean, target).backward()
            for p in (self.logits, self.offsets, self.log_std):  # Cold slots stay untouched
                if p.grad is not None:
                    p.grad[~self.hot] = 0
            opt.step()

    def grow(self, sample_batch, generator: torch.Generator, windows: int = 3,
             probe_steps: int = 20, eval_batches: int = 4) -> bool:
        """Try to add one component (the seed's <= 1 DH add per cycle). True if committed."""
        free = torch.nonzero(~self.hot).flatten()
        if free.numel() == 0:
            return False
        if not all(self.miscalibrated(*sample_batch(generator)) for _ in range(windows)):
            return False
        slot = int(free[0])
        mean, target = sample_batch(generator)
        with torch.no_grad():  # start at a poorly explained residual
            log_pi, off, log_std = self._parts()
            z = (target.unsqueeze(1) - mean.unsqueeze(1) - off) / log_std.exp()
            fit = torch.logsumexp((-0.5 * z ** 2 - log_std).sum(-1) + log_pi, dim=1)
            worst = torch.argsort(fit)[: max(1, fit.numel() // 10)]
            start = (target - mean)[worst].mean(0)
        params = [torch.tensor(math.log(0.1)), start.clone(), self.log_std[0].detach().clone()]
        params = [p.clone().requires_grad_(True) for p in params]
        opt = torch.optim.Adam(params, lr=0.05)
        for _ in range(probe_steps):  # frozen probe: only the candidate moves
            m, t = sample_batch(generator)
            opt.zero_grad()
            self.nll(m, t, (slot, *params)).backward()
            opt.step()
        gains = []
        with torch.no_grad():
            for _ in range(eval_batches):
                m, t = sample_batch(generator)
                gains.append(float(self.nll(m, t) - self.nll(m, t, (slot, *params))))
        gains_t = torch.tensor(gains)
        if gains_t.mean() <= 0 or (gains_t > 0).float().mean() < 0.5:
            return False
        with torch.no_grad():  # commit with warm start
            self.logits[slot] = params[0].detach()
            self.offsets[slot] = params[1].detach()
            self.log_std[slot] = params[2].detach()
            self.hot[slot] = True
        return True


__all__ = ["GaussianMixtureHead"]
