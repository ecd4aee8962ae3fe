"""Seed 003 section 4: the covariant cross-attention world model against the Boris-BAOAB
integrator it wraps (tested against closed forms in test_metric_and_integrator.py), its
Gaussian width against sampled thermostat noise, the Wilson-line transport, and a fit."""

from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.agent.integrator import LangevinParams, baoab_step
from thermo_manifold.agent.world_model import CovariantAttentionWorldModel

F64 = torch.float64
D = 3


def _model(seed: int = 0) -> CovariantAttentionWorldModel:
    return CovariantAttentionWorldModel(D, 4, torch.Generator().manual_seed(seed)).double()


def _inputs(batch: int = 5, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, D, generator=g, dtype=F64)
    return (z, torch.randn(batch, D, generator=g, dtype=F64),
            torch.randn(batch, D, generator=g, dtype=F64),
            torch.randn(batch, 4, D, generator=g, dtype=F64))


def test_with_silent_heads_the_mean_path_is_the_integrators_zero_temperature_step():
    model = _model()
    with torch.no_grad():
        model.potential_coupling.fill_(1.0)
        model.lorentz_coupling.fill_(0.7)
        model.control.copy_(torch.tensor([[0.5, 0.1, 0.0], [0.0, 0.3, 0.0],
                                          [0.2, 0.0, 0.4]], dtype=F64))
    z, p, u, memory = _inputs()
    metric = torch.tensor([0.5, 1.0, 2.0], dtype=F64)
    stiffness = torch.tensor([1.0, 2.0, 0.5], dtype=F64)
    curl = torch.tensor([[0.0, 1.0, -0.5], [-1.0, 0.0, 0.3], [0.5, -0.3, 0.0]], dtype=F64)
    out = model.step(z, p, u, memory, metric, lambda x: x * stiffness, lambda x: curl)
    gamma = float(torch.nn.functional.softplus(model.friction_raw.detach()))
    params = LangevinParams(h=1.0, beta=0.7, gamma=gamma, temperature=0.0)
    z_ref, p_ref = baoab_step(z, p, lambda x: x * stiffness, metric, params,
                              control=u @ model.control.detach().T, curl=curl)
    torch.testing.assert_close(out.z_next, z_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.p_next, p_ref, rtol=1e-12, atol=1e-12)


def test_the_gaussian_width_is_the_thermostat_noise_carried_by_the_second_drift():
    model = _model()
    z, p, u, memory = _inputs(batch=1)
    metric = torch.tensor([0.5, 1.0, 4.0], dtype=F64)
    with torch.no_grad():
        out = model.step(z, p, u, memory, metric)
        temperature = math.exp(model.log_temperature(torch.zeros(())))  # silent heads
    gamma = float(torch.nn.functional.softplus(model.friction_raw.detach()))
    # Sample the integrator's own noisy step many times (no potential, no curl, same force).
    n = 40_000
    params = LangevinParams(h=1.0, beta=0.0, gamma=gamma, temperature=temperature)
    control = (u @ model.control.detach().T).expand(n, D)
    samples, _ = baoab_step(z.expand(n, D), p.expand(n, D), lambda x: torch.zeros_like(x),
                            metric, params, control=control,
                            generator=torch.Generator().manual_seed(3))
    standard_error = float(samples.std(0).max()) / math.sqrt(n)
    torch.testing.assert_close(samples.mean(0), out.z_next[0], rtol=0, atol=5 * standard_error)
    expected_std = torch.exp(out.log_std[0])
    torch.testing.assert_close(samples.std(0), expected_std, rtol=0.02, atol=0)


def test_the_wilson_line_is_a_rotation_and_the_identity_from_z_to_itself():
    model = _model()
    z, _, _, memory = _inputs()
    line = model.attention.wilson_line(z, memory)
    eye = torch.eye(4, dtype=F64)
    torch.testing.assert_close(line @ line.transpose(-1, -2), eye.expand_as(line),
                               rtol=0, atol=1e-12)
    to_itself = model.attention.wilson_line(z, z[:, None, :])
    torch.testing.assert_close(to_itself, eye.expand_as(to_itself), rtol=0, atol=1e-12)


def test_tau_is_positive_and_off_its_floor_for_latents_of_unit_scale():
    model = _model()
    tau = model.attention.temperature(torch.ones(2, D, dtype=F64))
    floor = math.sqrt(4) * model.attention.tau_min
    assert bool((tau > floor).all())
    # tau = sqrt(d_k) (1 - tanh(|z| / sqrt(D))^2) / 2 at |z| = sqrt(D): tanh(1)
    assert float(tau[0]) == pytest.approx(2.0 * 0.5 * (1.0 - math.tanh(1.0) ** 2))


def test_the_model_learns_a_force_it_is_not_given():
    """A damped spring in the latent (force -k z), with no critic: the kick head must learn
    the spring. Its one-step error ends far below the constant-velocity guess's."""
    g = torch.Generator().manual_seed(0)
    k, h = 0.3, 1.0

    def world(z, z_prev):
        v = z - z_prev
        v = 0.9 * v - h * k * z
        return z + h * v

    z_prev = torch.randn(512, D, generator=g, dtype=F64)
    z = z_prev + 0.1 * torch.randn(512, D, generator=g, dtype=F64)
    z_next = world(z, z_prev)
    memory = torch.stack([z_prev, z], dim=1)
    u = torch.zeros_like(z)
    metric = torch.ones(D, dtype=F64)
    model = _model()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        step = model.step(z, model.momentum(z, z_prev, metric), u, memory, metric)
        loss = model.loss(step, z_next, metric)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        step = model.step(z, model.momentum(z, z_prev, metric), u, memory, metric)
    error = float((step.z_next - z_next).pow(2).mean())
    naive = float((2 * z - z_prev - z_next).pow(2).mean())
    assert error < 0.02 * naive


def test_bad_shapes_and_settings_are_refused():
    model = _model()
    z, p, u, memory = _inputs()
    metric = torch.ones(D, dtype=F64)
    with pytest.raises(ValueError, match="memory must have shape"):
        model.step(z, p, u, memory[:, :, :2], metric)
    with pytest.raises(ValueError, match="metric"):
        model.step(z, p, u, memory, -metric)
    with pytest.raises(ValueError, match="u must have shape"):
        model.step(z, p, u[:, :2], memory, metric)
    with pytest.raises(ValueError, match="friction"):
        CovariantAttentionWorldModel(D, 4, torch.Generator(), friction=0.0)


def test_with_no_force_the_latent_keeps_its_velocity_whatever_the_metric():
    """p = G (z - z_prev) / h, so the drift G^-1 p is the latent's own velocity: with no force
    and friction near zero, z_next = z + (z - z_prev) for any G (a momentum that ignored G
    would move by G^-1 (z - z_prev))."""
    model = _model()
    with torch.no_grad():
        model.control.zero_()
        model.friction_raw.fill_(-30.0)  # softplus(-30) ~ 1e-13
    z, _, u, memory = _inputs()
    z_prev = z - 0.3
    for metric in (torch.ones(D, dtype=F64), torch.tensor([0.2, 1.0, 7.0], dtype=F64)):
        step = model.step(z, model.momentum(z, z_prev, metric), u, memory, metric)
        torch.testing.assert_close(step.z_next, z + 0.3, rtol=0, atol=1e-10)


def test_the_loss_is_the_normalised_metric_weighted_error_plus_the_gaussian_nll():
    from thermo_manifold.agent.world_model import WorldModelStep

    mean = torch.zeros(1, 3, dtype=F64)
    log_std = torch.log(torch.tensor([[1.0, 2.0, 0.5]], dtype=F64))
    truth = torch.tensor([[2.0, 1.0, -1.0]], dtype=F64)
    metric = torch.tensor([1.0, 2.0, 3.0], dtype=F64)  # mean 2: weights 0.5, 1, 1.5
    step = WorldModelStep(z_next=mean, p_next=mean, log_std=log_std, tau=torch.ones(1))
    mse = 0.5 * 4.0 + 1.0 * 1.0 + 1.5 * 1.0  # unweighted it would be 6
    nll = sum(0.5 * (t / s) ** 2 + math.log(s) + 0.5 * math.log(2 * math.pi)
              for t, s in ((2.0, 1.0), (1.0, 2.0), (-1.0, 0.5)))
    assert float(_model().loss(step, truth, metric)) == pytest.approx(mse + nll, rel=1e-12)
