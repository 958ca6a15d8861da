"""Fingerprints: an exact one for identical copies, SimHash for lightly edited ones."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = ["content_hash", "hamming", "simhash"]

_BITS = 64


def content_hash(normalized_text: str) -> str:
    """SHA-256 of a normalised text: equal for copies that differ only in what we normalise."""
    return hashlib.sha256(normalized_text.encode("utf-8")).hexdigest()


def simhash(tokens: Sequence[str]) -> int:
    """64-bit SimHash of word shingles, as a signed integer (fits a BIGINT column).

    Each shingle's 8-byte BLAKE2b digest, read as a big-endian integer, votes on every bit:
    a bit is set where more digests have it set than not. The votes are counted as arrays,
    the same as bit by bit at a sixth of the CPU (every forward's text is hashed).
    """
    shingles = [" ".join(tokens[i : i + 2]) for i in range(max(len(tokens) - 1, 1))]
    # Each digest byte-reversed, so that unpacking each byte from its low bit numbers the
    # digest's bits from 0 (its lowest) to 63.
    digests = b"".join(
        hashlib.blake2b(shingle.encode(), digest_size=8).digest()[::-1]
        for shingle in shingles
        if shingle
    )
    if not digests:
        return 0
    bits = np.unpackbits(np.frombuffer(digests, np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    majority = 2 * bits.sum(axis=0, dtype=np.int64) > len(bits)
    return int.from_bytes(np.packbits(majority, bitorder="little").tobytes(), "little", signed=True)


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two SimHashes."""
    return ((a ^ b) & ((1 << _BITS) - 1)).bit_count()
