"""Schedules (watch folders, nightly runs), per-file progress, and skipped counts of jobs.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("source_dir", sa.Text(), nullable=False),
        sa.Column("out_dir", sa.Text(), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("formats", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("every_seconds", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_schedules_user_id", "schedules", ["user_id"])
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("progress", sa.Float(), nullable=False, server_default="0"))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("skipped", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("skipped")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("progress")
    op.drop_table("schedules")
