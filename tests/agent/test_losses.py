from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.agent.losses import (CausalEnclosure, FactorizedJumpOperator,
                                          InvariantChartClassifier, LearnedPrecisions,
                                          SupervisedTopologyLoss, chart_balance_loss, gaussian_kl,
                                          orthogonality_loss, reconstruction_loss, slowness_loss,
                                          vicreg_loss, vq_loss)


def test_reconstruction_loss_is_mse_and_checks_shapes(generator):
    x = torch.randn((4, 5), generator=generator)
    assert reconstruction_loss(x, x) == 0
    assert torch.isclose(reconstruction_loss(x + 2.0, x), torch.tensor(4.0))
    with pytest.raises(ValueError, match="shape"):
        reconstruction_loss(x[:, :4], x)


def test_vq_loss_codebook_and_commitment_gradients(generator):
    z_e = torch.randn((6, 3), generator=generator, requires_grad=True)
    codebook = torch.randn((2, 3), generator=generator, requires_grad=True)  # one code per chart
    z_q_all = codebook[None].expand(6, 2, 3)
    weights = torch.softmax(torch.randn((6, 2), generator=generator), 1).requires_grad_()
    loss = vq_loss(z_e, z_q_all, weights, beta=0.25)
    loss.backward()
    # codebook term moves codes towards sg(z_e); commitment moves z_e towards sg(z_q);
    # routing weights receive no gradient from the VQ term.
    expected_codes = (weights.detach()[:, :, None] * 2 * (z_q_all - z_e.detach()[:, None])).sum(0) / (6 * 3)
    assert torch.allclose(codebook.grad, expected_codes, atol=1e-6)
    z_q = (weights.detach()[:, :, None] * z_q_all).sum(1)
    assert torch.allclose(z_e.grad, 0.25 * 2 * (z_e - z_q).detach() / (6 * 3), atol=1e-6)
    assert weights.grad is None or torch.all(weights.grad == 0)
    assert vq_loss(z_q.detach(), z_q.detach()[:, None].expand(6, 2, 3), weights.detach()) < 1e-12


def test_gaussian_kl(generator):
    assert gaussian_kl(torch.zeros((5, 3)), torch.zeros((5, 3))) == 0
    mean = torch.randn((5, 3), generator=generator)
    assert torch.isclose(gaussian_kl(mean), 0.5 * mean.pow(2).sum(1).mean())
    # KL(N(0, e^s) || N(0, 1)) = 0.5 (e^s - 1 - s) per dimension
    s = torch.full((2, 4), 0.7)
    assert torch.isclose(gaussian_kl(torch.zeros((2, 4)), s), torch.tensor(4 * 0.5 * (math.exp(0.7) - 1.7)))


def test_vicreg_parts(generator):
    z = torch.randn((256, 4), generator=generator, dtype=torch.float64)
    total, parts = vicreg_loss(z, z)
    assert parts["invariance"] == 0
    assert parts["variance"] < 0.2  # std ~ 1 already
    collapsed = torch.zeros((256, 4), dtype=torch.float64) + 1e-3 * z
    _, parts_c = vicreg_loss(collapsed, collapsed)
    assert parts_c["variance"] > 1.5  # both views far below std 1
    correlated = torch.cat([z[:, :1]] * 4, dim=1)
    _, parts_r = vicreg_loss(correlated, correlated)
    assert parts_r["covariance"] > 10 * parts["covariance"]
    _, shifted = vicreg_loss(z, z + 1, metric=torch.tensor([2.0, 0, 0, 0], dtype=torch.float64))
    assert torch.isclose(shifted["invariance"], torch.tensor(0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="views"):
        vicreg_loss(z, z[:, :3])


def test_orthogonality_loss(generator):
    q, _ = torch.linalg.qr(torch.randn((8, 3), generator=generator, dtype=torch.float64))
    assert orthogonality_loss(q) < 1e-20 and orthogonality_loss(q.T) < 1e-20
    assert torch.isclose(orthogonality_loss(2 * q), torch.tensor(27.0, dtype=torch.float64))


def test_slowness_loss(generator):
    e = torch.randn((5, 3), generator=generator)
    assert slowness_loss(e, e) == 0
    assert torch.isclose(slowness_loss(e + 1, e), torch.tensor(3.0))
    assert torch.isclose(slowness_loss(e + 1, e, metric=torch.tensor([1.0, 0.0, 2.0])), torch.tensor(3.0))


def test_chart_balance_loss():
    uniform = torch.full((4, 5), 0.2)
    assert abs(float(chart_balance_loss(uniform))) < 1e-6
    one_chart = torch.zeros((4, 5))
    one_chart[:, 2] = 1
    assert torch.isclose(chart_balance_loss(one_chart), torch.tensor(math.log(5)), atol=1e-5)


def test_causal_enclosure_learns_a_predictable_transition(generator):
    # next chart = (chart + action) mod 3: predictable from (K_t, a_t), so the NLL can go to ~0.
    model = CausalEnclosure(3, 1, 16, generator)
    charts = torch.randint(0, 3, (96,), generator=generator)
    action = torch.randint(0, 2, (96, 1), generator=generator).float()
    nxt = (charts + action[:, 0].long()) % 3
    weights = torch.nn.functional.one_hot(charts, 3).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    start = model(weights, action, nxt).item()
    for _ in range(150):
        optimizer.zero_grad()
        loss = model(weights, action, nxt)
        loss.backward()
        optimizer.step()
    assert start > 0.7 and loss.item() < 0.05


def test_jump_operator_consistency(generator):
    jump = FactorizedJumpOperator(num_charts=3, latent_dim=2, jump_dim=2, generator=generator)
    with torch.no_grad():  # identity lift/projection; chart j adds its offset b_j
        jump.lift.copy_(torch.eye(2).expand(3, 2, 2))
        jump.project.copy_(torch.eye(2).expand(3, 2, 2))
        jump.lift_bias.zero_()
        jump.project_bias.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]))
    base = torch.randn((10, 2), generator=generator)
    # readings consistent with those maps: chart c reads base + offset_c
    local = torch.stack([base, base + torch.tensor([1.0, 0.0]), base + torch.tensor([0.0, 2.0])], 1)
    weights = torch.tensor([[0.6, 0.4, 0.0]]).expand(10, 3)
    assert jump(local, weights).item() < 1e-10
    wrong = local.clone()
    wrong[:, 1] += 0.5
    assert torch.isclose(jump(wrong, weights), torch.tensor(0.5))  # 0.5^2 in each of 2 dims
    single = FactorizedJumpOperator(1, 2, 2, generator)
    assert single(local[:, :1], torch.ones((10, 1))) == 0


def test_supervised_topology_loss_prefers_pure_charts():
    loss = SupervisedTopologyLoss(num_charts=2, num_classes=2)
    with torch.no_grad():
        loss.chart_logits.copy_(torch.tensor([[5.0, -5.0], [-5.0, 5.0]]))
    labels = torch.tensor([0, 0, 1, 1])
    pure = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    mixed = torch.full((4, 2), 0.5)
    collapsed = torch.tensor([[1.0, 0.0]] * 4)
    assert loss(pure, labels) < loss(mixed, labels)
    assert loss(pure, labels) < loss(collapsed, labels)


def test_classifier_is_detached_and_trained_by_its_own_optimizer(generator):
    latent_source = torch.randn((16, 4), generator=generator, requires_grad=True)
    labels = torch.randint(0, 3, (16,), generator=generator)
    classifier = InvariantChartClassifier(4, 3, 8, generator)
    optimizer = classifier.make_optimizer(0.01)
    before = [p.detach().clone() for p in classifier.parameters()]
    loss = classifier.loss(latent_source * 2, labels)
    loss.backward()
    optimizer.step()
    assert latent_source.grad is None
    assert all(not torch.equal(b, p) for b, p in zip(before, classifier.parameters()))


def test_learned_precisions_balance_terms():
    precisions = LearnedPrecisions(("a", "b"))
    terms = {"a": torch.tensor(4.0), "b": torch.tensor(0.25)}
    optimizer = torch.optim.Adam(precisions.parameters(), lr=0.05)
    for _ in range(400):
        optimizer.zero_grad()
        precisions(terms).backward()
        optimizer.step()
    # optimum: exp(-s_i) = 1 / L_i
    assert torch.allclose(precisions.log_variance.exp(), torch.tensor([4.0, 0.25]), rtol=0.05)
