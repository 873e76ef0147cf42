"""The tools an agent gets while it is on a phone call: ``send_dtmf``, ``transfer_call``, ``end_call``.

- ``send_dtmf(digits)`` presses keys on the line (an IVR menu, an extension) with
  ``publish_dtmf``, the way livekit-agents' own ``send_dtmf_events`` does;
- ``transfer_call(warm, reason)`` hands the caller to the human named by the agent's
  ``phone.transfer_to`` (agents.yaml, never the model: a prompt cannot send a call anywhere
  else). Cold: LiveKit's ``TransferSIPParticipant`` (a SIP REFER through the trunk). Warm:
  livekit-agents' ``WarmTransferTask`` puts the caller on hold, dials the human into a side room
  over a LiveKit outbound trunk, briefs them from the conversation, and moves them in;
- ``end_call()`` waits for the goodbye to be spoken, then deletes the room, which hangs up the
  SIP leg (or the Media Streams bridge), and ends the job.

Every tool answers with a sentence for the model; a failing LiveKit request is reported, never
raised into the session. Digits, numbers and reasons are personal data and stay out of log lines.
"""

from __future__ import annotations

__all__ = ["PHONE_TOOL_NAMES", "CallLine", "PhoneTools", "sip_destination"]

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from livekit import api
from livekit.agents import FunctionTool, RunContext, function_tool
from livekit.agents.beta.workflows.utils import DtmfEvent, dtmf_event_to_code

from auralink.core.spec import PhoneSpec

logger = logging.getLogger("auralink.agents")

PHONE_TOOL_NAMES = ("send_dtmf", "transfer_call", "end_call")

#: seconds between two keys sent with send_dtmf (livekit-agents uses the same spacing)
DTMF_GAP_S = 0.3
_MAX_DIGITS = 32
_DIGITS = re.compile(r"^[0-9*#A-Dw]+$")


def sip_destination(to: str) -> str:
    """What ``TransferSIPParticipant``/``CreateSIPParticipant`` expect: ``tel:+E164`` or a SIP URI."""
    return f"tel:{to}" if to.startswith("+") else to


@dataclass(frozen=True, slots=True)
class CallLine:
    """The far end of this call: its participant identity and how it reached the room."""

    identity: str
    kind: Literal["sip", "media-streams"]
    outbound: bool = False


class PhoneTools:
    """The phone tools bound to one call.

    ``room`` is the job's ``rtc.Room`` (``local_participant.publish_dtmf``, ``name``), ``lkapi`` a
    ``livekit.api.LiveKitAPI`` (``sip`` and ``room`` services), ``shutdown`` ends the job
    (``JobContext.shutdown``). ``warm_task`` builds the warm-transfer task (livekit-agents'
    ``WarmTransferTask``; tests pass a fake).
    """

    def __init__(
        self,
        *,
        room: Any,
        lkapi: Any,
        line: CallLine,
        spec: PhoneSpec,
        shutdown: Callable[[str], None],
        warm_task: Callable[..., Any] | None = None,
        dtmf_gap_s: float = DTMF_GAP_S,
    ) -> None:
        self.room = room
        self.lkapi = lkapi
        self.line = line
        self.spec = spec
        self.shutdown = shutdown
        self.warm_task = warm_task
        self.dtmf_gap_s = dtmf_gap_s
        self.ended = False

    def tools(self, *, taken: set[str] | frozenset[str] = frozenset()) -> list[FunctionTool[..., Any]]:
        """The tools for this call, leaving out names the agent already has (its own ``end_call``)."""
        tools: list[FunctionTool[..., Any]] = [function_tool(self.send_dtmf, name="send_dtmf")]
        if self.spec.transfer_to and self.line.kind == "sip":
            tools.append(function_tool(self.transfer_call, name="transfer_call"))
        tools.append(function_tool(self.end_call, name="end_call"))
        return [t for t in tools if t.info.name not in taken]

    # ------------------------------------------------------------------ send_dtmf
    async def send_dtmf(self, digits: str) -> str:
        """Press keys on the phone line, e.g. to choose an option in an automated menu or dial an extension.

        Args:
            digits: the keys to press in order: 0-9, * and #, e.g. "1" or "4321#". A "w" waits half a second.
        """
        keys = digits.replace(" ", "").replace(",", "")
        if not keys or len(keys) > _MAX_DIGITS or not _DIGITS.match(keys):
            return "Nothing was sent: use only the keys 0-9, * and # (and w to wait), at most 32."
        sent = 0
        try:
            for key in keys:
                if key == "w":
                    await asyncio.sleep(0.5)
                    continue
                if sent:
                    await asyncio.sleep(self.dtmf_gap_s)
                await self.room.local_participant.publish_dtmf(
                    code=dtmf_event_to_code(DtmfEvent(key)), digit=key
                )
                sent += 1
        except Exception as e:
            logger.warning("phone: sending keys failed after %s of them: %s", sent, type(e).__name__)
            return "The keys could not be sent on this line."
        return f"Pressed {' '.join(k for k in keys if k != 'w')}."

    # ------------------------------------------------------------------ transfer_call
    async def transfer_call(self, context: RunContext[Any], warm: bool = False, reason: str = "") -> str:
        """Transfer the caller to a human colleague when they ask for a person or you cannot help.

        Tell the caller you are transferring them before calling this. A cold transfer hands the
        call over at once; a warm transfer first briefs the colleague and only then connects them.

        Args:
            warm: true to brief the colleague first (they hear a summary), false to transfer at once.
            reason: why the caller is being transferred, in one short sentence, for the colleague.
        """
        target = self.spec.transfer_to
        if not target:
            return "Transfers are not set up for this agent; offer to take a message instead."
        if self.line.kind != "sip":
            return "This call cannot be transferred; offer to take a message instead."
        await context.wait_for_playout()
        if warm:
            return await self._warm(context, target, reason)
        request = api.TransferSIPParticipantRequest(
            room_name=self.room.name,
            participant_identity=self.line.identity,
            transfer_to=sip_destination(target),
            play_dialtone=False,
        )
        try:
            await self.lkapi.sip.transfer_sip_participant(request)
        except Exception as e:
            logger.warning("phone: cold transfer failed: %s", type(e).__name__)
            return "The transfer did not go through. Apologise and offer to take a message."
        logger.info("phone: caller transferred (cold) from room %s", self.room.name)
        self.ended = True
        self.shutdown("call transferred")
        return "The caller has been transferred."

    async def _warm(self, context: RunContext[Any], target: str, reason: str) -> str:
        try:
            trunk = self.spec.transfer_trunk or await self._outbound_trunk()
        except LookupError as e:
            return f"A warm transfer is not possible ({e}); offer a direct transfer or a message."
        extra = f"The assistant says the caller is being transferred because: {reason}" if reason else ""
        try:
            build = self.warm_task or _warm_transfer_task
            result = await build(
                sip_call_to=target,
                sip_trunk_id=trunk,
                chat_ctx=context.session.history,
                extra_instructions=extra,
            )
        except Exception as e:  # the human did not answer or declined: the caller stays with us
            logger.warning("phone: warm transfer did not complete: %s", type(e).__name__)
            return "Nobody could take the call right now. Tell the caller and offer to take a message."
        logger.info("phone: caller transferred (warm) in room %s", self.room.name)
        self.ended = True
        self.shutdown("call transferred")
        return f"The caller is now talking to {getattr(result, 'human_agent_identity', 'a colleague')}."

    async def _outbound_trunk(self) -> str:
        found = await self.lkapi.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
        trunks = list(found.items)
        if len(trunks) != 1:
            raise LookupError(
                "no LiveKit outbound trunk"
                if not trunks
                else "several outbound trunks; set phone.transfer_trunk"
            )
        return str(trunks[0].sip_trunk_id)

    # ------------------------------------------------------------------ end_call
    async def end_call(self, context: RunContext[Any]) -> str:
        """Hang up the phone call, after saying goodbye, when the caller is done or asks to hang up."""
        await context.wait_for_playout()
        await self.hang_up(reason="agent ended the call")
        return "Call ended."

    async def hang_up(self, *, reason: str) -> None:
        """Delete the room (every leg hangs up), then end the job. Safe to call twice."""
        if self.ended:
            return
        self.ended = True
        try:
            await self.lkapi.room.delete_room(api.DeleteRoomRequest(room=self.room.name))
        except Exception as e:  # the job still ends; livekit-server closes the empty room later
            logger.warning("phone: deleting room %s failed: %s", self.room.name, type(e).__name__)
        logger.info("phone: hung up room %s (%s)", self.room.name, reason)
        self.shutdown(reason)


async def _warm_transfer_task(**kwargs: Any) -> Any:
    from livekit.agents.beta.workflows import WarmTransferTask

    return await WarmTransferTask(**kwargs)
