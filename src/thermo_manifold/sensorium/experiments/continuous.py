"""continuous: a finite run of physics + carriers with injections (kernel_continuous.py).

600 particles start as a cluster; every `inject_every` steps a "file" of 40..80 particles
arrives in one of the seed's patterns (cluster, line, sphere, random, grid, in turn; the
count follows the seed's linear-congruential formula); carriers tick every 10 steps and the
energy they inject is booked in the ledger. Written: the final state (3-D scatter coloured by
heat, the carrier spectrum) and the energy ledger over time with its closure residual. There
is no learning task here, hence no baseline: the check is the ledger.

`--readout reservoir` (the default) adds a learning task on a continuous stream: the first
`stream_bytes` bytes of the text (pydoc topics, or --text) drive the reservoir rows of
`reservoir_rows.py` one byte at a time, with a bounded particle budget (the oldest particles
leave as new ones land), and each row's online readout (recursive least squares with
forgetting) ranks the next byte before it learns it: prequential, nothing fitted in advance.
Bytes are tokens of a fixed vocabulary, newline and printable ASCII and `other`, so nothing is
read ahead. The table is that run's mean reciprocal rank over the stream and over its last
quarter, beside the online bigram and chance; the ledger run above still runs, and its closure
residual, particles, carriers and injections are reported with the table.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.physics import ManifoldPhysics, ParticleState, PhysicsConfig
from thermo_manifold.sensorium import reservoir_rows
from thermo_manifold.sensorium.baselines import OnlineBigram
from thermo_manifold.sensorium.datasets import load_text
from thermo_manifold.sensorium.experiments.next_token import ByteVocabulary, text_reservoir

PATTERNS = ("cluster", "line", "sphere", "random", "grid")


READOUTS = ("reservoir", "seed")
# Newline and printable ASCII: a vocabulary fixed before the stream starts.
STREAM_BYTES = np.array([10, *range(32, 127)])


@dataclass(frozen=True)
class Config:
    grid: int = 32  # seed
    dt: float = 0.02  # seed
    steps: int = 1500  # seed
    initial_particles: int = 600  # seed
    inject_every: int = 50  # seed
    inject_min: int = 40  # seed
    inject_max: int = 80  # seed
    carrier_every: int = 10  # seed
    # The reservoir readout's stream.
    stream_bytes: int = 3000
    bigram_decay: float = 0.99
    rows: reservoir_rows.RowsConfig = field(default_factory=lambda: reservoir_rows.RowsConfig(
        reservoir=text_reservoir(STREAM_BYTES.size + 1)))

    def __post_init__(self) -> None:
        if isinstance(self.stream_bytes, bool) or not isinstance(self.stream_bytes, int) \
                or self.stream_bytes < 2:
            raise ValueError(f"stream_bytes must be an integer >= 2; got {self.stream_bytes!r}")
        if self.rows.reservoir.vocab != STREAM_BYTES.size + 1:
            raise ValueError(f"rows.reservoir.vocab must be {STREAM_BYTES.size + 1} (newline, "
                             f"printable ASCII and other); got {self.rows.reservoir.vocab}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(steps=100, initial_particles=300, stream_bytes=300)


def stream_table(cfg: Config, ctx) -> tuple[str, list[dict], dict[str, np.ndarray]]:
    """Prequential next-byte ranks of every reservoir row, the online bigram and chance on the
    first `stream_bytes` bytes of the text; returns the text's name, the rows and each row's
    reciprocal ranks."""
    name, text = load_text(ctx.text)
    vocab = ByteVocabulary(STREAM_BYTES)
    tokens = vocab.tokens(text[: cfg.stream_bytes + 1])
    bar = lambda it, total, desc: ctx.bar(it, total, f"continuous {desc}")  # noqa: E731
    sets = reservoir_rows.stream_features(tokens[:-1], cfg.rows, ctx.seed, bar=bar)
    ranks = reservoir_rows.online_ranks(sets, tokens[1:], vocab.size, cfg.rows, bar=bar)
    bigram = OnlineBigram(vocab.size, cfg.bigram_decay)
    bigram_ranks = np.empty(tokens.size - 1, dtype=np.int64)
    for t in range(tokens.size - 1):
        scores = bigram.scores(int(tokens[t]))
        # Ties count against the true token, as in the readouts' ranks.
        bigram_ranks[t] = int(np.sum(scores >= scores[tokens[t + 1]]))
        bigram.update(int(tokens[t]), int(tokens[t + 1]))
    ranks[f"online bigram (decay {cfg.bigram_decay:g})"] = bigram_ranks
    reciprocal = {row: reservoir_rows.reciprocal_ranks(r) for row, r in ranks.items()}
    chance = float(np.mean(1.0 / np.arange(1, vocab.size + 1)))
    last = slice(3 * (tokens.size - 1) // 4, None)
    rows = [{"method": row, "mrr": float(rr.mean()), "mrr_last_quarter": float(rr[last].mean()),
             "accuracy_last_quarter": float(np.mean(ranks[row][last] == 1))}
            for row, rr in reciprocal.items()]
    rows.append({"method": "chance (random ranking)", "mrr": chance, "mrr_last_quarter": chance,
                 "accuracy_last_quarter": 1.0 / vocab.size})
    return name, rows, reciprocal


def pattern_positions(pattern: str, n: int, box: float, g: torch.Generator) -> torch.Tensor:
    """Positions of an injected file, inside [1, box - 1)^3."""
    centre = 0.2 * box + 0.6 * box * torch.rand(3, generator=g)
    if pattern == "cluster":
        pos = centre + torch.randn(n, 3, generator=g) * 4.0
    elif pattern == "line":
        direction = torch.nn.functional.normalize(torch.randn(3, generator=g), dim=0)
        pos = centre + torch.linspace(-0.3 * box, 0.3 * box, n)[:, None] * direction
    elif pattern == "sphere":
        pos = centre + torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1) * 6.0
    elif pattern == "grid":
        side = math.ceil(n ** (1 / 3))
        axis = torch.arange(side, dtype=torch.float32) * 1.5
        lattice = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
        pos = centre - axis.mean() + lattice[:n]
    elif pattern == "random":
        pos = torch.rand(n, 3, generator=g) * box
    else:
        raise ValueError(f"pattern must be one of {PATTERNS}; got {pattern!r}")
    return pos.clamp(1.0, box - 1.0)


def particles(pattern: str, n: int, box: float, g: torch.Generator) -> ParticleState:
    energies = torch.rand(n, generator=g) * 0.5 + 0.5
    return ParticleState(positions=pattern_positions(pattern, n, box, g),
                         velocities=torch.randn(n, 3, generator=g) * 0.1, energies=energies,
                         heats=torch.zeros(n), excitations=torch.rand(n, generator=g) * 2.0,
                         masses=energies.clone(), phases=torch.rand(n, generator=g) * 2 * math.pi)


def run(cfg: Config, ctx, report) -> dict:
    from thermo_manifold.spectral import SpectralCarrierConfig, SpectralCarrierPhysics

    readout = ctx.readout_for(sys.modules[__name__])

    g = make_generator(ctx.seed)
    # The seed's contact (see TokenEngine): at the seed's dt = 0.02 the spring-dashpot's
    # contacts last two or three steps and its energy error would swamp the ledger.
    physics = ManifoldPhysics(PhysicsConfig(grid_size=(cfg.grid,) * 3, dt=cfg.dt,
                                            contact="seed"))
    carriers = SpectralCarrierPhysics(SpectralCarrierConfig().replace(dt=cfg.dt), seed=ctx.seed)
    state = particles("cluster", cfg.initial_particles, float(cfg.grid), g)
    physics.start_ledger(state)
    history = {k: [] for k in ("step", "kinetic", "internal", "heat", "potential", "total",
                               "injected", "radiated", "residual", "particles", "carriers")}
    injections = 0
    for step in ctx.bar(range(cfg.steps), cfg.steps, "continuous"):
        if step > 0 and step % cfg.inject_every == 0:
            span = cfg.inject_max - cfg.inject_min + 1
            n_new = cfg.inject_min + (step * 1103515245 + 12345) % span  # the seed's formula
            pattern = PATTERNS[(step // cfg.inject_every) % len(PATTERNS)]
            state = physics.add_particles(state, particles(pattern, n_new, float(cfg.grid), g))
            injections += 1
        state = physics.step(state).state
        if step % cfg.carrier_every == 0:
            tick = carriers.tick(state)
            state = physics.record_external(tick.particles, tick.energy_injected)
        ledger = physics.ledger.to_dict()
        history["step"].append(step)
        for key in ("kinetic", "internal", "heat", "potential", "total", "injected", "radiated",
                    "residual"):
            history[key].append(float(ledger.get(key, float("nan"))))
        history["particles"].append(state.num_particles)
        history["carriers"].append(carriers.carriers.num_carriers)

    final = physics.ledger.to_dict()
    rows = [{"quantity": k, "value": float(v)} for k, v in final.items()
            if isinstance(v, (int, float))]
    rows += [{"quantity": "particles", "value": state.num_particles},
             {"quantity": "carriers", "value": carriers.carriers.num_carriers},
             {"quantity": "injections", "value": injections}]
    ledger_caption = (f"Energy ledger after {cfg.steps} steps with injections every "
                      f"{cfg.inject_every} steps (residual = relative closure error).")
    extras: dict = {}
    if readout == "seed":
        report.table("continuous_ledger", rows, ["quantity", "value"], ledger_caption)
    else:
        source, stream_rows, reciprocal = stream_table(cfg, ctx)
        report.table("continuous", stream_rows,
                     ["method", "mrr", "mrr_last_quarter", "accuracy_last_quarter"],
                     f"Learning on a continuous stream: the first {cfg.stream_bytes} bytes of "
                     f"{source}, one byte at a time; each row's online RLS readout (forgetting "
                     f"{cfg.rows.forgetting}) of [features, current byte] ranks the next byte "
                     f"among {STREAM_BYTES.size + 1} tokens before it learns it. Mean "
                     "reciprocal rank over the stream and its last quarter, and top-1 accuracy "
                     "over the last quarter.")
        report.compare("continuous", stream_rows, "mrr_last_quarter", higher_is_better=True)
        extras = {"source": source, "ledger_residual": float(final.get("residual", math.nan)),
                  "ledger_particles": state.num_particles,
                  "ledger_carriers": carriers.carriers.num_carriers,
                  "ledger_injections": injections, "ledger_steps": cfg.steps}

    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    fig = plt.figure(figsize=(12, 4))
    ax = fig.add_subplot(1, 3, 1, projection="3d")
    x = state.positions.numpy()
    ax.scatter(x[:, 0], x[:, 1], x[:, 2], c=state.heats.numpy(), s=3, cmap="inferno")
    ax.set_title(f"step {cfg.steps}: {state.num_particles} particles", fontsize=9)
    ax2 = fig.add_subplot(1, 3, 2)
    for key in ("kinetic", "internal", "heat", "potential", "total"):
        ax2.plot(history["step"], history[key], label=key, linewidth=1)
    ax2.set_xlabel("step")
    ax2.legend(fontsize=7)
    ax2.set_title(f"ledger (final residual {final.get('residual', float('nan')):.2e})",
                  fontsize=9)
    ax3 = fig.add_subplot(1, 3, 3)
    c = carriers.carriers
    ax3.bar(c.frequencies.numpy(), c.amplitudes.numpy(), width=0.02)
    ax3.set_xlabel("carrier frequency")
    ax3.set_ylabel("amplitude")
    ax3.set_title(f"{c.num_carriers} carriers", fontsize=9)
    report.figure(fig, "continuous_final")
    if readout == "reservoir":
        fig, ax = plt.subplots(figsize=(8, 3.2))
        width = max(1, min(200, cfg.stream_bytes // 10))
        for row in (reservoir_rows.MANIFOLD, reservoir_rows.FROZEN, reservoir_rows.ESN,
                    reservoir_rows.NO_MEMORY, f"online bigram (decay {cfg.bigram_decay:g})"):
            if row in reciprocal:
                smooth = np.convolve(reciprocal[row], np.ones(width) / width, mode="valid")
                ax.plot(np.arange(smooth.size) + width, smooth, label=row, linewidth=1)
        ax.set_xlabel("byte of the stream")
        ax.set_ylabel(f"next-byte MRR (rolling {width})")
        ax.legend(fontsize=7)
        report.figure(fig, "continuous_stream")
    return {"final_ledger": final, "history": history, **extras}
