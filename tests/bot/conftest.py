"""Fixtures of the bot's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from matching import Encoder
from newsroom.context import Newsroom
from newsroom.indexes import MatchingIndexes
from storage.db import Database


@pytest_asyncio.fixture(loop_scope="session")
async def newsroom(database: Database, encoder: Encoder) -> AsyncIterator[Newsroom]:
    """The newsroom over an empty database of each kind, its indexes loaded."""
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    yield Newsroom(db=database, indexes=indexes)
    indexes.close()
