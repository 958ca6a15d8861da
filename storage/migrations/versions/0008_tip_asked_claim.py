"""tip.asked_claim_id: the claim a sender was asked whether their post is the same as

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tip') as batch_op:
        batch_op.add_column(sa.Column('asked_claim_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_tip_asked_claim_id_claim'),
            'claim',
            ['asked_claim_id'],
            ['id'],
            ondelete='SET NULL',
        )


def downgrade() -> None:
    with op.batch_alter_table('tip') as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tip_asked_claim_id_claim'), type_='foreignkey')
        batch_op.drop_column('asked_claim_id')
