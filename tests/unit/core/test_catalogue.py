"""agents.yaml validation: good files load, bad ones name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from auralink.core import SpecError, check_credentials, load_catalogue, parse_catalogue
from auralink.core.spec import DeepgramSTT, ElevenLabsTTS, LocalLLM, OpenAILLM

REPO = Path(__file__).resolve().parents[3]


def _issues(text: str) -> list[str]:
    with pytest.raises(SpecError) as e:
        parse_catalogue(text, filename="agents.yaml")
    return [str(i) for i in e.value.issues]


def test_shipped_catalogue_has_the_three_example_agents() -> None:
    cat = load_catalogue(REPO / "agents.yaml")
    assert cat.names[:3] == ["assistant", "receptionist", "notetaker"]
    assistant = cat.get("assistant")
    assert assistant is not None and assistant.greeting
    assert isinstance(assistant.llm, LocalLLM)
    assert all(a.stt.provider == "local" and a.tts.provider == "local" for a in cat.agents)


def test_defaults_are_the_offline_stack() -> None:
    cat = parse_catalogue("version: 1\nagents:\n  - name: a\n    instructions: be brief\n")
    a = cat.agents[0]
    assert (a.stt.provider, a.llm.provider, a.tts.provider) == ("local", "local", "local")
    assert a.turn.detection == "vad"
    assert a.missing_credentials() == []


def test_byok_blocks_are_one_line_each() -> None:
    cat = parse_catalogue(
        "version: 1\nagents:\n  - name: a\n    instructions: hi\n"
        "    stt: {provider: deepgram}\n"
        "    llm: {provider: openai, base_url: 'http://127.0.0.1:11434/v1', model: llama3.2}\n"
        "    tts: {provider: elevenlabs, voice: abc}\n"
    )
    a = cat.agents[0]
    assert isinstance(a.stt, DeepgramSTT) and a.stt.api_key_env == "DEEPGRAM_API_KEY"
    assert isinstance(a.llm, OpenAILLM) and a.llm.base_url == "http://127.0.0.1:11434/v1"
    assert isinstance(a.tts, ElevenLabsTTS) and a.tts.voice == "abc"


def test_errors_name_line_and_field() -> None:
    text = (
        "version: 1\n"  # 1
        "agents:\n"  # 2
        "  - name: ok\n"  # 3
        "    instructions: hi\n"  # 4
        "  - name: Bad Name\n"  # 5
        "    instructions: hi\n"  # 6
        "    llm: {provider: gemini}\n"  # 7
        "    tts:\n"  # 8
        "      provider: local\n"  # 9
        "      speeed: 2\n"  # 10
        "    turn: {detection: magic}\n"  # 11
        "  - name: x\n"  # 12
    )
    issues = _issues(text)
    assert any(i.startswith("agents.yaml:5: agents[1].name:") for i in issues), issues
    assert any(
        i.startswith("agents.yaml:7: agents[1].llm.provider: unknown provider 'gemini'") and "'local'" in i
        for i in issues
    ), issues
    assert any(i.startswith("agents.yaml:10: agents[1].tts.speeed: unknown field") for i in issues), issues
    assert any(i.startswith("agents.yaml:11: agents[1].turn.detection:") and "'vad'" in i for i in issues)
    assert any(i.startswith("agents.yaml:12: agents[2].instructions: this field is required") for i in issues)


def test_malformed_yaml_names_the_line() -> None:
    issues = _issues("version: 1\nagents:\n  - name: a\n    instructions: [\n")
    assert len(issues) == 1 and issues[0].startswith("agents.yaml:5: not valid YAML")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "the file is empty"),
        ("- just\n- a list\n", "expected a mapping"),
        ("version: 2\nagents: []\n", "version"),
        ("version: 1\nagents: []\n", "agents"),
        (
            "version: 1\nagents:\n  - {name: a, instructions: x}\n  - {name: a, instructions: y}\n",
            "used twice",
        ),
        (
            "version: 1\nagents:\n  - name: a\n    instructions: x\n    mcp:\n      - {name: m, transport: http}\n",
            "needs `url`",
        ),
        (
            "version: 1\nagents:\n  - name: a\n    instructions: x\n    turn: {min_endpointing_delay: 2, max_endpointing_delay: 1}\n",
            "max_endpointing_delay",
        ),
    ],
)
def test_other_mistakes_are_explained(text: str, needle: str) -> None:
    assert any(needle in i for i in _issues(text))


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_catalogue(tmp_path / "nope.yaml")


def test_missing_byok_key_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "version: 1\nagents:\n  - name: a\n    instructions: hi\n    tts: {provider: elevenlabs}\n"
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    cat = parse_catalogue(text)
    issues = check_credentials(cat, filename="agents.yaml", text=text)
    assert [str(i) for i in issues] == [
        "agents.yaml:5: agents[0].tts.api_key_env: environment variable ELEVENLABS_API_KEY is not set "
        "(export it or put it in .env)"
    ]
    monkeypatch.setenv("ELEVENLABS_API_KEY", "sk-test")
    assert check_credentials(cat, filename="agents.yaml", text=text) == []
