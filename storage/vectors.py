"""Rows the matching indexes follow, and the sentence vectors stored with them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import tuple_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.claims import OPEN_STATUSES
from storage.models import Claim, FactCheck

Indexed = TypeVar("Indexed", Claim, FactCheck)


async def changes_since(
    session: AsyncSession,
    model: type[Indexed],
    after: tuple[datetime, int] | None,
    *,
    limit: int = 2000,
) -> list[tuple[datetime, int]]:
    """The next page of (updated_at, id) changed after that cursor, oldest change first.

    Only the keys: a follower re-reads a margin of changes it already applied at every poll,
    and fetches whole rows (vectors included) only for those it has not. With no cursor this
    is the first load, which skips closed claims.
    """
    statement = select(model.updated_at, model.id)
    statement = statement.order_by(col(model.updated_at), col(model.id)).limit(limit)
    if after is not None:
        at, last_id = after
        # A row comparison, so that the (updated_at, id) index starts at the cursor.
        statement = statement.where(tuple_(model.updated_at, model.id) > tuple_(at, last_id))
    elif model is Claim:
        statement = statement.where(col(Claim.status).in_(OPEN_STATUSES))
    return [(at, row_id) for at, row_id in (await session.exec(statement)).all()]


async def rows_with_ids(
    session: AsyncSession, model: type[Indexed], row_ids: Sequence[int]
) -> list[Indexed]:
    """Those rows, in the order of ``row_ids``; rows deleted since are left out."""
    if not row_ids:
        return []
    found = await session.exec(select(model).where(col(model.id).in_(row_ids)))
    by_id = {row.id: row for row in found.all()}
    return [by_id[row_id] for row_id in row_ids if row_id in by_id]


async def save_vectors(
    session: AsyncSession,
    model: type[Claim] | type[FactCheck],
    vectors: Sequence[tuple[int, bytes]],
    encoder_name: str,
) -> None:
    """Store sentence vectors so the next start-up need not encode these rows again."""
    for row_id, vector in vectors:
        await session.exec(
            update(model)
            .where(col(model.id) == row_id)
            .values(embedding=vector, embedding_model=encoder_name)
        )
