"""Pictures in the newsroom: safe decoding, hashes of copies, OCR, fact-checks' pictures."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from pictures import (
    cropped,
    decompression_bomb,
    encode,
    font_missing,
    reencoded,
    require_ocr,
    scene,
    screenshot,
)
from PIL import Image

from matching import HashingEncoder
from matching.images import PictureHash, nearest_copy, ocr_languages, picture_hash, script_of
from newsroom.fetch import Fetcher
from newsroom.images import (
    OCR_NICENESS,
    PictureJob,
    PictureReader,
    PictureRefusedError,
    Tesseract,
    hash_fact_check_images,
    open_picture,
)
from newsroom.indexes import MatchingIndexes
from storage.db import Database
from storage.models import FactCheck

RUMOURS = [
    "NATO-Generalsekretär Mark Rutte hat gedroht, die USA aus der NATO auszuschließen.",
    "Ab Montag wird in ganz Deutschland das Bargeld abgeschafft.",
    "Генсек НАТО Марк Рютте пригрозил исключить США из НАТО.",
    "В Москве с понедельника отключат горячую воду во всех домах.",
]
ALL_LANGUAGES = frozenset({"deu", "eng", "rus", "ukr", "ara", "spa", "tur", "fra"})


@pytest.fixture(autouse=True)
def _fonts() -> None:
    missing = font_missing()
    if missing:
        pytest.skip(missing)


def _hash(data: bytes) -> PictureHash:
    return open_picture(data).hash


@pytest.mark.parametrize(("font", "size"), [("sans", 28), ("serif", 22), ("mono", 18)])
def test_a_reencoded_scaled_screenshot_is_the_same_picture_and_another_text_is_not(
    font: str, size: int
) -> None:
    originals = [screenshot(text, font=font, size=size) for text in RUMOURS]
    hashes = [picture_hash(image) for image in originals]
    for image, original in zip(originals, hashes, strict=True):
        copy = _hash(reencoded(image, quality=40, scale=0.6))
        assert original.same_picture(copy, text_heavy=True)
    for i, first in enumerate(hashes):
        for second in hashes[i + 1 :]:
            assert not first.same_picture(second, text_heavy=True)


def test_a_slightly_cropped_photo_is_the_same_picture_and_another_photo_is_not() -> None:
    photos = [scene(seed) for seed in range(6)]
    for photo in photos:
        assert picture_hash(photo).same_picture(picture_hash(cropped(photo, 0.02)))
    hashes = [picture_hash(photo) for photo in photos]
    assert all(not a.same_picture(b) for i, a in enumerate(hashes) for b in hashes[i + 1 :])


def test_nearest_copy_picks_the_closest_owner() -> None:
    photo = scene(1)
    stored = [
        (10, picture_hash(scene(2)).hex(), False),
        (11, picture_hash(cropped(photo, 0.02)).hex(), False),
        (12, picture_hash(Image.open(io.BytesIO(reencoded(photo)))).hex(), False),
    ]
    assert nearest_copy(picture_hash(photo), stored, text_heavy=False) == 12
    assert nearest_copy(picture_hash(scene(3)), stored, text_heavy=False) is None


def test_hash_round_trips_through_its_hex_form() -> None:
    value = picture_hash(scene(4))
    assert PictureHash.from_hex(value.hex()) == value
    assert len(value.hex()) == 96
    with pytest.raises(ValueError, match="96 hex digits"):
        PictureHash.from_hex("abc")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not_a_picture"),
        (encode(scene(5), "JPEG")[:1500], "not_a_picture"),
        (b"%PDF-1.7\n1 0 obj <<>> endobj", "not_a_picture"),
        (decompression_bomb(30_000), "too_many_pixels"),  # Pillow's own bomb error
        (decompression_bomb(7_000), "too_many_pixels"),  # our 40-megapixel limit
        (b"GIF89a" + b"\xff" * 20, "not_a_picture"),
    ],
    ids=["truncated-png", "truncated-jpeg", "pdf", "bomb", "too-many-pixels", "garbage-gif"],
)
def test_unusable_files_are_refused_with_a_reason(content: bytes, reason: str) -> None:
    with pytest.raises(PictureRefusedError) as refused:
        open_picture(content)
    assert refused.value.reason == reason


def test_oversized_files_are_refused_before_decoding() -> None:
    with pytest.raises(PictureRefusedError) as refused:
        open_picture(b"\xff" * 2000, max_bytes=1000)
    assert refused.value.reason == "too_large"


def test_script_and_language_choice() -> None:
    assert script_of("Генсек НАТО Марк Рютте") == "cyrillic"
    assert script_of("Mark Rutte hat gedroht") == "latin"
    assert script_of("123 !!") is None
    assert ocr_languages(sender_language="de", installed=ALL_LANGUAGES) == ["deu", "eng"]
    assert ocr_languages(sender_language="ru", scripts=("latin",), installed=ALL_LANGUAGES) == [
        "eng"
    ]
    assert ocr_languages(sender_language="en", scripts=("cyrillic",), installed=ALL_LANGUAGES) == [
        "rus",
        "ukr",
    ]
    assert ocr_languages(sender_language="uk-UA", installed=frozenset({"eng"})) == ["eng"]


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        (RUMOURS[0], "de", "Rutte"),
        (RUMOURS[2], "ru", "Рютте"),
        (RUMOURS[3], "en", "Москве"),  # no Cyrillic hint from the sender: script detection
    ],
)
async def test_the_reader_reads_german_and_russian_screenshots(
    database: Database, text: str, language: str, expected: str
) -> None:
    require_ocr()
    reader = PictureReader(database, MatchingIndexes(HashingEncoder()))
    data = encode(screenshot(text, size=26))

    async def download(limit: int) -> bytes:
        return data

    async def reply(result: object) -> None:
        raise AssertionError("read() does not reply")

    job = PictureJob(tip_id=0, download=download, reply=reply, language_code=language)
    reading = await reader.read(job)
    assert expected in reading.ocr_text
    assert reading.picture_hash == picture_hash(screenshot(text, size=26)).hex()


async def test_a_picture_without_text_reads_as_no_text() -> None:
    require_ocr()
    opened = open_picture(encode(scene(8), "JPEG"))
    text, _ = await Tesseract().read(opened.ocr_png, ["eng"])
    assert text == ""


@pytest_asyncio.fixture(loop_scope="session")
async def picture_site() -> AsyncIterator[str]:
    photo = encode(scene(12), "JPEG", quality=92)

    async def picture(_request: web.Request) -> web.Response:
        return web.Response(body=photo, content_type="image/jpeg")

    async def broken(_request: web.Request) -> web.Response:
        return web.Response(body=b"<html>not a picture</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/debunked.jpg", picture)
    app.router.add_get("/broken.jpg", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_fact_checks_picture_is_fetched_and_hashed(
    database: Database, picture_site: str
) -> None:
    async with database.session() as session:
        good = FactCheck(
            url="https://example.org/a",
            claim_reviewed="A",
            image_url=f"{picture_site}/debunked.jpg",
        )
        bad = FactCheck(
            url="https://example.org/b", claim_reviewed="B", image_url=f"{picture_site}/broken.jpg"
        )
        none = FactCheck(url="https://example.org/c", claim_reviewed="C")
        session.add_all([good, bad, none])
    ids = [good.id, bad.id, none.id]
    async with Fetcher(allow_private=True) as fetcher:
        assert await hash_fact_check_images(database, ids, fetcher=fetcher) == 1
    async with database.session() as session:
        stored = {f.url: f.image_hash for f in [await session.get_one(FactCheck, i) for i in ids]}
    copy = picture_hash(Image.open(io.BytesIO(reencoded(scene(12)))))
    assert PictureHash.from_hex(stored["https://example.org/a"]).same_picture(copy)
    assert stored["https://example.org/b"] is None
    assert stored["https://example.org/c"] is None


async def test_a_public_fetcher_refuses_a_private_picture_address(
    database: Database, picture_site: str
) -> None:
    async with database.session() as session:
        fact_check = FactCheck(
            url="https://example.org/d",
            claim_reviewed="D",
            image_url=f"{picture_site}/debunked.jpg",
        )
        session.add(fact_check)
    async with Fetcher() as fetcher:
        assert await hash_fact_check_images(database, [fact_check.id], fetcher=fetcher) == 0


async def test_tesseract_runs_at_the_lowest_cpu_priority(tmp_path: Path) -> None:
    # A stand-in for tesseract that lists, as its one "language", its own niceness (field 19
    # of /proc/self/stat).
    fake = tmp_path / "tesseract"
    fake.write_text("#!/bin/sh\necho 'Languages:'\ncut -d' ' -f19 /proc/self/stat\n")
    fake.chmod(0o755)
    assert await Tesseract(binary=str(fake)).installed_languages() == {str(OCR_NICENESS)}
