"""`thermo-manifold agent topoencoder`: TopoEncoder against a VQ-VAE and an autoencoder.

All models see the same training split, the same batches order (same seed) and the same number
of epochs; the baselines are sized to the TopoEncoder's parameter count. Writes config.json,
metrics.json, tables/topoencoder.{md,tex}, figures/loss_curves.png and, for atlas2d,
figures/atlas_charts.png.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from thermo_manifold.agent.baselines import VQVAE, PlainAutoencoder, matching_width
from thermo_manifold.agent.config import AtlasConfig, TrainConfig
from thermo_manifold.agent.datasets import Dataset, load_dataset
from thermo_manifold.agent.model import TopoEncoder
from thermo_manifold.agent.training import evaluate, make_classifier, train_model
from thermo_manifold.device import make_generator
from thermo_manifold.reporting import RunDirectory, headless_pyplot

TABLE_COLUMNS = ("model", "params", "mse", "mse_hard", "ami_chart", "ami_code", "ami_kmeans",
                 "perplexity_chart", "perplexity_code", "tau_floor_fraction", "router_agreement",
                 "classifier_accuracy")


@dataclass(frozen=True)
class ExperimentSpec:
    dataset: str = "digits"
    data_path: str | None = None
    epochs: int = 30
    quick: bool = False
    seed: int = 0
    supervised: bool = False
    learned_precisions: bool = False
    limit: int | None = None


def atlas_config_for(data: Dataset) -> AtlasConfig:
    """Architecture sizes per dataset: a 2-D latent for atlas2d so its charts can be drawn."""
    if data.name == "atlas2d":
        return AtlasConfig(input_dim=data.input_dim, latent_dim=2, hidden_dim=64,
                           num_charts=data.num_classes, codes_per_chart=8, router_dim=8, jump_dim=4)
    return AtlasConfig(input_dim=data.input_dim, latent_dim=8, hidden_dim=128,
                       num_charts=data.num_classes, codes_per_chart=8, router_dim=16, jump_dim=8)


def build_models(data: Dataset, atlas: AtlasConfig, train: TrainConfig, seed: int,
                 supervised: bool = False) -> list[torch.nn.Module]:
    """TopoEncoder (and a supervised one when asked), then two VQ-VAEs and an autoencoder at its
    size."""
    topo = TopoEncoder(atlas, train, make_generator(seed), data.num_classes, data.action_dim)
    models: list[torch.nn.Module] = [topo]
    if supervised:
        sup_train = dataclasses.replace(train, supervised=1.0)
        sup = TopoEncoder(atlas, sup_train, make_generator(seed), data.num_classes, data.action_dim)
        sup.name = "TopoEncoder+sup"
        models.append(sup)
    target = topo.atlas_parameter_count()
    # Two VQ-VAEs: one with the atlas' N_c x K_c codes (its code AMI against the atlas' (chart,
    # code) ids, at equal code counts) and one with N_c codes (against the atlas' chart ids).
    for codes, name in ((atlas.num_charts * atlas.codes_per_chart, "VQ-VAE"),
                        (atlas.num_charts, f"VQ-VAE, {atlas.num_charts} codes")):
        vq = VQVAE(atlas.input_dim, atlas.latent_dim,
                   matching_width(target, atlas.input_dim, atlas.latent_dim, codes), codes,
                   make_generator(seed), beta=atlas.beta)
        vq.name = name
        models.append(vq)
    models.append(PlainAutoencoder(atlas.input_dim, atlas.latent_dim,
                                   matching_width(target, atlas.input_dim, atlas.latent_dim),
                                   make_generator(seed)))
    return models


def _loss_figure(run: RunDirectory, histories: dict, dataset: str) -> Path:
    plt = headless_pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, history in histories.items():
        epochs = range(1, len(history.test_recon) + 1)
        left.plot(epochs, [h["recon"] for h in history.train], marker="o", ms=3, label=name)
        right.plot(epochs, history.test_recon, marker="o", ms=3, label=name)
    for axis, title in ((left, "train reconstruction MSE"), (right, "test reconstruction MSE")):
        axis.set_yscale("log")
        axis.set_xlabel("epoch")
        axis.set_title(f"{dataset}: {title}")
        axis.grid(alpha=0.3)
        axis.legend()
    return run.save_figure(fig, "loss_curves")


@torch.no_grad()
def _atlas_figure(run: RunDirectory, model: TopoEncoder, data: Dataset, device: torch.device) -> Path:
    plt = headless_pyplot()
    model.eval()
    out, _ = model(data.x_test.to(device))
    model.train()
    charts = out.chart.cpu().numpy()
    z = out.z_geo.cpu().numpy()
    x = data.x_test.numpy()
    centers = model.encoder.chart_centers.detach().cpu().numpy()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    cmap = plt.get_cmap("tab10")
    axes[0].scatter(x[:, 0], x[:, 1], c=data.y_test.numpy(), cmap=cmap, s=6, vmin=0, vmax=9)
    axes[0].set_title("input space, coloured by label (sector)")
    axes[1].scatter(x[:, 0], x[:, 1], c=charts, cmap=cmap, s=6, vmin=0, vmax=9)
    axes[1].set_title("input space, coloured by chart K")
    axes[2].scatter(z[:, 0], z[:, 1], c=charts, cmap=cmap, s=6, vmin=0, vmax=9)
    axes[2].scatter(centers[:, 0], centers[:, 1], c=range(len(centers)), cmap=cmap, vmin=0, vmax=9,
                    marker="X", s=140, edgecolors="black")
    axes[2].set_title("latent z_geo, coloured by chart (X: chart centres)")
    for axis in axes:
        axis.set_aspect("equal", adjustable="datalim")
        axis.grid(alpha=0.3)
    return run.save_figure(fig, "atlas_charts")


def run_topoencoder(spec: ExperimentSpec, out: str | Path, device: torch.device,
                    quiet: bool = False) -> dict:
    """Train and evaluate all models; write the run directory; return metrics.json's content."""
    data_generator = make_generator(spec.seed)
    limit = spec.limit
    if spec.quick and limit is None:  # "a small split": digits shrinks too
        limit = 1200 if spec.dataset in ("atlas2d", "mnist-idx") else 600
    data = load_dataset(spec.dataset, data_generator, spec.data_path, limit)
    epochs = min(spec.epochs, 3) if spec.quick else spec.epochs
    train = TrainConfig(epochs=epochs, learned_precisions=spec.learned_precisions)
    atlas = atlas_config_for(data)
    run = RunDirectory(out)
    run.write_json("config.json", {"experiment": dataclasses.asdict(spec), "atlas": dataclasses.asdict(atlas),
                                   "train": dataclasses.asdict(train), "device": str(device),
                                   "n_train": data.x_train.shape[0], "n_test": data.x_test.shape[0]})
    models = build_models(data, atlas, train, spec.seed, spec.supervised)
    histories, rows, metrics = {}, [], {}
    for model in models:
        model.to(device)
        generator = make_generator(spec.seed + 1)  # same batch order for every model
        classifier = make_classifier(model, data, make_generator(spec.seed + 2), device)
        histories[model.name] = train_model(model, classifier, data, train, generator, device, quiet)
        result = {"params": model.atlas_parameter_count(),
                  **evaluate(model, classifier, data, device, spec.seed)}
        metrics[model.name] = {**result, "history": dataclasses.asdict(histories[model.name])}
        # n/a where a model has no charts or codes (None stays None in metrics.json).
        rows.append({"model": model.name, **{k: "n/a" if v is None else v for k, v in result.items()}})
        if not quiet:
            print(f"{model.name:>16}: test MSE {result['mse']:.4f}  "
                  f"acc {result['classifier_accuracy']:.3f}")
    caption = (f"{data.name}: held-out test split (n={data.x_test.shape[0]}), {epochs} epochs, "
               f"seed {spec.seed}")
    run.write_table("topoencoder", rows, TABLE_COLUMNS, caption)
    run.write_json("metrics.json", {"dataset": data.name, "epochs": epochs, "models": metrics})
    _loss_figure(run, histories, data.name)
    if data.name == "atlas2d":
        _atlas_figure(run, models[0], data, device)
    return {"dataset": data.name, "rows": rows}


__all__ = ["ExperimentSpec", "TABLE_COLUMNS", "atlas_config_for", "build_models", "run_topoencoder"]
