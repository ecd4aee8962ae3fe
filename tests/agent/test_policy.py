"""Seed 003 section 3: each loss formula against hand-computed values and against
torch.distributions (an independent implementation), and the policy/decoder shapes and bounds."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from thermo_manifold.agent.gaussians import (
    diagonal_gaussian_kl,
    gaussian_entropy,
    gaussian_log_prob,
)
from thermo_manifold.agent.policy import ActionDecoder, GaussianLatentPolicy, policy_losses

F64 = torch.float64


def t(*values):
    return torch.tensor([list(values)], dtype=F64)


def test_log_prob_by_hand_and_against_torch():
    # u = 1 under N(0, 2^2): -1/2 (1/2)^2 - log 2 - 1/2 log(2 pi)
    hand = -0.125 - math.log(2.0) - 0.5 * math.log(2 * math.pi)
    assert float(gaussian_log_prob(t(1.0), t(0.0), t(math.log(2.0)))) == pytest.approx(hand)
    g = torch.Generator().manual_seed(0)
    u, mean = torch.randn(4, 3, generator=g, dtype=F64), torch.randn(4, 3, generator=g, dtype=F64)
    log_std = torch.randn(4, 3, generator=g, dtype=F64) * 0.5
    expected = Normal(mean, log_std.exp()).log_prob(u).sum(-1)
    torch.testing.assert_close(gaussian_log_prob(u, mean, log_std), expected)


def test_entropy_by_hand_and_against_torch():
    # two dimensions of sigma = 2: 2 (log 2 + 1/2 log(2 pi e))
    hand = 2 * (math.log(2.0) + 0.5 * math.log(2 * math.pi * math.e))
    log_std = t(math.log(2.0), math.log(2.0))
    assert float(gaussian_entropy(log_std)) == pytest.approx(hand)
    expected = Normal(torch.zeros(1, 2, dtype=F64), log_std.exp()).entropy().sum(-1)
    torch.testing.assert_close(gaussian_entropy(log_std), expected)


def test_zeno_kl_by_hand_and_against_torch():
    # KL(N(1, 1) || N(0, 2^2)) = log 2 + (1 + 1) / 8 - 1/2
    kl = diagonal_gaussian_kl(t(1.0), t(0.0), t(0.0), t(math.log(2.0)))
    assert float(kl) == pytest.approx(math.log(2.0) - 0.25)
    g = torch.Generator().manual_seed(1)
    mp, mq = torch.randn(5, 2, generator=g, dtype=F64), torch.randn(5, 2, generator=g, dtype=F64)
    sp, sq = torch.rand(5, 2, generator=g, dtype=F64) + 0.3, torch.rand(5, 2, generator=g,
                                                                         dtype=F64) + 0.3
    expected = kl_divergence(Normal(mp, sp), Normal(mq, sq)).sum(-1)
    torch.testing.assert_close(diagonal_gaussian_kl(mp, sp.log(), mq, sq.log()), expected)
    assert float(diagonal_gaussian_kl(mp, sp.log(), mp, sp.log()).abs().max()) < 1e-15


def test_policy_losses_weight_each_term_and_the_task_gradient_is_the_objectives():
    mean = torch.tensor([[0.0], [1.0]], dtype=F64, requires_grad=True)
    log_std = torch.zeros(2, 1, dtype=F64)
    # a pathwise objective J = -(u - 2)^2 with u = mean (noise 0): dJ/dmean = -2 (mean - 2)
    objective = -(mean - 2.0).pow(2).sum(-1)
    entropy = gaussian_entropy(log_std)
    kl = torch.tensor([0.2, 0.4], dtype=F64)
    losses = policy_losses(objective, entropy, kl, entropy_weight=0.5, zeno_weight=2.0)
    assert float(losses.task.detach()) == pytest.approx((4.0 + 1.0) / 2)
    assert float(losses.entropy) == pytest.approx(-0.5 * 0.5 * math.log(2 * math.pi * math.e))
    assert float(losses.zeno) == pytest.approx(2.0 * 0.3)
    assert float(losses.total.detach()) == pytest.approx(
        float((losses.task + losses.entropy + losses.zeno).detach()))
    losses.task.backward()
    # d/dmean of -(1/B) sum J = (1/B) 2 (mean - 2)
    torch.testing.assert_close(mean.grad, torch.tensor([[-2.0], [-1.0]], dtype=F64))
    first = policy_losses(objective.detach(), entropy, None)
    assert float(first.zeno) == 0.0
    with pytest.raises(ValueError, match="zeno_weight"):
        policy_losses(objective.detach(), entropy, kl, zeno_weight=-1.0)
    with pytest.raises(ValueError, match="one shape"):
        policy_losses(objective.detach(), entropy[:1], kl)


def test_policy_samples_within_its_width_bounds_and_is_seeded():
    policy = GaussianLatentPolicy(3, 16, torch.Generator().manual_seed(0),
                                  log_std_bounds=(-2.0, 0.5))
    z = torch.randn(64, 3, generator=torch.Generator().manual_seed(1)) * 10
    with torch.no_grad():
        mean, log_std = policy(z)
    assert mean.shape == log_std.shape == (64, 3)
    assert float(log_std.min()) >= -2.0 and float(log_std.max()) <= 0.5
    u1, m1, s1 = policy.rsample(z, torch.Generator().manual_seed(5))
    u2, _, _ = policy.rsample(z, torch.Generator().manual_seed(5))
    assert torch.equal(u1, u2) and u1.requires_grad  # reparameterised: u carries the gradient
    torch.testing.assert_close(m1.detach(), mean)
    eps = torch.randn(64, 3, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(u1.detach(), mean + torch.exp(log_std) * eps)
    u1.sum().backward()
    assert all(p.grad is not None for p in policy.parameters())
    with pytest.raises(ValueError, match="z must have shape"):
        policy(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="log_std_bounds"):
        GaussianLatentPolicy(3, 16, torch.Generator(), log_std_bounds=(1.0, -1.0))


def test_action_decoder_maps_force_components_into_the_box_or_to_logits():
    g = torch.Generator().manual_seed(0)
    box = ActionDecoder(3, action_dim=1, low=-2.0, high=2.0)
    u = torch.randn(100, 3, generator=g) * 3
    with torch.no_grad():
        actions = box(u)
    assert actions.shape == (100, 1) and float(actions.abs().max()) <= 2.0
    # action = low + (high - low) (tanh(u_0) + 1) / 2: the first force component alone
    torch.testing.assert_close(actions[:, 0], -2.0 + 2.0 * (torch.tanh(u[:, 0]) + 1.0))
    assert float(box(torch.zeros(1, 3))) == 0.0  # the middle of the box
    logits = ActionDecoder(3, num_actions=2)(u)
    torch.testing.assert_close(logits, u[:, :2])
    with pytest.raises(ValueError, match="exactly one"):
        ActionDecoder(3)
    with pytest.raises(ValueError, match="outputs"):
        ActionDecoder(3, num_actions=4)
