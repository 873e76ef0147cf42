"""``auralink agents validate|list`` and ``auralink voices``: catalogue commands for bot builders."""

from __future__ import annotations

__all__ = ["list_agents", "validate", "voices"]

import sys
from pathlib import Path

import httpx

from auralink.core import Settings, SpecError, check_credentials, load_catalogue
from auralink.core.spec import ElevenLabsTTS, LocalTTS


def validate(path: Path, *, check_env: bool) -> int:
    try:
        catalogue = load_catalogue(path)
    except SpecError as e:
        for issue in e.issues:
            print(f"error: {issue}", file=sys.stderr)
        print(f"{path}: {len(e.issues)} problem(s)", file=sys.stderr)
        return 1
    if check_env:
        issues = check_credentials(catalogue, filename=str(path), text=path.read_text(encoding="utf-8"))
        for issue in issues:
            print(f"error: {issue}", file=sys.stderr)
        if issues:
            print(f"{path}: {len(issues)} missing credential(s)", file=sys.stderr)
            return 1
    print(f"{path}: ok, {len(catalogue.agents)} agent(s): {', '.join(catalogue.names)}")
    return 0


def list_agents(path: Path) -> int:
    catalogue = load_catalogue(path)
    for a in catalogue.agents:
        print(
            f"{a.name:16} stt={a.stt.provider:10} llm={a.llm.provider:8} tts={a.tts.provider:10} {a.description}"
        )
    return 0


def voices(settings: Settings, agent: str | None) -> int:
    """Local Piper voices from the model server, and ElevenLabs voices when a key is set."""
    catalogue = load_catalogue(settings.agents_file)
    specs = [s for s in catalogue.agents if agent is None or s.name == agent]
    if agent is not None and not specs:
        print(f"error: no agent named {agent!r}", file=sys.stderr)
        return 2
    local = any(isinstance(s.tts, LocalTTS) for s in specs)
    eleven = [s.tts for s in specs if isinstance(s.tts, ElevenLabsTTS)]
    if local:
        print("local (Piper, offline):")
        try:
            r = httpx.get(f"{settings.models_base_url}/audio/voices", timeout=5)
            r.raise_for_status()
            for v in r.json()["data"]:
                print(
                    f"  {v['id']:24} {v.get('language', '')}  {v.get('sample_rate', '')} Hz  {v.get('license', '')}"
                )
        except httpx.HTTPError as e:
            print(f"  (model server at {settings.models_base_url} not reachable: {e}; run `auralink up`)")
    for block in eleven:
        key = block.key()
        print("elevenlabs:")
        if key is None:
            print(f"  (set {block.api_key_env} to list ElevenLabs voices)")
            continue
        from elevenlabs.client import ElevenLabs

        for v in ElevenLabs(api_key=key).voices.get_all().voices:
            print(f"  {v.voice_id:24} {v.name}")
    return 0
