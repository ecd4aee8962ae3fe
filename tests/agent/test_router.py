from __future__ import annotations

import math

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


def _router_by_hand(router: CovariantChartRouter, z, tokens, features):
    """The seed's router formulas, written out with explicit loops and a matrix inverse (not
    the module's solve): the oracle for `forward`."""
    k = router.router_dim
    pairs = [(i, j) for i in range(z.shape[1]) for j in range(i, z.shape[1])]
    weights = []
    for b in range(z.shape[0]):
        zb = z[b]
        products = torch.stack([zb[i] * zb[j] for i, j in pairs])
        query = (router.q_z_proj.weight @ zb + router.q_z_proj.bias
                 + router.christoffel.weight @ products
                 + router.q_feat_proj.weight @ features[b] + router.q_feat_proj.bias)
        a = (router.transport_proj.weight @ zb + router.transport_proj.bias).reshape(k, k)
        s = a - a.T
        eye = torch.eye(k, dtype=z.dtype)
        u = torch.linalg.inv(eye + s / 2) @ (eye - s / 2)
        keys = (router.chart_key_proj.weight @ tokens.T).T + router.chart_key_proj.bias
        scores = torch.stack([(u @ key) @ query for key in keys])
        ball = math.tanh(float(zb.norm())) ** 2  # |b(z)|^2, b(z) = tanh(|z|) z / |z|
        tau = math.sqrt(k) * max((1.0 - ball) / 2.0, router.tau_min)
        weights.append(torch.softmax(scores / tau, dim=0))
    return torch.stack(weights)


def test_router_weights_match_the_seed_formulas_written_out():
    """q = q_z(z) + Christoffel(z (x) z) + q_feat(f); keys transported by the Cayley U(z);
    w = softmax(<U key, q> / tau(z)). Latents of several radii, so tau is above and at its
    floor; removing the Christoffel term, the transport, the feature query, the division by
    tau or the square in |b|^2 each changes the weights."""
    g = torch.Generator().manual_seed(3)
    router = CovariantChartRouter(3, 4, g, feature_dim=5, tau_min=0.05).double()
    with torch.no_grad():  # a transport far enough from the identity to matter
        router.transport_proj.weight.mul_(10.0)
    z = torch.randn(8, 3, generator=g, dtype=torch.float64) * torch.linspace(0.1, 3.0, 8)[:, None]
    tokens = torch.randn(5, 3, generator=g, dtype=torch.float64)
    features = torch.randn(8, 5, generator=g, dtype=torch.float64)
    with torch.no_grad():
        out = router(z, tokens, features)
        expected = _router_by_hand(router, z, tokens, features)
    torch.testing.assert_close(out.weights, expected, rtol=1e-9, atol=1e-12)


def test_temperature_closed_form_at_known_radii():
    """tau = sqrt(K) max((1 - tanh(|z|)^2) / 2, tau_min): sqrt(K)/2 at z = 0, sqrt(K)/4 where
    tanh(|z|)^2 = 1/2, sqrt(K) tau_min far out."""
    router = CovariantChartRouter(2, 9, make_generator(0), tau_min=0.05).double()
    r_half = math.atanh(math.sqrt(0.5))
    z = torch.tensor([[0.0, 0.0], [r_half, 0.0], [0.0, -r_half], [30.0, 0.0]],
                     dtype=torch.float64)
    torch.testing.assert_close(router.temperature(z),
                               torch.tensor([1.5, 0.75, 0.75, 0.15], dtype=torch.float64))
