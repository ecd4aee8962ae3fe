"""The universal byte tokenizer: (byte, position) -> token id -> frequency and grid centre.

Formulas and constants are the seed's (`kernel_engine.py`):

    hash_id(b, pos)   = (b * 31 + pos) % 4096 + 5   (ids 0..4: <pad> <unk> <bos> <eos> <mask>)
    label_id(l)       = 5 + 4096 + l
    omega_from_id(id) = (id % 2048) / 2048 * 2.0
    center_from_id(id): c = (id * P) % g per axis with P = 73856093, 19349663, 83492791,
                        then 1 + (c % max(1, g - 2))

One decision differs from the seed (SENSORIUM.md): in the seed every label id maps through
`omega_from_id` to 0.0024 .. 0.0068 (labels 0..9), all within one gate width of each other and of
the byte ids that hash near 2048, so a carrier cannot tell labels apart. With
`label_band="separate"` (the default) label l sits at omega_range + label_gap * (l + 1): above
every byte frequency and `label_gap` apart. `label_band="seed"` keeps the seed's mapping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>", "<mask>")
CENTER_PRIMES = (73856093, 19349663, 83492791)
LABEL_BANDS = ("separate", "seed")


def _int_at_least(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


@dataclass(frozen=True)
class TokenizerConfig:
    """Constants of the universal tokenizer; the defaults are the seed's."""

    hash_vocab_size: int = 4096
    hash_prime: int = 31
    special_size: int = len(SPECIAL_TOKENS)
    omega_range: float = 2.0
    omega_mod: int = 2048
    grid_size: tuple[int, int, int] = (32, 32, 32)
    num_labels: int = 10
    label_band: str = "separate"
    # Three initial gate widths (0.35) apart: the overlap of neighbouring labels through a
    # fresh carrier is exp(-9) ~ 1e-4.
    label_gap: float = 1.05

    def __post_init__(self) -> None:
        _int_at_least("hash_vocab_size", self.hash_vocab_size, 1)
        _int_at_least("hash_prime", self.hash_prime, 1)
        _int_at_least("special_size", self.special_size, 0)
        _int_at_least("omega_mod", self.omega_mod, 1)
        _int_at_least("num_labels", self.num_labels, 0)
        if not (isinstance(self.omega_range, (int, float)) and self.omega_range > 0):
            raise ValueError(f"omega_range must be a number > 0; got {self.omega_range!r}")
        if not (isinstance(self.label_gap, (int, float)) and self.label_gap > 0):
            raise ValueError(f"label_gap must be a number > 0; got {self.label_gap!r}")
        if self.label_band not in LABEL_BANDS:
            raise ValueError(f"label_band must be one of {LABEL_BANDS}; got {self.label_band!r}")
        grid = tuple(self.grid_size) if isinstance(self.grid_size, (list, tuple)) else ()
        if len(grid) != 3 or not all(isinstance(g, int) and g >= 3 for g in grid):
            raise ValueError(f"grid_size must be three integers >= 3; got {self.grid_size!r}")
        object.__setattr__(self, "grid_size", grid)

    def replace(self, **changes: Any) -> "TokenizerConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["grid_size"] = list(self.grid_size)
        return out


# ---------------------------------------------------------------- the seed's scalar formulas
def hash_id(byte_value: int, pos: int, *, hash_vocab_size: int = 4096, hash_prime: int = 31,
            special_size: int = 5) -> int:
    return (int(byte_value) * hash_prime + int(pos)) % hash_vocab_size + special_size


def label_id(label: int, *, special_size: int = 5, hash_vocab_size: int = 4096) -> int:
    return special_size + hash_vocab_size + int(label)


def omega_from_id(token_id: int, *, omega_range: float = 2.0, omega_mod: int = 2048) -> float:
    return (int(token_id) % omega_mod) / omega_mod * omega_range


def center_from_id(token_id: int, grid_size: Sequence[int] = (32, 32, 32)) -> tuple[int, int, int]:
    """Integer grid centre of a token's particle burst (kept one cell off the walls)."""
    return tuple(  # type: ignore[return-value]
        1 + ((int(token_id) * prime) % g) % max(1, g - 2)
        for prime, g in zip(CENTER_PRIMES, grid_size)
    )


class UniversalTokenizer:
    """Vectorised tokenizer over one `TokenizerConfig` (ids are int64 tensors)."""

    def __init__(self, config: TokenizerConfig | None = None):
        self.config = config if config is not None else TokenizerConfig()

    @property
    def first_label_id(self) -> int:
        return self.config.special_size + self.config.hash_vocab_size

    def hash_ids(self, byte_values: torch.Tensor | Sequence[int] | bytes,
                 positions: torch.Tensor | Sequence[int] | int) -> torch.Tensor:
        """hash_id for many (byte, position) pairs; an int `positions` is the first position."""
        b = torch.as_tensor(list(byte_values) if isinstance(byte_values, bytes) else byte_values,
                            dtype=torch.int64)
        if isinstance(positions, int):
            pos = torch.arange(positions, positions + b.numel(), dtype=torch.int64)
        else:
            pos = torch.as_tensor(positions, dtype=torch.int64)
        if b.numel() and (int(b.min()) < 0 or int(b.max()) > 255):
            raise ValueError("byte values must lie in 0..255")
        c = self.config
        return (b * c.hash_prime + pos) % c.hash_vocab_size + c.special_size

    def candidate_ids(self, pos: int) -> torch.Tensor:
        """The 256 ids a byte at position `pos` can take, indexed by byte value."""
        return self.hash_ids(torch.arange(256), torch.full((256,), int(pos)))

    def label_ids(self, labels: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        if labels is None:
            labels = range(self.config.num_labels)
        lab = torch.as_tensor(list(labels) if isinstance(labels, range) else labels,
                              dtype=torch.int64)
        if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) >= self.config.num_labels):
            raise ValueError(f"labels must lie in 0..{self.config.num_labels - 1}")
        return lab + self.first_label_id

    def omegas(self, ids: torch.Tensor | Sequence[int], dtype: torch.dtype = torch.float32
               ) -> torch.Tensor:
        """Frequency of each id: the seed's formula, except label ids in the separate band."""
        ids = torch.as_tensor(ids, dtype=torch.int64)
        c = self.config
        omega = (ids % c.omega_mod).to(dtype) / c.omega_mod * c.omega_range
        if c.label_band == "separate":
            label = ids - self.first_label_id
            is_label = (label >= 0) & (label < c.num_labels)
            band = c.omega_range + c.label_gap * (label.to(dtype) + 1.0)
            omega = torch.where(is_label, band, omega)
        return omega

    def centers(self, ids: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """(N, 3) integer grid centres as int64 (the seed's `center_from_id`, vectorised)."""
        ids = torch.as_tensor(ids, dtype=torch.int64).reshape(-1, 1)
        primes = torch.tensor(CENTER_PRIMES, dtype=torch.int64)
        grid = torch.tensor(self.config.grid_size, dtype=torch.int64)
        return 1 + ((ids * primes) % grid) % torch.clamp(grid - 2, min=1)


__all__ = [
    "CENTER_PRIMES",
    "LABEL_BANDS",
    "SPECIAL_TOKENS",
    "TokenizerConfig",
    "UniversalTokenizer",
    "center_from_id",
    "hash_id",
    "label_id",
    "omega_from_id",
]
