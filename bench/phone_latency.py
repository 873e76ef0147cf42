"""Caller-side latency of phone calls (SIP trunk, Twilio Media Streams) against the browser path,
and how many Media Streams calls one bridge process holds.

    .venv/bin/python bench/phone_latency.py [--quick] [--turns N]

Part 1 starts a private stack (Redis, livekit-server, livekit-sip, model server, worker, API) and
talks to the `assistant` agent N turns on each path, one call at a time, in the same run:

- **webrtc**: a Python rtc participant in a dev-session room (the foundation benchmark's path);
- **media_streams**: Twilio's side of a Media Streams socket (``auralink.testing.twilio_client``:
  the signed voice webhook, then μ-law 20 ms frames in real time) to the API's bridge;
- **sip**: SIPp places the INVITE as the carrier would, to a number attached through the API, and
  an RTP endpoint in this process (``auralink.testing.rtp_phone``) speaks and listens in G.711.

A turn's latency is the time from the end of the question's speech (its last loud 10 ms frame
sent, on every path) to the first non-silent frame of the answer received, at the caller. Each path's p50/p95 and its difference from the
webrtc p50 (what the phone path adds) are printed.

Part 2 measures the bridge alone: a stack without the worker (no agent, no models), where for each
Media Streams call this process joins the call's room as an echo participant that plays the
caller's audio straight back. Calls are added in steps (1, 2, 4, 8, … up to --max-calls), all
speaking at once; each call's round trip (question sent → first echoed audio back through the
bridge) is timed, and the step where p95 passes twice the one-call p95 (or calls fail) ends the
ramp. ``media_streams_max_calls`` is the last step that held; the API process's CPU share is
printed per step.

The last line is one JSON object: webrtc_p50_ms, sip_p50_ms, media_streams_p50_ms,
media_streams_max_calls and the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livekit import api, rtc  # noqa: E402

from auralink.api.livekit_client import open_livekit_api  # noqa: E402
from auralink.cli.stack import Stack  # noqa: E402
from auralink.testing import VoiceClient, read_wav_16k  # noqa: E402
from auralink.testing.rtp_phone import pcm_to_mulaw_frames  # noqa: E402
from auralink.testing.sip_carrier import carrier, phone_number  # noqa: E402
from auralink.testing.stack import private_stack_settings  # noqa: E402
from auralink.testing.twilio_client import TwilioStreamClient, answer_call  # noqa: E402

WAVS = [REPO / "tests/fixtures/capital_of_france.wav", REPO / "tests/fixtures/ocean_fact.wav"]
SIPP_SCENARIO = REPO / "tests/fixtures/sipp/carrier_uac_pcmu.xml"
PASSWORD = "bench password 0123"
SILENCE_RMS = 300.0
TOKEN = "auralink-bench-twilio-auth-token"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def trailing_quiet_s(pcm: np.ndarray, rate: int = 16000) -> float:
    """Seconds after the last loud 10 ms frame (RMS > 300, VoiceClient's speech threshold), so every
    path times a turn from the same instant: the end of the speech, not of the file's padding."""
    step = rate // 100
    frames = len(pcm) // step
    for i in range(frames - 1, -1, -1):
        chunk = pcm[i * step : (i + 1) * step].astype(np.float64)
        if np.sqrt(np.mean(chunk**2)) > SILENCE_RMS:
            return (len(pcm) - (i + 1) * step) / rate
    return 0.0


def _r(x: float) -> float | None:
    return None if x != x else round(x, 1)  # NaN → null


def _cpu_seconds(pid: int | None) -> float:
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _org(http: httpx.AsyncClient) -> str:
    email = f"bench-{secrets.token_hex(4)}@phone.bench"
    body = {"name": "Phone bench", "owner": {"email": email, "name": "Bench", "password": PASSWORD}}
    r = await http.post("/v1/organisations", json=body)
    r.raise_for_status()
    (await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})).raise_for_status()
    org: str = r.json()["organisation"]["id"]
    return org


async def _turns(
    name: str,
    turns: int,
    say: Callable[[np.ndarray], Awaitable[float]],
    heard_after: Callable[[float, float], Awaitable[float]],
    quiet: Callable[[], Awaitable[None]],
) -> list[float]:
    out: list[float] = []
    for i in range(turns):
        end = await say(read_wav_16k(WAVS[i % len(WAVS)]))
        first = await heard_after(end, 90.0)
        out.append((first - end) * 1000)
        log(f"  {name} turn {i + 1}/{turns}: {out[-1]:.0f} ms")
        await quiet()
    return out


# ---------------------------------------------------------------------------------- the paths
async def webrtc_path(http: httpx.AsyncClient, turns: int) -> list[float]:
    r = await http.post("/v1/dev/sessions", json={"agent": "assistant"})
    r.raise_for_status()
    sess = r.json()
    async with VoiceClient(url=sess["url"], token=sess["token"]) as client:
        await client.wait_for_audio(after=0, timeout=120)  # the greeting
        await client.wait_until_quiet(quiet_for=0.8, timeout=60)

        async def heard(after: float, timeout: float) -> float:
            return await client.wait_for_audio(after=after, timeout=timeout)

        return await _turns(
            "webrtc",
            turns,
            client.say,
            heard,
            lambda: client.wait_until_quiet(quiet_for=0.8, timeout=90),
        )


class _QuietLine:
    """Twilio streams a silent line between utterances; this keeps one going."""

    def __init__(self, call: TwilioStreamClient) -> None:
        self.call = call
        self.task: asyncio.Task[float] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.call.silence(3600))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None


async def media_streams_path(api_url: str, org: str, turns: int) -> list[float]:
    call_sid = "CA" + secrets.token_hex(16)
    twiml = await answer_call(
        api_url=api_url,
        path=f"/v1/telephony/twilio/voice?agent=assistant&org={org}",
        auth_token=TOKEN,
        call_sid=call_sid,
        caller="+14155550" + str(secrets.randbelow(1000)).zfill(3),
    )
    async with TwilioStreamClient(url=twiml.url, call_sid=call_sid, parameters=twiml.parameters) as call:
        line = _QuietLine(call)
        line.start()
        try:
            await call.wait_for_audio(after=0, timeout=120)
            await call.wait_until_quiet(quiet_for=0.8, timeout=60)

            async def say(pcm: np.ndarray) -> float:
                await line.stop()
                try:
                    return await call.play(pcm, rate=16000) - trailing_quiet_s(pcm)
                finally:
                    line.start()

            async def heard(after: float, timeout: float) -> float:
                return await call.wait_for_audio(after=after, timeout=timeout)

            return await _turns(
                "media_streams", turns, say, heard, lambda: call.wait_until_quiet(quiet_for=0.8, timeout=90)
            )
        finally:
            await line.stop()
            with contextlib.suppress(Exception):
                await call.stop()


async def sip_path(http: httpx.AsyncClient, settings: Any, turns: int, run: Path) -> list[float]:
    number, caller = phone_number("+1555"), phone_number("+1444")
    body = {"number": number, "agent": "assistant", "inbound": {"allowed_addresses": ["127.0.0.1/32"]}}
    r = await http.post("/v1/phone-numbers", json=body)
    r.raise_for_status()
    async with carrier(run) as line, contextlib.aclosing(open_livekit_api(settings)) as livekit:
        phone = line.phone
        await line.call(SIPP_SCENARIO, sip_port=settings.sip_port, number=number, caller=caller)
        try:
            await line.connected(timeout=120)
            await phone.wait_for_speech(after=0, seconds=0.5, timeout=120)  # the greeting
            await phone.wait_until_quiet(quiet_for=0.8, timeout=60)

            async def say(pcm: np.ndarray) -> float:
                return await phone.say(pcm_to_mulaw_frames(pcm)) - trailing_quiet_s(pcm)

            async def heard(after: float, timeout: float) -> float:
                return await phone.wait_for_audio(after=after, timeout=timeout)

            return await _turns(
                "sip", turns, say, heard, lambda: phone.wait_until_quiet(quiet_for=0.8, timeout=90)
            )
        finally:
            rooms = (await livekit.room.list_rooms(api.ListRoomsRequest())).rooms
            for room in rooms:
                if room.name.startswith("call-") and caller in room.name:
                    await livekit.room.delete_room(
                        api.DeleteRoomRequest(room=room.name)
                    )  # livekit-sip sends BYE
            with contextlib.suppress(TimeoutError):
                await line.finished(timeout=20)


async def part1(turns: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="auralink-phone-bench-"))
    settings = private_stack_settings(data, agents_file=REPO / "agents.yaml", idle_processes=1)
    stack = Stack(settings, run_dir=data / "run", on_event=lambda line: log("  " + line))
    log(f"starting the stack in {data} …")
    stack.start()
    s = stack.settings
    api_url = f"http://{s.api_host}:{s.api_port}"
    result: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            org = await _org(http)
            webrtc = await webrtc_path(http, turns)
            media = await media_streams_path(api_url, org, turns)
            if "sip" in stack.names:
                sip = await sip_path(http, s, turns, data)
            else:
                log("livekit-sip is not built (scripts/setup.sh step 5): no SIP figures")
                sip = []
    finally:
        stack.stop()
    w50 = pct(webrtc, 0.5)
    result.update(
        turns=turns,
        webrtc_p50_ms=_r(w50),
        webrtc_p95_ms=_r(pct(webrtc, 0.95)),
        media_streams_p50_ms=_r(pct(media, 0.5)),
        media_streams_p95_ms=_r(pct(media, 0.95)),
        sip_p50_ms=_r(pct(sip, 0.5)),
        sip_p95_ms=_r(pct(sip, 0.95)),
        media_streams_added_p50_ms=_r(pct(media, 0.5) - w50),
        sip_added_p50_ms=_r(pct(sip, 0.5) - w50),
    )
    return result


# ------------------------------------------------------------------------ part 2: the bridge
class Echo:
    """Joins a call's room and plays every frame of the caller's audio straight back."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.room = rtc.Room()
        self.source = rtc.AudioSource(48000, 1)
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.room.on("track_subscribed", self._on_track)
        await self.room.connect(self.url, self.token)
        track = rtc.LocalAudioTrack.create_audio_track("echo", self.source)
        await self.room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )

    def _on_track(self, track: rtc.Track, *_: Any) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self.tasks.append(asyncio.create_task(self._pump(track)))

    async def _pump(self, track: rtc.Track) -> None:
        async for event in rtc.AudioStream(track, sample_rate=48000, num_channels=1):
            await self.source.capture_frame(event.frame)

    async def aclose(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.room.disconnect()
        await self.source.aclose()


async def _echo_call(api_url: str, org: str, settings: Any, rounds: int, go: asyncio.Event) -> list[float]:
    """One Media Streams call in an echo room: ``rounds`` round trips once ``go`` is set."""
    call_sid = "CA" + secrets.token_hex(16)
    twiml = await answer_call(
        api_url=api_url,
        path=f"/v1/telephony/twilio/voice?agent=assistant&org={org}",
        auth_token=TOKEN,
        call_sid=call_sid,
    )
    room = f"twilio-{call_sid}"
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True)
    token = (
        api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())
        .with_identity("echo")
        .with_kind("agent")  # like an agent: its audio is the bridge's "agent" source (marks, clear)
        .with_grants(grants)
        .to_jwt()
    )
    wav = read_wav_16k(WAVS[0])[: 16000 * 3 // 2]  # 1.5 s of speech
    out: list[float] = []
    async with TwilioStreamClient(url=twiml.url, call_sid=call_sid, parameters=twiml.parameters) as call:
        line = _QuietLine(call)
        line.start()
        echo = Echo(settings.livekit_url, token)
        try:
            await echo.start()
            await asyncio.sleep(1.5)  # both sides subscribed
            await go.wait()
            for _ in range(rounds):
                await line.stop()
                sent = time.monotonic()
                play = asyncio.create_task(call.play(wav, rate=16000))
                back = await call.wait_for_audio(after=sent, timeout=30)
                await play
                line.start()
                out.append((back - sent) * 1000)
                await call.wait_until_quiet(quiet_for=0.5, timeout=30)
        finally:
            await line.stop()
            await echo.aclose()
            with contextlib.suppress(Exception):
                await call.stop()
    return out


async def part2(max_calls: int, rounds: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="auralink-bridge-bench-"))
    settings = private_stack_settings(data, agents_file=REPO / "agents.yaml", idle_processes=1)
    stack = Stack(settings, services=["redis", "livekit", "api"], run_dir=data / "run")
    log("bridge ramp: starting redis, livekit-server and the API (no worker) …")
    stack.start()
    s = stack.settings
    api_url = f"http://{s.api_host}:{s.api_port}"
    steps: list[dict[str, Any]] = []
    held = 0
    try:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            org = await _org(http)
        base_p95 = float("nan")
        calls = 1
        while calls <= max_calls:
            go = asyncio.Event()
            jobs = [asyncio.create_task(_echo_call(api_url, org, s, rounds, go)) for _ in range(calls)]
            await asyncio.sleep(2.0 + 0.15 * calls)  # all connected and subscribed
            cpu0, t0 = _cpu_seconds(stack.pid("api")), time.monotonic()
            go.set()
            done = await asyncio.gather(*jobs, return_exceptions=True)
            cpu = (_cpu_seconds(stack.pid("api")) - cpu0) / max(time.monotonic() - t0, 1e-9)
            failed = [d for d in done if isinstance(d, BaseException)]
            trips = [x for d in done if isinstance(d, list) for x in d]
            p50, p95 = pct(trips, 0.5), pct(trips, 0.95)
            if calls == 1:
                base_p95 = p95
            steps.append(
                {
                    "calls": calls,
                    "p50_ms": _r(p50),
                    "p95_ms": _r(p95),
                    "failed": len(failed),
                    "api_cpu": round(cpu, 2),
                }
            )
            log(
                f"  {calls} calls: round trip p50 {p50:.0f} ms p95 {p95:.0f} ms, {len(failed)} failed, API CPU {cpu:.2f}"
            )
            if failed:
                log(f"    first failure: {type(failed[0]).__name__}: {failed[0]}")
            if failed or not trips or p95 > 2 * base_p95:
                break
            held = calls
            calls *= 2
    finally:
        stack.stop()
    return {
        "media_streams_max_calls": held,
        "media_streams_max_calls_capped": held * 2 > max_calls,
        "bridge_round_trip_p50_ms_1": steps[0]["p50_ms"] if steps else None,
        "bridge_round_trip_p95_ms_1": steps[0]["p95_ms"] if steps else None,
        "bridge_ramp": steps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 turns per path; bridge ramp to 8 calls")
    ap.add_argument("--turns", type=int, default=8)
    ap.add_argument("--max-calls", type=int, default=64)
    args = ap.parse_args()
    os.environ["TWILIO_AUTH_TOKEN"] = TOKEN  # the stacks' APIs check the webhook signatures with it
    turns = 3 if args.quick else args.turns
    max_calls = 8 if args.quick else args.max_calls
    result = asyncio.run(part1(turns))
    result.update(asyncio.run(part2(max_calls, 2 if args.quick else 3)))
    result["machine"] = f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}"
    result["date"] = time.strftime("%Y-%m-%d")
    for k, v in result.items():
        if k != "bridge_ramp":
            print(f"{k:32} {v}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
