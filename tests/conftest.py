"""Shared fixtures: the whole local stack (real Redis, livekit-server, model server, worker, API)
started once per test session through the same ``Stack`` that ``auralink up`` uses, on free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from auralink.testing.stack import private_stack_settings

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def question_wav() -> Path:
    """'What is the capital of France?' spoken once by Piper, 16 kHz mono (see tests/fixtures/README.md)."""
    return FIXTURES / "capital_of_france.wav"


@pytest.fixture(scope="session")
def second_question_wav() -> Path:
    return FIXTURES / "ocean_fact.wav"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The whole stack, started once; tests that need it are marked integration or e2e."""
    from auralink.cli.stack import Stack

    data_dir = tmp_path_factory.mktemp("stack")
    # the API checks Twilio's webhook signatures with it (tests/integration/test_media_streams.py)
    os.environ.setdefault("TWILIO_AUTH_TOKEN", "auralink-test-twilio-auth-token")
    s = Stack(private_stack_settings(data_dir, agents_file=REPO / "agents.yaml"), run_dir=data_dir / "run")
    s.start()
    try:
        yield s
    finally:
        s.stop()
