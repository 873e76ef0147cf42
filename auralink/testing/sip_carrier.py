"""The phone network's side of SIP calls, for tests and ``bench/``.

:func:`carrier` opens an RTP endpoint in this process (an :class:`RtpPhone` sending a 20 ms PCMU
packet every 20 ms) and runs SIPp with a scenario from ``tests/fixtures/sipp`` either as the
carrier calling a number on livekit-sip (:meth:`Carrier.call`) or as the callee a carrier rings
for an outbound call (:meth:`Carrier.answer`). The scenarios write livekit-sip's RTP address from
its SDP to a file; :meth:`Carrier.connected` points the phone at it. On the way out SIPp is
killed if it is still running, and when the block failed, SIPp's own traces and the last lines
of the stack's logs are printed with the failure.
"""

from __future__ import annotations

__all__ = ["Carrier", "carrier", "phone_number"]

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from .ports import free_port
from .rtp_phone import RtpPhone

LogTail = Callable[[str, int], Sequence[str]]  # Stack.log_tail


def phone_number(prefix: str) -> str:
    """A random E.164 number under ``prefix`` (``+1555`` → ``+1555`` and seven digits)."""
    return prefix + str(secrets.randbelow(10**7)).zfill(7)


@dataclass
class Carrier:
    run: Path  # SIPp's working folder: its traces and the media file
    phone: RtpPhone
    rtp_port: int
    sipp: asyncio.subprocess.Process | None = None

    @property
    def media_file(self) -> Path:
        return self.run / "sipp_media.txt"

    async def call(
        self,
        scenario: Path,
        *,
        sip_port: int,
        number: str,
        caller: str,
        keys: Mapping[str, str] | None = None,
    ) -> None:
        """SIPp calls ``number`` on livekit-sip (127.0.0.1:``sip_port``) from ``caller``; ``keys``
        are more ``-key name value`` pairs for the scenario."""
        extra = [arg for name, value in (keys or {}).items() for arg in ("-key", name, value)]
        await self._sipp(
            f"127.0.0.1:{sip_port}", "-sf", str(scenario), "-p", str(free_port()), "-s", number,
            "-key", "caller", caller, *extra,
        )  # fmt: skip

    async def answer(self, scenario: Path, *, port: int) -> None:
        """SIPp waits on ``port`` as the callee of one outbound call; returns once it listens."""
        await self._sipp("-sf", str(scenario), "-p", str(port))
        await asyncio.sleep(0.5)  # SIPp binds its port

    async def _sipp(self, *args: str) -> None:
        assert self.sipp is None or self.sipp.returncode is not None, "SIPp is still on a call"
        self.media_file.unlink(missing_ok=True)
        self.sipp = await asyncio.create_subprocess_exec(
            "sipp", *args, "-m", "1", "-i", "127.0.0.1",
            "-key", "rtp_host", "127.0.0.1", "-key", "rtp_port", str(self.rtp_port),
            "-key", "media_file", str(self.media_file),
            "-nostdin", "-timeout", "400s", "-trace_err", "-error_file", str(self.run / "sipp_errors.log"),
            "-trace_msg", "-message_file", str(self.run / "sipp_messages.log"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=self.run,
        )  # fmt: skip

    async def connected(self, *, timeout: float) -> None:
        """Wait until the call is answered (livekit-sip's 200 OK) and send the audio there."""
        *_, host, port = (await self.written(self.media_file, what="the answer", timeout=timeout)).split()
        self.phone.peer = (host, int(port))

    async def written(self, path: Path, *, what: str, timeout: float) -> str:
        """What the scenario wrote to ``path`` (on ``what``), once it has."""
        sipp = self.sipp
        assert sipp is not None, "no SIPp call"
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(path.exists):
            assert sipp.returncode is None, f"sipp exited ({sipp.returncode}) before {what}"
            assert time.monotonic() < deadline, f"no {what} within {timeout:.0f}s"
            await asyncio.sleep(0.1)
        return (await asyncio.to_thread(path.read_text)).strip()

    async def finished(self, *, timeout: float) -> int:
        """SIPp's exit status once its scenario ended (0: every step as written)."""
        assert self.sipp is not None, "no SIPp call"
        code = await asyncio.wait_for(self.sipp.wait(), timeout=timeout)
        self.sipp = None
        return code

    def diagnostics(self, logs: LogTail | None = None) -> str:
        """The tail of the stack's sip and worker logs and SIPp's traces."""
        parts = []
        if logs is not None:
            parts = [
                f"--- {name}.log\n" + "\n".join(line[:300] for line in logs(name, 30))
                for name in ("sip", "worker")
            ]
        for name in ("sipp_errors.log", "sipp_messages.log"):
            path = self.run / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text()[-3000:]}")
        return "\n".join(parts)

    async def _kill(self) -> None:
        if self.sipp is not None and self.sipp.returncode is None:
            self.sipp.kill()
            await self.sipp.wait()
        self.sipp = None


@asynccontextmanager
async def carrier(run: Path, *, logs: LogTail | None = None) -> AsyncIterator[Carrier]:
    """An RTP endpoint sending every 20 ms and a slot for SIPp; ``logs`` (``stack.log_tail``)
    go into the diagnostics printed when the block fails."""
    loop = asyncio.get_running_loop()
    transport, phone = await loop.create_datagram_endpoint(RtpPhone, local_addr=("127.0.0.1", 0))
    sender = asyncio.create_task(phone.send_forever(), name="rtp-phone")
    line = Carrier(run=run, phone=phone, rtp_port=transport.get_extra_info("sockname")[1])
    try:
        yield line
    except BaseException:
        print(line.diagnostics(logs))
        raise
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        transport.close()
        await line._kill()
