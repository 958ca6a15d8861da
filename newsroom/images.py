"""Pictures in tips: download, open safely, hash, read their text, and file them.

Screenshots and memes carry most rumours, so a picture is read (Tesseract OCR) and
fingerprinted (perceptual hashes, ``matching.images``) in the background: the handler records
the tip and returns at once, and a bounded pool of workers does the slow part, so a burst of
pictures never delays the reply to a text. Anything that is not a picture we can open safely
(too large, corrupt, not an image, a decompression bomb) is refused with a reason; nothing is
decoded before its size and pixel count are checked. Behaviour and thresholds: docs/IMAGES.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import os
import shutil
import warnings
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from PIL import Image, UnidentifiedImageError

from matching.images import PictureHash, ocr_languages, picture_hash, script_of
from newsroom.fetch import Fetcher, FetchError
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IntakeResult, PictureReading, mark_reply_sent, receive_picture
from storage import pictures
from storage.db import Database
from storage.pictures import UnreadPicture

__all__ = [
    "MAX_PICTURE_BYTES",
    "MAX_PICTURE_PIXELS",
    "OCRUnavailableError",
    "OpenedPicture",
    "PictureJob",
    "PictureReader",
    "PictureRefusedError",
    "Tesseract",
    "hash_fact_check_images",
    "open_picture",
]

log = logging.getLogger(__name__)

# Telegram's bots may download at most 20 MB; a screenshot is rarely above 2 MB.
MAX_PICTURE_BYTES = 10 * 1024 * 1024
# 40 megapixels (a 8000x5000 photo) decode to 40 MB of grey; more is refused unread.
MAX_PICTURE_PIXELS = 40_000_000
_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"})
# OCR works best with letters 20-40 pixels high: small screenshots are enlarged, huge ones
# shrunk so one picture cannot hold a worker for long.
_OCR_MIN_SIDE = 1000
_OCR_MAX_SIDE = 3000
_OCR_MIN_CONFIDENCE = 55.0
_OCR_MIN_LETTERS = 6
# A reading is trusted when this share of the words Tesseract found were read confidently.
_OCR_CONFIDENT_SHARE = 0.8

RefusalReason = Literal["too_large", "not_a_picture", "too_many_pixels"]


class PictureRefusedError(Exception):
    """A file we will not open as a picture; ``reason`` is what the sender is told."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: RefusalReason = reason


class OCRUnavailableError(Exception):
    """The ``tesseract`` program is not installed (Debian package ``tesseract-ocr``)."""


@dataclass(frozen=True, slots=True)
class OpenedPicture:
    """A decoded picture's fingerprints and the grey PNG that OCR reads."""

    hash: PictureHash
    ocr_png: bytes
    width: int
    height: int


def open_picture(content: bytes, *, max_bytes: int = MAX_PICTURE_BYTES) -> OpenedPicture:
    """Decode untrusted bytes into a hash and an OCR-ready image, or refuse them.

    CPU-bound: call it from a worker thread. The pixel count is checked from the header
    before anything is decoded, and Pillow's own bomb guard is made an error, not a warning.
    """
    if len(content) > max_bytes:
        raise PictureRefusedError("too_large", f"{len(content):,} bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(content)) as image:
                if image.format not in _FORMATS:
                    raise PictureRefusedError("not_a_picture", f"format {image.format}")
                width, height = image.size
                if width * height > MAX_PICTURE_PIXELS:
                    raise PictureRefusedError("too_many_pixels", f"{width}x{height}")
                image.seek(0)  # the first frame of an animation
                image.load()
                hashed = picture_hash(image)
                gray = image.convert("L")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PictureRefusedError("too_many_pixels", str(exc)) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise PictureRefusedError("not_a_picture", type(exc).__name__) from exc
    return OpenedPicture(hashed, _ocr_png(gray), width, height)


def _ocr_png(gray: Image.Image) -> bytes:
    longest = max(gray.size)
    if longest < _OCR_MIN_SIDE:
        factor = min(3.0, _OCR_MIN_SIDE / longest)
    elif longest > _OCR_MAX_SIDE:
        factor = _OCR_MAX_SIDE / longest
    else:
        factor = 1.0
    if factor != 1.0:
        size = (max(1, round(gray.width * factor)), max(1, round(gray.height * factor)))
        gray = gray.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    gray.save(out, "PNG", compress_level=1)
    return out.getvalue()


OCR_NICENESS = 19


class Tesseract:
    """The ``tesseract`` command, run as a subprocess: the event loop only waits on a pipe.

    At most ``concurrency`` pictures are read at once (each Tesseract is kept to one thread),
    and a picture taking longer than ``timeout`` seconds is abandoned and its process killed.
    """

    def __init__(
        self, *, binary: str = "tesseract", concurrency: int | None = None, timeout: float = 30.0
    ) -> None:
        self.binary = binary
        self.timeout = timeout
        self.concurrency = concurrency or max(1, (os.cpu_count() or 2) - 1)
        self._slots = asyncio.Semaphore(self.concurrency)
        self._installed: frozenset[str] | None = None

    @property
    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    async def _run(self, *args: str, stdin: bytes = b"") -> tuple[int, str]:
        path = shutil.which(self.binary)
        if path is None:
            raise OCRUnavailableError(f"{self.binary} not found; install tesseract-ocr")
        # At the lowest CPU priority: answering senders comes first, reading pictures after.
        nice = shutil.which("nice")
        command = [nice, "-n", str(OCR_NICENESS), path] if nice else [path]
        async with self._slots:
            process = await asyncio.create_subprocess_exec(
                *command,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            )
            try:
                async with asyncio.timeout(self.timeout):
                    out, _ = await process.communicate(stdin)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
                raise
        return process.returncode or 0, out.decode("utf-8", "replace")

    async def installed_languages(self) -> frozenset[str]:
        if self._installed is None:
            _, out = await self._run("--list-langs")
            lines = [line.strip() for line in out.splitlines()[1:]]
            self._installed = frozenset(line for line in lines if line and line != "osd")
        return self._installed

    async def scripts(self, png: bytes) -> tuple[str, ...]:
        """The script Tesseract's orientation and script detection sees, if it sees one."""
        code, out = await self._run("stdin", "stdout", "--psm", "0", stdin=png)
        for line in out.splitlines() if code == 0 else ():
            if line.startswith("Script:"):
                script = line.split(":", 1)[1].strip().lower()
                return (script,) if script in ("latin", "cyrillic", "arabic") else ()
        return ()

    async def read(self, png: bytes, languages: list[str]) -> tuple[str, float]:
        """The confidently read words, line by line (empty when there is no readable text),
        and the share of all words found that were read confidently."""
        code, out = await self._run("stdin", "stdout", "-l", "+".join(languages), "tsv", stdin=png)
        return _confident_text(out) if code == 0 else ("", 0.0)


def _confident_text(tsv: str) -> tuple[str, float]:
    lines: dict[tuple[str, ...], list[str]] = {}
    found = 0
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        try:
            confidence = float(cells[10])
        except ValueError:
            continue
        found += 1
        if confidence >= _OCR_MIN_CONFIDENCE:
            lines.setdefault(tuple(cells[1:5]), []).append(cells[11].strip())
    text = "\n".join(" ".join(words) for words in lines.values())
    if sum(c.isalpha() for c in text) < _OCR_MIN_LETTERS:
        return "", 0.0
    return text, sum(len(words) for words in lines.values()) / found


Download = Callable[[int], Awaitable[bytes]]
Reply = Callable[[IntakeResult], Awaitable[None]]


@dataclass(frozen=True)
class PictureJob:
    """One picture to read: the recorded tip, how to fetch its bytes, how to answer.

    ``download`` receives the byte cap and raises :class:`PictureRefusedError` beyond it;
    ``reply`` is called only when the sender should hear something new.
    """

    tip_id: int
    download: Download
    reply: Reply
    language_code: str | None = None
    caption: str = ""
    # Telegram's id for the file itself: every forward of one picture carries the same.
    file_unique_id: str | None = None


class PictureReader:
    """The background pool that reads pictures; started and stopped by ``bot/``."""

    def __init__(
        self,
        db: Database,
        indexes: MatchingIndexes,
        *,
        ocr: Tesseract | None = None,
        workers: int = 4,
        queue_size: int = 10_000,
        max_bytes: int = MAX_PICTURE_BYTES,
    ) -> None:
        self.db = db
        self.indexes = indexes
        self.ocr = ocr or Tesseract()
        self.max_bytes = max_bytes
        self._queue: asyncio.Queue[PictureJob] = asyncio.Queue(queue_size)
        self._workers = workers
        # Readings under way, by file: a copy arriving meanwhile waits for its result. None
        # says the reading failed and the copy should read the file itself.
        self._reading: dict[str, asyncio.Future[PictureReading | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Decoding and hashing are CPU work in Pillow and numpy: off the loop, bounded.
        self._cpu = ThreadPoolExecutor(max_workers=self.ocr.concurrency, thread_name_prefix="pic")

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._work(), name=f"picture-reader-{n}")
                for n in range(self._workers)
            ]

    async def stop(self, *, grace: float = 10.0) -> None:
        """Finish the queued pictures for up to ``grace`` seconds, then stop reading; any
        still queued stay ``reading`` in the database (docs/IMAGES.md)."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._cpu.shutdown(wait=False, cancel_futures=True)

    async def take(self, job: PictureJob) -> bool:
        """File a picture this tip line has read before at once; queue any other.

        A viral picture is forwarded thousands of times as the very same file, and reading
        it costs seconds of Tesseract: it is read once, and each later forward is filed (and
        answered, if it waits) from that reading, without waiting behind the pictures still
        queued. False when the queue is full (the caller files the picture unread).
        """
        file = job.file_unique_id
        if file is not None and file not in self._reading:
            try:
                earlier = await self._earlier_reading(file, job.tip_id)
                if earlier is not None:
                    await self._file(job, earlier)
                    return True
            except Exception:
                log.exception("filing tip %s by an earlier reading failed", job.tip_id)
        return self.submit(job)

    def submit(self, job: PictureJob) -> bool:
        """Queue a picture; False when the queue is full (the caller files it unread)."""
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            return False
        return True

    async def join(self) -> None:
        """Wait until every queued picture is done (tests and benchmarks)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self.process(job)
            except Exception:
                log.exception("reading the picture of tip %s failed", job.tip_id)
                await self._file_unread(job)
            finally:
                self._queue.task_done()

    async def process(self, job: PictureJob) -> IntakeResult | None:
        """Download, open, hash and read one picture (unless the same file was read before),
        file its tip, answer if there is news."""
        return await self._file(job, await self._read_once(job))

    async def _read_once(self, job: PictureJob) -> PictureReading:
        """The reading of the job's file: an earlier one, the one under way, or a new one."""
        file = job.file_unique_id
        if file is None:
            return await self.read(job)
        under_way = self._reading.get(file)
        if under_way is not None:
            reading = await asyncio.shield(under_way)
            return reading if reading is not None else await self.read(job)
        under_way = self._reading[file] = asyncio.get_running_loop().create_future()
        reading = None
        try:
            reading = await self._earlier_reading(file, job.tip_id) or await self.read(job)
        finally:
            under_way.set_result(reading)
            del self._reading[file]
        return reading

    async def _earlier_reading(self, file: str, tip_id: int) -> PictureReading | None:
        """What reading this file for another tip found, unless OCR did not run then and can
        now: a reading is reused only where reading again would not find more."""
        async with self.db.session() as session:
            earlier = await pictures.earlier_reading(session, file, excluding_tip_id=tip_id)
        if earlier is None or (earlier.ocr_text is None and self.ocr.available):
            return None
        return PictureReading(
            ocr_text=earlier.ocr_text or "",
            picture_hash=earlier.image_hash,
            ocr_ran=earlier.ocr_text is not None,
        )

    async def _file(self, job: PictureJob, reading: PictureReading) -> IntakeResult | None:
        result = await receive_picture(self.db, self.indexes, job.tip_id, reading)
        if result is not None:
            await job.reply(result)
            await mark_reply_sent(self.db, job.tip_id)
        return result

    async def _file_unread(self, job: PictureJob) -> None:
        """A picture that could not be read (Telegram down, a bug) is still filed and
        answered, by its file id alone, rather than left without a reply."""
        try:
            result = await receive_picture(self.db, self.indexes, job.tip_id, PictureReading())
            if result is not None:
                await job.reply(result)
                await mark_reply_sent(self.db, job.tip_id)
        except Exception:
            log.exception("filing the unread picture of tip %s failed", job.tip_id)

    async def read(self, job: PictureJob) -> PictureReading:
        try:
            content = await job.download(self.max_bytes)
            loop = asyncio.get_running_loop()
            opened = await loop.run_in_executor(
                self._cpu, functools.partial(open_picture, content, max_bytes=self.max_bytes)
            )
        except PictureRefusedError as exc:
            log.info("picture of tip %s refused: %s (%s)", job.tip_id, exc.reason, exc)
            return PictureReading(refused=exc.reason)
        try:
            text = await self._ocr(opened.ocr_png, job)
        except (OCRUnavailableError, TimeoutError, OSError) as exc:
            log.warning("no OCR for tip %s: %s", job.tip_id, type(exc).__name__)
            return PictureReading(picture_hash=opened.hash.hex(), ocr_ran=False)
        return PictureReading(ocr_text=text, picture_hash=opened.hash.hex())

    async def _ocr(self, png: bytes, job: PictureJob) -> str:
        """Read with the sender's (and the caption's) languages first; only when that reads
        poorly, ask Tesseract which script the picture is in and read again with its
        languages. Script detection costs as much as a reading, and most people forward
        pictures in their own language."""
        installed = await self.ocr.installed_languages()
        seen = script_of(job.caption)
        first = ocr_languages(
            sender_language=job.language_code, scripts=(seen,) if seen else (), installed=installed
        )
        text, confident = await self.ocr.read(png, first)
        if confident >= _OCR_CONFIDENT_SHARE:
            return text
        scripts = await self.ocr.scripts(png)
        second = ocr_languages(
            sender_language=job.language_code, scripts=scripts, installed=installed
        )
        if not scripts or set(second) == set(first):
            return text
        again, _ = await self.ocr.read(png, second)
        return again if len(again) > len(text) else text


async def hash_fact_check_images(
    db: Database, fact_check_ids: list[int], *, fetcher: Fetcher
) -> int:
    """Fetch and hash the pictures these fact-checks debunk; returns how many were hashed.

    A picture that cannot be fetched or opened costs the fact-check nothing but its picture
    match: it is logged, and its text still matches as before.
    """
    async with db.session() as session:
        targets = await pictures.fact_checks_with_images(session, fact_check_ids)
    hashed = 0
    for fact_check_id, url in targets:
        image_hash: str | None = None
        if url:
            try:
                document = await fetcher.fetch(url)
                opened = await asyncio.to_thread(open_picture, document.body)
            except (FetchError, PictureRefusedError) as exc:
                # Keep what an earlier import hashed: the picture may be back next time.
                log.warning("picture of fact-check %s not hashed: %s", fact_check_id, exc)
                continue
            image_hash = opened.hash.hex()
            hashed += 1
        async with db.session() as session:
            await pictures.set_fact_check_image_hash(session, fact_check_id, image_hash)
    return hashed


async def pictures_left_unread(db: Database, *, received_before: datetime) -> list[UnreadPicture]:
    """Pictures nobody read because a worker stopped first (received before this one started:
    anything newer may be in another live worker's queue)."""
    async with db.session() as session:
        return await pictures.unread_pictures(session, received_before=received_before)
