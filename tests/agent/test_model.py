from __future__ import annotations

import dataclasses

import pytest
import torch

from thermo_manifold.agent.baselines import (VQVAE, PlainAutoencoder, matching_width,
                                             mlp_autoencoder_parameters)
from thermo_manifold.agent.config import AtlasConfig, TrainConfig
from thermo_manifold.agent.datasets import make_atlas2d
from thermo_manifold.agent.experiment import atlas_config_for, build_models
from thermo_manifold.agent.losses import InvariantChartClassifier
from thermo_manifold.agent.model import Batch, TopoEncoder
from thermo_manifold.agent.training import make_classifier, held_out_reconstruction, train_model
from thermo_manifold.device import make_generator

EVERY_TERM = TrainConfig(epochs=1, supervised=1.0, learned_precisions=True, vicreg=0.1, ortho=0.1,
                         jump=0.1, slowness=0.1, closure=0.1, kl_nuisance=0.1, kl_texture=0.1)


def _sequence_batch(config: AtlasConfig, generator: torch.Generator, n: int = 48) -> Batch:
    x = torch.randn((n, config.input_dim), generator=generator)
    return Batch(x=x, labels=torch.randint(0, 3, (n,), generator=generator),
                 x_next=x + 0.1 * torch.randn(x.shape, generator=generator),
                 action=torch.randn((n, 2), generator=generator))


def test_gradients_reach_every_learning_parameter_and_never_the_classifier(small_atlas, generator):
    model = TopoEncoder(small_atlas, EVERY_TERM, generator, num_classes=3, action_dim=2)
    batch = _sequence_batch(small_atlas, generator)
    total, terms, latent = model.training_losses(batch, make_generator(5))
    assert set(terms) >= {"recon", "vq", "supervised", "jump", "kl_nuisance", "kl_texture",
                          "vicreg", "ortho", "slowness", "closure"}
    classifier = InvariantChartClassifier(latent.shape[1], 3, 8, generator)
    total.backward()
    missing = [name for name, p in model.named_parameters()
               if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert missing == []
    assert all(p.grad is None for p in classifier.parameters())
    # the classifier's loss reaches only the classifier
    model.zero_grad(set_to_none=True)
    classifier.loss(latent, batch.labels).backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is not None for p in classifier.parameters())


def test_codebook_rows_that_are_chosen_get_gradients(small_atlas, generator):
    model = TopoEncoder(small_atlas, TrainConfig(), generator, num_classes=3)
    batch = _sequence_batch(small_atlas, generator)
    out, _ = model(batch.x)
    total, _, _ = model.training_losses(Batch(x=batch.x, labels=batch.labels), make_generator(1))
    total.backward()
    grad = model.encoder.codebook.grad.abs().sum(-1)                       # [N_c, K_c]
    used = torch.zeros_like(grad, dtype=torch.bool)
    used[torch.arange(3)[None, :].expand_as(out.codes), out.codes] = True
    assert (grad[used] > 0).all() and (grad[~used] == 0).all()


@pytest.mark.parametrize("dataset_dims", [(64, 10), (784, 10), (2, 6)])
def test_baseline_parameter_counts_match_within_5_percent(dataset_dims):
    input_dim, classes = dataset_dims
    data = type("D", (), {"name": "atlas2d" if input_dim == 2 else "digits", "input_dim": input_dim,
                          "num_classes": classes, "action_dim": 0})()
    atlas = atlas_config_for(data)
    models = build_models(data, atlas, TrainConfig(), seed=0, supervised=True)
    counts = {m.name: m.atlas_parameter_count() for m in models}
    target = counts["TopoEncoder"]
    assert set(counts) == {"TopoEncoder", "TopoEncoder+sup", "VQ-VAE", f"VQ-VAE, {classes} codes",
                           "Autoencoder"}
    for name, count in counts.items():
        assert abs(count - target) <= 0.05 * target, (name, count, target)


def test_parameter_formula_matches_the_modules(generator):
    width = matching_width(20000, 30, 5, codes=12)
    vq = VQVAE(30, 5, width, 12, generator)
    ae = PlainAutoencoder(30, 5, width, generator)
    assert sum(p.numel() for p in vq.parameters()) == mlp_autoencoder_parameters(30, 5, width, 12)
    assert sum(p.numel() for p in ae.parameters()) == mlp_autoencoder_parameters(30, 5, width)


@pytest.mark.parametrize("kind", ["topo", "vqvae", "autoencoder"])
def test_short_training_lowers_reconstruction(kind):
    data = make_atlas2d(make_generator(3), n_train=512, n_test=256)
    atlas = atlas_config_for(data)
    train = TrainConfig(epochs=4, batch_size=64)
    models = {m.name: m for m in build_models(data, atlas, train, seed=0)}
    model = models[{"topo": "TopoEncoder", "vqvae": "VQ-VAE", "autoencoder": "Autoencoder"}[kind]]
    device = torch.device("cpu")
    before = held_out_reconstruction(model, data, device)
    classifier = make_classifier(model, data, make_generator(1), device)
    history = train_model(model, classifier, data, train, make_generator(2), device, quiet=True)
    assert history.test_recon[-1] < 0.7 * before
    assert history.train[-1]["recon"] < history.train[0]["recon"]


def test_same_seed_same_training():
    data = make_atlas2d(make_generator(3), n_train=128, n_test=64)
    atlas = atlas_config_for(data)
    train = TrainConfig(epochs=1, batch_size=32)
    results = []
    for _ in range(2):
        model = build_models(data, atlas, train, seed=4)[0]
        classifier = make_classifier(model, data, make_generator(1), torch.device("cpu"))
        history = train_model(model, classifier, data, train, make_generator(2), torch.device("cpu"),
                              quiet=True)
        results.append((history.train[-1], [p.detach().clone() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def test_supervised_variant_differs_only_in_its_loss():
    data = type("D", (), {"name": "digits", "input_dim": 64, "num_classes": 10, "action_dim": 0})()
    models = build_models(data, atlas_config_for(data), TrainConfig(), seed=0, supervised=True)
    plain, sup = models[0], models[1]
    assert plain.supervised is None and sup.supervised is not None
    assert dataclasses.replace(sup.train_config, supervised=0.0) == plain.train_config


def test_vq_vae_loss_is_reconstruction_plus_codebook_plus_beta_commitment():
    """loss = MSE + |sg(z_e) - z_q|^2 + beta |z_e - sg(z_q)|^2: in value the two VQ terms are
    (1 + beta) |z_e - z_q|^2 (without the commitment term they would be 1 x)."""
    model = VQVAE(5, 2, 8, 3, torch.Generator().manual_seed(1), beta=0.25).double()
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    total, terms, _ = model.training_losses(Batch(x=x, labels=torch.zeros(4, dtype=torch.long)),
                                            torch.Generator())
    z_e, z_q, _, x_hat = model(x)
    gap = (z_e - z_q).pow(2).mean()
    assert float(gap) > 1e-3
    torch.testing.assert_close(terms["vq"], 1.25 * gap)
    torch.testing.assert_close(total, (x_hat - x).pow(2).mean() + 1.25 * gap)
