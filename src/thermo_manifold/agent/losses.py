"""Loss terms of the TopoEncoder: the 0.4 training wiring and the section-1 latent objectives.

Each term is a function (stateless) or a module (when it owns parameters); all return a scalar.
Shapes: B batch, N_c charts, D latent, C classes.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from thermo_manifold.agent.layers import mlp, seeded_parameter


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error over batch and features; x_hat, x [B, D_in]."""
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat shape {list(x_hat.shape)} != x shape {list(x.shape)}")
    return F.mse_loss(x_hat, x)


def vq_loss(z_e: torch.Tensor, z_q_all: torch.Tensor, weights: torch.Tensor,
            beta: float = 0.25) -> torch.Tensor:
    """Codebook + commitment loss of the per-chart codebooks (van den Oord et al. 2017).

    codebook = sum_c sg(w_c) |z_q_all_c - sg(z_e)|^2  (each chart's code learns in proportion to
    how much the router uses that chart);  commitment = beta |z_e - sg(sum_c w_c z_q_all_c)|^2.
    z_e [B, D], z_q_all [B, N_c, D], weights [B, N_c]. Means over batch and D.
    """
    w = weights.detach()
    codebook = (w[:, :, None] * (z_q_all - z_e.detach()[:, None, :]).pow(2)).sum(1).mean()
    z_q = (w[:, :, None] * z_q_all).sum(1)
    commitment = (z_e - z_q.detach()).pow(2).mean()
    return codebook + beta * commitment


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(mean, diag exp(logvar)) || N(0, I)), summed over D, averaged over B; mean [B, D].

    The encoder is deterministic, so for z_n and z_tex we read q(z|x) as N(z(x), I)
    (logvar=None): the KL is then 0.5 |z|^2, which pulls nuisance and texture towards zero, i.e.
    towards carrying as little as the reconstruction allows.
    """
    if logvar is None:
        return 0.5 * mean.pow(2).sum(-1).mean()
    return 0.5 * (logvar.exp() + mean.pow(2) - 1.0 - logvar).sum(-1).mean()


def vicreg_loss(z: torch.Tensor, z_prime: torch.Tensor, gamma: float = 1.0,
                weights: tuple[float, float, float] = (25.0, 25.0, 1.0),
                metric: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """VICReg (Bardes et al. 2022) on two views z, z' [B, D]: invariance, variance, covariance.

    invariance = mean_b sum_i G_ii (z - z')_i^2 / D (G = metric [D], identity when None);
    variance = mean_i max(0, gamma - sqrt(Var z_i + 1e-4)), for both views;
    covariance = sum of squared off-diagonal covariances / D, for both views.
    Returns (weighted sum, parts).
    """
    if z.shape != z_prime.shape or z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"vicreg needs two [B>=2, D] views of equal shape; got {list(z.shape)}, "
                         f"{list(z_prime.shape)}")
    diff = (z - z_prime).pow(2)
    if metric is not None:
        diff = diff * metric
    invariance = diff.mean()
    variance = z.new_zeros(())
    covariance = z.new_zeros(())
    d = z.shape[1]
    for view in (z, z_prime):
        centred = view - view.mean(0)
        variance = variance + F.relu(gamma - torch.sqrt(centred.var(0) + 1e-4)).mean()
        cov = centred.T @ centred / (view.shape[0] - 1)
        off = cov - torch.diag(torch.diagonal(cov))
        covariance = covariance + off.pow(2).sum() / d
    a, b, c = weights
    total = a * invariance + b * variance + c * covariance
    return total, {"invariance": invariance, "variance": variance, "covariance": covariance}


def orthogonality_loss(weight: torch.Tensor) -> torch.Tensor:
    """|W^T W - I|_F^2 on the smaller Gram matrix of a [out, in] weight (isometric map)."""
    gram = weight @ weight.T if weight.shape[0] <= weight.shape[1] else weight.T @ weight
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return (gram - eye).pow(2).sum()


def slowness_loss(embedding_t: torch.Tensor, embedding_prev: torch.Tensor,
                  metric: torch.Tensor | None = None) -> torch.Tensor:
    """Anti-churn |e_{K_t} - e_{K_{t-1}}|_G^2 averaged over B; embeddings [B, D], metric G [D]."""
    diff = (embedding_t - embedding_prev).pow(2)
    if metric is not None:
        diff = diff * metric
    return diff.sum(-1).mean()


def chart_balance_loss(weights: torch.Tensor) -> torch.Tensor:
    """log N_c - H(mean_b w): zero when the batch uses all charts equally; weights [B, N_c].

    Not in the seed: without it the router of an unsupervised run tends to put every input in
    one or two charts (see docs/agent.md). It constrains only the batch-average usage, not each
    sample, so single samples can still be routed sharply.
    """
    usage = weights.mean(0).clamp_min(1e-12)
    return math.log(weights.shape[1]) + (usage * usage.log()).sum()


class CausalEnclosure(nn.Module):
    """-log p(K_{t+1} | K_t, a_t): a macro transition model on chart weights and actions.

    logits = MLP([w_t, a_t]) [B, N_c]; the loss is the cross-entropy with the next chart K_{t+1}
    [B]. Low loss means the macro state predicts its own future without the micro details.
    """

    def __init__(self, num_charts: int, action_dim: int, hidden: int, generator: torch.Generator):
        super().__init__()
        self.num_charts = num_charts
        self.action_dim = action_dim
        self.net = mlp([num_charts + action_dim, hidden, num_charts], generator)

    def forward(self, weights_t: torch.Tensor, action: torch.Tensor,
                next_chart: torch.Tensor) -> torch.Tensor:
        """weights_t [B, N_c], action [B, A], next_chart [B] (long) -> scalar NLL."""
        logits = self.net(torch.cat([weights_t, action], dim=-1))
        return F.cross_entropy(logits, next_chart)


class FactorizedJumpOperator(nn.Module):
    """Chart transition maps J_{i->j}(l) = B_j (A_i l + a_i) + b_j through a shared space [G].

    A lift per chart (A_i [D, G], a_i) into a global space and a projection per chart (B_j [G, D],
    b_j) back: 2 N_c maps instead of N_c^2. Consistency loss: on each sample, between its two
    most-used charts i, j, the reading of chart i carried to chart j should equal chart j's own
    reading, weighted by w_i w_j (only overlapping charts matter).
    """

    def __init__(self, num_charts: int, latent_dim: int, jump_dim: int, generator: torch.Generator):
        super().__init__()
        scale_lift = 1.0 / math.sqrt(latent_dim)
        scale_proj = 1.0 / math.sqrt(jump_dim)
        self.lift = seeded_parameter((num_charts, latent_dim, jump_dim), scale_lift, generator)
        self.lift_bias = nn.Parameter(torch.zeros(num_charts, jump_dim))
        self.project = seeded_parameter((num_charts, jump_dim, latent_dim), scale_proj, generator)
        self.project_bias = nn.Parameter(torch.zeros(num_charts, latent_dim))

    def jump(self, local: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """local [B, D] in chart source [B] -> coordinates in chart target [B]: [B, D]."""
        shared = torch.einsum("bd,bdg->bg", local, self.lift[source]) + self.lift_bias[source]
        return torch.einsum("bg,bgd->bd", shared, self.project[target]) + self.project_bias[target]

    def forward(self, local_all: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """local_all [B, N_c, D] (each chart's reading), weights [B, N_c] -> scalar loss."""
        if weights.shape[1] < 2:
            return local_all.new_zeros(())
        top_w, top = weights.topk(2, dim=1)                                   # [B, 2]
        rows = torch.arange(local_all.shape[0], device=local_all.device)
        source, target = top[:, 0], top[:, 1]
        predicted = self.jump(local_all[rows, source], source, target)
        error = (predicted - local_all[rows, target]).pow(2).sum(-1)
        pair_weight = top_w[:, 0] * top_w[:, 1]
        return (pair_weight * error).sum() / pair_weight.sum().clamp_min(1e-12)


class SupervisedTopologyLoss(nn.Module):
    """Labels shape the atlas: each chart holds one class, and every chart is used.

    A learnable chart->class table P [N_c, C] (softmax rows); the chart mixture predicts the label,
    purity = -mean log sum_c w_c P[c, y]; plus the balance term log N_c - H(mean w).
    """

    def __init__(self, num_charts: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.chart_logits = nn.Parameter(torch.zeros(num_charts, num_classes))

    def forward(self, weights: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """weights [B, N_c], labels [B] (long in 0..C-1) -> scalar."""
        table = torch.softmax(self.chart_logits, dim=-1)                      # [N_c, C]
        p_label = (weights @ table).gather(1, labels[:, None]).squeeze(1)
        purity = -p_label.clamp_min(1e-12).log().mean()
        return purity + chart_balance_loss(weights)


class InvariantChartClassifier(nn.Module):
    """Read-out head predicting the label from a detached latent [B, F] -> logits [B, C].

    It detaches its input itself, so no gradient of its cross-entropy ever reaches the encoder,
    and it is trained by its own optimizer (`make_optimizer`), never by the atlas loss.
    """

    def __init__(self, feature_dim: int, num_classes: int, hidden: int, generator: torch.Generator):
        super().__init__()
        self.net = mlp([feature_dim, hidden, num_classes], generator)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features.detach())

    def loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(features), labels)

    def make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=lr)


class LearnedPrecisions(nn.Module):
    """Automatic loss balancing: sum_i exp(-s_i) L_i + s_i with s_i = log sigma_i^2 learned.

    At the optimum exp(-s_i) = 1 / L_i, so each term is weighted by its own inverse scale
    (Kendall, Gal and Cipolla 2018).
    """

    def __init__(self, names: tuple[str, ...]):
        super().__init__()
        self.names = tuple(names)
        self.log_variance = nn.Parameter(torch.zeros(len(self.names)))

    def forward(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        total = self.log_variance.new_zeros(())
        for index, name in enumerate(self.names):
            s = self.log_variance[index]
            total = total + torch.exp(-s) * terms[name] + s
        return total


__all__ = ["CausalEnclosure", "FactorizedJumpOperator", "InvariantChartClassifier",
           "LearnedPrecisions", "SupervisedTopologyLoss", "chart_balance_loss", "gaussian_kl",
           "orthogonality_loss", "reconstruction_loss", "slowness_loss", "vicreg_loss", "vq_loss"]
