"""Field-theory agent (seed 003), part 1: the TopoEncoder atlas and its benchmark.

| module | concept |
|---|---|
| `config.py` | `AtlasConfig` (sizes), `TrainConfig` (optimisation, loss weights) |
| `layers.py` | seeded initialisation, MLPs, parameter counts, batch-shape checks |
| `router.py` | `CovariantChartRouter`, Cayley transport, metric temperature |
| `encoder.py` | `PrimitiveAttentiveAtlasEncoder` -> (K, z_geo, z_n, z_tex) |
| `decoder.py` | `PrimitiveTopologicalDecoder`, `NormGatedGELU` |
| `losses.py` | every loss term of section 0.4 and section 1 |
| `model.py` | `TopoEncoder`: encoder + decoder + jump operator and its training objective |
| `baselines.py` | VQ-VAE and plain autoencoder at the same parameter count |
| `datasets.py` | digits, MNIST IDX files, synthetic atlas2d |
| `training.py` | training loop with the detached classifier, held-out evaluation |
| `experiment.py` | `thermo-manifold agent topoencoder` |
"""

from __future__ import annotations

from thermo_manifold.agent.baselines import VQVAE, PlainAutoencoder, matching_width
from thermo_manifold.agent.config import AtlasConfig, TrainConfig
from thermo_manifold.agent.decoder import NormGatedGELU, PrimitiveTopologicalDecoder
from thermo_manifold.agent.encoder import EncoderOutput, PrimitiveAttentiveAtlasEncoder
from thermo_manifold.agent.losses import (CausalEnclosure, FactorizedJumpOperator,
                                          InvariantChartClassifier, LearnedPrecisions,
                                          SupervisedTopologyLoss, chart_balance_loss, gaussian_kl,
                                          orthogonality_loss, reconstruction_loss, slowness_loss,
                                          vicreg_loss, vq_loss)
from thermo_manifold.agent.model import Batch, TopoEncoder
from thermo_manifold.agent.router import CovariantChartRouter, cayley_transform

__all__ = ["AtlasConfig", "Batch", "CausalEnclosure", "CovariantChartRouter", "EncoderOutput",
           "FactorizedJumpOperator", "InvariantChartClassifier", "LearnedPrecisions",
           "NormGatedGELU", "PlainAutoencoder", "PrimitiveAttentiveAtlasEncoder",
           "PrimitiveTopologicalDecoder", "SupervisedTopologyLoss", "TopoEncoder", "TrainConfig",
           "VQVAE", "cayley_transform", "chart_balance_loss", "gaussian_kl", "matching_width",
           "orthogonality_loss", "reconstruction_loss", "slowness_loss", "vicreg_loss", "vq_loss"]
