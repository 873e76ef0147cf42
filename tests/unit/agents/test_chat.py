"""`auralink chat` runs the same agent logic in the terminal: here with a LangGraph graph as the brain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_chat_with_a_langgraph_brain_from_agents_yaml() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "auralink",
            "chat",
            "faq",
            "-m",
            "When are you open?",
            "-m",
            "Do you sell cars?",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == [
        "faq> Hi! Ask me about our hours, address or menu.",
        "you> When are you open?",
        "faq> We are open Tuesday to Sunday, from noon to 11 pm.",
        "you> Do you sell cars?",
        "faq> I can tell you our opening hours, address or menu.",
    ]
