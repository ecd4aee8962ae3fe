"""Seed 003 section 2: the Hodge critic recovers known decompositions of a reward 1-form on the
square [-1, 1]^2 (rewards of short transitions, integrated exactly): a pure gradient leaves no
curl; a constant curl omega, which no potential can fit, comes back as F = omega within 10%;
and on a mixture the three parts are orthogonal on a grid. Small float64 networks, about ten
seconds a case."""

from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.agent.critic import HodgeCritic, critic_losses

F64 = torch.float64
OMEGA, CONSTANT = 1.5, (0.4, -0.3)


def potential(z: torch.Tensor) -> torch.Tensor:
    return torch.sin(2 * z[:, 0]) + 0.5 * z[:, 1] ** 2 + z[:, 0] * z[:, 1]


def transitions(kind: str, n: int, g: torch.Generator):
    """(z, z', r): r is the exact integral of the reward 1-form along the segment z -> z'."""
    z = torch.rand(n, 2, generator=g, dtype=F64) * 2 - 1
    step = torch.randn(n, 2, generator=g, dtype=F64) * 0.1
    z_next = z + step
    mid = 0.5 * (z + z_next)
    reward = torch.zeros(n, dtype=F64)
    if kind in ("gradient", "mixed"):
        reward = reward + potential(z_next) - potential(z)
    if kind in ("curl", "mixed"):  # R = omega/2 (-y, x): linear, so the midpoint rule is exact
        reward = reward + 0.5 * OMEGA * (-mid[:, 1] * step[:, 0] + mid[:, 0] * step[:, 1])
    if kind == "mixed":
        reward = reward + (torch.tensor(CONSTANT, dtype=F64) * step).sum(-1)
    return z, z_next, reward


def trained(kind: str, steps: int = 1000) -> HodgeCritic:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    critic = HodgeCritic(2, 32, torch.Generator().manual_seed(1)).double()
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            losses = critic_losses(critic, *transitions(kind, 256, g))
            optimizer.zero_grad()
            losses.total().backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return critic


def grid() -> torch.Tensor:
    axis = torch.linspace(-0.9, 0.9, 15, dtype=F64)
    return torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_a_gradient_reward_leaves_no_curl():
    critic = trained("gradient")
    curl = critic.curl(grid())[:, 0, 1]
    assert float(curl.abs().detach().mean()) < 0.05 * OMEGA  # 5% of the curl case's curl
    # Held-out transitions: the gradient and harmonic parts alone explain the reward.
    z, z_next, reward = transitions("gradient", 2000, torch.Generator().manual_seed(9))
    parts = critic.reward_form(0.5 * (z + z_next))
    explained = ((parts["gradient"] + parts["harmonic"]).detach() * (z_next - z)).sum(-1)
    assert 1 - float((reward - explained).var() / reward.var()) > 0.95


def test_a_constant_curl_is_recovered_and_the_potential_cannot_fit_it():
    critic = trained("curl")
    curl = critic.curl(grid())[:, 0, 1].detach()
    assert float(curl.mean()) == pytest.approx(OMEGA, rel=0.10)
    parts = critic.reward_form(grid())
    assert float(parts["gradient"].detach().norm(dim=1).mean()) < 0.2 * float(
        parts["solenoidal"].detach().norm(dim=1).mean())


def test_on_a_mixture_the_three_parts_are_orthogonal_and_each_recovered():
    critic = trained("mixed", steps=1500)
    points = grid()
    parts = {k: v.detach() for k, v in critic.reward_form(points).items()}
    for a, b in (("gradient", "solenoidal"), ("gradient", "harmonic"),
                 ("solenoidal", "harmonic")):
        assert abs(cosine(parts[a], parts[b])) < 0.15, (a, b)
    assert float(critic.curl(points)[:, 0, 1].detach().mean()) == pytest.approx(OMEGA, rel=0.10)
    # The harmonic head takes the constant part of the whole 1-form: CONSTANT plus the mean of
    # grad potential over the square, (mean of 2 cos 2x, mean of x + y) = (sin 2, 0).
    expected = torch.tensor(CONSTANT, dtype=F64) + torch.tensor([math.sin(2.0), 0.0], dtype=F64)
    torch.testing.assert_close(parts["harmonic"][0], expected, rtol=0, atol=0.1)


def test_curl_is_antisymmetric_and_bad_shapes_are_refused():
    critic = HodgeCritic(3, 8, torch.Generator().manual_seed(0)).double()
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    curl = critic.curl(z)
    torch.testing.assert_close(curl, -curl.transpose(-1, -2))
    with pytest.raises(ValueError, match="reward must have shape"):
        critic_losses(critic, z, z, torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="z must have shape"):
        critic.potential(torch.zeros(4, 2, dtype=F64))


def test_fields_gives_the_gradient_and_curl_of_one_pass():
    critic = HodgeCritic(3, 16, torch.Generator().manual_seed(2)).double()
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    grad, curl = critic.fields(z)
    torch.testing.assert_close(grad, critic.gradient_form(z, create_graph=False))
    torch.testing.assert_close(curl, critic.curl(z))
    # the curl by finite differences of A, independently of autograd
    eps = 1e-6
    jac = torch.stack([(critic.vector_potential(z + eps * e) - critic.vector_potential(z - eps * e))
                       / (2 * eps) for e in torch.eye(3, dtype=torch.float64)], dim=1)
    torch.testing.assert_close(curl, (jac - jac.transpose(-1, -2)).detach(), rtol=1e-6,
                               atol=1e-8)
    assert not grad.requires_grad and not curl.requires_grad


def test_the_agents_reading_trains_phi_by_td_alone_against_a_target_copy():
    critic = HodgeCritic(2, 8, torch.Generator().manual_seed(4)).double()
    g = torch.Generator().manual_seed(5)
    z = torch.randn(16, 2, generator=g, dtype=torch.float64)
    z_next = z + 0.1 * torch.randn(16, 2, generator=g, dtype=torch.float64)
    reward = torch.randn(16, generator=g, dtype=torch.float64)
    discount = torch.full((16,), 0.9, dtype=torch.float64)
    losses = critic_losses(critic, z, z_next, reward, discount, potential_in_reward=False,
                           target_potential=lambda x: torch.full(x.shape[:1], 2.0,
                                                                 dtype=torch.float64))
    expected_td = (critic.potential(z) - (reward + 0.9 * 2.0)).pow(2).mean()
    torch.testing.assert_close(losses.td, expected_td)
    (losses.reward + losses.overlap).backward()
    # the reward's residual is fitted by A and eta only: Phi's own head gets no gradient
    assert critic.scalar_head.weight.grad is None
    assert float(critic.vector_head.weight.grad.abs().sum()) > 0.0
