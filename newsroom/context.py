"""What every newsroom use case needs, built once at start-up by ``bot/`` and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from newsroom.images import PictureReader
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IntakePolicy
from storage.db import Database


@dataclass
class Newsroom:
    """The database, this process's matching indexes, and the newsroom's policies."""

    db: Database
    indexes: MatchingIndexes
    policy: IntakePolicy = field(default_factory=IntakePolicy)
    retention_days: int = 90
    name: str = "the newsroom"
    # Reads pictures in the background; None leaves pictures to their caption and file id.
    pictures: PictureReader | None = None
