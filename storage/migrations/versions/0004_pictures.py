"""pictures: OCR text and perceptual hashes of tips, hashes of fact-checks' images

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tip') as batch_op:
        batch_op.add_column(sa.Column('ocr_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('image_hash', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=True))
        batch_op.create_index(batch_op.f('ix_tip_image_hash'), ['image_hash'], unique=False)
    with op.batch_alter_table('fact_check') as batch_op:
        batch_op.add_column(sa.Column('image_hash', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=True))
        batch_op.create_index(batch_op.f('ix_fact_check_image_hash'), ['image_hash'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fact_check') as batch_op:
        batch_op.drop_index(batch_op.f('ix_fact_check_image_hash'))
        batch_op.drop_column('image_hash')
    with op.batch_alter_table('tip') as batch_op:
        batch_op.drop_index(batch_op.f('ix_tip_image_hash'))
        batch_op.drop_column('image_hash')
        batch_op.drop_column('ocr_text')
