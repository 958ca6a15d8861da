"""Fingerprints: an exact one for identical copies, SimHash for lightly edited ones."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["content_hash", "hamming", "simhash"]

_BITS = 64


def content_hash(normalized_text: str) -> str:
    """SHA-256 of a normalised text: equal for copies that differ only in what we normalise."""
    return hashlib.sha256(normalized_text.encode("utf-8")).hexdigest()


def simhash(tokens: Sequence[str]) -> int:
    """64-bit SimHash of word shingles, as a signed integer (fits a BIGINT column)."""
    features = [" ".join(tokens[i : i + 2]) for i in range(max(len(tokens) - 1, 1))]
    weights = [0] * _BITS
    for feature in features:
        if not feature:
            continue
        digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        for bit in range(_BITS):
            weights[bit] += 1 if digest >> bit & 1 else -1
    value = sum(1 << bit for bit in range(_BITS) if weights[bit] > 0)
    return value - (1 << _BITS) if value >= 1 << (_BITS - 1) else value


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two SimHashes."""
    return ((a ^ b) & ((1 << _BITS) - 1)).bit_count()
