"""Phone numbers attached to agents through livekit-sip (SIP trunk ids, carrier settings).

Revision ID: 0006
Revises: 0005_audit_guard
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005_audit_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _text(name: str, length: int) -> sa.Column[object]:
    return sa.Column(name, sa.String(length), nullable=True)


def upgrade() -> None:
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "org_id", sa.String(32), sa.ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.String(16), nullable=False, unique=True),
        sa.Column("agent", sa.String(63), nullable=False),
        sa.Column("allowed_addresses", sa.JSON(), nullable=False),
        _text("inbound_username", 255),
        _text("inbound_password_env", 128),
        _text("outbound_address", 253),
        _text("outbound_transport", 8),
        _text("outbound_username", 255),
        _text("outbound_password_env", 128),
        _text("inbound_trunk_id", 64),
        _text("dispatch_rule_id", 64),
        _text("outbound_trunk_id", 64),
        sa.Column(
            "created_by", sa.String(32), sa.ForeignKey("members.id", ondelete="SET NULL"), nullable=True
        ),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_index("ix_phone_numbers_org_id_created_at", "phone_numbers", ["org_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_phone_numbers_org_id_created_at", table_name="phone_numbers")
    op.drop_table("phone_numbers")
