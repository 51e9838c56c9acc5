"""benchmark judges and metric parameters, and per-cell metric reasons and judge usage

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('benchmarks', sa.Column('judge', sa.JSON(), nullable=True))
    op.add_column(
        'benchmarks', sa.Column('metric_parameters', sa.JSON(), nullable=True)
    )
    op.add_column(
        'benchmark_cells', sa.Column('metric_reasons', sa.JSON(), nullable=True)
    )
    op.add_column('benchmark_cells', sa.Column('judge_usage', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('benchmark_cells') as batch:
        batch.drop_column('judge_usage')
        batch.drop_column('metric_reasons')
    with op.batch_alter_table('benchmarks') as batch:
        batch.drop_column('metric_parameters')
        batch.drop_column('judge')
