"""TopoEncoder: the atlas encoder + decoder + jump operator, and its training objective.

`training_losses(batch)` assembles the 0.4 wiring (reconstruction, VQ, optional supervised
topology, jump consistency, optional learned precisions) with the section-1 objectives
(KL of z_n and z_tex, VICReg between two views, orthogonality of the encoder's maps, and, when
the batch carries sequences, slowness and causal enclosure). The detached
InvariantChartClassifier is not part of this module: the trainer owns it and its optimizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from thermo_manifold.agent.config import AtlasConfig, TrainConfig
from thermo_manifold.agent.decoder import PrimitiveTopologicalDecoder
from thermo_manifold.agent.encoder import EncoderOutput, PrimitiveAttentiveAtlasEncoder
from thermo_manifold.agent.layers import count_parameters
from thermo_manifold.agent.losses import (CausalEnclosure, FactorizedJumpOperator, LearnedPrecisions,
                                          SupervisedTopologyLoss, chart_balance_loss, gaussian_kl,
                                          orthogonality_loss, reconstruction_loss, slowness_loss,
                                          vicreg_loss, vq_loss)


@dataclass
class Batch:
    """x [B, D_in], labels [B] (long); for sequence data x_next [B, D_in] and action [B, A]."""

    x: torch.Tensor
    labels: torch.Tensor
    x_next: torch.Tensor | None = None
    action: torch.Tensor | None = None


@dataclass
class Readout:
    """What evaluation reads from a model on x [B, D_in]: x_hat [B, D_in], latent [B, F] (the
    classifier's input), chart [B] or None, code [B] or None (a discrete id, globally unique)."""

    x_hat: torch.Tensor
    latent: torch.Tensor
    chart: torch.Tensor | None
    code: torch.Tensor | None


def augment(x: torch.Tensor, noise: float, generator: torch.Generator) -> torch.Tensor:
    """A second view for VICReg: x + noise * N(0, 1) drawn from `generator` (on x's device)."""
    eps = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return x + noise * eps.to(x.device)


class TopoEncoder(nn.Module):
    """The atlas autoencoder of seed 003 sections 0.2-0.4."""

    name = "TopoEncoder"

    def __init__(self, config: AtlasConfig, train: TrainConfig, generator: torch.Generator,
                 num_classes: int, action_dim: int = 0):
        super().__init__()
        self.config = config
        self.train_config = train
        self.encoder = PrimitiveAttentiveAtlasEncoder(config, generator)
        self.decoder = PrimitiveTopologicalDecoder(config, generator)
        self.jump = FactorizedJumpOperator(config.num_charts, config.latent_dim, config.jump_dim,
                                           generator)
        # Auxiliary training heads (not counted as atlas parameters, see atlas_parameter_count).
        self.closure = (CausalEnclosure(config.num_charts, action_dim, 32, generator)
                        if action_dim > 0 and train.closure > 0 else None)
        self.supervised = (SupervisedTopologyLoss(config.num_charts, num_classes)
                           if train.supervised > 0 else None)
        self.precisions = (LearnedPrecisions(("recon", "vq", "supervised") if self.supervised
                                             else ("recon", "vq"))
                           if train.learned_precisions else None)

    def atlas_parameter_count(self) -> int:
        """Parameters of encoder + decoder + jump operator (what the baselines are sized to)."""
        return sum(count_parameters(m) for m in (self.encoder, self.decoder, self.jump))

    def forward(self, x: torch.Tensor) -> tuple[EncoderOutput, torch.Tensor]:
        """x [B, D_in] -> (EncoderOutput, x_hat [B, D_in])."""
        out = self.encoder(x)
        return out, self.decoder(out.z_geo, out.z_tex)

    @staticmethod
    def classifier_features(out: EncoderOutput) -> torch.Tensor:
        """[w_enc, z_geo] [B, N_c + D]: chart weights plus the geometric latent."""
        return torch.cat([out.weights, out.z_geo], dim=-1)

    def readout(self, x: torch.Tensor) -> Readout:
        out, x_hat = self(x)
        joint = out.chart * self.config.codes_per_chart + out.code
        return Readout(x_hat=x_hat, latent=self.classifier_features(out), chart=out.chart, code=joint)

    def orthogonality(self) -> torch.Tensor:
        first = self.encoder.feature_extractor[0][0].weight
        return orthogonality_loss(first) + orthogonality_loss(self.encoder.val_proj.weight)

    def training_losses(self, batch: Batch, generator: torch.Generator
                        ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """-> (total loss, the terms, classifier features [B, F] of this forward pass)."""
        t = self.train_config
        out, x_hat = self(batch.x)
        terms: dict[str, torch.Tensor] = {
            "recon": reconstruction_loss(x_hat, batch.x),
            "vq": vq_loss(out.z_e, out.z_q_all, out.weights, self.config.beta),
        }
        if self.supervised is not None:
            terms["supervised"] = self.supervised(out.weights, batch.labels)
        if self.precisions is not None:
            total = self.precisions(terms)
        else:
            total = t.recon * terms["recon"] + t.vq * terms["vq"]
            if self.supervised is not None:
                total = total + t.supervised * terms["supervised"]
        extra: dict[str, tuple[float, torch.Tensor]] = {}
        if t.jump > 0:
            extra["jump"] = (t.jump, self.jump(out.local_coordinates(), out.weights))
        if t.kl_nuisance > 0:
            extra["kl_nuisance"] = (t.kl_nuisance, gaussian_kl(out.z_n))
        if t.kl_texture > 0:
            extra["kl_texture"] = (t.kl_texture, gaussian_kl(out.z_tex))
        if t.vicreg > 0:
            view = self.encoder(augment(batch.x, t.augment_noise, generator))
            extra["vicreg"] = (t.vicreg, vicreg_loss(out.z_geo, view.z_geo)[0])
        if t.ortho > 0:
            extra["ortho"] = (t.ortho, self.orthogonality())
        if t.balance > 0 and self.supervised is None:  # the supervised loss has its own balance
            extra["balance"] = (t.balance, chart_balance_loss(out.weights))
        if batch.x_next is not None and (t.slowness > 0 or self.closure is not None):
            nxt = self.encoder(batch.x_next)
            if t.slowness > 0:
                extra["slowness"] = (t.slowness, slowness_loss(nxt.c_bar, out.c_bar))
            if self.closure is not None and batch.action is not None:
                extra["closure"] = (t.closure, self.closure(out.weights, batch.action, nxt.chart))
        for name, (weight, value) in extra.items():
            terms[name] = value
            total = total + weight * value
        return total, terms, self.classifier_features(out)


__all__ = ["Batch", "Readout", "TopoEncoder", "augment"]
