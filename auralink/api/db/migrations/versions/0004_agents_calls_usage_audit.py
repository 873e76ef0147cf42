"""Agents with versions, calls (participants, transcript turns), usage records, the audit log,
OIDC member identities; organisations get a plan and feature toggles.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(name: str, target: str, *, ondelete: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(32), sa.ForeignKey(target, ondelete=ondelete), nullable=nullable)


def _created_by() -> sa.Column[object]:
    return _fk("created_by", "members.id", ondelete="SET NULL", nullable=True)


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("plan", sa.String(16), nullable=False, server_default="free"))
        batch.add_column(sa.Column("features", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("organisations") as batch:
        batch.alter_column("plan", server_default=None)
        batch.alter_column("features", server_default=None)

    op.create_table(
        "agents",
        sa.Column("id", sa.String(32), primary_key=True),
        _fk("org_id", "organisations.id", ondelete="CASCADE"),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        _created_by(),
        _when("created_at"),
        _when("updated_at"),
        _when("deleted_at", nullable=True),
        sa.UniqueConstraint("org_id", "name", name="uq_agents_org_id_name"),
    )
    op.create_index("ix_agents_org_id_created_at", "agents", ["org_id", "created_at"])
    op.create_table(
        "agent_versions",
        sa.Column("id", sa.String(32), primary_key=True),
        _fk("agent_id", "agents.id", ondelete="CASCADE"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        _created_by(),
        _when("created_at"),
        sa.UniqueConstraint("agent_id", "version", name="uq_agent_versions_agent_id_version"),
    )

    op.create_table(
        "calls",
        sa.Column("id", sa.String(32), primary_key=True),
        _fk("org_id", "organisations.id", ondelete="CASCADE", nullable=True),
        sa.Column("room_name", sa.String(128), nullable=False),
        sa.Column("room_sid", sa.String(64), nullable=False, unique=True),
        sa.Column("agent", sa.String(63), nullable=True),
        sa.Column("agent_version", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        _fk("link_id", "share_links.id", ondelete="SET NULL", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _when("started_at"),
        _when("ended_at", nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=True),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
    )
    op.create_index("ix_calls_org_id_started_at", "calls", ["org_id", "started_at"])
    op.create_index("ix_calls_room_name", "calls", ["room_name"])
    op.create_table(
        "call_participants",
        sa.Column("id", sa.String(32), primary_key=True),
        _fk("call_id", "calls.id", ondelete="CASCADE"),
        sa.Column("identity", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _when("joined_at"),
        _when("left_at", nullable=True),
    )
    op.create_index("ix_call_participants_call_id", "call_participants", ["call_id"])
    op.create_index("ix_call_participants_identity", "call_participants", ["identity"])
    op.create_table(
        "call_turns",
        sa.Column("id", sa.String(32), primary_key=True),
        _fk("call_id", "calls.id", ondelete="CASCADE"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("speaker", sa.String(255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        _when("spoken_at"),
        sa.UniqueConstraint("call_id", "seq", name="uq_call_turns_call_id_seq"),
    )

    op.create_table(
        "usage_records",
        sa.Column("id", sa.String(32), primary_key=True),
        _fk("org_id", "organisations.id", ondelete="CASCADE"),
        sa.Column("agent", sa.String(63), nullable=True),
        _fk("call_id", "calls.id", ondelete="SET NULL", nullable=True),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        _when("occurred_at"),
    )
    op.create_index(
        "ix_usage_records_org_id_metric_occurred_at", "usage_records", ["org_id", "metric", "occurred_at"]
    )

    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("org_id", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        _when("occurred_at"),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_log_org_id_seq", "audit_log", ["org_id", "seq"])

    op.create_table(
        "member_identities",
        sa.Column("id", sa.String(32), primary_key=True),
        _fk("member_id", "members.id", ondelete="CASCADE"),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("issuer", "subject", name="uq_member_identities_issuer_subject"),
    )
    op.create_index("ix_member_identities_member_id", "member_identities", ["member_id"])


def downgrade() -> None:
    op.drop_table("member_identities")
    op.drop_table("audit_log")
    op.drop_table("usage_records")
    op.drop_table("call_turns")
    op.drop_table("call_participants")
    op.drop_table("calls")
    op.drop_table("agent_versions")
    op.drop_table("agents")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("features")
        batch.drop_column("plan")
