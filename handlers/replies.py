"""Every text the public reads, rendered in their language with every outside string escaped.

Replies use Telegram's HTML parse mode. Anything that came from a sender or a fact-check
source goes through ``html.escape`` before it is placed in a message, and is shortened first
so the message stays inside Telegram's 4096-character limit.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.i18n import LANGUAGE_NAMES, Translator
from newsroom.intake import IntakeResult, VerdictCard

MESSAGE_LIMIT = 4096
_QUOTE_LIMIT = 600
_HEADLINE_LIMIT = 300

_RATING_EMOJI = {
    "false": "❌",
    "mostly_false": "❌",
    "misleading": "⚠️",
    "missing_context": "⚠️",
    "mixed": "🔶",
    "mostly_true": "✅",
    "true": "✅",
    "satire": "🎭",
    "unproven": "❔",
    "other": "ℹ️",
}


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis; escape afterwards, never before."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut + "…"


def rating_label(tr: Translator, rating: str, rating_text: str | None) -> str:
    labels = {
        "false": tr.gettext("False"),
        "mostly_false": tr.gettext("Mostly false"),
        "misleading": tr.gettext("Misleading"),
        "missing_context": tr.gettext("Missing context"),
        "mixed": tr.gettext("Half true"),
        "mostly_true": tr.gettext("Mostly true"),
        "true": tr.gettext("True"),
        "satire": tr.gettext("Satire"),
        "unproven": tr.gettext("Unproven"),
    }
    if rating in labels:
        return labels[rating]
    return rating_text or tr.gettext("Rated by the publisher")


def _safe_link(url: str) -> str | None:
    return url if urlsplit(url).scheme in ("http", "https") else None


def verdict_card(tr: Translator, card: VerdictCard) -> str:
    """Rating in words and an emoji, headline, publisher and date, link: the debunk speaks."""
    emoji = _RATING_EMOJI.get(card.rating, _RATING_EMOJI["other"])
    label = escape(rating_label(tr, card.rating, card.rating_text))
    lines = [f"{emoji} <b>{label}</b>"]
    if card.rating_text and card.rating not in ("other",):
        lines[0] += f" ({escape(shorten(card.rating_text, 60))})"
    headline = card.headline or card.claim_reviewed
    lines.append(f"<b>{escape(shorten(headline, _HEADLINE_LIMIT))}</b>")
    if card.headline:
        claim = escape(shorten(card.claim_reviewed, _QUOTE_LIMIT))
        lines.append(tr.gettext("Claim checked: {claim}").format(claim=f"<i>{claim}</i>"))
    publisher = escape(shorten(card.publisher or tr.gettext("a fact-checker"), 120))
    if card.published_at:
        date = card.published_at.date().isoformat()
        lines.append(
            tr.gettext("Fact-check by {publisher}, {date}").format(publisher=publisher, date=date)
        )
    else:
        lines.append(tr.gettext("Fact-check by {publisher}").format(publisher=publisher))
    link = _safe_link(card.url)
    if link:
        lines.append(
            f'<a href="{escape(link, quote=True)}">{escape(tr.gettext("Read the fact-check"))}</a>'
        )
    lines.append(
        escape(tr.gettext("This verdict is the publisher's, not this bot's: read their article."))
    )
    return "\n".join(lines)


def _others(tr: Translator, count: int) -> str:
    if count <= 0:
        return tr.gettext("You are the first to send us this.")
    return tr.ngettext(
        "{count} other person sent us this too.", "{count} other people sent us this too.", count
    ).format(count=count)


def intake_reply(tr: Translator, result: IntakeResult) -> tuple[str, InlineKeyboardMarkup | None]:
    """The reply to a tip, and the buttons under it, if any."""
    if result.kind == "verdict" and result.fact_check:
        return verdict_card(tr, result.fact_check), None
    if result.kind == "ask" and result.fact_check:
        claim = escape(shorten(result.fact_check.claim_reviewed, _QUOTE_LIMIT))
        publisher = escape(
            shorten(result.fact_check.publisher or tr.gettext("a fact-checker"), 120)
        )
        text = "\n\n".join(
            [
                escape(tr.gettext("Is this the post you saw?")),
                f"<i>{claim}</i>",
                tr.gettext("Checked by {publisher}.").format(publisher=publisher),
            ]
        )
        return text, _is_it_buttons(tr, result.tip_id)
    if result.kind == "ask_claim" and result.similar_claim:
        question = tr.gettext(
            "Other people have sent us a post that may be the same as yours. "
            "Is this the one you saw?"
        )
        claim = escape(shorten(result.similar_claim.text, _QUOTE_LIMIT))
        return f"{escape(question)}\n\n<i>{claim}</i>", _is_it_buttons(tr, result.tip_id)
    if result.kind == "queued" and result.unreadable_picture:
        text = tr.gettext(
            "Thank you! I could not read any text in this picture, and nobody has sent it to "
            "us before. Our editors will look at it, and I will tell you when they publish a "
            "verdict."
        )
        return escape(text), None
    if result.kind == "queued":
        text = " ".join(
            [
                tr.gettext(
                    "Thank you! Fact-checkers have not published anything on this yet. "
                    "Our editors will look at it, and I will tell you when they publish a verdict."
                ),
                _others(tr, result.other_senders),
            ]
        )
        return escape(text), None
    if result.kind == "refused":
        return escape(picture_refused(tr, result.refusal)), None
    if result.kind == "rate_limited":
        return escape(rate_limited(tr)), None
    return escape(nothing_to_check(tr)), None


def _is_it_buttons(tr: Translator, tip_id: int | None) -> InlineKeyboardMarkup:
    """Yes and no to "Is this the post you saw?" (handlers.tips.match_answered)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tr.gettext("Yes, that's it"), callback_data=f"match:yes:{tip_id}"
                ),
                InlineKeyboardButton(
                    tr.gettext("No, it's different"), callback_data=f"match:no:{tip_id}"
                ),
            ]
        ]
    )


def picture_refused(tr: Translator, reason: str | None) -> str:
    """Why a picture could not be read, and what to send instead."""
    if reason == "too_large":
        why = tr.gettext("This file is too large for me to open (the limit is 10 MB).")
    else:
        why = tr.gettext("I could not open this file as a picture.")
    return " ".join(
        [
            why,
            tr.gettext(
                "Please send a screenshot of the post as a photo, or paste its text or link."
            ),
        ]
    )


def rate_limited(tr: Translator) -> str:
    return tr.gettext(
        "You have sent many posts in a short time. Please wait a few minutes before sending "
        "more. Everything you sent is saved."
    )


def nothing_to_check(tr: Translator) -> str:
    return tr.gettext(
        "I could not find anything to check in this message. Please send or forward the post "
        "itself, or a picture of it with a caption."
    )


def unsupported(tr: Translator) -> str:
    return tr.gettext(
        "I can check text messages, forwarded posts, links, and pictures, videos or files with "
        "a caption. I can't check stickers, voice messages, locations, contacts or polls. Please "
        "send the text of the post, or a screenshot with a caption."
    )


def welcome(tr: Translator, newsroom: str) -> str:
    return escape(
        tr.gettext(
            "Hello! This is the tip line of {newsroom}.\n\n"
            "Forward me a post you are not sure about: a message, a channel post, a link, or a "
            "picture with a caption. I will tell you at once if fact-checkers have already "
            "checked it. If not, our editors will look at it, and I will let you know what they "
            "find.\n\n"
            "/help explains more, /privacy says what we store."
        ).format(newsroom=newsroom)
    )


def help_text(tr: Translator) -> str:
    return escape(
        tr.gettext(
            "How to use the tip line:\n"
            "• Forward a suspicious post to me, or paste its text or link.\n"
            "• Pictures and videos: send them with a caption that says what they claim.\n"
            "• If a fact-check exists, you get its verdict and link at once.\n"
            "• If not, you get a message when our editors publish one.\n\n"
            "/language: choose the language I answer in\n"
            "/privacy: what we store and for how long\n"
            "/forget: delete everything we store about you"
        )
    )


def privacy_text(tr: Translator, retention_days: int) -> str:
    return escape(
        tr.gettext(
            "What we store: your Telegram user id, the language you chose, and the posts you send "
            "us (their text, links, and the public channel they were forwarded from). We never "
            "store your name, username or phone number, and editors never see who sent a post.\n\n"
            "Why: to answer you, to count how many people received a rumour, and to tell you "
            "when it is checked.\n\n"
            "How long: {days} days after a claim is answered or closed, the link between you and "
            "your posts is deleted. Send /forget to delete everything about you now."
        ).format(days=retention_days)
    )


def forget_question(tr: Translator) -> tuple[str, InlineKeyboardMarkup]:
    text = tr.gettext(
        "This deletes everything we store about you: your id, your language, the posts you "
        "sent and any notifications still waiting. Delete it all?"
    )
    buttons = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(tr.gettext("Yes, delete"), callback_data="forget:yes"),
                InlineKeyboardButton(tr.gettext("Cancel"), callback_data="forget:no"),
            ]
        ]
    )
    return escape(text), buttons


def forgotten(tr: Translator, tips: int) -> str:
    return escape(
        tr.ngettext(
            "Done: we deleted everything about you, including {count} post.",
            "Done: we deleted everything about you, including {count} posts.",
            tips,
        ).format(count=tips)
    )


def forget_cancelled(tr: Translator) -> str:
    return escape(tr.gettext("Nothing was deleted."))


def language_question(tr: Translator) -> tuple[str, InlineKeyboardMarkup]:
    rows = [
        [InlineKeyboardButton(name, callback_data=f"lang:{code}") for code, name in pair]
        for pair in _pairs(list(LANGUAGE_NAMES.items()))
    ]
    return escape(tr.gettext("Which language should I answer in?")), InlineKeyboardMarkup(rows)


def _pairs(items: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    return [items[i : i + 2] for i in range(0, len(items), 2)]


def language_chosen(tr: Translator) -> str:
    return escape(tr.gettext("From now on I will answer in English."))


def no_fact_check_in_group(tr: Translator, bot_username: str) -> str:
    return escape(
        tr.gettext(
            "I found no published fact-check for this yet. To have our editors look at it, "
            "forward it to me in a private chat: @{bot}"
        ).format(bot=bot_username)
    )


def maybe_in_group(tr: Translator, card: VerdictCard) -> str:
    return (
        escape(tr.gettext("A published fact-check that may be about this:"))
        + "\n\n"
        + verdict_card(tr, card)
    )


def check_needs_reply(tr: Translator) -> str:
    return escape(tr.gettext("Reply to a message with /check and I will look for a fact-check."))


def something_went_wrong(tr: Translator) -> str:
    return escape(
        tr.gettext("Sorry, something went wrong on our side. Please try again in a few minutes.")
    )


def verdict_notification(tr: Translator, card: VerdictCard) -> str:
    """The newsroom's answer to a post the sender forwarded earlier (sent via the outbox)."""
    intro = tr.gettext("Our editors have checked a post you sent us. Here is the verdict:")
    return escape(intro) + "\n\n" + verdict_card(tr, card)


def editors_only(tr: Translator) -> str:
    """What anyone but an editor gets for a newsroom command or button."""
    return escape(tr.gettext("Sorry, this command is only for the newsroom's editors."))
