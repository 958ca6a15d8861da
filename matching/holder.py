"""The two indexes of a worker (fact-checks, open claims) and every operation on them.

Held on a thread of the worker, or in a matching process of its own (``MatchingProcess``).
This module is all that process imports (numpy and the encoder, not the database stack), and
both ends of the pipes between the worker and it are here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import multiprocessing
import os
import pickle
import signal
import struct
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from matching.encoder import Encoder, load_encoder
from matching.language import detect_language
from matching.matcher import Candidate, Document, Matcher, Thresholds

__all__ = ["IndexHolder", "Matches", "MatchingProcess", "MatchingProcessDiedError"]

_NEWER_CLAIMS_KEPT = 4096  # a forward matched before that many more claims searches them all
# What a tip's filing asks of the claim index, holding the filing lock every new rumour's
# forward queues on: the matching process runs these before the reads asked for earlier.
FILING_OPERATIONS = frozenset({"search_claims_again", "apply_claims"})
# Texts detected and about to be matched whose fact-checks the matching process searches while
# it has nothing else to do (``IndexHolder.look_ahead``); older ones are forgotten.
_LOOK_AHEAD = 16


@dataclass(frozen=True)
class Matches:
    """What the indexes say about one tip."""

    claims: list[Candidate]
    fact_checks: list[Candidate]
    vector: np.ndarray
    encoder_name: str
    # The newest claim the claim index held when it was searched: a claim indexed after that
    # is searched again before the tip is filed (``search_claims_again``).
    claims_up_to: int = 0


class IndexHolder:
    """The fact-check and open-claim matchers, and every operation on them, in plain calls.

    It lives wherever the indexes do: on a worker's matching thread, or in its matching
    process (``newsroom.indexes.MatchingIndexes``). Arguments and results are plain data
    (documents, ids, texts, vectors), so that either way they can cross over.
    """

    def __init__(
        self,
        encoder: Encoder,
        fact_check_thresholds: Thresholds,
        claim_thresholds: Thresholds,
        vector_dtype: type,
    ) -> None:
        self.encoder = encoder
        self.fact_checks = Matcher(encoder, fact_check_thresholds, dtype=vector_dtype)
        self.claims = Matcher(encoder, claim_thresholds, dtype=vector_dtype)
        self.newest_claim_id = 0
        # The latest claims indexed with a greater id than any before, in ascending order.
        self._newer_claim_ids: deque[int] = deque(maxlen=_NEWER_CLAIMS_KEPT)
        # Forwards repeat word for word: encode each text once (4,096 vectors are 8 MB).
        self._embed_query = functools.lru_cache(maxsize=4096)(self._embed_read_only)
        # And search the fact-checks once per text, until they change: forwards of a rumour
        # no one has checked yet are matched each time, as a fact-check may have come since.
        self._fact_checks_for = functools.lru_cache(maxsize=4096)(self._search_fact_checks)
        # Each text, its language and top_k, for look_ahead.
        self.ahead: deque[tuple[str, str, int]] = deque(maxlen=_LOOK_AHEAD)

    def _search_fact_checks(
        self, text: str, language: str | None, top_k: int
    ) -> tuple[Candidate, ...]:
        vector = self._embed_query(text)
        return tuple(self.fact_checks.search(text, lang=language, vector=vector, top_k=top_k))

    def _embed_read_only(self, text: str) -> np.ndarray:
        vector = self.fact_checks.embed_query(text)
        vector.flags.writeable = False  # shared by every tip with this text
        return vector

    def warm_up(self) -> None:
        self.encoder.encode(["Loading the sentence encoder."])
        detect_language("Loading the language profiles before the first tip comes in.")

    def detect_language(
        self, text: str, fallback: str | None, then_match: tuple[str, int] | None = None
    ) -> str:
        """The text's language; ``then_match`` is the text and top_k of the match that will
        follow, for :meth:`look_ahead`."""
        language = detect_language(text, fallback)
        if then_match is not None:
            self.ahead.append((then_match[0], language, then_match[1]))
        return language

    def look_ahead(self) -> None:
        """Search the fact-checks for the latest text detected and not yet matched.

        Between a tip's language and its match the worker records it in the database: an
        idle matching process spends that time on the match's larger half, which the match
        then finds done (the searches are kept until the fact-checks change). The newest
        text goes first: an older one's match is likelier to have come already.
        """
        text, language, top_k = self.ahead.pop()
        self._fact_checks_for(text, language, top_k)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def sizes(self) -> tuple[int, int]:
        return len(self.fact_checks), len(self.claims)

    def match(self, text: str, language: str | None, top_k: int) -> Matches:
        vector = self._embed_query(text)
        return Matches(
            claims=self.claims.search(text, lang=language, vector=vector, top_k=top_k),
            fact_checks=list(self._fact_checks_for(text, language, top_k)),
            vector=vector,
            encoder_name=self.encoder.name,
            claims_up_to=self.newest_claim_id,
        )

    def search_claims_again(self, matches: Matches, text: str, language: str | None) -> Matches:
        """``matches`` with the claims indexed since it was made, and those it found, scored
        as a search would score them now.

        Under a burst nearly every new rumour's forward comes here, as other forwards found
        claims while it waited: scoring a few claims costs a fraction of searching them all.
        The earlier ones are scored again too, since each new claim moves the index's IDFs.
        """
        newer = self._claims_after(matches.claims_up_to)
        if newer is None:
            found = self.claims.search(text, lang=language, vector=matches.vector, top_k=5)
        else:
            earlier = [candidate.id for candidate in matches.claims]
            scored = self.claims.score(text, earlier + newer, lang=language, vector=matches.vector)
            found = scored[:5]
        return dataclasses.replace(matches, claims=found, claims_up_to=self.newest_claim_id)

    def _claims_after(self, claim_id: int) -> list[int] | None:
        """The claims indexed with an id above ``claim_id``; None if too many to remember."""
        newer = []
        for newer_id in reversed(self._newer_claim_ids):
            if newer_id <= claim_id:
                return newer
            newer.append(newer_id)
        return None if len(newer) == _NEWER_CLAIMS_KEPT else newer

    def search_fact_checks(self, text: str, top_k: int) -> list[Candidate]:
        return self.fact_checks.search(text, top_k=top_k)

    def claims_answered_by(
        self, text: str, language: str | None, vector: np.ndarray | None, top_k: int
    ) -> list[Candidate]:
        candidates = self.claims.search(text, lang=language, vector=vector, top_k=top_k)
        reply = self.fact_checks.thresholds.reply
        return [candidate for candidate in candidates if candidate.score >= reply]

    def add_fact_checks(self, documents: list[Document]) -> None:
        self.fact_checks.add(documents)
        self._fact_checks_for.cache_clear()

    def apply_claims(self, open_claims: list[Document], closed_ids: list[int]) -> None:
        """Index open claims and drop closed ones (an id of either kind may be new here)."""
        ids = sorted(int(doc.id) for doc in open_claims)
        self._newer_claim_ids.extend(i for i in ids if i > self.newest_claim_id)
        self.newest_claim_id = max([self.newest_claim_id, *ids, *closed_ids])
        for claim_id in closed_ids:
            self.claims.remove(claim_id)
        self.claims.add(open_claims)


class MatchingProcessDiedError(Exception):
    """The matching process ended (killed, out of memory) before it answered."""


# A message on either pipe: its length, then its pickle (multiprocessing.Connection's framing).
_LENGTH = struct.Struct("!i")
_LONG_LENGTH = struct.Struct("!Q")  # after a length of -1, for a message of 2 GB or more


_Call = tuple[int, str, tuple[Any, ...]]  # a call's number, the operation, its arguments


def _framed(payload: bytes) -> bytes:
    if len(payload) > 0x7FFFFFFF:
        return _LENGTH.pack(-1) + _LONG_LENGTH.pack(len(payload)) + payload
    return _LENGTH.pack(len(payload)) + payload


def _file_of(pipe: Connection, mode: str) -> Any:
    """The pipe as an unbuffered file, for the event loop's transports; ``pipe`` is closed."""
    file = os.fdopen(os.dup(pipe.fileno()), f"{mode}b", buffering=0)
    pipe.close()
    return file


class MatchingProcess(asyncio.Protocol):
    """An :class:`IndexHolder` in a process of its own, and the worker's end of the pipes to it.

    Calls go down one pipe, numbered, and their results come back up another: the process
    answers one at a time, in order, except that a filing's operations go before the reads
    waiting (``FILING_OPERATIONS``). The event loop writes a call and reads a result itself.
    A ``ProcessPoolExecutor`` carried each call on two helper threads of the worker, at
    0.42-0.73 ms of its CPU a call, most of it in those threads and holding the interpreter
    lock the loop needs (docs/BENCHMARKS.md, issue 10).
    """

    def __init__(self, *holder_args: object) -> None:
        context = multiprocessing.get_context("spawn")
        calls_read, calls_write = context.Pipe(duplex=False)
        results_read, results_write = context.Pipe(duplex=False)
        self.process = context.Process(
            target=serve, args=(calls_read, results_write, *holder_args), name="matching"
        )
        self.process.daemon = True  # ended with the worker, should anything keep it waiting
        self.process.start()
        calls_read.close()  # the process's ends: it alone must hold them, to see the worker go
        results_write.close()
        self._pipes = (calls_write, results_read)
        self._opened: asyncio.Future[None] | None = None
        self._calls: asyncio.WriteTransport | None = None
        self._unsent: list[bytes] = []  # calls sent while the pipes were being opened
        self._numbers = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._received = bytearray()
        self._ended = False

    async def call(self, operation: str, *args: object) -> Any:
        """``IndexHolder.<operation>(*args)`` in the process."""
        return await self.send(operation, *args)

    def send(self, operation: str, *args: object) -> asyncio.Future[Any]:
        """Ask for ``IndexHolder.<operation>(*args)`` now: the future gets its result.

        The process takes calls in the order they were sent, so a caller can let others go
        on as soon as its call is sent (``newsroom.intake``'s filing lock does).
        """
        answered = asyncio.get_running_loop().create_future()
        if self._ended:
            answered.set_exception(MatchingProcessDiedError(operation))
            return answered
        if self._opened is None:
            self._opened = asyncio.ensure_future(self._open())
        number = next(self._numbers)
        self._waiting[number] = answered
        call = _framed(pickle.dumps((number, operation, args), pickle.HIGHEST_PROTOCOL))
        if self._calls is None:
            self._unsent.append(call)
        else:
            self._calls.write(call)
        return answered

    async def _open(self) -> None:
        """The loop's own reading and writing of the pipes; writes never block it."""
        loop = asyncio.get_running_loop()
        calls_write, results_read = self._pipes
        try:
            await loop.connect_read_pipe(lambda: self, _file_of(results_read, "r"))
            calls, _ = await loop.connect_write_pipe(
                asyncio.BaseProtocol, _file_of(calls_write, "w")
            )
        except Exception as error:  # closed while opening: every call waiting fails
            self.connection_lost(error)
            return
        if self._ended:
            calls.close()
            return
        calls.writelines(self._unsent)
        self._unsent.clear()
        self._calls = calls

    def data_received(self, data: bytes) -> None:
        self._received += data
        while (message := self._next_message()) is not None:
            number, succeeded, value = pickle.loads(message)  # noqa: S301 (from our own child)
            answered = self._waiting.pop(number)
            if answered.done():  # its caller gave up waiting
                continue
            if succeeded:
                answered.set_result(value)
            else:
                answered.set_exception(value)

    def _next_message(self) -> bytes | None:
        if len(self._received) < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack_from(self._received)
        start = _LENGTH.size
        if length == -1:
            if len(self._received) < start + _LONG_LENGTH.size:
                return None
            (length,) = _LONG_LENGTH.unpack_from(self._received, start)
            start += _LONG_LENGTH.size
        if len(self._received) < start + length:
            return None
        message = bytes(self._received[start : start + length])
        del self._received[: start + length]
        return message

    def connection_lost(self, exc: Exception | None) -> None:
        """The process is gone (or closed): every call still waiting fails."""
        self._ended = True
        for answered in self._waiting.values():
            if not answered.done():
                answered.set_exception(MatchingProcessDiedError(self.process.pid))
        self._waiting.clear()

    def close(self) -> None:
        """End the process now: it holds nothing that outlives it."""
        self._ended = True
        if self._calls is not None:
            self._calls.close()
        for pipe in self._pipes:  # not yet handed to the loop
            pipe.close()
        self.process.terminate()
        self.process.join()


def serve(
    calls: Connection,
    results: Connection,
    encoder_name: str,
    fact_check_thresholds: Thresholds,
    claim_thresholds: Thresholds,
    vector_dtype: type,
) -> None:
    """The matching process: answer the worker's calls until the worker goes.

    Calls are answered in order, but a filing's operations on the claim index go before the
    calls that came earlier and still wait. A filing holds the worker's filing lock, which
    every new rumour's forward waits on, while a match takes several milliseconds: under a
    burst, waiting behind the matches queued here kept that lock held most of the time
    (docs/BENCHMARKS.md, issue 10). A match records how far the claim index had got
    (``Matches.claims_up_to``), so a claim indexed before it is never missed. While no call
    waits, it searches ahead for the texts just detected (``IndexHolder.look_ahead``).

    A worker that stops or is killed closes its end of the calls pipe: the indexes go with
    it rather than linger, orphaned.
    """
    # This process does nothing else: an interrupt is for the worker, who closes the pipes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    holder = IndexHolder(
        load_encoder(encoder_name), fact_check_thresholds, claim_thresholds, vector_dtype
    )
    waiting: deque[_Call] = deque()
    while True:
        try:
            if not waiting and holder.ahead and not calls.poll():
                holder.look_ahead()  # only while no call waits
                continue
            if not waiting:
                waiting.append(calls.recv())
            while calls.poll():
                waiting.append(calls.recv())
        except EOFError:
            return
        number, operation, args = _next_call(waiting)
        try:
            outcome: tuple[int, bool, object] = (number, True, getattr(holder, operation)(*args))
        except Exception as error:
            outcome = (number, False, error)
        try:
            results.send(outcome)
        except BrokenPipeError:
            return
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            results.send((number, False, RuntimeError(f"{operation}: {error!r}")))


def _next_call(waiting: deque[_Call]) -> _Call:
    """The first filing operation waiting, else the first call."""
    for position, (_, operation, _) in enumerate(waiting):
        if operation in FILING_OPERATIONS:
            call = waiting[position]
            del waiting[position]
            return call
    return waiting.popleft()
