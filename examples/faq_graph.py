"""A LangGraph graph as an agent's brain, used from agents.yaml with ``langgraph: examples.faq_graph:build``.

This one needs no model: a router node answers opening-hours and address questions from a small
table and hands anything else to a fallback node. Real graphs call LLMs and tools in their nodes;
livekit-plugins-langchain streams whatever messages the nodes produce into the voice pipeline.
Try it: ``auralink chat faq``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.graph import END, START, MessagesState, StateGraph

ANSWERS = {
    ("open", "hours", "close"): "We are open Tuesday to Sunday, from noon to 11 pm.",
    ("where", "address", "located"): "We are at 12 Harbour Street, by the old lighthouse.",
    ("menu", "vegan", "vegetarian"): "Half of our menu is vegetarian, and we have three vegan dishes.",
}


def _last_user_text(messages: list[BaseMessage]) -> str:
    for m in reversed(messages):
        if m.type == "human":
            return str(m.content).lower()
    return ""


def answer(state: MessagesState) -> dict[str, Any]:
    text = _last_user_text(state["messages"])
    for keys, reply in ANSWERS.items():
        if any(k in text for k in keys):
            return {"messages": [AIMessage(content=reply)]}
    return {"messages": [AIMessage(content="I can tell you our opening hours, address or menu.")]}


def build() -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph.compile()
