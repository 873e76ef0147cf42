"""Share links with their visitors, and the rooms organisations make through the API.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _org() -> sa.Column[object]:
    return sa.Column(
        "org_id", sa.String(32), sa.ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False
    )


def _created_by() -> sa.Column[object]:
    return sa.Column(
        "created_by", sa.String(32), sa.ForeignKey("members.id", ondelete="SET NULL"), nullable=True
    )


def upgrade() -> None:
    op.create_table(
        "share_links",
        sa.Column("id", sa.String(32), primary_key=True),
        _org(),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("agent", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("custom_domain", sa.String(253), nullable=True),
        sa.Column("passcode_hash", sa.String(255), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("visitor_salt", sa.String(64), nullable=False),
        _created_by(),
        _when("created_at"),
        _when("expires_at", nullable=True),
        _when("revoked_at", nullable=True),
        _when("last_used_at", nullable=True),
    )
    op.create_index("ix_share_links_org_id_created_at", "share_links", ["org_id", "created_at"])
    op.create_table(
        "link_visitors",
        sa.Column(
            "link_id",
            sa.String(32),
            sa.ForeignKey("share_links.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("visitor_hash", sa.String(64), primary_key=True),
        _when("first_seen_at"),
    )
    op.create_table(
        "rooms",
        sa.Column("id", sa.String(32), primary_key=True),
        _org(),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("agents", sa.JSON(), nullable=False),
        sa.Column("empty_timeout", sa.Integer(), nullable=True),
        _created_by(),
        _when("created_at"),
    )
    op.create_index("ix_rooms_org_id_created_at", "rooms", ["org_id", "created_at"])


def downgrade() -> None:
    op.drop_table("rooms")
    op.drop_table("link_visitors")
    op.drop_table("share_links")
