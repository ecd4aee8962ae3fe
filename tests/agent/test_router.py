from __future__ import annotations

import pytest
import torch

from thermo_manifold.agent.router import CovariantChartRouter, cayley_transform
from thermo_manifold.device import make_generator


def test_cayley_transport_is_orthogonal(generator):
    raw = torch.randn((7, 6, 6), generator=generator, dtype=torch.float64) * 3
    u = cayley_transform(raw - raw.transpose(-1, -2))
    eye = torch.eye(6, dtype=torch.float64).expand(7, 6, 6)
    assert torch.allclose(u.transpose(-1, -2) @ u, eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(u), torch.ones(7, dtype=torch.float64), atol=1e-10)


def test_router_transport_is_orthogonal_for_any_latent(generator):
    router = CovariantChartRouter(4, 5, generator).double()
    z = torch.randn((9, 4), generator=generator, dtype=torch.float64) * 10
    u = router.transport(z)
    assert torch.allclose(u.transpose(-1, -2) @ u, torch.eye(5, dtype=torch.float64).expand(9, 5, 5),
                          atol=1e-10)


@pytest.mark.parametrize("radius", [0.0, 0.5, 0.999, 1.0, 1.5, 10.0, 1e4])
def test_weights_sum_to_one_and_tau_positive_at_any_radius(radius, generator):
    router = CovariantChartRouter(4, 5, generator, feature_dim=3, tau_min=0.05)
    direction = torch.randn((16, 4), generator=generator)
    z = radius * direction / direction.norm(dim=1, keepdim=True)
    out = router(z, torch.randn((6, 4), generator=generator), torch.randn((16, 3), generator=generator))
    assert out.weights.shape == (16, 6) and out.chart.shape == (16,)
    assert torch.isfinite(out.weights).all() and (out.weights >= 0).all()
    assert torch.allclose(out.weights.sum(1), torch.ones(16), atol=1e-6)
    assert (out.tau > 0).all() and (out.tau >= 0.05 * 5 ** 0.5 - 1e-6).all()
    assert torch.equal(out.chart, out.weights.argmax(1))


def test_temperature_follows_the_conformal_factor_inside_the_ball(generator):
    router = CovariantChartRouter(3, 4, generator, tau_min=1e-3)
    z_small = torch.zeros((1, 3))
    z_far = torch.full((1, 3), 3.0)
    # tau = sqrt(K) (1 - |b(z)|^2) / 2: maximal (sqrt(K)/2) at the origin, smaller further out.
    assert torch.allclose(router.temperature(z_small), torch.tensor([1.0]))
    assert router.temperature(z_far) < router.temperature(z_small)


def test_router_rejects_bad_shapes(generator):
    router = CovariantChartRouter(4, 5, generator, feature_dim=3)
    tokens = torch.zeros((2, 4))
    with pytest.raises(ValueError, match=r"z must have shape \[B, 4\]"):
        router(torch.zeros((8, 5)), tokens, torch.zeros((8, 3)))
    with pytest.raises(ValueError, match="chart_tokens"):
        router(torch.zeros((8, 4)), torch.zeros((2, 3)), torch.zeros((8, 3)))
    with pytest.raises(ValueError, match="features"):
        router(torch.zeros((8, 4)), tokens)
    with pytest.raises(ValueError, match="batch"):
        router(torch.zeros((8, 4)), tokens, torch.zeros((7, 3)))


def test_same_seed_gives_identical_router():
    a = CovariantChartRouter(4, 5, make_generator(7), feature_dim=3)
    b = CovariantChartRouter(4, 5, make_generator(7), feature_dim=3)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), name


def test_rotating_queries_and_keys_together_leaves_the_scores_unchanged():
    """Equivariance: a rotation R of the router's K-dim space, applied to the query (every
    query projection), to the chart keys and to the transport (S -> R S R^T, which the Cayley
    transform carries to U -> R U R^T), rotates q and the keys alike; the scores are their inner
    products, so nothing changes. A router that scored with a non-invariant product, or
    transported the keys outside the query's frame, would fail this."""
    g = torch.Generator().manual_seed(7)
    d, k, h = 3, 4, 5
    router = CovariantChartRouter(d, k, g, feature_dim=h).double()
    rotated = CovariantChartRouter(d, k, torch.Generator().manual_seed(7), feature_dim=h).double()
    q, _ = torch.linalg.qr(torch.randn(k, k, generator=g, dtype=torch.float64))
    with torch.no_grad():
        for name in ("q_z_proj", "christoffel", "q_feat_proj", "chart_key_proj"):
            layer, target = getattr(router, name), getattr(rotated, name)
            target.weight.copy_(q @ layer.weight)
            if layer.bias is not None:
                target.bias.copy_(q @ layer.bias)
        # transport_proj outputs vec(A) row-major: vec(R A R^T) = (R kron R) vec(A)
        kron = torch.kron(q, q)
        rotated.transport_proj.weight.copy_(kron @ router.transport_proj.weight)
        rotated.transport_proj.bias.copy_(kron @ router.transport_proj.bias)
    z = torch.randn(6, d, generator=g, dtype=torch.float64)
    features = torch.randn(6, h, generator=g, dtype=torch.float64)
    tokens = torch.randn(5, d, generator=g, dtype=torch.float64)
    before = router(z, tokens, features)
    after = rotated(z, tokens, features)
    torch.testing.assert_close(after.scores, before.scores, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(after.weights, before.weights, rtol=1e-10, atol=1e-10)
