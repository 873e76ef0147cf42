"""The agent worker: one livekit-agents ``AgentServer`` for the whole catalogue.

It registers a single ``agent_name`` (``AURALINK_WORKER_AGENT_NAME``); each dispatch's metadata
names the AgentSpec (``{"agent": "receptionist"}``). Job processes are prewarmed with the VAD;
the catalogue is read per job, so edits to agents.yaml apply to the next call. SIGTERM drains:
running calls finish, no new ones are accepted (livekit-agents' own signal handling).
"""

from __future__ import annotations

__all__ = ["entrypoint", "resolve_spec", "run_worker"]

import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from livekit import rtc
from livekit.agents import AgentServer, AgentSession, JobContext, JobProcess, cli
from livekit.agents.llm import ChatMessage
from livekit.agents.voice import room_io
from livekit.agents.voice.events import CloseEvent, CloseReason, ConversationItemAddedEvent
from pydantic import ValidationError

from auralink.core import (
    AgentSpec,
    AuraLinkError,
    ConfigError,
    Settings,
    UnknownAgent,
    check_credentials,
    get_settings,
    load_catalogue,
)
from auralink.core.catalogue import dotted_path, spec_problems
from auralink.core.moderation import ModerationPolicy
from auralink.mcp import MCPServerToolset, start_toolsets
from auralink.memory import MemoryService, Subject

from .agent import build_agent
from .failure import fail_call
from .meeting.moderation import Moderator
from .meeting.stage import LiveKitActionSink, ModerationStage, job_policy, reporting_records
from .meeting.wiring import attach_meeting, meeting_room_options
from .memory import LOCAL_ORG, ConversationMemory
from .moderated import moderated_text_input
from .phone import attach_phone
from .reporting import CallReporter, open_reporter, speaker_of, watch_session
from .session import build_session

logger = logging.getLogger("auralink.agents")

METRICS_TOPIC = "auralink.metrics"
_MAX_JOBS = 8


def resolve_spec(metadata: str | None, settings: Settings) -> AgentSpec:
    """The AgentSpec a dispatch names in its metadata (default agent when it names none).

    ``{"agent": "<name>"}`` runs the agents.yaml entry; when the metadata also carries ``spec``
    (an organisation's database agent, with its ``version`` and ``org``), that spec is validated
    and run instead. A bad spec is a :class:`ConfigError` naming each field (``llm.provider``).
    """
    name = settings.default_agent
    data: Any = None
    if metadata:
        try:
            data = json.loads(metadata)
        except json.JSONDecodeError:
            raise ConfigError('dispatch metadata is not JSON; expected {"agent": "<name>"}') from None
        if isinstance(data, dict) and isinstance(data.get("agent"), str):
            name = data["agent"]
    raw = data.get("spec") if isinstance(data, dict) else None
    if raw is not None:
        if not isinstance(raw, dict):
            raise ConfigError(
                f"dispatch metadata of agent {name!r}: `spec` must be a JSON object (an AgentSpec)"
            )

        try:
            spec = AgentSpec.model_validate(raw)
        except ValidationError as e:
            problems = "; ".join(
                f"{dotted_path(path) or 'spec'}: {msg}" for path, msg in spec_problems(e, raw)
            )
            raise ConfigError(
                f"the spec of agent {name!r} in the dispatch metadata is not valid: {problems}"
            ) from None
        if spec.name != name:
            raise ConfigError(f"the dispatch names agent {name!r} but its spec is agent {spec.name!r}")
        return apply_features(spec, data.get("features"))
    catalogue = load_catalogue(settings.agents_file)
    entry = catalogue.get(name)
    if entry is None:
        raise UnknownAgent(name, catalogue.names)
    return apply_features(entry, data.get("features") if isinstance(data, dict) else None)


def apply_features(spec: AgentSpec, features: object) -> AgentSpec:
    """The spec with what the organisation's toggles switch off taken out.

    ``features`` is the dispatch's ``{"memory": bool, "mcp": bool, ...}``; off wins over the
    spec, on leaves the spec as it is. Anything that is not such a map changes nothing.
    """
    if not isinstance(features, dict):
        return spec
    changes: dict[str, Any] = {}
    if features.get("memory") is False and spec.memory.enabled:
        changes["memory"] = spec.memory.model_copy(update={"enabled": False})
    if features.get("mcp") is False and spec.mcp:
        changes["mcp"] = []
    if features.get("moderation") is False and spec.moderation is not None:
        changes["moderation"] = None
    if features.get("translation") is False and spec.meeting.translate:
        # everything that translates goes: captions, Whisper's English, the spoken tracks
        off = {"translate": False, "multilingual": False, "speak_translations": [], "translation_voices": {}}
        changes["meeting"] = spec.meeting.model_copy(update=off)
    # meeting notes and kept files: what an organisation may not want stored
    stored = {n: False for n in ("notes", "files") if features.get(n) is False and getattr(spec.meeting, n)}
    if stored:
        changes["meeting"] = changes.get("meeting", spec.meeting).model_copy(update=stored)
    return spec.model_copy(update=changes) if changes else spec


def _agent_name(ctx: JobContext) -> str:
    """The agent the dispatch names ("" when its metadata is not ours)."""
    try:
        data = json.loads(ctx.job.metadata or "{}")
    except ValueError:
        return ""
    return str(data.get("agent") or "") if isinstance(data, dict) else ""


def _on_session_close(
    ctx: JobContext, ev: CloseEvent, *, settings: Settings, agent: str, reporter: CallReporter | None
) -> None:
    """End the job with the session; after an unrecoverable error, apologise and hang up first."""
    if ev.reason != CloseReason.ERROR:
        ctx.shutdown(reason="session closed")
        return
    kind = type(ev.error).__name__ if ev.error is not None else "session_error"
    task = asyncio.create_task(fail_call(ctx, kind=kind, settings=settings, agent=agent, reporter=reporter))
    pending: set[asyncio.Task[None]] = ctx.proc.userdata.setdefault("auralink_pending", set())
    pending.add(task)  # held until done; fail_call ends the job
    task.add_done_callback(pending.discard)


async def _close_all(toolsets: Sequence[MCPServerToolset]) -> None:
    for toolset in toolsets:
        await toolset.aclose()


def prewarm(proc: JobProcess) -> None:
    from livekit.plugins import silero

    proc.userdata["vad"] = silero.VAD.load()


def _metadata(raw: str | None) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _moderation_stage(
    ctx: JobContext, policy: ModerationPolicy, reporter: CallReporter | None
) -> ModerationStage:
    """The job's moderation: decisions reported to the call record, actions carried out in the room."""
    sink = LiveKitActionSink(
        room=ctx.room,
        lkapi=ctx.api,
        report=reporting_records(reporter.moderation) if reporter is not None else None,
    )
    stage = ModerationStage(Moderator(policy), sink=sink)
    ctx.add_shutdown_callback(stage.aclose)
    return stage


async def entrypoint(ctx: JobContext) -> None:
    settings = get_settings()
    try:
        spec = resolve_spec(ctx.job.metadata, settings)
        # the organisation's rules (dispatch metadata) are a floor under the agent's own
        policy = job_policy(spec, _metadata(ctx.job.metadata))
        # MCP servers start side by side; one that cannot start is logged and left out
        toolsets = await start_toolsets(spec.mcp, data_dir=settings.data_dir) if spec.mcp else []
        ctx.add_shutdown_callback(lambda: _close_all(toolsets))
        session = build_session(
            spec, settings=settings, vad_model=ctx.proc.userdata.get("vad"), tools=toolsets
        )
        agent = build_agent(spec)
    except AuraLinkError as e:
        logger.error("job %s cannot start: %s", ctx.job.id, e)
        # the caller hears an apology and is hung up; the call record says it failed
        await fail_call(
            ctx, kind="agent_start_failed", settings=settings, agent=_agent_name(ctx), connected=False
        )
        return
    if spec.turn.detection == "eot":
        from livekit.local_inference import init_eot

        await asyncio.to_thread(init_eot)  # before the first turn, off the event loop
    vad_model = ctx.proc.userdata.get("vad")
    if vad_model is not None:  # one job per process: tune the prewarmed VAD for this agent
        vad_model.update_options(min_silence_duration=spec.turn.vad_silence_s)
    await ctx.connect()
    memory = await _job_memory(ctx, spec, settings) if spec.memory.enabled else None
    agent_known = ""
    if memory is not None:
        agent_known = await _known(memory)
        agent = build_agent(spec, memory=memory, known=agent_known)
    # transcript lines, latency, usage and errors go to the API off the hot path (reporting.py)
    reporter = await open_reporter(ctx, settings, agent=spec.name)
    if reporter is not None:
        watch_session(ctx, session, reporter)
    stage = _moderation_stage(ctx, policy, reporter) if policy is not None else None
    if stage is not None:
        stage.warm()  # the offline classifier loads while the session starts
    meeting = spec.meeting.transcribe  # the transcriber hears and records every human (meeting/)
    _publish_turn_reports(session, ctx.room, reporter=reporter, user_lines=not meeting)
    # when the caller leaves, the session closes; end the job too, so the process is freed
    # (a meeting ends when its last human leaves: the transcriber sees to that)
    session.on(
        "close", lambda ev: _on_session_close(ctx, ev, settings=settings, agent=spec.name, reporter=reporter)
    )
    if meeting:  # the transcriber screens each line before the session hears it
        await session.start(agent=agent, room=ctx.room, room_options=meeting_room_options())
        await attach_meeting(
            ctx, spec, session, settings=settings, vad_model=vad_model, reporter=reporter, moderation=stage
        )
    elif stage is not None:  # one-to-one: the agent screens each turn, the chat input each message
        agent = build_agent(spec, memory=memory, known=agent_known, moderation=stage)
        options = room_io.RoomOptions(text_input=moderated_text_input(stage))
        await session.start(agent=agent, room=ctx.room, room_options=options)
    else:
        await session.start(agent=agent, room=ctx.room)
    attach_phone(ctx, spec, session)  # phone callers: keypad turns, phone tools, voicemail
    logger.info(
        "agent %s joined room %s (stt=%s llm=%s tts=%s turn=%s)",
        spec.name,
        ctx.room.name,
        spec.stt.provider,
        "langgraph" if spec.langgraph else spec.llm.provider,
        spec.tts.provider,
        spec.turn.detection,
    )
    if spec.greeting:
        session.say(spec.greeting)


async def _job_memory(ctx: JobContext, spec: AgentSpec, settings: Settings) -> ConversationMemory | None:
    """This call's memory, keyed by the caller (phone number for SIP callers, else identity),
    in the organisation the dispatch names; None (the call goes on without) if it cannot open."""
    try:
        participant = await asyncio.wait_for(ctx.wait_for_participant(), timeout=10)
    except TimeoutError:
        logger.warning("memory: nobody joined within 10 s; this call goes without memory")
        return None
    phone = participant.attributes.get("sip.phoneNumber", "")
    subject = Subject("phone", phone) if phone else Subject("identity", participant.identity)
    try:
        org = json.loads(ctx.job.metadata or "{}").get("org") or LOCAL_ORG
    except (json.JSONDecodeError, AttributeError):
        org = LOCAL_ORG
    try:
        service = MemoryService.from_settings(settings)
    except Exception as e:  # a bad setting or a store that will not open: the call goes on
        logger.warning("memory: cannot open the store (%s); this call goes without memory", type(e).__name__)
        return None
    memory = ConversationMemory(
        service=service, spec=spec, org_id=str(org), subject=subject, conversation=ctx.room.name
    )

    async def finish() -> None:  # runs when the job ends: extract and keep, then close
        try:
            await memory.finish()
        except Exception as e:
            logger.warning("memory: keeping this conversation failed: %s", type(e).__name__)
        finally:
            await service.aclose()

    ctx.add_shutdown_callback(finish)
    return memory


async def _known(memory: ConversationMemory) -> str:
    try:
        return await memory.start()
    except Exception as e:  # an unreachable embeddings server must not stop the call
        logger.warning("memory: prefetch failed (%s); starting without the profile", type(e).__name__)
        return ""


def _publish_turn_reports(
    session: AgentSession[Any],
    room: rtc.Room,
    *,
    reporter: CallReporter | None = None,
    user_lines: bool = True,
) -> set[asyncio.Future[None]]:
    """Send each turn's latency report to the room on ``auralink.metrics`` (bench and page read it),
    and each final line with its figures to ``reporter`` (the API's call record).

    One JSON object per chat message: ``{"type": "turn", "role": "user"|"assistant", "metrics": {...}}``
    with livekit-agents' per-turn figures (transcription and end-of-turn delay for the user; LLM
    first token, first sentence, TTS first byte and end-to-end latency for the agent). No text.
    ``user_lines=False`` leaves the users' lines to someone else (a meeting's transcriber).
    """
    pending: set[asyncio.Future[None]] = set()

    def on_item(ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if not isinstance(item, ChatMessage):
            return
        if reporter is not None and (user_lines or item.role != "user"):
            reporter.message(item, speaker=speaker_of(session, room, item.role))
        if not item.metrics:
            return
        if room.connection_state != rtc.ConnectionState.CONN_CONNECTED:
            return
        figures = {k: v for k, v in item.metrics.items() if isinstance(v, int | float)}
        payload = json.dumps({"type": "turn", "role": item.role, "metrics": figures})
        fut = asyncio.ensure_future(
            room.local_participant.publish_data(payload, topic=METRICS_TOPIC, reliable=True)
        )
        pending.add(fut)
        fut.add_done_callback(pending.discard)

    session.on("conversation_item_added", on_item)
    return pending


def _load(server: AgentServer) -> float:
    return min(len(server.active_jobs) / _MAX_JOBS, 1.0)


def run_worker(settings: Settings) -> int:
    """Run the worker until SIGINT/SIGTERM (then drain). Blocks."""
    catalogue = load_catalogue(settings.agents_file)  # fail fast on a broken catalogue
    for issue in check_credentials(catalogue, filename=str(settings.agents_file)):
        logger.error("%s (calls to that agent will fail until it is set)", issue)
    if settings.livekit_api_key is None or settings.livekit_api_secret is None:
        raise ConfigError("the worker needs LIVEKIT_API_KEY and LIVEKIT_API_SECRET (or run `auralink up`)")
    # livekit-agents would preload its on-device end-of-turn model (~240 MB) into every job
    # process; AuraLink loads it only in the jobs of agents with `turn.detection: eot`
    os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")
    server = AgentServer(
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret.get_secret_value(),
        host="127.0.0.1",
        port=settings.worker_port,
        num_idle_processes=settings.worker_idle_processes,
        setup_fnc=prewarm,
        load_fnc=_load,
        load_threshold=0.99,
        job_memory_warn_mb=500,
        initialize_process_timeout=60.0,
        shutdown_process_timeout=45.0,  # a meeting's final notes and reports, on a slow CPU
    )
    server.rtc_session(entrypoint, agent_name=settings.worker_agent_name)
    ready_file = settings.worker_ready_file
    if ready_file is not None:
        ready_file.unlink(missing_ok=True)

        def on_registered(worker_id: str, _info: object) -> None:
            # the HTTP health endpoint answers before registration; this marks "can take calls"
            ready_file.parent.mkdir(parents=True, exist_ok=True)
            ready_file.write_text(worker_id)

        server.on("worker_registered", on_registered)
    logger.info(
        "worker for %d agent(s) (%s) on %s as agent_name=%s",
        len(catalogue.agents),
        ", ".join(catalogue.names),
        settings.livekit_url,
        settings.worker_agent_name,
    )
    # livekit-agents installs its own log handler (JSON lines in `start` mode); one handler, not two
    logging.getLogger().handlers.clear()
    sys.argv = [sys.argv[0], "start", "--log-level", settings.log_level.upper()]
    cli.run_app(server)
    return 0
