"""LiveKit server API failures as AuraLink errors.

The server-side LiveKit calls (SIP trunks and dispatch rules here, rooms and dispatches in the
API) fail in two ways: LiveKit refuses (a :class:`livekit.api.TwirpError`), or it cannot be
reached. Both become a :class:`~auralink.core.ProviderError` that says what was being done; only
the second is worth retrying.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from livekit import api

from auralink.core import ProviderError


@asynccontextmanager
async def livekit_call(doing: str) -> AsyncIterator[None]:
    """LiveKit's and the network's failures while ``doing`` become :class:`ProviderError`."""
    try:
        yield
    except api.TwirpError as e:
        raise ProviderError(f"LiveKit refused to {doing}: {e.message} ({e.code})") from e
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise ProviderError(
            f"LiveKit is not reachable to {doing} ({type(e).__name__}); is livekit-server running?",
            retryable=True,
        ) from e


def not_found(e: ProviderError) -> bool:
    """Whether :func:`livekit_call` raised ``e`` because LiveKit said the thing does not exist."""
    cause = e.__cause__
    return isinstance(cause, api.TwirpError) and (cause.code == "not_found" or cause.status == 404)
