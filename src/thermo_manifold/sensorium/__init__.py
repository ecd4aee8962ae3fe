"""Sensorium: the universal byte tokenizer, the token engine and experiments with baselines.

See docs/sensorium.md and ../shared/design/SENSORIUM.md. The token engine needs
`thermo_manifold.spectral`; it is imported when an engine is built, so the tokenizer, data
loaders and baselines work on their own.
"""

from __future__ import annotations

from thermo_manifold.sensorium.tokenizer import (
    SPECIAL_TOKENS,
    TokenizerConfig,
    UniversalTokenizer,
    center_from_id,
    hash_id,
    label_id,
    omega_from_id,
)

__all__ = [
    "SPECIAL_TOKENS",
    "TokenizerConfig",
    "UniversalTokenizer",
    "center_from_id",
    "hash_id",
    "label_id",
    "omega_from_id",
]
