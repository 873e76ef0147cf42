"""A phone caller whose agent cannot run hears an apology and is hung up; the call is failed.

The organisation's agent names a BYOK LLM whose key variable is not set on the worker, so the job
cannot build its session. The caller comes through Twilio Media Streams (the test plays Twilio):
it must hear the recorded apology as audio, then the server closes the stream (Twilio would end
the call), and the API's call record is ``failed`` with the error counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from typing import Any

import httpx
import pytest

from auralink.telephony import mulaw
from auralink.testing.twilio_client import TwilioStreamClient, answer_call
from tests.integration.test_call_records import _ended_call

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
UNSET = "AURALINK_TEST_KEY_NOBODY_SET"

BROKEN = {
    "name": "broken",
    "instructions": "You never get to speak.",
    "greeting": "Hello!",
    "llm": {"provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": UNSET},
}


async def test_a_caller_whose_agent_cannot_start_hears_an_apology_and_is_hung_up(stack: Any) -> None:
    assert UNSET not in os.environ
    s = stack.settings
    api_url = f"http://{s.api_host}:{s.api_port}"
    email = f"owner-{secrets.token_hex(4)}@failure.test"
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        body = {"name": "Failing Line", "owner": {"email": email, "name": "Owner", "password": PASSWORD}}
        r = await http.post("/v1/organisations", json=body)
        assert r.status_code == 201, r.text
        org = r.json()["organisation"]["id"]
        r = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        r = await http.post("/v1/agents", json=BROKEN)
        assert r.status_code == 201, r.text

        call_sid = "CA" + secrets.token_hex(16)
        twiml = await answer_call(
            api_url=api_url,
            path=f"/v1/telephony/twilio/voice?agent=broken&org={org}",
            auth_token=os.environ["TWILIO_AUTH_TOKEN"],
            call_sid=call_sid,
            caller="+14155550142",
        )
        async with TwilioStreamClient(url=twiml.url, call_sid=call_sid, parameters=twiml.parameters) as call:
            line = asyncio.create_task(call.silence(600))  # a quiet line, as Twilio streams it
            try:
                first = await call.wait_for_audio(after=0, timeout=120)
                # the server ends the stream by itself once the apology has played
                await asyncio.wait_for(call.closed.wait(), timeout=60)
            finally:
                line.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await line
            heard = [r for r in call.media() if r.at >= first and r.loud]
            assert len(heard) * 0.020 >= 2.0, f"{len(heard) * 0.02:.1f} s of apology heard"
            assert mulaw.rms(b"".join(r.pcm for r in heard)) > 1000
            assert call.close_code == 1000, call.close_code
            closed_after = time.monotonic() - first

        record = await _ended_call(http, f"twilio-{call_sid}", timeout=120)
        assert record["status"] == "failed", record
        detail = (await http.get(f"/v1/calls/{record['id']}")).json()
        assert detail["errors"] >= 1, detail
        assert closed_after < 45
