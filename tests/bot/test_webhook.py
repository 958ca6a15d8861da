"""The webhook endpoint: only Telegram's signed, well-formed updates are recorded, each once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select
from telegram.ext import Application

from bot.updates import UpdatePipeline
from bot.webhook import MAX_UPDATE_BYTES, SECRET_HEADER, WEBHOOK_PATH, add_webhook_route
from storage.db import Database
from storage.models import InboundUpdate

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "s3cret-token_value"
SIGNED = {SECRET_HEADER: SECRET}


def _message(update_id: int, text: str = "Schools close tomorrow") -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_732_000_000,
            "chat": {"id": 77, "type": "private"},
            "from": {"id": 77, "is_bot": False, "first_name": "A"},
            "text": text,
        },
    }


async def _client(db: Database) -> TestClient:
    application = Application.builder().token("123456:TEST").updater(None).build()
    app = web.Application()
    add_webhook_route(app, UpdatePipeline(application, db), SECRET)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest_asyncio.fixture(loop_scope="session")
async def webhook(database: Database) -> AsyncIterator[TestClient]:
    client = await _client(database)
    yield client
    await client.close()


async def _recorded(db: Database) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(InboundUpdate))).one()


async def test_a_signed_update_is_recorded_once_however_often_delivered(
    webhook: TestClient, database: Database
) -> None:
    for _ in range(3):
        response = await webhook.post(WEBHOOK_PATH, json=_message(1), headers=SIGNED)
        assert response.status == 200
    assert await _recorded(database) == 1


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET[:-1]}])
async def test_a_forged_update_is_refused(
    webhook: TestClient, database: Database, headers: dict[str, str]
) -> None:
    response = await webhook.post(WEBHOOK_PATH, json=_message(2), headers=headers)
    assert response.status == 401
    assert await _recorded(database) == 0


async def test_an_oversized_body_is_refused(webhook: TestClient, database: Database) -> None:
    huge = _message(3, text="x" * MAX_UPDATE_BYTES)
    response = await webhook.post(WEBHOOK_PATH, json=huge, headers=SIGNED)
    assert response.status == 413
    assert await _recorded(database) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b'{"update_id": "7"}',
        b'{"update_id": -1}',
        b'{"update_id": true}',
        b'{"update_id": 99999999999999999999999}',
        b'{"update_id": 8, "message": "text"}',
        b'{"update_id": 9, "message": {"chat": 5}}',
        json.dumps(_message(10))[:-7].encode(),
    ],
)
async def test_malformed_bodies_are_refused_and_nothing_is_written(
    webhook: TestClient, database: Database, body: bytes
) -> None:
    response = await webhook.post(WEBHOOK_PATH, data=body, headers=SIGNED)
    assert response.status == 400
    assert await _recorded(database) == 0


async def test_database_outage_answers_503_so_telegram_retries() -> None:
    unreachable = Database("postgresql+asyncpg://nobody@127.0.0.1:9/none", pool_pre_ping=False)
    client = await _client(unreachable)
    try:
        response = await client.post(WEBHOOK_PATH, json=_message(11), headers=SIGNED)
        assert response.status == 503
    finally:
        await client.close()
        await unreachable.dispose()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_update_like = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=-5, max_value=2**64)},
    optional={
        "message": _json | st.fixed_dictionaries({"chat": _json, "text": _json, "date": _json}),
        "callback_query": _json,
        "inline_query": _json,
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=_update_like.map(json.dumps).map(str.encode) | st.binary(max_size=200))
async def test_fuzzed_bodies_never_cause_a_server_error(body: bytes, sqlite_url: str) -> None:
    database = Database(sqlite_url)
    client = await _client(database)
    try:
        before = await _recorded(database)
        response = await client.post(WEBHOOK_PATH, data=body, headers=SIGNED)
        assert response.status in (200, 400)
        if response.status == 400:
            assert await _recorded(database) == before
    finally:
        await client.close()
        await database.dispose()
