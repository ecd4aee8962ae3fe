"""The baseline world model: its NLL against torch.distributions, the residual start, and that
training on a known linear system recovers it (one-step and 10-step errors)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from thermo_manifold.agent.gaussians import gaussian_nll
from thermo_manifold.agent.mlp_world_model import MLPWorldModel

F64 = torch.float64


def test_nll_by_hand_and_against_torch():
    # N(0, 1) at 1: 1/2 + 1/2 log(2 pi)
    nll = gaussian_nll(torch.ones(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64),
                       torch.zeros(1, 1, dtype=F64))
    assert float(nll) == pytest.approx(0.5 + 0.5 * math.log(2 * math.pi))
    g = torch.Generator().manual_seed(0)
    x, m = torch.randn(6, 3, generator=g, dtype=F64), torch.randn(6, 3, generator=g, dtype=F64)
    s = torch.rand(6, 3, generator=g, dtype=F64) + 0.2
    torch.testing.assert_close(gaussian_nll(x, m, s.log()), -Normal(m, s).log_prob(x).sum(-1))


def test_training_on_a_linear_system_recovers_it():
    """z' = A z + B u + noise (sd 0.01): after training, the one-step error is near the noise
    and far below the identity's, and a 10-step rollout stays close."""
    g = torch.Generator().manual_seed(0)
    a = torch.tensor([[0.95, 0.2], [-0.2, 0.95]], dtype=F64)  # a slowly decaying rotation
    b = torch.tensor([[0.1, 0.0], [0.0, 0.1]], dtype=F64)

    def step(z, u):
        return z @ a.T + u @ b.T + 0.01 * torch.randn(z.shape, generator=g, dtype=F64)

    model = MLPWorldModel(2, 32, torch.Generator().manual_seed(1)).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(1500):
        z = torch.randn(128, 2, generator=g, dtype=F64)
        u = torch.randn(128, 2, generator=g, dtype=F64)
        loss = model.loss(z, u, step(z, u))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    z = torch.randn(500, 2, generator=g, dtype=F64)
    u = torch.randn(500, 2, generator=g, dtype=F64)
    with torch.no_grad():
        truth = z @ a.T + u @ b.T
        mean, log_std = model(z, u)
        one_step = float((mean - truth).norm(dim=1).mean())
        identity = float((z - truth).norm(dim=1).mean())
        assert one_step < 0.05 * identity
        assert float(log_std.exp().mean()) == pytest.approx(0.01, rel=0.5)  # the noise level
        controls = torch.randn(10, 500, 2, generator=g, dtype=F64) * 0.5
        exact, state = [], z.clone()
        for u_k in controls:
            state = state @ a.T + u_k @ b.T
            exact.append(state)
        ten_step = float((model.rollout(z, controls)[-1] - exact[-1]).norm(dim=1).mean())
        assert ten_step < 0.1 * float(exact[-1].norm(dim=1).mean())
