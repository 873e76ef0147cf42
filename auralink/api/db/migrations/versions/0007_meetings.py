"""Meetings: the organisation's moderation policy, moderation decisions, meeting notes, shared files.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _org() -> sa.Column[object]:
    return sa.Column(
        "org_id", sa.String(32), sa.ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False
    )


def _call(*, primary_key: bool = False) -> sa.Column[object]:
    return sa.Column(
        "call_id",
        sa.String(32),
        sa.ForeignKey("calls.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "moderation_policies",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "org_id",
            sa.String(32),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column(
            "updated_by", sa.String(32), sa.ForeignKey("members.id", ondelete="SET NULL"), nullable=True
        ),
        _when("updated_at"),
    )
    op.create_table(
        "moderation_decisions",
        sa.Column("id", sa.String(32), primary_key=True),
        _org(),
        _call(),
        sa.Column("rule_id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entity", sa.String(32), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("speaker", sa.String(255), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("excerpt", sa.String(200), nullable=False),
        sa.Column("text_redacted", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=False),
        _when("at"),
        sa.Column("review_status", sa.String(16), nullable=False),
        sa.Column("reviewed_by", sa.String(64), nullable=True),
        _when("reviewed_at", nullable=True),
        sa.Column("review_note", sa.String(1000), nullable=True),
    )
    op.create_index("ix_moderation_decisions_org_id_at", "moderation_decisions", ["org_id", "at"])
    op.create_index("ix_moderation_decisions_call_id", "moderation_decisions", ["call_id"])
    op.create_table(
        "call_notes",
        _call(primary_key=True),
        _org(),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_index("ix_call_notes_org_id", "call_notes", ["org_id"])
    op.create_table(
        "call_files",
        sa.Column("id", sa.String(32), primary_key=True),
        _org(),
        _call(),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mime", sa.String(127), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _when("created_at"),
    )
    op.create_index("ix_call_files_call_id_created_at", "call_files", ["call_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_call_files_call_id_created_at", table_name="call_files")
    op.drop_table("call_files")
    op.drop_index("ix_call_notes_org_id", table_name="call_notes")
    op.drop_table("call_notes")
    op.drop_index("ix_moderation_decisions_call_id", table_name="moderation_decisions")
    op.drop_index("ix_moderation_decisions_org_id_at", table_name="moderation_decisions")
    op.drop_table("moderation_decisions")
    op.drop_table("moderation_policies")
