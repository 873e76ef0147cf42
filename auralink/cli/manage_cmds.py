"""Management commands over the API: ``auralink api-keys|links|calls|webhooks|usage …``,
``auralink search "query"`` over the meeting archive, and the
``auralink agents push|pull|remote|versions|rollback|delete`` subcommands.

They talk to the API at ``AURALINK_API_URL`` (default ``http://<api_host>:<api_port>``) with the
key in ``AURALINK_API_KEY`` (or ``--api-url`` / ``--api-key``), through :mod:`auralink.client`.
Output is a small table; ``--json`` prints the API's JSON answer as it is.
"""

from __future__ import annotations

__all__ = ["AGENT_API_COMMANDS", "MANAGE_COMMANDS", "add_agent_api_parsers", "add_parsers", "run"]

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from auralink.client import ApiError, AuraLink, JSONObject
from auralink.core import ConfigError, Settings, load_catalogue

MANAGE_COMMANDS = ("api-keys", "links", "calls", "webhooks", "usage", "search")
AGENT_API_COMMANDS = ("push", "pull", "remote", "versions", "rollback", "delete")

Handler = Callable[[AuraLink, argparse.Namespace], Awaitable[Any]]


# -- parsers ----------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-url", help="the API (default AURALINK_API_URL, else http://<api_host>:<api_port>)")
    p.add_argument("--api-key", help="an API key al_… (default AURALINK_API_KEY)")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")


def _verb(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help)
    _common(p)
    return p


def _when(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-12-31T18:00:00+00:00"
        ) from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add +00:00 or Z")
    return when


def add_parsers(sub: Any) -> None:
    """Add the management command groups to the top-level ``sub`` parsers."""
    _key_parsers(sub)
    _link_parsers(sub)
    _call_parsers(sub)
    _webhook_parsers(sub)
    _usage_parsers(sub)
    _search_parser(sub)


def _search_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "search", help="search what was said and the notes across your calls (over the API)"
    )
    _common(p)
    p.set_defaults(verb="run")
    p.add_argument("query", help="words to look for, or a question (semantic)")
    p.add_argument("--mode", choices=["text", "semantic", "hybrid"], default="text")
    p.add_argument("--from", dest="since", type=_when, help="said at or after this ISO 8601 time")
    p.add_argument("--to", dest="until", type=_when, help="said before this ISO 8601 time")
    p.add_argument("--agent", help="only calls with this agent")
    p.add_argument("--participant", help="only calls this participant identity was in")
    p.add_argument("--limit", type=int, default=20)


def _key_parsers(sub: Any) -> None:
    keys = sub.add_parser("api-keys", help="API keys of your organisation (over the API)")
    ks = keys.add_subparsers(dest="verb", required=True, metavar="VERB")
    _verb(ks, "list", "list keys (never a secret)")
    p = _verb(ks, "create", "create a key and print its secret once")
    p.add_argument("name")
    p.add_argument("--role", choices=["owner", "admin", "developer", "viewer"])
    p.add_argument("--scope", action="append", dest="scopes", help="limit to an action (repeatable)")
    p.add_argument("--expires", type=_when, help="ISO 8601 time the key stops working")
    _verb(ks, "revoke", "revoke a key").add_argument("id")
    _verb(ks, "rotate", "replace a key's secret (prints the new one once)").add_argument("id")


def _link_parsers(sub: Any) -> None:
    links = sub.add_parser("links", help="share links that open a call with an agent (over the API)")
    ls = links.add_subparsers(dest="verb", required=True, metavar="VERB")
    _verb(ls, "list", "list links with their analytics")
    p = _verb(ls, "create", "create a link and print its URL")
    p.add_argument("agent")
    p.add_argument("--name", dest="display_name", help="shown to visitors instead of the agent's name")
    p.add_argument("--max-uses", type=int)
    p.add_argument("--expires", type=_when)
    p.add_argument("--passcode-stdin", action="store_true", help="read a passcode visitors must give")
    p.add_argument("--domain", dest="custom_domain", help="the host the link is shown under")
    _verb(ls, "show", "one link").add_argument("id")
    _verb(ls, "revoke", "stop a link working").add_argument("id")


def _call_parsers(sub: Any) -> None:
    calls = sub.add_parser("calls", help="call records (over the API)")
    cs = calls.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = _verb(cs, "list", "list calls, newest first")
    p.add_argument("--agent")
    p.add_argument("--status", choices=["active", "ended", "failed"])
    p.add_argument("--since", type=_when)
    p.add_argument("--participant", help="a participant identity")
    p.add_argument("-q", "--search", dest="q", help="text said in the call")
    p.add_argument("--limit", type=int, default=20)
    _verb(cs, "show", "one call: participants, duration, latency, usage").add_argument("id")
    _verb(cs, "transcript", "what was said in a call").add_argument("id")


def _webhook_parsers(sub: Any) -> None:
    hooks = sub.add_parser("webhooks", help="outbound webhook endpoints (over the API)")
    hs = hooks.add_subparsers(dest="verb", required=True, metavar="VERB")
    _verb(hs, "list", "list endpoints")
    p = _verb(hs, "create", "add an endpoint and print its signing secret once")
    p.add_argument("url")
    p.add_argument("--event", action="append", dest="events", required=True, help="event type (repeatable)")
    p.add_argument("--description")
    _verb(hs, "test", "send a webhook.test event").add_argument("id")
    _verb(hs, "deliveries", "an endpoint's delivery log").add_argument("id")
    _verb(hs, "delete", "delete an endpoint").add_argument("id")


def _usage_parsers(sub: Any) -> None:
    usage = sub.add_parser("usage", help="usage, quotas and plan (over the API)")
    us = usage.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = _verb(us, "report", "totals per metric for a month")
    p.add_argument("--period", help="YYYY-MM (default: this month)")
    p.add_argument("--by", dest="group_by", choices=["agent", "day"])
    _verb(us, "csv", "usage as CSV (day,agent,metric,quantity)").add_argument("--period")
    p = _verb(us, "plan", "the plan, its quotas and what is used")
    p.add_argument("--set", dest="new_plan", help="change the plan (owners only)")


def add_agent_api_parsers(asub: Any) -> None:
    """``auralink agents push|pull|remote|versions|rollback|delete``: agents kept in the API."""
    p = _verb(asub, "push", "save agents.yaml agents in the API (a new version when changed)")
    p.add_argument("names", nargs="*", help="agents to push (default: all in the file)")
    p.add_argument("--file", type=Path, help="catalogue file (default: agents.yaml)")
    p = _verb(asub, "pull", "print an API agent's spec as agents.yaml YAML")
    p.add_argument("name")
    p.add_argument("--version", type=int)
    _verb(asub, "remote", "list the agents the API dispatches (database and file)")
    _verb(asub, "versions", "an API agent's saved versions").add_argument("name")
    p = _verb(asub, "rollback", "make an old version current again (as a new version)")
    p.add_argument("name")
    p.add_argument("version", type=int)
    _verb(asub, "delete", "delete an API agent (its versions stay for old calls)").add_argument("name")


# -- running ----------------------------------------------------------------------------------


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one management command; 0 on success, 1 when the API refused it."""
    url = args.api_url or settings.api_url or f"http://{_host(settings.api_host)}:{settings.api_port}"
    key = args.api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    if not key:
        raise ConfigError("the management commands need an API key: set AURALINK_API_KEY or pass --api-key")
    handler = _HANDLERS[(args.command, args.verb if args.command != "agents" else args.agents_command)]

    async def go() -> Any:
        async with AuraLink(base_url=url, api_key=key) as client:
            return await handler(client, args)

    try:
        result = asyncio.run(go())
    except ApiError as e:
        print(f"error: {e.message} ({e.status} {e.type})", file=sys.stderr)
        for f in e.fields:
            print(f"  {f.get('field')}: {f.get('message')}", file=sys.stderr)
        return 1
    if isinstance(result, str):
        sys.stdout.write(result if result.endswith("\n") else result + "\n")
    elif args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _show(args, result)
    return 0


def _host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a connect address


# -- handlers ---------------------------------------------------------------------------------


async def _keys_create(c: AuraLink, a: argparse.Namespace) -> JSONObject:
    return await c.keys.create(name=a.name, role=a.role, scopes=a.scopes, expires_at=a.expires)


async def _links_create(c: AuraLink, a: argparse.Namespace) -> JSONObject:
    passcode = sys.stdin.readline().rstrip("\n") if a.passcode_stdin else None
    return await c.links.create(
        agent=a.agent,
        display_name=a.display_name,
        expires_at=a.expires,
        max_uses=a.max_uses,
        passcode=passcode,
        custom_domain=a.custom_domain,
    )


async def _calls_list(c: AuraLink, a: argparse.Namespace) -> JSONObject:
    return await c.calls.list(
        agent=a.agent, status=a.status, since=a.since, participant=a.participant, q=a.q, limit=a.limit
    )


async def _search(c: AuraLink, a: argparse.Namespace) -> JSONObject:
    return await c.calls.search(
        a.query,
        mode=a.mode,
        since=a.since,
        until=a.until,
        agent=a.agent,
        participant=a.participant,
        limit=a.limit,
    )


async def _usage_plan(c: AuraLink, a: argparse.Namespace) -> JSONObject:
    return await c.usage.set_plan(a.new_plan) if a.new_plan else await c.usage.plan()


async def _agents_push(c: AuraLink, a: argparse.Namespace) -> list[JSONObject]:
    catalogue = load_catalogue(a.file or Path("agents.yaml"))
    names = a.names or catalogue.names
    unknown = [n for n in names if catalogue.get(n) is None]
    if unknown:
        raise ConfigError(f"not in the catalogue: {', '.join(unknown)} (it has {', '.join(catalogue.names)})")
    remote = {agent["name"]: agent for agent in await c.agents.list()}
    saved: list[JSONObject] = []
    for name in names:
        spec = catalogue.get(name)
        assert spec is not None
        body = spec.model_dump(mode="json", by_alias=True)
        if remote.get(name, {}).get("source") in ("api", "catalogue"):
            saved.append(await c.agents.update(name, body))
        else:
            saved.append(await c.agents.create(body))
    return saved


async def _agents_pull(c: AuraLink, a: argparse.Namespace) -> str:
    answer = await c.agents.version(a.name, a.version) if a.version else await c.agents.get(a.name)
    spec = {k: v for k, v in answer["spec"].items() if v not in (None, [], {})}
    return str(yaml.safe_dump({"version": 1, "agents": [spec]}, sort_keys=False, allow_unicode=True))


_HANDLERS: dict[tuple[str, str], Handler] = {
    ("api-keys", "list"): lambda c, a: c.keys.list(),
    ("api-keys", "create"): _keys_create,
    ("api-keys", "revoke"): lambda c, a: c.keys.revoke(a.id),
    ("api-keys", "rotate"): lambda c, a: c.keys.rotate(a.id),
    ("links", "list"): lambda c, a: c.links.list(),
    ("links", "create"): _links_create,
    ("links", "show"): lambda c, a: c.links.get(a.id),
    ("links", "revoke"): lambda c, a: c.links.revoke(a.id),
    ("calls", "list"): _calls_list,
    ("calls", "show"): lambda c, a: c.calls.get(a.id),
    ("calls", "transcript"): lambda c, a: c.calls.transcript(a.id),
    ("webhooks", "list"): lambda c, a: c.webhooks.list(),
    ("webhooks", "create"): lambda c, a: c.webhooks.create(
        url=a.url, events=a.events, description=a.description
    ),
    ("webhooks", "test"): lambda c, a: c.webhooks.test(a.id),
    ("webhooks", "deliveries"): lambda c, a: c.webhooks.deliveries(a.id),
    ("webhooks", "delete"): lambda c, a: c.webhooks.delete(a.id),
    ("usage", "report"): lambda c, a: c.usage.report(period=a.period, group_by=a.group_by),
    ("usage", "csv"): lambda c, a: c.usage.export_csv(period=a.period),
    ("usage", "plan"): _usage_plan,
    ("search", "run"): _search,
    ("agents", "push"): _agents_push,
    ("agents", "pull"): _agents_pull,
    ("agents", "remote"): lambda c, a: c.agents.list(),
    ("agents", "versions"): lambda c, a: c.agents.versions(a.name),
    ("agents", "rollback"): lambda c, a: c.agents.rollback(a.name, version=a.version),
    ("agents", "delete"): lambda c, a: c.agents.delete(a.name),
}


# -- output -----------------------------------------------------------------------------------

_COLUMNS: dict[str, Sequence[str]] = {
    "api-keys": ("id", "name", "prefix", "role", "created_at", "last_used_at", "revoked_at"),
    "links": ("id", "agent", "state", "uses", "max_uses", "url"),
    "calls": ("id", "agent", "status", "source", "started_at", "duration_s"),
    "webhooks": ("id", "url", "events", "enabled"),
    "deliveries": ("id", "event_type", "status", "attempts", "last_status_code", "created_at"),
    "agents": ("name", "source", "version", "description"),
    "versions": ("version", "current", "created_by", "created_at"),
    "search": ("at", "room", "kind", "speaker", "score", "snippet"),
}


def _show(args: argparse.Namespace, result: Any) -> None:
    verb = args.agents_command if args.command == "agents" else args.verb
    if result is None:
        print("done")
    elif isinstance(result, dict) and isinstance(result.get("items"), list):
        _table(result["items"], _COLUMNS[args.command])
        if result.get("next_cursor"):
            print(f"(more: --json shows next_cursor {result['next_cursor']})")
    elif isinstance(result, list) and verb == "push":
        for agent in result:
            print(f"{agent['name']}: version {agent['version']} saved")
    elif isinstance(result, list):
        kind = verb if verb in ("deliveries", "versions") else args.command
        _table(result, _COLUMNS[kind])
    elif verb == "transcript":
        for line in result.get("turns", []):
            print(f"[{line.get('role', '?')}] {line.get('speaker', '')}: {line.get('text', '')}")
    else:
        _fields(result)


def _fields(result: JSONObject) -> None:
    """One object, ``key: value`` per line, what to copy (secret, URL) first."""
    first = [k for k in ("secret", "url") if result.get(k)]
    for k in [*first, *(k for k in result if k not in first)]:
        v = result[k]
        print(f"{k}: {json.dumps(v, default=str) if isinstance(v, dict | list) else v}")
    if result.get("secret"):
        print("(the secret is shown once: store it now)", file=sys.stderr)


def _table(rows: Iterable[JSONObject], columns: Sequence[str]) -> None:
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    if not cells:
        print("(none)")
        return
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    print("  ".join(col.upper().ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value)
    return text[:19] if len(text) >= 19 and text[4:5] == "-" and text[10:11] == "T" else text[:60]
