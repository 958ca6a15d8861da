"""Rows the matching indexes follow, and the sentence vectors stored with them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.claims import OPEN_STATUSES
from storage.models import Claim, FactCheck

Indexed = TypeVar("Indexed", Claim, FactCheck)


async def rows_updated_since(
    session: AsyncSession,
    model: type[Indexed],
    after: tuple[datetime, int] | None,
    *,
    limit: int = 2000,
) -> list[Indexed]:
    """The next page of rows changed after the (updated_at, id) cursor, oldest change first.

    With no cursor this is the first load, which skips closed claims.
    """
    statement = select(model).order_by(col(model.updated_at), col(model.id)).limit(limit)
    if after is not None:
        at, last_id = after
        statement = statement.where(
            or_(model.updated_at > at, and_(model.updated_at == at, col(model.id) > last_id))
        )
    elif model is Claim:
        statement = statement.where(col(Claim.status).in_(OPEN_STATUSES))
    return list((await session.exec(statement)).all())


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
