"""Issue 18: `training.evaluate` on constructed models whose MSE, AMI and perplexities are known,
and the atlas' discrete-code measures (`atlas_metrics`) against their definitions."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from thermo_manifold.agent.atlas_metrics import atlas_code_readout
from thermo_manifold.agent.config import AtlasConfig, TrainConfig
from thermo_manifold.agent.datasets import Dataset
from thermo_manifold.agent.model import Readout, TopoEncoder
from thermo_manifold.agent.training import evaluate


def _data(classes: int = 4, per_class=6, dim: int = 5) -> Dataset:
    counts = torch.as_tensor(per_class).expand(classes) if isinstance(per_class, int) else \
        torch.as_tensor(per_class)
    labels = torch.arange(classes).repeat_interleave(counts)
    x = torch.randn(labels.numel(), dim, generator=torch.Generator().manual_seed(0))
    return Dataset(name="made", x_train=x, y_train=labels, x_test=x, y_test=labels,
                   num_classes=classes)


class _KnownModel(nn.Module):
    """x_hat = x + 0.1; latent = one-hot label (a lookup by row); chart = label; code = label
    folded onto two ids (`code_of`)."""

    def __init__(self, labels: torch.Tensor, classes: int, code_of):
        super().__init__()
        self.labels, self.classes, self.code_of = labels, classes, code_of

    def readout(self, x):
        onehot = nn.functional.one_hot(self.labels[: x.shape[0]], self.classes).float()
        return Readout(x_hat=x + 0.1, latent=onehot, chart=self.labels[: x.shape[0]],
                       code=self.code_of(self.labels[: x.shape[0]]))


class _ReadLatent(nn.Module):
    def forward(self, latent):
        return latent  # the one-hot latent is its own logit: accuracy 1


def test_evaluate_gives_known_values_on_a_constructed_model():
    data = _data(per_class=[1, 2, 3, 6])  # unequal use, so perplexity is not a count of ids
    model = _KnownModel(data.y_test, 4, lambda y: y // 2)  # codes {0, 0, 1, 1} per class pair
    metrics = evaluate(model, _ReadLatent(), data, torch.device("cpu"), seed=0)
    assert metrics["mse"] == pytest.approx(0.01, rel=1e-5)
    assert metrics["mse_hard"] == metrics["mse"]  # a code-decoding baseline's output is hard
    assert metrics["ami_chart"] == pytest.approx(1.0)
    p = torch.tensor([1.0, 2.0, 3.0, 6.0]) / 12.0
    assert metrics["perplexity_chart"] == pytest.approx(math.exp(-(p * p.log()).sum()))
    q = torch.tensor([3.0, 9.0]) / 12.0  # code 0 holds classes 0 and 1, code 1 classes 2 and 3
    assert metrics["perplexity_code"] == pytest.approx(math.exp(-(q * q.log()).sum()))
    # codes pair up classes: half the label entropy; AMI corrects for chance, so it is below 1
    assert 0.3 < metrics["ami_code"] < 1.0
    assert metrics["ami_kmeans"] == pytest.approx(1.0)  # four distinct one-hot points
    assert metrics["classifier_accuracy"] == 1.0
    assert metrics["tau_floor_fraction"] is None and metrics["router_agreement"] is None


def test_evaluate_survives_fewer_test_samples_than_classes():
    data = _data(classes=4, per_class=1)
    data.num_classes = 10  # more classes than the 4 test samples
    model = _KnownModel(data.y_test, 4, lambda y: y)
    metrics = evaluate(model, _ReadLatent(), data, torch.device("cpu"), seed=0)
    assert math.isfinite(metrics["ami_kmeans"])


def _atlas(tau_min: float) -> TopoEncoder:
    config = AtlasConfig(input_dim=5, latent_dim=3, hidden_dim=16, num_charts=4,
                         codes_per_chart=3, router_dim=4, jump_dim=2, tau_min=tau_min)
    return TopoEncoder(config, TrainConfig(epochs=1), torch.Generator().manual_seed(1), 4, 0)


def test_the_hard_decode_uses_the_argmax_charts_centre_and_code_only():
    model = _atlas(0.05)
    x = torch.randn(9, 5, generator=torch.Generator().manual_seed(2))
    hard = atlas_code_readout(model, x)
    enc = model.encoder(x)
    # Moving every other chart's centre and code, and the nuisance filter, changes nothing.
    with torch.no_grad():
        used = torch.zeros(4, 3, dtype=torch.bool)
        used[enc.chart, enc.codes[torch.arange(9), enc.chart]] = True
        model.encoder.codebook[~used] += 5.0
        for p in model.encoder.structure_filter.parameters():
            p.add_(1.0)
    again = atlas_code_readout(model, x)
    torch.testing.assert_close(again.x_hard, hard.x_hard)
    # ... while moving a used code does.
    with torch.no_grad():
        model.encoder.codebook[used] += 1.0
    assert not torch.allclose(atlas_code_readout(model, x).x_hard, hard.x_hard)


def test_tau_floor_fraction_follows_the_floor():
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(3))
    above = atlas_code_readout(_atlas(0.5), x)  # the floor at the largest factor, 1/2
    assert bool(above.enc_at_floor.all()) and bool(above.dec_at_floor.all())
    below = atlas_code_readout(_atlas(1e-9), x)
    assert not bool(below.enc_at_floor.any()) and not bool(below.dec_at_floor.any())
