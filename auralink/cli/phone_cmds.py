"""``auralink phone provision-twilio``: set up a Twilio number for AuraLink (docs/telephony.md).

``--sip-host`` routes the number through an Elastic SIP trunk to livekit-sip; ``--voice-url``
points it at the API's Media Streams webhook instead. Twilio is called only here, with the
account in ``TWILIO_ACCOUNT_SID`` and the token in the env var ``AURALINK_TWILIO_AUTH_TOKEN_ENV``
names (``TWILIO_AUTH_TOKEN``); the SIP password is read from the env var ``--sip-password-env``.
"""

from __future__ import annotations

__all__ = ["add_phone_parsers", "run_phone"]

import argparse
import os

from auralink.core import MissingCredential, Settings


def add_phone_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    phone = sub.add_parser("phone", help="phone numbers and trunks (Twilio)")
    psub = phone.add_subparsers(dest="phone_command", required=True, metavar="SUBCOMMAND")
    prov = psub.add_parser(
        "provision-twilio",
        help="route a Twilio number to AuraLink: SIP trunk (--sip-host) or Media Streams (--voice-url)",
    )
    prov.add_argument("--number", required=True, help="the Twilio number, E.164 (+14155550100)")
    how = prov.add_mutually_exclusive_group(required=True)
    how.add_argument("--sip-host", help="livekit-sip's public host name or IP (origination URI)")
    how.add_argument("--voice-url", help="the API's public https URL for Twilio's voice webhook")
    prov.add_argument(
        "--sip-port", type=int, default=None, help="livekit-sip's port (default: AURALINK_SIP_PORT)"
    )
    prov.add_argument("--trunk-name", default="AuraLink", help="the trunk's friendly name (found and reused)")
    prov.add_argument("--domain", help="termination domain, <name>.pstn.twilio.com (for outbound calls)")
    prov.add_argument("--sip-username", help="termination username LiveKit's outbound trunk will use")
    prov.add_argument(
        "--sip-password-env",
        default="TWILIO_SIP_PASSWORD",
        help="env var holding that username's password (default TWILIO_SIP_PASSWORD)",
    )


def run_phone(args: argparse.Namespace, settings: Settings) -> int:
    from auralink.telephony import twilio_provision as tp

    client = tp.twilio_client(settings)
    if args.voice_url:
        sid = tp.point_number_at_media_streams(client, number=args.number, voice_url=args.voice_url)
        print(f"number {sid}: voice URL set to {args.voice_url} (POST); calls now stream to AuraLink")
        return 0
    password = None
    if args.sip_username:
        password = os.environ.get(args.sip_password_env) or None
        if password is None:
            raise MissingCredential(args.sip_password_env, what="--sip-username")
    done = tp.provision_sip_trunk(
        client,
        number=args.number,
        sip_host=args.sip_host,
        sip_port=args.sip_port or settings.sip_port,
        friendly_name=args.trunk_name,
        domain_name=args.domain,
        username=args.sip_username,
        password=password,
    )
    print(f"trunk {done.trunk_sid} (termination: {done.domain_name or 'no domain set'})")
    print(f"  created: {', '.join(done.created) or 'nothing'}")
    print(f"  reused:  {', '.join(done.reused) or 'nothing'}")
    return 0
