"""livekit-sip as a service of the local stack: its config, when ``auralink up`` runs it, and its
readiness check (a SIP OPTIONS answered on the SIP port)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from auralink.cli.services import default_service_names, default_specs, sip_config, sip_options_ok
from auralink.core import ConfigError, Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        livekit_api_key="ALkey",
        livekit_api_secret=SecretStr("s" * 32),
        livekit_port=7890,
        redis_port=6390,
        sip_port=5070,
        sip_rtp_port_start=20000,
        sip_rtp_port_end=20100,
    )


def test_the_config_points_livekit_sip_at_the_server_and_its_redis(settings: Settings) -> None:
    config = yaml.safe_load(sip_config(settings))
    assert config["api_key"] == "ALkey" and config["api_secret"] == "s" * 32
    assert config["ws_url"] == "ws://127.0.0.1:7890"
    assert config["redis"] == {"address": "127.0.0.1:6390"}
    assert (config["sip_port"], config["rtp_port"]) == (5070, "20000-20100")
    assert config["max_cpu_utilization"] == 1.0  # the local models' CPU use must not turn calls away


def test_an_empty_rtp_range_names_the_settings(settings: Settings) -> None:
    bad = settings.model_copy(update={"sip_rtp_port_end": 20000})
    with pytest.raises(ConfigError, match="AURALINK_SIP_RTP_PORT_END"):
        sip_config(bad)


def test_auralink_up_runs_livekit_sip_only_with_telephony_on(settings: Settings) -> None:
    assert "sip" not in default_service_names(settings)
    on = default_service_names(settings.model_copy(update={"telephony_enabled": True}))
    assert on.index("redis") < on.index("livekit") < on.index("sip")


def test_livekit_sip_needs_the_stacks_redis_and_server(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="redis and livekit"):
        default_specs(settings, run_dir=tmp_path, names=["livekit", "sip"])


@pytest.fixture
def sip_responder() -> Iterator[int]:
    """A UDP socket that answers any SIP request with ``SIP/2.0 200 OK``, once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)

    def answer() -> None:
        try:
            data, addr = sock.recvfrom(4096)
            if data.startswith(b"OPTIONS sip:"):
                sock.sendto(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", addr)
        except OSError:
            pass

    thread = threading.Thread(target=answer)
    thread.start()
    yield int(sock.getsockname()[1])
    thread.join()
    sock.close()


def test_ready_when_the_sip_port_answers_options(sip_responder: int) -> None:
    assert sip_options_ok(sip_responder)()


def test_not_ready_when_nothing_answers() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, silent
        assert not sip_options_ok(int(sock.getsockname()[1]), timeout=0.3)()
