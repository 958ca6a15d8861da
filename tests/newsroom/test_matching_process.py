"""The matching indexes held in a process of their own (``tipline run``'s default)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from processes import ended_within

from matching import Encoder, detect_language
from newsroom.factchecks import FactCheckRecord, import_records
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IncomingTip, IntakePolicy, receive_tip
from storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]

DAM = "The Kakhovka dam has been blown up again and the city will flood tonight"
DAM_DE = "Der Kachowka-Staudamm wurde erneut gesprengt, heute Nacht wird die Stadt überflutet"
BANKS = "All Sparkasse branches close on Monday for two weeks, withdraw your money now!"
BANKS_DE = "Ab Montag schließen alle Sparkassen für zwei Wochen, hebt jetzt euer Geld ab!"
TIPS = [DAM, DAM_DE, "Is it true the dam was blown up again?", BANKS, "Cats can vote now"]


@pytest.fixture
async def fact_checked(database: Database) -> Database:
    records = [
        FactCheckRecord(
            url="https://example.org/check/dam",
            claim_reviewed=DAM,
            headline="No, the dam was not blown up again",
            rating="false",
            language="en",
        ),
        *(
            FactCheckRecord(
                url=f"https://example.org/check/{n}",
                claim_reviewed=f"Claim number {n} about the town hall",
                rating="false",
            )
            for n in range(20)
        ),
    ]
    await import_records(database, records, source="test")
    return database


@pytest.fixture
async def in_process(fact_checked: Database, encoder: Encoder) -> AsyncIterator[MatchingIndexes]:
    indexes = MatchingIndexes(encoder, own_process=True)
    await indexes.refresh(fact_checked)
    yield indexes
    indexes.close()


def _tip(user_id: int, text: str) -> IncomingTip:
    return IncomingTip(telegram_user_id=user_id, chat_id=user_id, message_id=1, text=text)


def _matching_process() -> multiprocessing.Process:
    [process] = multiprocessing.active_children()
    return process


async def test_the_matching_process_matches_as_the_thread_does(
    fact_checked: Database, encoder: Encoder, in_process: MatchingIndexes
) -> None:
    on_thread = MatchingIndexes(encoder)
    await on_thread.refresh(fact_checked)
    assert _matching_process().pid != os.getpid()
    try:
        assert await in_process.sizes() == await on_thread.sizes() == (21, 0)
        for text in TIPS:
            here, there = await on_thread.match(text, "en"), await in_process.match(text, "en")
            assert there.fact_checks == here.fact_checks
            assert np.array_equal(there.vector, here.vector)
            assert there.encoder_name == "usem3"
        dam = await in_process.match(f"BREAKING: {DAM}!!", "en")
        assert dam.fact_checks[0].decision == "reply"
    finally:
        on_thread.close()


async def test_tips_are_filed_and_answered_through_the_matching_process(
    fact_checked: Database, in_process: MatchingIndexes
) -> None:
    answered = await receive_tip(
        fact_checked, in_process, _tip(1, f"BREAKING: {DAM}!!"), IntakePolicy()
    )
    assert answered.kind == "verdict"

    first = await receive_tip(fact_checked, in_process, _tip(2, BANKS), IntakePolicy())
    assert first.kind == "queued"
    assert await in_process.sizes() == (21, 1)  # the new claim is in the process's index
    again = await receive_tip(fact_checked, in_process, _tip(3, BANKS_DE), IntakePolicy())
    assert again.claim_id == first.claim_id  # its translation joins it


async def test_a_killed_matching_process_is_restarted_and_reloaded_before_it_answers(
    fact_checked: Database, in_process: MatchingIndexes, caplog: pytest.LogCaptureFixture
) -> None:
    queued = await receive_tip(fact_checked, in_process, _tip(1, BANKS), IntakePolicy())
    before = await in_process.match(DAM_DE, "de")
    killed = _matching_process()
    os.kill(killed.pid or 0, signal.SIGKILL)
    killed.join(timeout=10)

    with caplog.at_level("ERROR", logger="newsroom.indexes"):
        after = await in_process.match(DAM_DE, "de")
    assert "the matching process died" in caplog.text
    assert _matching_process().pid != killed.pid
    assert after.fact_checks == before.fact_checks  # not matched against an empty index
    assert await in_process.sizes() == (21, 1)
    again = await receive_tip(fact_checked, in_process, _tip(2, BANKS_DE), IntakePolicy())
    assert again.claim_id == queued.claim_id  # the claim filed before the crash was reloaded


KILLED_WORKER = """
import asyncio, multiprocessing, os, signal, sys
from pathlib import Path
from matching import HashingEncoder
from newsroom.indexes import MatchingIndexes

async def main():
    indexes = MatchingIndexes(HashingEncoder(), own_process=True)
    await indexes.warm_up()
    [process] = multiprocessing.active_children()
    Path(sys.argv[1]).write_text(str(process.pid))
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


async def test_the_matching_process_exits_when_its_worker_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "matching.pid"
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_WORKER, str(pid_file), cwd=ROOT, stdout=subprocess.DEVNULL
    )
    assert await asyncio.wait_for(worker.wait(), timeout=60) == -signal.SIGKILL
    orphan = int(pid_file.read_text())
    if not ended_within(orphan, 10):
        os.kill(orphan, signal.SIGKILL)
        raise AssertionError(f"the matching process {orphan} outlived its worker")


async def test_the_matching_process_detects_languages_as_the_worker_would(
    in_process: MatchingIndexes,
) -> None:
    posts = [
        (DAM_DE, None),
        ("Правительство тайно закрывает все банки страны в понедельник, снимайте деньги", None),
        ("Уряд таємно закриває всі банки країни в понеділок, знімайте гроші негайно", None),
        ("الحكومة تغلق جميع البنوك يوم الاثنين، اسحبوا أموالكم الآن قبل فوات الأوان", None),
        ("El gobierno cierra todos los bancos el lunes, retiren su dinero ahora mismo", "en"),
        ("Hükümet pazartesi günü bütün bankaları kapatıyor, paranızı hemen çekin", None),
        ("ok ok ok", "pt-BR"),
    ]
    detected = [await in_process.detect_language(text, fallback) for text, fallback in posts]
    assert detected == [detect_language(text, fallback) for text, fallback in posts]
    assert detected == ["de", "ru", "uk", "ar", "es", "tr", "pt"]
