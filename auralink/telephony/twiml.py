"""TwiML that answers a Twilio voice webhook by connecting the call to our Media Streams socket.

``<Response><Connect><Stream url="wss://…/v1/telephony/twilio/media" statusCallback="…">``
with one ``<Parameter>`` per custom parameter; Twilio hands those back in the ``start``
message's ``customParameters`` (a Stream URL's query string is not passed on, so everything the
socket needs travels as parameters). Built with the twilio SDK's ``VoiceResponse``, which
escapes the values.
"""

from __future__ import annotations

__all__ = ["connect_stream", "stream_url"]

from collections.abc import Mapping

from twilio.twiml.voice_response import (  # twilio ships no stubs
    Connect,
    VoiceResponse,
)


def stream_url(base_url: str, path: str) -> str:
    """The ``wss://`` (or ``ws://`` for a plain-HTTP base) URL of ``path`` under ``base_url``."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return f"{base}/{path.lstrip('/')}"


def connect_stream(*, url: str, parameters: Mapping[str, str], status_callback: str | None = None) -> str:
    """The TwiML document (XML text) that connects the call's audio to the socket at ``url``."""
    response = VoiceResponse()
    connect = Connect()
    options = (
        {"status_callback": status_callback, "status_callback_method": "POST"} if status_callback else {}
    )
    stream = connect.stream(url=url, **options)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)
