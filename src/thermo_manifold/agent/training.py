"""Train a model (TopoEncoder or baseline) with its detached classifier, and evaluate it.

The loop is the seed's 0.4 wiring: one optimizer on the model's loss, and a second optimizer for
the InvariantChartClassifier on the detached latent of the same forward pass.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from thermo_manifold.agent.config import TrainConfig
from thermo_manifold.agent.datasets import Dataset
from thermo_manifold.agent.losses import InvariantChartClassifier
from thermo_manifold.agent.model import Batch, TopoEncoder


@dataclass
class TrainHistory:
    """Per epoch: mean of every training loss term, and the test reconstruction MSE."""

    train: list[dict[str, float]] = field(default_factory=list)
    test_recon: list[float] = field(default_factory=list)


def _batch(data: Dataset, index: torch.Tensor, device: torch.device, split: str = "train") -> Batch:
    x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
    nxt = data.next_train if split == "train" else data.next_test
    act = data.action_train if split == "train" else data.action_test
    return Batch(x=x[index].to(device), labels=y[index].to(device),
                 x_next=None if nxt is None else nxt[index].to(device),
                 action=None if act is None else act[index].to(device))


def make_classifier(model: nn.Module, data: Dataset, generator: torch.Generator,
                    device: torch.device, hidden: int = 64) -> InvariantChartClassifier:
    with torch.no_grad():
        width = model.readout(data.x_train[:2].to(device)).latent.shape[1]
    return InvariantChartClassifier(width, data.num_classes, hidden, generator).to(device)


@torch.no_grad()
def held_out_reconstruction(model: nn.Module, data: Dataset, device: torch.device,
                        batch_size: int = 1024) -> float:
    model.eval()
    total = 0.0
    for start in range(0, data.x_test.shape[0], batch_size):
        x = data.x_test[start:start + batch_size].to(device)
        total += float((model.readout(x).x_hat - x).pow(2).sum())
    model.train()
    return total / data.x_test.numel()


def train_model(model: nn.Module, classifier: InvariantChartClassifier, data: Dataset,
                config: TrainConfig, generator: torch.Generator, device: torch.device,
                quiet: bool = False) -> TrainHistory:
    """Train `model` and `classifier` for config.epochs; `generator` (CPU) orders the batches,
    a device generator seeded from it draws the augmentation noise."""
    from tqdm import tqdm

    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    classifier_optimizer = classifier.make_optimizer(config.classifier_lr)
    noise_generator = torch.Generator(device=device)
    noise_generator.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
    history = TrainHistory()
    n = data.x_train.shape[0]
    bar = tqdm(range(config.epochs), desc=f"{model.name:>12}", unit="epoch", leave=False,
               disable=quiet or not sys.stderr.isatty())
    model.train()
    for _ in bar:
        sums: dict[str, float] = defaultdict(float)
        order = torch.randperm(n, generator=generator)
        batches = 0
        for start in range(0, n - 1, config.batch_size):
            index = order[start:start + config.batch_size]
            if index.numel() < 2:
                continue  # VICReg and batch statistics need two samples
            batch = _batch(data, index, device)
            total, terms, latent = model.training_losses(batch, noise_generator)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            classifier_loss = classifier.loss(latent, batch.labels)
            classifier_optimizer.zero_grad(set_to_none=True)
            classifier_loss.backward()
            classifier_optimizer.step()
            sums["total"] += total.item()
            sums["classifier"] += classifier_loss.item()
            for name, value in terms.items():
                sums[name] += value.item()
            batches += 1
        history.train.append({name: value / max(batches, 1) for name, value in sums.items()})
        history.test_recon.append(held_out_reconstruction(model, data, device))
        bar.set_postfix(recon=f"{history.train[-1]['recon']:.4f}", test=f"{history.test_recon[-1]:.4f}")
    return history


def perplexity(ids: np.ndarray) -> float:
    """exp(entropy) of the empirical distribution of discrete ids (number of codes in effective use)."""
    _, counts = np.unique(ids, return_counts=True)
    p = counts / counts.sum()
    return float(math.exp(-(p * np.log(p)).sum()))


@torch.no_grad()
def evaluate(model: nn.Module, classifier: InvariantChartClassifier, data: Dataset,
             device: torch.device, seed: int, batch_size: int = 1024) -> dict[str, float | None]:
    """Held-out metrics (None where a model has no such part):

    mse (the model's own output), mse_hard (decoded from the discrete code alone: the
    TopoEncoder's argmax chart centre plus its code, `atlas_metrics`; a VQ-VAE's output is
    already that; an autoencoder has none), ami_chart, ami_code (with the labels), ami_kmeans
    (k-means on the classifier's latent, k = the classes, at most the test samples),
    perplexity_chart, perplexity_code, tau_floor_fraction (share of encoder and decoder
    routings at the temperature floor), router_agreement (encoder chart = decoder chart),
    classifier_accuracy."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import adjusted_mutual_info_score

    from thermo_manifold.agent.atlas_metrics import atlas_code_readout

    model.eval()
    atlas = isinstance(model, TopoEncoder)
    parts = defaultdict(list)
    for start in range(0, data.x_test.shape[0], batch_size):
        x = data.x_test[start:start + batch_size].to(device)
        out = model.readout(x)
        parts["sq"].append(float((out.x_hat - x).pow(2).sum()))
        parts["latent"].append(out.latent.cpu())
        parts["pred"].append(classifier(out.latent).argmax(1).cpu())
        if out.chart is not None:
            parts["chart"].append(out.chart.cpu())
        if out.code is not None:
            parts["code"].append(out.code.cpu())
        if atlas:
            hard = atlas_code_readout(model, x)
            parts["sq_hard"].append(float((hard.x_hard - x).pow(2).sum()))
            parts["at_floor"] += [hard.enc_at_floor.cpu(), hard.dec_at_floor.cpu()]
            parts["agree"].append(hard.agree.cpu())
    model.train()
    labels = data.y_test.numpy()
    latent = torch.cat(parts["latent"]).double().numpy()
    clusters = min(data.num_classes, latent.shape[0])
    with warnings.catch_warnings():  # a collapsed latent has fewer distinct points than clusters
        warnings.simplefilter("ignore", ConvergenceWarning)
        kmeans = KMeans(n_clusters=clusters, n_init=4, random_state=seed).fit(latent)
    mse = sum(parts["sq"]) / data.x_test.numel()
    metrics: dict[str, float | None] = {
        "mse": mse, "mse_hard": None,
        "ami_chart": None, "ami_code": None,
        "ami_kmeans": float(adjusted_mutual_info_score(labels, kmeans.labels_)),
        "perplexity_chart": None, "perplexity_code": None,
        "tau_floor_fraction": None, "router_agreement": None,
        "classifier_accuracy": float((torch.cat(parts["pred"]).numpy() == labels).mean()),
    }
    if parts["chart"]:
        charts = torch.cat(parts["chart"]).numpy()
        metrics["ami_chart"] = float(adjusted_mutual_info_score(labels, charts))
        metrics["perplexity_chart"] = perplexity(charts)
    if parts["code"]:
        codes = torch.cat(parts["code"]).numpy()
        metrics["ami_code"] = float(adjusted_mutual_info_score(labels, codes))
        metrics["perplexity_code"] = perplexity(codes)
        if not atlas:  # a VQ-VAE decodes its code alone: its output is the hard one
            metrics["mse_hard"] = mse
    if atlas:
        metrics["mse_hard"] = sum(parts["sq_hard"]) / data.x_test.numel()
        metrics["tau_floor_fraction"] = float(torch.cat(parts["at_floor"]).double().mean())
        metrics["router_agreement"] = float(torch.cat(parts["agree"]).double().mean())
    return metrics


__all__ = ["TrainHistory", "evaluate", "make_classifier", "perplexity", "held_out_reconstruction",
           "train_model"]
