"""Pictures for the tests: rumours rendered as screenshots, photo-like scenes, hostile files."""

from __future__ import annotations

import io
import os
import random
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {
    "sans": "DejaVuSans.ttf",
    "serif": "DejaVuSerif.ttf",
    "mono": "DejaVuSansMono.ttf",
    "bold": "DejaVuSans-Bold.ttf",
}


def font_missing() -> str | None:
    """Why the rendering tests cannot run here, if they cannot."""
    if not (FONT_DIR / FONTS["sans"]).exists():
        return f"fonts not found in {FONT_DIR} (Debian package fonts-dejavu-core)"
    return None


def screenshot(
    text: str,
    *,
    font: str = "sans",
    size: int = 28,
    width: int = 800,
    background: tuple[int, int, int] = (255, 255, 255),
    ink: tuple[int, int, int] = (25, 25, 25),
) -> Image.Image:
    """The text as a post screenshot: wrapped to the width, with margins."""
    face = ImageFont.truetype(str(FONT_DIR / FONTS[font]), size)
    margin = 32
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and face.getlength(candidate) <= width - 2 * margin:
            lines[-1] = candidate
        else:
            lines.append(word)
    step = int(size * 1.45)
    image = Image.new("RGB", (width, 2 * margin + step * len(lines)), background)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((margin, margin + number * step), line, font=face, fill=ink)
    return image


def scene(seed: int, *, width: int = 960, height: int = 720) -> Image.Image:
    """A photo-like picture without text: soft colour fields, shapes, sensor noise."""
    rng = random.Random(seed)
    base = Image.new("RGB", (8, 6))
    base.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(48)])
    image = base.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y, side = rng.randrange(width), rng.randrange(height), rng.randrange(20, 200)
        colour = tuple(rng.randrange(256) for _ in range(3))
        box = (x, y, x + side, y + int(side * rng.uniform(0.5, 1.5)))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return image.filter(ImageFilter.GaussianBlur(2))


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def reencoded(image: Image.Image, *, quality: int = 40, scale: float = 0.6) -> bytes:
    """What a messenger makes of a re-shared picture: scaled down, JPEG at low quality."""
    size = (round(image.width * scale), round(image.height * scale))
    return encode(image.resize(size, Image.Resampling.BILINEAR), "JPEG", quality=quality)


def cropped(image: Image.Image, fraction: float) -> Image.Image:
    dx, dy = round(image.width * fraction), round(image.height * fraction)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def decompression_bomb(side: int = 30_000) -> bytes:
    """A valid PNG of side x side one-bit pixels: a few kB that would decode to ~900 MB."""
    row = b"\x00" + b"\x00" * (side // 8)
    body = zlib.compress(row * side, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def require_ocr() -> None:
    """Skip (locally) or fail (CI sets TIPLINE_TEST_REQUIRE_OCR=1) without Tesseract."""
    missing = font_missing()
    if shutil.which("tesseract") is None:
        missing = "tesseract not found (Debian packages tesseract-ocr, tesseract-ocr-deu, -rus...)"
    if missing is None:
        return
    if os.environ.get("TIPLINE_TEST_REQUIRE_OCR") == "1":
        pytest.fail(f"OCR is required: {missing}")
    pytest.skip(missing)
