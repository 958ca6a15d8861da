"""tip.reply_sent_at: when the sender's answer went out, so a redelivery can answer again

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tip') as batch_op:
        batch_op.add_column(
            sa.Column('reply_sent_at', storage.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('tip') as batch_op:
        batch_op.drop_column('reply_sent_at')
