"""Pictures: hash thresholds, OCR and hashing cost per image, and a photo burst beside texts.

Three measurements, all on pictures rendered here (DejaVu fonts, Debian fonts-dejavu-core):

1. distances: fine/coarse hash distances between copies of one picture (JPEG quality 40 at
   60 %, quality 20 at 40 %, crops) and between different pictures (other texts, fonts,
   photo-like scenes): the evidence for the thresholds in matching/images.py;
2. cost: decode+hash, script detection and OCR per picture, one at a time, then the
   throughput of the reader's OCR pool;
3. burst: the real bot (PTB, SQLite, emulator) gets 100 photo forwards, then text forwards
   while the photos are being read; the text replies' latency is compared with an idle bot;
4. viral: one screenshot forwarded by 100 people (the same file), until all are answered;
5. filed: what looking for copies of one picture costs with 20,000 pictures already filed.

Run:  .venv/bin/python bench/images.py [--burst 100] [--texts 20] [--viral 100] [--filed 20000]
                                       [--only distances|cost|burst|viral|filed]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

# tests/pictures.py renders the pictures; the project goes first, or tests/matching/ would
# shadow the matching package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pictures import cropped, encode, reencoded, scene, screenshot
from PIL import Image
from sqlalchemy import insert

from bot.app import build_application
from bot.emulator import BotAPIEmulator
from bot.settings import load_settings
from matching import load_encoder
from matching.images import ocr_languages, picture_hash
from newsroom.context import Newsroom
from newsroom.images import PictureReader, Tesseract, open_picture
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IntakePolicy, _same_picture
from storage.db import Database, upgrade_database
from storage.models import Claim, Tip
from storage.types import utcnow

TEXTS = [
    "NATO-Generalsekretär Mark Rutte hat gedroht, die USA aus der NATO auszuschließen.",
    "Die Regierung verschenkt an alle Bürger 50 GB mobile Daten, einfach diesen Link öffnen.",
    "Wer Knoblauch isst, ist gegen das Virus immun, sagen Ärzte aus Wuhan.",
    "Ab Montag wird das Bargeld abgeschafft, alle Konten werden überwacht.",
    "В Москве с понедельника отключат горячую воду во всех домах на три месяца.",
    "Ученые доказали, что вакцина содержит микрочипы для слежки за людьми.",
    "Breaking: the moon landing was filmed in a studio in Nevada, leaked documents show.",
    "The city will fine every driver 500 euros for using winter tyres after March.",
]
FONTS = [("sans", 28), ("serif", 34), ("mono", 22), ("bold", 40)]


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def distances() -> None:
    copies: dict[str, list[tuple[int, int, int]]] = {}
    originals = []
    for text, (font, size) in itertools.product(TEXTS, FONTS):
        originals.append(("text", text, screenshot(text, font=font, size=size)))
    for seed in range(24):
        originals.append(("scene", str(seed), scene(seed)))
    hashes = []
    for kind, key, image in originals:
        h = picture_hash(image)
        hashes.append((kind, key, h))
        variants = {
            "jpeg q40 at 60%": _open(reencoded(image)),
            "jpeg q20 at 40%": _open(reencoded(image, quality=20, scale=0.4)),
            "crop 2% a side": cropped(image, 0.02),
            "crop 4% a side": cropped(image, 0.04),
        }
        for name, variant in variants.items():
            copies.setdefault(f"{kind}: {name}", []).append(h.distance(picture_hash(variant)))
    print("\n## Distances (coarse pHash, coarse dHash, fine pHash); max over copies")
    for name, values in copies.items():
        worst = tuple(max(v[i] for v in values) for i in range(3))
        text_heavy = name.startswith("text")
        same = sum(
            1
            for a, b, c in values
            if c <= 32 or (not text_heavy and a <= 14 and b <= 12)  # matching/images.py rules
        )
        print(f"  {name:26s} worst {worst}  recognised {same}/{len(values)}")
    pairs: dict[str, list[tuple[int, int, int]]] = {}
    for (ka, ta, ha), (kb, tb, hb) in itertools.combinations(hashes, 2):
        if ta == tb:
            continue  # the same text in another font is a different picture, but not a pair
        pairs.setdefault(f"{ka} vs {kb}", []).append(ha.distance(hb))
    print("## Different pictures: min distance (coarse p, coarse d, fine)")
    for name, values in pairs.items():
        least = tuple(min(v[i] for v in values) for i in range(3))
        wrongly = sum(
            1 for a, b, c in values if c <= 32 or ("text" not in name and a <= 14 and b <= 12)
        )
        print(f"  {name:16s} min {least}  pairs {len(values)}  wrongly joined {wrongly}")


async def cost() -> None:
    ocr = Tesseract()
    installed = await ocr.installed_languages()
    samples = [
        ("screenshot 800 px, de", encode(screenshot(TEXTS[0] * 3, size=28)), "de"),
        ("screenshot 800 px, ru", encode(screenshot(TEXTS[4] * 3, size=28)), "ru"),
        ("screenshot 1600 px", encode(screenshot(TEXTS[1] * 6, size=48, width=1600)), "de"),
        ("photo 1280x960 jpeg", encode(scene(1, width=1280, height=960), "JPEG"), "en"),
    ]
    print("\n## Cost per picture (median of 5, one at a time), ms")
    print("  picture                 bytes    decode+hash  script   ocr")
    for name, data, language in samples:
        timings: list[tuple[float, float, float]] = []
        for _ in range(5):
            t0 = time.perf_counter()
            opened = open_picture(data)
            t1 = time.perf_counter()
            scripts = await ocr.scripts(opened.ocr_png)
            t2 = time.perf_counter()
            langs = ocr_languages(sender_language=language, scripts=scripts, installed=installed)
            await ocr.read(opened.ocr_png, langs)
            t3 = time.perf_counter()
            timings.append((t1 - t0, t2 - t1, t3 - t2))
        med = [statistics.median(t[i] for t in timings) * 1000 for i in range(3)]
        print(f"  {name:22s} {len(data):8,d}  {med[0]:10.0f}  {med[1]:6.0f}  {med[2]:5.0f}")
    data = encode(screenshot(TEXTS[0] * 3, size=28))
    opened = open_picture(data)
    count = 12
    t0 = time.perf_counter()
    await asyncio.gather(*(ocr.read(opened.ocr_png, ["deu", "eng"]) for _ in range(count)))
    elapsed = time.perf_counter() - t0
    print(
        f"  OCR pool ({ocr.concurrency} at once): {count} screenshots in {elapsed:.1f} s, "
        f"{count / elapsed:.2f} pictures/s"
    )


async def _reply_latency(emu: BotAPIEmulator, user_id: int, text: str) -> float:
    before = len(emu.sent_messages(user_id))
    start = time.perf_counter()
    emu.push_update(emu.private_message(user_id, text))
    while len(emu.sent_messages(user_id)) <= before:  # noqa: ASYNC110 (polling is the probe)
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


@contextlib.asynccontextmanager
async def _running_bot() -> AsyncIterator[BotAPIEmulator]:
    """The real bot (PTB, SQLite, the emulator, the picture reader) as `tipline run` starts it."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        await upgrade_database(url)
        db = Database(url)
        indexes = MatchingIndexes(load_encoder())
        await indexes.refresh(db)
        reader = PictureReader(db, indexes)
        policy = IntakePolicy(rate_limit_tips=10_000)
        newsroom = Newsroom(db=db, indexes=indexes, policy=policy, pictures=reader)
        emu = BotAPIEmulator()
        await emu.start()
        settings = load_settings(
            None,
            bot_token=emu.token,
            telegram_api_url=emu.base_url,
            telegram_file_url=emu.base_file_url,
        )
        application = build_application(settings, newsroom)
        async with application:
            await application.start()
            reader.start()
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            yield emu
            await application.updater.stop()
            await reader.stop()
            await application.stop()
        await emu.stop()
        indexes.close()
        await db.dispose()


async def _all_answered(emu: BotAPIEmulator, chats: range) -> None:
    while sum(len(emu.sent_messages(chat)) for chat in chats) < len(chats):  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def burst(photos: int, texts: int) -> None:
    pictures = [
        encode(screenshot(f"{TEXTS[n % len(TEXTS)]} ({n})", size=26 + n % 10))
        for n in range(photos)
    ]
    async with _running_bot() as emu:
        idle = [
            await _reply_latency(emu, 500_000 + n, f"Rumour number {n}: {TEXTS[n % 8]}")
            for n in range(texts)
        ]
        start = time.perf_counter()
        for n, picture in enumerate(pictures):
            emu.push_update(emu.private_message(600_000 + n, kind="photo", file=picture))
        await asyncio.sleep(0.5)  # the photos are in; the reader is busy
        busy = [
            await _reply_latency(emu, 700_000 + n, f"Another rumour {n}: {TEXTS[n % 8]}")
            for n in range(texts)
        ]
        await _all_answered(emu, range(600_000, 600_000 + photos))
        drained = time.perf_counter() - start

    def summary(values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        return f"median {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"

    print(f"\n## Burst: {photos} photo forwards, {texts} text forwards before and during")
    print(f"  text replies, idle bot:        {summary(idle)}")
    print(f"  text replies, photos queued:   {summary(busy)}")
    print(f"  all {photos} photos answered after {drained:.1f} s ({photos / drained:.2f}/s)")


async def viral(forwards: int) -> None:
    """One screenshot forwarded by ``forwards`` people, as fast as they come: the very same
    file each time (Telegram's file ids), no caption, so each waits for the picture's reading."""
    picture = encode(screenshot(f"{TEXTS[0]} ({forwards})", size=28))
    async with _running_bot() as emu:
        first = emu.private_message(800_000, kind="photo", file=picture)
        start = time.perf_counter()
        emu.push_update(first)
        for n in range(1, forwards):
            update = emu.private_message(800_000 + n, kind="photo", file=b"unused")
            update["message"]["photo"] = first["message"]["photo"]
            emu.push_update(update)
        await _all_answered(emu, range(800_000, 800_000 + forwards))
        drained = time.perf_counter() - start
        downloads = sum(call.method == "getFile" for call in emu.calls)
    print(f"\n## One screenshot forwarded by {forwards} people")
    print(
        f"  all {forwards} answered after {drained:.1f} s ({forwards / drained:.1f}/s); "
        f"the picture was downloaded {downloads} time(s)"
    )


async def filed(count: int, *, repeats: int = 12) -> None:
    """What looking for copies of one picture costs with ``count`` pictures filed: the event
    loop's CPU and every thread's, with the collector frozen after set-up as the worker does."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        await upgrade_database(url)
        db = Database(url)
        rng = random.Random(7)
        now = utcnow()
        claims = max(1, count // 10)
        async with db.session() as session:
            await session.exec(
                insert(Claim),
                params=[
                    {"canonical_text": f"rumour {n}", "status": "new", "first_seen_at": now}
                    | {"last_seen_at": now, "created_at": now, "updated_at": now}
                    for n in range(claims)
                ],
            )
            await session.exec(
                insert(Tip),
                params=[
                    {
                        "chat_id": n,
                        "message_id": 1,
                        "text": "",
                        "links": [],
                        "claim_id": 1 + n % claims,
                    }
                    | {"received_at": now - timedelta(seconds=n), "ocr_text": "x" * 300}
                    | {"image_hash": f"{rng.getrandbits(384):096x}"}
                    for n in range(count)
                ],
            )
        wanted = f"{rng.getrandbits(384):096x}"
        gc.collect()
        gc.freeze()
        loop, every = [], []
        for _ in range(repeats):
            async with db.session() as session:
                thread, process = time.thread_time(), time.process_time()
                await _same_picture(session, wanted, tip_id=0, text_heavy=True)
                loop.append((time.thread_time() - thread) * 1000)
                every.append((time.process_time() - process) * 1000)
        gc.unfreeze()
        await db.dispose()
    print(f"\n## Looking for copies of one picture among {count:,} filed (median of {repeats})")
    loop_ms, every_ms = statistics.median(loop), statistics.median(every)
    print(f"  event loop {loop_ms:.1f} ms, every thread {every_ms:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--texts", type=int, default=20)
    parser.add_argument("--viral", type=int, default=100, help="forwards of one screenshot")
    parser.add_argument("--filed", type=int, default=20_000, help="pictures already filed")
    parser.add_argument(
        "--only",
        choices=["distances", "cost", "burst", "viral", "filed"],
        help="one measurement rather than all",
    )
    args = parser.parse_args()
    if args.only in (None, "distances"):
        distances()
    if args.only in (None, "cost"):
        await cost()
    if args.only in (None, "burst"):
        await burst(args.burst, args.texts)
    if args.only in (None, "viral"):
        await viral(args.viral)
    if args.only in (None, "filed"):
        await filed(args.filed)


if __name__ == "__main__":
    asyncio.run(main())
