"""The Bot API emulator is as strict as Telegram where our bugs would hide."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter

from bot.emulator import BotAPIEmulator, HTMLParseError, parse_html


@pytest_asyncio.fixture(loop_scope="session")
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    async with Bot(
        emulator.token, base_url=emulator.base_url, base_file_url=emulator.base_file_url
    ) as telegram_bot:
        yield telegram_bot


async def _api(emulator: BotAPIEmulator, method: str, **params: object) -> dict:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emulator.base_url}{emulator.token}/{method}", json=params) as response,
    ):
        return await response.json()


def test_html_becomes_plain_text_and_entities() -> None:
    text, entities = parse_html(
        '<b>Bold</b> <a href="https://example.org/a?b=1&amp;c=2">link</a> &lt;3 &amp; &nbsp;'
    )
    assert text == "Bold link <3 & &nbsp;"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "text_link", "offset": 5, "length": 4, "url": "https://example.org/a?b=1&c=2"},
    ]


def test_entity_offsets_count_utf16_code_units() -> None:
    text, entities = parse_html("🙂 <i>after the emoji</i>")
    assert text == "🙂 after the emoji"
    assert entities == [{"type": "italic", "offset": 3, "length": 15}]


def test_nested_tags_and_a_pre_block_with_a_language() -> None:
    text, entities = parse_html('<b>a <i>b</i></b><pre><code class="language-py">x</code></pre>')
    assert text == "a bx"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 3},
        {"type": "italic", "offset": 2, "length": 1},
        {"type": "pre", "offset": 3, "length": 1, "language": "py"},
    ]


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("Ünïcode <b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("price < 5", 'Unsupported start tag "" at byte offset 6'),
        ("</b>", "Unexpected end tag at byte offset 0"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
def test_malformed_html_is_refused_with_telegrams_reason(html: str, reason: str) -> None:
    with pytest.raises(HTMLParseError) as raised:
        parse_html(html)
    assert str(raised.value) == reason


def test_links_telegram_would_not_open_are_dropped_but_their_text_kept() -> None:
    text, entities = parse_html('<a href="javascript:alert(1)">click</a>')
    assert (text, entities) == ("click", [])


async def test_bad_html_from_the_bot_is_a_400_and_nothing_is_sent(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    with pytest.raises(BadRequest, match="Can't parse entities: unsupported start tag"):
        await bot.send_message(42, "Hello <unescaped> world", parse_mode="HTML")
    assert emulator.sent_messages(42) == []
    [call] = emulator.calls[-1:]
    assert (call.method, call.ok) == ("sendMessage", False)


async def test_sent_html_is_stored_as_telegram_shows_it(bot: Bot, emulator: BotAPIEmulator) -> None:
    sent = await bot.send_message(
        42, "<b>False</b>\nsee https://example.org/x and /help", parse_mode="HTML"
    )
    [message] = emulator.sent_messages(42)
    assert message["text"] == sent.text == "False\nsee https://example.org/x and /help"
    assert message["text_html"] == "<b>False</b>\nsee https://example.org/x and /help"
    assert [e["type"] for e in message["entities"]] == ["bold", "url", "bot_command"]


async def test_messages_over_4096_characters_are_refused(bot: Bot) -> None:
    await bot.send_message(42, "x" * 4096)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(42, "x" * 4097)
    # escaping counts after parsing: 4096 "&lt;" are 4096 characters
    await bot.send_message(42, "&lt;" * 4096, parse_mode="HTML")


async def test_callback_data_over_64_bytes_is_refused(bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="y" * 65)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(42, "Question?", reply_markup=markup)


async def test_fail_next_answers_with_retry_after_then_recovers(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    emulator.fail_next(
        "sendMessage", error_code=429, description="Too Many Requests: retry after 7", retry_after=7
    )
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(42, "first try")
    assert "Retry in 7 seconds" in raised.value.message
    await bot.send_message(42, "second try")
    assert [m["text"] for m in emulator.sent_messages(42)] == ["second try"]


async def test_fail_next_can_target_one_chat_several_times(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    emulator.fail_next(
        "sendMessage", error_code=400, description="Bad Request: chat not found", chat_id=7, times=2
    )
    await bot.send_message(8, "other chat is fine")
    for _ in range(2):
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(7, "hello")
    await bot.send_message(7, "third time works")
    assert len(emulator.sent_messages(7)) == 1


async def test_a_blocked_user_answers_403_forever(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.block(9)
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(9, "are you there?")
    assert emulator.sent_messages(9) == []


async def test_get_updates_redelivers_until_acknowledged_by_offset(
    emulator: BotAPIEmulator,
) -> None:
    first = emulator.push_update(emulator.private_message(1, "one"))
    second = emulator.push_update(emulator.private_message(1, "two"))
    delivered = await _api(emulator, "getUpdates")
    assert [u["update_id"] for u in delivered["result"]] == [
        first["update_id"],
        second["update_id"],
    ]
    again = await _api(emulator, "getUpdates", offset=first["update_id"] + 1)
    assert [u["update_id"] for u in again["result"]] == [second["update_id"]]
    empty = await _api(emulator, "getUpdates", offset=second["update_id"] + 1, timeout=0)
    assert empty == {"ok": True, "result": []}


async def test_long_polling_returns_as_soon_as_an_update_arrives(
    emulator: BotAPIEmulator,
) -> None:
    poll = asyncio.create_task(_api(emulator, "getUpdates", timeout=30))
    while not emulator.long_polls_waiting:  # noqa: ASYNC110 (a counter, not an event)
        await asyncio.sleep(0.01)
    assert not poll.done()
    pushed = emulator.push_update(emulator.private_message(2, "hello"))
    answer = await asyncio.wait_for(poll, 10)
    assert [u["update_id"] for u in answer["result"]] == [pushed["update_id"]]


async def test_get_updates_conflicts_with_an_active_webhook(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    await bot.set_webhook("https://tipline.example/telegram/webhook", secret_token="s3cret")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert (await bot.get_webhook_info()).url == "https://tipline.example/telegram/webhook"
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


async def test_edits_apply_in_place_and_an_identical_edit_is_refused(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="match:yes:1")]])
    sent = await bot.send_message(42, "Is this it?", reply_markup=markup)
    await bot.edit_message_text("<i>Thanks</i>", 42, sent.message_id, parse_mode="HTML")
    [message] = emulator.sent_messages(42)
    assert (message["text"], message["entities"][0]["type"]) == ("Thanks", "italic")
    assert "reply_markup" not in message  # an edit without a keyboard removes it
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("<i>Thanks</i>", 42, sent.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", 42, 999)


async def test_callback_queries_can_be_answered_once(bot: Bot, emulator: BotAPIEmulator) -> None:
    sent = await bot.send_message(42, "Question?")
    update = emulator.push_update(
        emulator.callback_query(42, emulator.sent_messages(42)[-1], "match:yes:1")
    )
    assert sent.message_id == update["callback_query"]["message"]["message_id"]
    query_id = update["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id)
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query_id)


async def test_photos_can_be_downloaded_with_get_file(bot: Bot, emulator: BotAPIEmulator) -> None:
    picture = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10
    update = emulator.private_message(3, kind="photo", caption="look", file=picture)
    largest = update["message"]["photo"][-1]
    telegram_file = await bot.get_file(largest["file_id"])
    assert telegram_file.file_unique_id == largest["file_unique_id"]
    assert bytes(await telegram_file.download_as_bytearray()) == picture


async def test_incoming_commands_and_mentions_carry_entities(emulator: BotAPIEmulator) -> None:
    message = emulator.group_message(-100123, 5, "/check@tipline_test_bot please @someone")[
        "message"
    ]
    assert [(e["type"], e["offset"], e["length"]) for e in message["entities"]] == [
        ("bot_command", 0, 23),
        ("mention", 31, 8),
    ]


async def test_unknown_methods_and_tokens_are_refused(emulator: BotAPIEmulator) -> None:
    assert (await _api(emulator, "sendCarrierPigeon"))["error_code"] == 404
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emulator.base_url}1:wrong/getMe") as response,
    ):
        assert response.status == 401


async def test_the_sandbox_page_is_served_with_a_strict_content_policy(
    emulator: BotAPIEmulator,
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(emulator.sandbox_url) as page:
            assert page.status == 200
            assert "script-src 'self'" in page.headers["Content-Security-Policy"]
            body = await page.text()
        assert '<script src="sandbox.js"' in body
        assert "<script>" not in body
        async with session.get(emulator.sandbox_url + "sandbox.js") as script:
            assert script.status == 200


async def test_the_sandbox_page_sends_as_a_member_of_the_public(
    emulator: BotAPIEmulator,
) -> None:
    send = f"{emulator.root_url}/sandbox/api/send"
    form = {"user_id": "77", "text": "<b>rumour</b>", "forward_title": "Wahrheit Jetzt"}
    async with aiohttp.ClientSession() as session:
        async with session.post(send, data=form) as refused:
            assert refused.status == 403  # a cross-site form cannot set the header
        async with session.post(send, data=form, headers={"X-Sandbox": "1"}) as sent:
            assert sent.status == 200
        async with session.get(f"{emulator.root_url}/sandbox/api/chat?user_id=77") as chat:
            [bubble] = (await chat.json())["messages"]
    assert (bubble["text"], bubble["forwarded_from"], bubble["outgoing"]) == (
        "<b>rumour</b>",
        "Wahrheit Jetzt",
        False,
    )
    [update] = (await _api(emulator, "getUpdates"))["result"]
    assert update["message"]["forward_origin"]["chat"]["title"] == "Wahrheit Jetzt"
