"""Perceptual fingerprints of pictures, and which OCR languages to try: pure, no I/O.

A re-saved, re-compressed, resized or slightly cropped copy of a picture has other bytes (and
another Telegram ``file_unique_id``) but nearly the same perceptual hash. We keep two 64-bit
hashes per picture, pHash (low frequencies of a 32x32 DCT, robust to compression and scaling)
and dHash (brightness gradients of a 9x8 thumbnail, independent of pHash), and a finer 256-bit
pHash. Two pictures are the same when the fine hashes are close, or (a slightly cropped photo)
when both coarse ones are. Thresholds and their measurements: docs/IMAGES.md.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "DHASH_THRESHOLD",
    "FINE_THRESHOLD",
    "HEX_LENGTH",
    "OCR_LANGUAGES",
    "PHASH_THRESHOLD",
    "PictureHash",
    "dhash",
    "fine_phash",
    "nearest_copy",
    "ocr_languages",
    "phash",
    "picture_hash",
    "script_of",
]

# Largest distances at which two pictures are still the same one (of 64 bits for the coarse
# hashes, of 256 for the fine one); measured in bench/images.py, explained in docs/IMAGES.md.
PHASH_THRESHOLD = 14
DHASH_THRESHOLD = 12
FINE_THRESHOLD = 32
HEX_LENGTH = 96

# Tesseract's language codes for the languages the tip line answers in, plus English.
OCR_LANGUAGES = {
    "de": "deu",
    "en": "eng",
    "es": "spa",
    "fr": "fra",
    "tr": "tur",
    "ru": "rus",
    "uk": "ukr",
    "ar": "ara",
}
_SCRIPT_LANGUAGES = {
    "latin": ("eng", "deu", "fra", "spa", "tur"),
    "cyrillic": ("rus", "ukr"),
    "arabic": ("ara",),
}
_SCRIPT_OF_LANGUAGE = {
    "deu": "latin",
    "eng": "latin",
    "spa": "latin",
    "fra": "latin",
    "tur": "latin",
    "rus": "cyrillic",
    "ukr": "cyrillic",
    "ara": "arabic",
}


@dataclass(frozen=True, slots=True)
class PictureHash:
    """A picture's fingerprints: 64-bit pHash and dHash, and a finer 256-bit pHash.

    Stored as 96 hex digits (pHash, dHash, fine pHash). The 64-bit pair tolerates a slight
    crop of a photo; the 256-bit pHash tells apart two screenshots of different text, which
    the 64-bit hashes see as the same grey lines on white.
    """

    phash: int
    dhash: int
    fine: int

    def hex(self) -> str:
        return f"{self.phash:016x}{self.dhash:016x}{self.fine:064x}"

    @classmethod
    def from_hex(cls, value: str) -> PictureHash:
        if len(value) != HEX_LENGTH:
            raise ValueError(f"a picture hash has {HEX_LENGTH} hex digits, not {len(value)}")
        return cls(phash=int(value[:16], 16), dhash=int(value[16:32], 16), fine=int(value[32:], 16))

    def distance(self, other: PictureHash) -> tuple[int, int, int]:
        """Differing bits of the pHashes, the dHashes and the fine pHashes."""
        return (
            (self.phash ^ other.phash).bit_count(),
            (self.dhash ^ other.dhash).bit_count(),
            (self.fine ^ other.fine).bit_count(),
        )

    def same_picture(self, other: PictureHash, *, text_heavy: bool = False) -> bool:
        """Whether ``other`` is a copy of this picture (re-encoded, resized, maybe cropped).

        A copy at another size or quality keeps its fine hash. A slightly cropped photo shifts
        too much for the fine hash but keeps both coarse ones; that looser rule is not applied
        to pictures of text (``text_heavy``), where the coarse hashes cannot tell one text
        from another; a cropped screenshot is found by its OCR text instead.
        """
        coarse_p, coarse_d, fine = self.distance(other)
        if fine <= FINE_THRESHOLD:
            return True
        return not text_heavy and coarse_p <= PHASH_THRESHOLD and coarse_d <= DHASH_THRESHOLD


def nearest_copy(
    wanted: PictureHash, candidates: Sequence[tuple[int, str, bool]], *, text_heavy: bool
) -> int | None:
    """The owner of the nearest candidate (owner, stored hex, text-heavy) that is a copy of
    ``wanted`` by :meth:`PictureHash.same_picture`'s rules, nearest by fine distance.

    Reads only the parts of each stored hash it needs: this runs over every picture of
    every live claim.
    """
    best: tuple[int, int] | None = None
    for owner, stored, heavy in candidates:
        fine = (wanted.fine ^ int(stored[32:], 16)).bit_count()
        same = fine <= FINE_THRESHOLD or (
            not (text_heavy or heavy)
            and (wanted.phash ^ int(stored[:16], 16)).bit_count() <= PHASH_THRESHOLD
            and (wanted.dhash ^ int(stored[16:32], 16)).bit_count() <= DHASH_THRESHOLD
        )
        if same and (best is None or fine < best[0]):
            best = (fine, owner)
    return best[1] if best else None


def _bits(flags: np.ndarray) -> int:
    value = 0
    for flag in flags.ravel():
        value = (value << 1) | int(flag)
    return value


@cache
def _dct_matrix(size: int) -> np.ndarray:
    """Orthonormal DCT-II basis: ``M @ x @ M.T`` is the 2-D DCT of ``x``."""
    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * np.sqrt(2 / size)
    matrix[0] /= np.sqrt(2)
    return matrix


def _gray(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float64)


def _dct_hash(gray: Image.Image, size: int, low: int) -> int:
    matrix = _dct_matrix(size)
    coefficients = (matrix @ _gray(gray, (size, size)) @ matrix.T)[:low, :low]
    return _bits(coefficients > np.median(coefficients))


def phash(gray: Image.Image) -> int:
    """64-bit DCT hash: which of the 8x8 lowest frequencies of a 32x32 thumbnail lie above
    their median."""
    return _dct_hash(gray, 32, 8)


def fine_phash(gray: Image.Image) -> int:
    """256-bit DCT hash: the 16x16 lowest frequencies of a 64x64 thumbnail."""
    return _dct_hash(gray, 64, 16)


def dhash(gray: Image.Image) -> int:
    """64-bit gradient hash: whether each pixel of a 9x8 thumbnail is brighter than the next."""
    pixels = _gray(gray, (9, 8))
    return _bits(pixels[:, 1:] > pixels[:, :-1])


def picture_hash(image: Image.Image) -> PictureHash:
    """The fingerprints of a decoded picture (any mode; EXIF rotation applied first)."""
    gray = ImageOps.exif_transpose(image).convert("L")
    return PictureHash(phash=phash(gray), dhash=dhash(gray), fine=fine_phash(gray))


def script_of(text: str) -> str | None:
    """The dominant writing system of a text (latin, cyrillic, arabic), if it has letters."""
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        for script in ("LATIN", "CYRILLIC", "ARABIC"):
            if name.startswith(script):
                counts[script.lower()] = counts.get(script.lower(), 0) + 1
                break
    return max(counts, key=counts.__getitem__) if counts else None


def ocr_languages(
    *, sender_language: str | None, scripts: tuple[str, ...] = (), installed: frozenset[str]
) -> list[str]:
    """Tesseract languages to read a picture with, most likely first.

    The sender's app language comes first when its script is among those seen (or nothing was
    seen); then the languages of each detected script. English always joins a Latin or
    unknown script: it is the commonest second language of screenshots. Tesseract slows down
    with every language added, so a script contributes only its own languages.
    """
    wanted: list[str] = []
    own = OCR_LANGUAGES.get((sender_language or "").split("-")[0].lower())
    if own and (not scripts or _SCRIPT_OF_LANGUAGE[own] in scripts):
        wanted.append(own)
    for script in scripts:
        if script == "latin":
            wanted.append("eng")
        else:
            wanted.extend(_SCRIPT_LANGUAGES.get(script, ()))
    if not scripts:
        wanted.append("eng")
    chosen = [code for code in dict.fromkeys(wanted) if code in installed]
    return chosen or sorted(installed & {"eng"}) or sorted(installed)[:1]
