"""Twilio-side provisioning: an Elastic SIP trunk pointed at livekit-sip, or a number's Media
Streams webhook, through the ``twilio`` SDK (``twilio.rest.Client``).

:func:`provision_sip_trunk` finds or creates, by friendly name, so running it twice changes
nothing the first run set up:

1. the trunk (``POST /v1/Trunks`` on trunking.twilio.com), with its termination domain;
2. its origination URI ``sip:<livekit-sip host>:<port>`` (``.../Trunks/{sid}/OriginationUrls``),
   where Twilio sends calls to the number;
3. a credential list with one username/password (``/2010-04-01/Accounts/{sid}/SIP/CredentialLists``)
   attached to the trunk for termination, so only LiveKit's outbound trunk can dial out;
4. the phone number (looked up by E.164 in ``IncomingPhoneNumbers``) attached to the trunk.

:func:`point_number_at_media_streams` instead sets the number's ``VoiceUrl`` (POST) to the
API's TwiML webhook, which answers with ``<Connect><Stream>``.

Credentials come from ``TWILIO_ACCOUNT_SID`` and the env var ``settings.twilio_auth_token_env``
names; a missing one is a :class:`MissingCredential` naming the variable. Twilio failures become
:class:`ProviderError` (retryable on 5xx). Phone numbers and passwords never reach log lines.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_SID_ENV",
    "SipTrunkProvisioned",
    "point_number_at_media_streams",
    "provision_sip_trunk",
    "twilio_client",
]

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from auralink.core import ConfigError, MissingCredential, ProviderError, Settings

logger = logging.getLogger("auralink.telephony")

ACCOUNT_SID_ENV = "TWILIO_ACCOUNT_SID"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+$")
_DOMAIN = re.compile(r"^[a-z0-9-]+\.pstn\.twilio\.com$")
_PASSWORD = re.compile(r"^(?=.*\d)(?=.*[a-z])(?=.*[A-Z]).{12,}$")


def twilio_client(
    settings: Settings, *, environ: Mapping[str, str] | None = None, http_client: Any = None
) -> Any:
    """A ``twilio.rest.Client`` for the account in the environment; ``http_client`` for tests."""
    from twilio.rest import Client

    env = os.environ if environ is None else environ
    sid = env.get(ACCOUNT_SID_ENV, "").strip()
    if not sid:
        raise MissingCredential(ACCOUNT_SID_ENV, what="Twilio provisioning")
    token = env.get(settings.twilio_auth_token_env, "").strip()
    if not token:
        raise MissingCredential(settings.twilio_auth_token_env, what="Twilio provisioning")
    if not sid.startswith("AC"):
        raise ConfigError(f"{ACCOUNT_SID_ENV} must be an account SID (AC…), not an API key or a number")
    return Client(sid, token, http_client=http_client)


@dataclass(slots=True)
class SipTrunkProvisioned:
    """What :func:`provision_sip_trunk` left in place; ``created`` names what this run added."""

    trunk_sid: str
    domain_name: str | None
    origination_url_sid: str
    phone_number_sid: str
    credential_list_sid: str | None = None
    created: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def provision_sip_trunk(
    client: Any,
    *,
    number: str,
    sip_host: str,
    sip_port: int = 5060,
    friendly_name: str = "AuraLink",
    domain_name: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> SipTrunkProvisioned:
    """Find or create the trunk that routes ``number`` to livekit-sip at ``sip_host``."""
    _check_number(number)
    if not _HOST.match(sip_host):
        raise ConfigError(f"--sip-host must be a public host name or IP address, not {sip_host!r}")
    if domain_name is not None and not _DOMAIN.match(domain_name):
        raise ConfigError("the termination domain must look like <name>.pstn.twilio.com (lowercase)")
    if (username is None) != (password is None):
        raise ConfigError("give both the SIP username and its password, or neither")
    if password is not None and not _PASSWORD.match(password):
        raise ConfigError(
            "Twilio wants a SIP password of 12+ characters with a digit, a lower- and an upper-case letter"
        )
    with _twilio_errors():
        created: list[str] = []
        reused: list[str] = []
        trunks = client.trunking.v1.trunks
        trunk = next((t for t in trunks.list() if t.friendly_name == friendly_name), None)
        if trunk is None:
            trunk = trunks.create(
                friendly_name=friendly_name, **({"domain_name": domain_name} if domain_name else {})
            )
            created.append("trunk")
        else:
            reused.append("trunk")
            if domain_name and trunk.domain_name != domain_name:
                trunk = trunks(trunk.sid).update(domain_name=domain_name)
        context = trunks(trunk.sid)

        sip_url = f"sip:{sip_host}:{sip_port}"
        origination = next((o for o in context.origination_urls.list() if o.sip_url == sip_url), None)
        if origination is None:
            origination = context.origination_urls.create(
                weight=10,
                priority=10,
                enabled=True,
                friendly_name=f"{friendly_name} livekit-sip",
                sip_url=sip_url,
            )
            created.append("origination_url")
        else:
            reused.append("origination_url")

        credential_list_sid = None
        if username is not None and password is not None:
            credential_list_sid = _credential_list(
                client,
                context,
                name=f"{friendly_name} termination",
                username=username,
                password=password,
                created=created,
                reused=reused,
            )

        number_sid = _number_sid(client, number)
        if any(p.sid == number_sid for p in context.phone_numbers.list()):
            reused.append("phone_number")
        else:
            context.phone_numbers.create(phone_number_sid=number_sid)
            created.append("phone_number")
    logger.info(
        "twilio: SIP trunk %s ready (created: %s; reused: %s)",
        trunk.sid,
        ", ".join(created) or "nothing",
        ", ".join(reused) or "nothing",
    )
    return SipTrunkProvisioned(
        trunk_sid=trunk.sid,
        domain_name=trunk.domain_name,
        origination_url_sid=origination.sid,
        phone_number_sid=number_sid,
        credential_list_sid=credential_list_sid,
        created=created,
        reused=reused,
    )


def point_number_at_media_streams(client: Any, *, number: str, voice_url: str) -> str:
    """Set ``number``'s voice webhook to ``voice_url`` (POST); returns the number's SID.

    A number attached to a SIP trunk ignores its voice URL; detach it from the trunk first."""
    _check_number(number)
    if not voice_url.startswith("https://"):
        raise ConfigError("--voice-url must be an https:// URL Twilio can reach (the API's public_url)")
    with _twilio_errors():
        sid = _number_sid(client, number)
        client.incoming_phone_numbers(sid).update(voice_url=voice_url, voice_method="POST")
    logger.info("twilio: number %s now posts calls to the Media Streams webhook", sid)
    return sid


# ---------------------------------------------------------------------- steps
def _credential_list(
    client: Any,
    trunk: Any,
    *,
    name: str,
    username: str,
    password: str,
    created: list[str],
    reused: list[str],
) -> str:
    lists = client.sip.credential_lists
    found = next((c for c in lists.list() if c.friendly_name == name), None)
    if found is None:
        found = lists.create(friendly_name=name)
        created.append("credential_list")
    else:
        reused.append("credential_list")
    credentials = lists(found.sid).credentials
    credential = next((c for c in credentials.list() if c.username == username), None)
    if credential is None:
        credentials.create(username=username, password=password)
        created.append("credential")
    else:  # the password given now is the one LiveKit's outbound trunk will use
        credentials(credential.sid).update(password=password)
        reused.append("credential")
    if any(c.sid == found.sid for c in trunk.credentials_lists.list()):
        reused.append("trunk_credential_list")
    else:
        trunk.credentials_lists.create(credential_list_sid=found.sid)
        created.append("trunk_credential_list")
    return str(found.sid)


def _number_sid(client: Any, number: str) -> str:
    numbers = client.incoming_phone_numbers.list(phone_number=number)
    if not numbers:
        raise ConfigError(f"the number {number} is not in this Twilio account (buy or port it first)")
    return str(numbers[0].sid)


def _check_number(number: str) -> None:
    if not _E164.match(number):
        raise ConfigError(f"--number must be in E.164 form (+14155550100), not {number!r}")


@contextmanager
def _twilio_errors() -> Iterator[None]:
    """Turn the SDK's exceptions into AuraLink's error tree."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    try:
        yield
    except TwilioRestException as e:
        raise ProviderError(
            f"Twilio answered HTTP {e.status} (error {e.code}): {e.msg}",
            retryable=e.status >= 500 or e.status == 429,
        ) from e
    except TwilioException as e:  # a failed list page: ("Unable to fetch page", response)
        response: Any = e.args[1] if len(e.args) > 1 else None
        status = getattr(response, "status_code", None)
        if not isinstance(status, int):
            raise ProviderError(f"Twilio request failed: {e}", retryable=True) from e
        try:
            code = json.loads(response.text).get("code")
        except (ValueError, AttributeError):
            code = None
        raise ProviderError(
            f"Twilio answered HTTP {status} (error {code}) to a list request",
            retryable=status >= 500 or status == 429,
        ) from e
