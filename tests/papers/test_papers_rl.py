"""GRPO and Dreamer4 pieces."""

from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.papers.kernels import dreamer, grpo


def test_grpo_advantages_zero_mean_unit_std(generator):
    rewards = torch.randn(32, 16, generator=generator, dtype=torch.float64) * 3 + 1
    adv = grpo.group_advantages(rewards)
    torch.testing.assert_close(adv.mean(-1), torch.zeros(32, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(adv.std(-1, unbiased=False), torch.ones(32, dtype=torch.float64))


def test_equal_rewards_give_zero_advantage():
    rewards = torch.tensor([[0.7] * 8, [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
    adv = grpo.group_advantages(rewards)
    assert torch.equal(adv[0], torch.zeros(8))
    # Group 2: mean 1/2, population std 1/2 (the sample std would be sqrt(8/7)/2): exactly +-1.
    assert adv[1].tolist() == [1.0, 1.0, 1.0, -1.0, -1.0, -1.0, 1.0, -1.0]
    # Rewards (0, 1, 2, 3, 4): mean 2, population std sqrt(2): advantages (k - 2) / sqrt(2).
    ramp = grpo.group_advantages(torch.arange(5, dtype=torch.float64))
    torch.testing.assert_close(ramp, torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=torch.float64) / math.sqrt(2),
                               rtol=1e-15, atol=0)


def test_surrogate_uses_exp_of_log_ratio(generator):
    logp_old = torch.randn(64, generator=generator, dtype=torch.float64)
    logp_new = logp_old + 0.3 * torch.randn(64, generator=generator, dtype=torch.float64)
    adv = torch.randn(64, generator=generator, dtype=torch.float64)
    ratio = torch.exp(logp_new - logp_old)
    want = -torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
    assert float(grpo.clipped_surrogate(logp_new, logp_old, adv)) == pytest.approx(float(want), rel=1e-12)
    seed_version = -torch.minimum((logp_new - logp_old) * adv, (logp_new - logp_old).clamp(0.8, 1.2) * adv).mean()
    assert abs(float(want) - float(seed_version)) > 1e-3
    # Outside the clip range on the profitable side the gradient is zero.
    new = torch.tensor([math.log(1.5)], requires_grad=True)
    grpo.clipped_surrogate(new, torch.zeros(1), torch.ones(1)).backward()
    assert float(new.grad) == 0.0


def test_k3_kl_is_nonnegative_and_unbiased(generator):
    logits_p, logits_q = torch.tensor([1.0, 0.0, -1.0, 0.5]), torch.tensor([0.0, 0.3, 0.2, -0.4])
    logp, logq = logits_p.log_softmax(0).double(), logits_q.log_softmax(0).double()
    exact = float((logp.exp() * (logp - logq)).sum())
    draws = torch.multinomial(logp.exp(), 200000, replacement=True, generator=generator)
    k3 = grpo.k3_kl(logp[draws], logq[draws])
    assert bool((k3 >= 0).all())
    assert float(k3.mean()) == pytest.approx(exact, abs=5 * float(k3.std()) / 200000 ** 0.5)


def test_shortcut_schedule_grid(generator):
    tau, d = dreamer.shortcut_schedule(64, 5000, generator)
    k = (1 / d).round()
    assert set(k.tolist()) == {1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0}
    assert torch.equal(tau / d, (tau / d).round()) and bool((tau + d <= 1).all())


def test_x_to_v_recovers_velocity(generator):
    z0, z1 = torch.randn(2, 100, generator=generator, dtype=torch.float64)
    tau = torch.rand(100, generator=generator, dtype=torch.float64) * 0.99
    z_tau = (1 - tau) * z0 + tau * z1
    torch.testing.assert_close(dreamer.x_to_v(z1, z_tau, tau), z1 - z0)


def _brute_lambda_return(r, v, gamma, lam, t):
    """Generalised: mix of n-step returns with weights (1-lam) lam^(n-1), tail weight at episode end."""
    T = len(v)
    horizon = T - 1 - t
    if horizon == 0:
        return v[t]
    def n_step(n):
        return sum(gamma ** i * r[t + i] for i in range(n)) + gamma ** n * v[t + n]
    total = sum((1 - lam) * lam ** (n - 1) * n_step(n) for n in range(1, horizon))
    return total + lam ** (horizon - 1) * n_step(horizon)


def test_lambda_returns_match_brute_force(generator):
    r = torch.randn(9, generator=generator, dtype=torch.float64)
    v = torch.randn(9, generator=generator, dtype=torch.float64)
    for lam in (0.0, 0.95, 1.0):
        got = dreamer.lambda_returns(r, v, gamma=0.9, lam=lam)
        want = torch.tensor([_brute_lambda_return(r, v, 0.9, lam, t) for t in range(9)], dtype=torch.float64)
        torch.testing.assert_close(got, want)
    one_step = dreamer.lambda_returns(r, v, gamma=0.9, lam=0.0)
    torch.testing.assert_close(one_step[:-1], r[:-1] + 0.9 * v[1:])


def test_symlog_symexp_and_twohot_round_trip(generator):
    x = torch.cat((torch.logspace(-6, 8, 200, dtype=torch.float64), -torch.logspace(-6, 8, 200, dtype=torch.float64),
                   torch.zeros(1, dtype=torch.float64)))
    torch.testing.assert_close(dreamer.symexp(dreamer.symlog(x)), x, rtol=1e-12, atol=0)
    probs = dreamer.twohot_encode(x)
    assert probs.shape == (401, 255)
    assert bool((probs >= 0).all()) and torch.allclose(probs.sum(-1), torch.ones(401, dtype=torch.float64))
    assert bool(((probs > 0).sum(-1) <= 2).all())
    torch.testing.assert_close(dreamer.twohot_decode(probs), x, rtol=1e-9, atol=1e-12)
    far = dreamer.twohot_encode(torch.tensor([1e12], dtype=torch.float64))
    assert bool((far >= 0).all()) and float(far[0, -1]) == pytest.approx(1.0)


def test_twohot_bins_and_hand_worked_weights():
    bins = dreamer.twohot_bins()
    assert bins.dtype == torch.float64 and bins.numel() == 255
    assert float(bins[0]) == -20.0 and float(bins[-1]) == 20.0
    torch.testing.assert_close(bins.diff(), torch.full((254,), 40 / 254, dtype=torch.float64))
    assert dreamer.twohot_bins(dtype=torch.float32).dtype == torch.float32
    zero = dreamer.twohot_encode(torch.zeros(1, dtype=torch.float64))[0]      # symlog 0 is bin 127
    assert float(zero[127]) == pytest.approx(1.0, abs=1e-12) and float(zero.sum()) == pytest.approx(1.0)
    # Bins -1, -0.5, 0, 0.5, 1: symlog(x) = 0.25 splits half and half over bins 2 and 3,
    # -0.875 puts 3/4 on bin 0 and 1/4 on bin 1, and symlog(100) = 4.6 clamps to the last bin.
    custom = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0], dtype=torch.float64)
    x = torch.tensor([math.expm1(0.25), -math.expm1(0.875), 100.0], dtype=torch.float64)
    probs = dreamer.twohot_encode(x, custom)
    want = torch.tensor([[0, 0, 0.5, 0.5, 0], [0.75, 0.25, 0, 0, 0], [0, 0, 0, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(probs, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(dreamer.twohot_decode(probs[:2], custom), x[:2], rtol=1e-12, atol=0)
    # float32 inputs with float64 bins: the bins follow the input's dtype.
    assert dreamer.twohot_encode(x.float(), custom).dtype == torch.float32
    # Any leading shape: (2, 3) inputs give (2, 3, 255) weights and decode back to (2, 3).
    grid = torch.tensor([[0.5, -3.0, 40.0], [1e-3, 7.0, -0.25]], dtype=torch.float64)
    torch.testing.assert_close(dreamer.twohot_decode(dreamer.twohot_encode(grid)), grid, rtol=1e-9, atol=1e-12)


def test_grpo_loss_closed_form():
    # Group of two: rewards (1, 0) -> advantages (1, -1). Ratios 1.5 and 0.5: clipped terms
    # min(1.5, 1.2) = 1.2 and min(-0.5, -0.8) = -0.8, surrogate -(1.2 - 0.8) / 2 = -0.2.
    # k3 with log(pi_ref / pi) = (ln 2, 0): (2 - ln 2 - 1, 0), mean (1 - ln 2) / 2.
    logp_old = torch.zeros(2, dtype=torch.float64)
    logp_new = torch.tensor([math.log(1.5), math.log(0.5)], dtype=torch.float64)
    logp_ref = logp_new + torch.tensor([math.log(2.0), 0.0], dtype=torch.float64)
    rewards = torch.tensor([1.0, 0.0], dtype=torch.float64)
    kl = (1 - math.log(2)) / 2
    assert float(grpo.grpo_loss(logp_new, logp_old, logp_ref, rewards)) == pytest.approx(-0.2 + 0.1 * kl, rel=1e-12)
    # clip 0.3: min(1.5, 1.3) = 1.3, min(-0.5, -0.7) = -0.7, surrogate -0.3; beta 0.5.
    got = grpo.grpo_loss(logp_new, logp_old, logp_ref, rewards, clip_eps=0.3, kl_beta=0.5)
    assert float(got) == pytest.approx(-0.3 + 0.5 * kl, rel=1e-12)


def test_shortcut_schedule_validation_and_coverage(generator):
    tau, d = dreamer.shortcut_schedule(1, 10, generator)
    assert tau.tolist() == [0.0] * 10 and d.tolist() == [1.0] * 10
    for k_max in (0, 3, 6):
        with pytest.raises(ValueError, match=f"k_max must be a power of two >= 1; got {k_max}"):
            dreamer.shortcut_schedule(k_max, 10, generator)
    tau, d = dreamer.shortcut_schedule(4, 4000, generator)
    for k in (1, 2, 4):                                  # every grid step 0..k-1 is drawn
        steps = set((tau[d == 1 / k] * k).round().tolist())
        assert steps == set(float(s) for s in range(k))


def test_x_to_v_rejects_the_clean_end():
    z = torch.zeros(2, dtype=torch.float64)
    for tau in (1.0, torch.tensor([0.5, 1.0], dtype=torch.float64)):
        with pytest.raises(ValueError, match="x_to_v needs tau < 1"):
            dreamer.x_to_v(z, z, tau)


def test_lambda_returns_defaults_and_shapes(generator):
    r = torch.randn(6, generator=generator, dtype=torch.float64)
    v = torch.randn(6, generator=generator, dtype=torch.float64)
    want = torch.tensor([_brute_lambda_return(r, v, 0.997, 0.95, t) for t in range(6)], dtype=torch.float64)
    torch.testing.assert_close(dreamer.lambda_returns(r, v), want)
    with pytest.raises(ValueError, match=r"rewards and values must have one shape; got \(6,\) and \(5,\)"):
        dreamer.lambda_returns(r, v[:5])


def test_group_advantages_edge_groups():
    assert grpo.group_advantages(torch.tensor([[3.0]])).tolist() == [[0.0]]        # a group of one
    assert grpo.group_advantages(torch.zeros(2, 4)).tolist() == [[0.0] * 4] * 2
    assert grpo.group_advantages(torch.tensor([1, 0, 1, 0])).tolist() == [1.0, -1.0, 1.0, -1.0]   # pass/fail
    big = torch.tensor([1e6, 1e6 * (1 + 2 ** -52), 1e6], dtype=torch.float64)      # equal up to rounding
    assert grpo.group_advantages(big).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="non-empty group"):
        grpo.group_advantages(torch.zeros(3, 0))
    for eps in (0.0, 1.0):
        with pytest.raises(ValueError, match=f"clip_eps must be in \\(0, 1\\); got {eps}"):
            grpo.clipped_surrogate(torch.zeros(2), torch.zeros(2), torch.ones(2), clip_eps=eps)
