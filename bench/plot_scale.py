"""Draw docs/matching-scale.png from bench/results/matching_scale.json, with Pillow only.

Two panels against corpus size (log scale): query latency (p50 and p99 of the whole
fact-check search, and of the vector search alone) and index memory. Run after
bench/matching_scale.py:

    .venv/bin/python bench/plot_scale.py [--input JSON] [--output PNG]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, MARGIN = 1100, 460, 70
COLOURS = {
    "search p99": (200, 60, 40),
    "search p50": (240, 150, 60),
    "vector p99": (40, 90, 180),
    "vector p50": (110, 160, 230),
    "index MB": (60, 140, 70),
}


def _panel(
    draw: ImageDraw.ImageDraw,
    left: int,
    title: str,
    sizes: list[int],
    series: dict[str, list[float]],
    unit: str,
) -> None:
    font = ImageFont.load_default()
    width = WIDTH // 2 - MARGIN - 50
    top, bottom = MARGIN, HEIGHT - MARGIN
    right = left + width
    draw.text((left, 20), title, fill="black", font=font)
    draw.line([(left, bottom), (right, bottom)], fill="black")
    draw.line([(left, top), (left, bottom)], fill="black")
    x_low, x_high = math.log10(min(sizes)), math.log10(max(sizes))
    y_high = max(max(values) for values in series.values()) * 1.1 or 1.0

    def point(size: int, value: float) -> tuple[float, float]:
        x = left + (math.log10(size) - x_low) / ((x_high - x_low) or 1) * width
        return x, bottom - value / y_high * (bottom - top)

    for step in range(6):
        value = y_high * step / 5
        y = bottom - step / 5 * (bottom - top)
        draw.line([(left - 4, y), (right, y)], fill=(225, 225, 225))
        draw.text((left - 60, y - 6), f"{value:.0f} {unit}", fill="black", font=font)
    for size in sizes:
        x, _ = point(size, 0)
        label = f"{size:,}"
        draw.text((x - 3 * len(label), bottom + 8), label, fill="black", font=font)
    draw.text((right - 90, bottom + 26), "fact-checks (log)", fill="black", font=font)
    for row, (name, values) in enumerate(series.items()):
        points = [point(s, v) for s, v in zip(sizes, values, strict=True)]
        draw.line(points, fill=COLOURS[name], width=3)
        for x, y in points:
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=COLOURS[name])
        draw.text((left + 10, top + 14 * row), name, fill=COLOURS[name], font=font)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input", type=Path, default=ROOT / "bench" / "results" / "matching_scale.json"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "matching-scale.png")
    args = parser.parse_args()
    meta = json.loads(args.input.read_text())
    records = sorted(meta["records"], key=lambda r: r["fact_checks"])
    sizes = [r["fact_checks"] for r in records]
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    latency = {
        "search p99": [r["search_p99_ms"] for r in records],
        "search p50": [r["search_p50_ms"] for r in records],
        "vector p99": [r["vector_only_p99_ms"] for r in records],
        "vector p50": [r["vector_only_p50_ms"] for r in records],
    }
    _panel(draw, MARGIN, "Fact-check search latency per tip (ms)", sizes, latency, "ms")
    memory = {"index MB": [r["index_mb"] for r in records]}
    _panel(draw, WIDTH // 2 + MARGIN, "Index memory (RSS growth, MB)", sizes, memory, "MB")
    dtypes = ", ".join(f"{r['fact_checks']:,}: {r['dtype']}" for r in records)
    footer = f"{meta['date']}; vectors {dtypes}; load average {records[-1]['load']}"
    draw.text((MARGIN, HEIGHT - 18), footer, fill=(90, 90, 90), font=ImageFont.load_default())
    image.save(args.output, optimize=True)


if __name__ == "__main__":
    main()
