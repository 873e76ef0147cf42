"""Record every change of an audited table, in the transaction that makes it.

:func:`install_recorder` hooks a session class (the API's :class:`~auralink.api.db.Database`
makes one per engine) so that no route has to remember to audit:

- ``after_flush``: every inserted, updated or deleted object of an :data:`~.tables.AUDITED`
  table becomes an entry ``<noun>.created`` / ``.updated`` / ``.deleted`` (``.revoked`` when
  the update sets ``revoked_at``), targeted at the row's id, in the row's organisation;
- ``do_orm_execute``: ORM bulk ``update(...)``/``delete(...)`` statements on those tables are
  resolved to the ids they touch first, and each gets an entry the same way.

The entry's ``detail`` says which fields changed, by name; only :data:`~.tables.SAFE_VALUES`
carry their new value, so secrets, hashes, e-mail addresses and names never reach the log.
Entries are chained by :func:`~.chain.append_entries` on the session's own connection: if the
change rolls back, so does its entry.
"""

from __future__ import annotations

__all__ = ["install_recorder"]

from typing import Any, cast

from sqlalchemy import Table, event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from .chain import PendingEntry, append_entries
from .context import AuditContext, context_of
from .tables import AUDITED, SAFE_VALUES, AuditedTable


def _table_of(obj: object) -> tuple[str, AuditedTable] | None:
    table = getattr(type(obj), "__tablename__", None)
    spec = AUDITED.get(table) if isinstance(table, str) else None
    return (table, spec) if table is not None and spec is not None else None


def _org_of(obj: object, table: str, fallback: str | None) -> str | None:
    if table == "organisations":
        return str(getattr(obj, "id", "")) or fallback
    org = getattr(obj, "org_id", None)
    return org if isinstance(org, str) else fallback


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _detail(fields: list[str], values: dict[str, Any]) -> dict[str, Any]:
    detail: dict[str, Any] = {"fields": sorted(fields)}
    safe = {k: _jsonable(v) for k, v in values.items() if k in SAFE_VALUES}
    if safe:
        detail["values"] = safe
    return detail


def _changed(obj: object, quiet: frozenset[str]) -> tuple[list[str], dict[str, Any]]:
    state = inspect(obj)
    fields, values = [], {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if attr.key not in quiet and history.has_changes():
            fields.append(attr.key)
            values[attr.key] = history.added[0] if history.added else None
    return fields, values


def _inserted(obj: object) -> tuple[list[str], dict[str, Any]]:
    state = inspect(obj)
    # the state's dict, not getattr: nothing here may load an attribute in the middle of a flush
    values = {a.key: state.dict.get(a.key) for a in state.mapper.column_attrs}
    return [k for k, v in values.items() if v is not None], values


def _entry(
    obj: object, table: str, spec: AuditedTable, *, verb: str, context: AuditContext, detail: dict[str, Any]
) -> PendingEntry:
    return PendingEntry(
        actor=context.actor,
        action=f"{spec.noun}.{verb}",
        target=str(getattr(obj, "id", "")),
        org_id=_org_of(obj, table, context.org_id),
        ip=context.ip,
        detail=detail,
    )


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    context = context_of(session)
    entries: list[PendingEntry] = []
    for obj in session.new:
        found = _table_of(obj)
        if found is not None:
            detail = _detail(*_inserted(obj))
            entries.append(_entry(obj, *found, verb="created", context=context, detail=detail))
    for obj in session.dirty:
        found = _table_of(obj)
        if found is None or not session.is_modified(obj):
            continue
        fields, values = _changed(obj, found[1].quiet)
        if fields:
            verb = "revoked" if values.get("revoked_at") is not None else "updated"
            detail = _detail(fields, values)
            entries.append(_entry(obj, *found, verb=verb, context=context, detail=detail))
    for obj in session.deleted:
        found = _table_of(obj)
        if found is not None:
            entries.append(_entry(obj, *found, verb="deleted", context=context, detail={}))
    append_entries(session.connection(), entries)


def _statement_fields(statement: Any) -> list[str]:
    values = getattr(statement, "_values", None) or {}
    return sorted(getattr(k, "key", None) or str(k) for k in values)


def _on_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.bind_mapper is None:
        return
    mapper = state.bind_mapper
    local = cast(Table, mapper.local_table)
    table = local.name
    spec = AUDITED.get(table)
    if spec is None:
        return
    fields = _statement_fields(state.statement) if state.is_update else []
    if state.is_update and fields and set(fields) <= spec.quiet:
        return
    columns = local.c
    query = select(columns.id, columns.org_id if "org_id" in columns else columns.id)
    where = getattr(state.statement, "whereclause", None)
    if where is not None:
        query = query.where(where)
    context = context_of(state.session)
    verb = "deleted" if state.is_delete else "updated"
    entries = [
        PendingEntry(
            actor=context.actor,
            action=f"{spec.noun}.{verb}",
            target=str(row_id),
            org_id=org if isinstance(org, str) and "org_id" in columns else context.org_id,
            ip=context.ip,
            detail={} if state.is_delete else {"fields": [f for f in fields if f not in spec.quiet]},
        )
        for row_id, org in state.session.connection().execute(query)
    ]
    append_entries(state.session.connection(), entries)


def install_recorder(session_class: type[Session]) -> None:
    """Audit every flush and bulk statement of sessions of ``session_class`` (a Session subclass)."""
    event.listen(session_class, "after_flush", _after_flush)
    event.listen(session_class, "do_orm_execute", _on_bulk)
