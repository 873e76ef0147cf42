"""Long-term memory: per-turn read latency, write throughput and recall@5.

    .venv/bin/python bench/memory_bench.py [--quick]

Starts ``auralink models serve --only embeddings`` on a free port (real all-MiniLM-L6-v2 int8),
generates a deterministic corpus (20 organisations, subjects of 50 memories each: facts and
preferences stated in past conversations, plus turns and summaries), and stores it in an
embedded Chroma (``PersistentClient`` in a temporary folder). Then, at 10k and 100k memories:

- read: p50/p95 of :meth:`Retriever.search` per question (embedding the utterance over HTTP,
  Chroma query scoped to the subject, hybrid re-ranking), the whole per-turn read path;
- recall@5: share of questions (phrased differently from the stored fact) whose fact is in the top 5;
- writes/s: records written through :class:`MemoryWriter` (embedding included), and Chroma's raw
  ingest rate with precomputed vectors.

Both collection layouts (one per organisation, one shared) are measured at 100k (``--quick``:
10k only, per-org only, fewer questions). Corpus embeddings are cached under
``.auralink/cache/memory-bench-<hash>.npz`` (computing them is measured and printed once).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auralink.memory import (  # noqa: E402 - after the path tweak
    CachedEmbedder,
    ChromaMemoryStore,
    HttpEmbedder,
    MemoryRecord,
    MemoryScope,
    MemoryWriter,
    Retriever,
)
from auralink.testing.ports import free_port  # noqa: E402

MODEL = "all-minilm-l6-v2"
ORGS = 20
PER_SUBJECT = 50
FACTS_PER_SUBJECT = 12
NOW = 1_780_000_000.0  # fixed clock: the corpus and its ages are the same on every run

FIRST = [
    "Emma",
    "Olivia",
    "Ava",
    "Sophia",
    "Mia",
    "Liam",
    "Noah",
    "Oliver",
    "Elijah",
    "James",
    "Lucas",
    "Amelia",
    "Harper",
    "Ethan",
    "Mateo",
    "Aria",
    "Chloe",
    "Ivy",
    "Leo",
    "Zoe",
]
LAST = [
    "Smith",
    "Garcia",
    "Okafor",
    "Nguyen",
    "Kowalski",
    "Rossi",
    "Dubois",
    "Tanaka",
    "Silva",
    "Johansson",
    "Murphy",
    "Haddad",
    "Novak",
    "Patel",
    "Schmidt",
]
PETS = ["Biscuit", "Luna", "Max", "Pepper", "Rocky", "Daisy", "Milo", "Bella", "Oscar", "Ziggy"]
COLOURS = ["blue", "green", "red", "purple", "yellow", "orange", "teal", "black", "white", "pink"]
ALLERGENS = ["peanuts", "shellfish", "penicillin", "gluten", "dairy", "eggs", "bee", "stings", "latex"]
CITIES = [
    "Lisbon",
    "Leeds",
    "Denver",
    "Osaka",
    "Lagos",
    "Toronto",
    "Krakow",
    "Lyon",
    "Austin",
    "Dublin",
    "Porto",
    "Seattle",
]
JOBS = [
    "nurse",
    "plumber",
    "teacher",
    "software",
    "engineer",
    "accountant",
    "chef",
    "pilot",
    "architect",
    "electrician",
    "pharmacist",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
CARS = ["Volvo estate", "Toyota hatchback", "Ford pickup", "Tesla sedan", "Fiat 500", "VW camper van"]
FOODS = ["Thai curry", "sushi", "lasagne", "tacos", "dim sum", "mushroom risotto", "fish and chips", "pho"]
DRINKS = ["green tea", "black coffee", "oat milk latte", "orange juice", "hot chocolate"]
DISLIKES = [
    "loud hold music",
    "being called before nine",
    "spam emails",
    "waiting in queues",
    "automated menus",
]
SPORTS = ["tennis", "football", "rock climbing", "golf", "badminton", "cycling"]
LANGS = ["Portuguese", "Polish", "Spanish", "Japanese", "Yoruba", "French", "Arabic", "Hindi"]
GENRES = ["jazz", "heavy metal", "classical", "hip hop", "country", "reggae"]
SUBJECTS_STUDIED = [
    "chemistry",
    "history",
    "economics",
    "mechanical engineering",
    "philosophy",
    "marine biology",
]

# (kind, slot, statement, questions)
TEMPLATES: list[tuple[str, str, str, list[str]]] = [
    ("fact", "name", "My name is {first} {last}.", ["What's my full name?", "Who am I, what am I called?"]),
    (
        "fact",
        "daughter",
        "My daughter is called {first}.",
        ["What is my daughter's name?", "Remind me what my girl is called?"],
    ),
    ("fact", "pet", "We have a dog named {pet}.", ["What's the name of my dog?", "What do we call our pet?"]),
    (
        "preference",
        "colour",
        "My favourite colour is {colour}.",
        ["Which colour do I like best?", "What colour should I pick for myself?"],
    ),
    (
        "fact",
        "allergy",
        "I am allergic to {allergen}.",
        ["Do I have any allergies?", "Is there something I react badly to?"],
    ),
    ("fact", "city", "I live in {city}.", ["Which city is my home?", "Where am I based?"]),
    ("fact", "job", "I work as a {job}.", ["What do I do for a living?", "What's my profession?"]),
    (
        "fact",
        "birthday",
        "My birthday is on {month} {day}.",
        ["When was I born?", "What date do I celebrate turning a year older?"],
    ),
    ("fact", "room", "I'm staying in room {room}.", ["What's my room number?", "Which hotel room am I in?"]),
    (
        "fact",
        "phone",
        "My mobile number is {phone}.",
        ["What phone number do you have for me?", "How can you reach me by phone?"],
    ),
    ("fact", "car", "I drive a {car}.", ["What kind of car do I have?", "What vehicle do I own?"]),
    (
        "preference",
        "food",
        "I love {food}.",
        ["What food do I enjoy most?", "What dish would make me happy for dinner?"],
    ),
    (
        "preference",
        "drink",
        "I prefer {drink} in the morning.",
        ["What do I like to drink when I wake up?", "What should you make me for breakfast to drink?"],
    ),
    ("preference", "dislike", "I hate {dislike}.", ["What really annoys me?", "What do I dislike most?"]),
    (
        "fact",
        "sport",
        "I play {sport} every weekend.",
        ["What sport do I do?", "How do I keep fit on weekends?"],
    ),
    (
        "fact",
        "language",
        "I speak {lang} at home.",
        ["Which language do we use at home?", "What's my family's home language?"],
    ),
    (
        "fact",
        "dentist",
        "I have a dentist appointment on {weekday} at {hour} o'clock.",
        ["When is my dentist visit?", "What time do I see the dentist?"],
    ),
    (
        "fact",
        "budget",
        "My budget for the trip is {amount} dollars.",
        ["How much money can I spend on the trip?", "What's my travel budget?"],
    ),
    ("fact", "spouse", "My wife's name is {first}.", ["What's my spouse called?", "Who am I married to?"]),
    (
        "fact",
        "order",
        "My order number is {order}.",
        ["What was the number of my order?", "Which order reference is mine?"],
    ),
    (
        "preference",
        "seat",
        "I prefer a {seat} seat when I fly.",
        ["Where do I like to sit on a plane?", "Which seat should you book for my flight?"],
    ),
    (
        "preference",
        "music",
        "I listen to {genre} music all the time.",
        ["What kind of music am I into?", "What should you play for me?"],
    ),
    (
        "fact",
        "contract",
        "I'll send the signed contract by {weekday}.",
        ["When did I promise to send the contract?", "What's my deadline for the signed paperwork?"],
    ),
    (
        "fact",
        "anniversary",
        "Our wedding anniversary is in {month}.",
        ["When is our anniversary?", "Which month did we get married?"],
    ),
    (
        "fact",
        "degree",
        "I studied {studied} at university.",
        ["What was my degree in?", "What did I major in at college?"],
    ),
]

ACTIONS = ["check", "book", "cancel", "move", "confirm", "look up", "change", "explain", "compare", "renew"]
OBJECTS = [
    "the weather",
    "a table for tonight",
    "my gym class",
    "the invoice",
    "the delivery",
    "the train times",
    "the opening hours",
    "the refund",
    "my subscription",
    "the parking permit",
    "the next bus",
    "a taxi",
    "the warranty",
    "the meeting notes",
    "the quote",
]
WHENS = [
    "for tomorrow",
    "this afternoon",
    "next week",
    "before Friday",
    "right now",
    "for the weekend",
    "later today",
    "after lunch",
]
CHAT = [
    "Thanks, that was helpful.",
    "Can you say that again?",
    "Hold on a second.",
    "Great, perfect.",
    "No, that's not right.",
    "Sorry, I got distracted.",
    "Okay, sounds good.",
    "Let me think about it.",
    "That's too expensive.",
    "Could you speak slower?",
]
TOPICS = [
    "a billing question",
    "a delivery delay",
    "opening hours",
    "a booking change",
    "a broken device",
    "a password reset",
    "a refund",
]
OUTCOMES = [
    "was given a reference",
    "was transferred to sales",
    "agreed to call back",
    "got the answer",
    "asked for an email",
]


def _values(rng: random.Random) -> dict[str, str]:
    return {
        "first": rng.choice(FIRST),
        "last": rng.choice(LAST),
        "pet": rng.choice(PETS),
        "colour": rng.choice(COLOURS),
        "allergen": rng.choice(ALLERGENS),
        "city": rng.choice(CITIES),
        "job": rng.choice(JOBS),
        "month": rng.choice(MONTHS),
        "day": str(rng.randint(1, 28)),
        "room": str(rng.randint(100, 950)),
        "phone": f"07{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
        "car": rng.choice(CARS),
        "food": rng.choice(FOODS),
        "drink": rng.choice(DRINKS),
        "dislike": rng.choice(DISLIKES),
        "sport": rng.choice(SPORTS),
        "lang": rng.choice(LANGS),
        "weekday": rng.choice(WEEKDAYS),
        "hour": str(rng.randint(8, 17)),
        "amount": str(rng.randrange(500, 6000, 50)),
        "order": f"A{rng.randint(10000, 99999)}",
        "seat": rng.choice(["window", "aisle"]),
        "genre": rng.choice(GENRES),
        "studied": rng.choice(SUBJECTS_STUDIED),
    }


def _filler(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.55:
        return "turn", f"Can you {rng.choice(ACTIONS)} {rng.choice(OBJECTS)} {rng.choice(WHENS)}?"
    if roll < 0.85:
        return "turn", rng.choice(CHAT)
    return "summary", f"The caller asked about {rng.choice(TOPICS)} and {rng.choice(OUTCOMES)}."


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    org_id: str
    subject: str
    target_id: str


def corpus(n: int) -> tuple[list[MemoryRecord], list[Question]]:
    """``n`` memories (a multiple of 50) and one question per stored fact; the same on every run."""
    records: list[MemoryRecord] = []
    questions: list[Question] = []
    for s in range(n // PER_SUBJECT):
        rng = random.Random(s)
        org, subject = f"org_{s % ORGS:02d}", f"identity:user-{s:05d}"
        values = _values(rng)
        picked = rng.sample(range(len(TEMPLATES)), FACTS_PER_SUBJECT)
        items = [(TEMPLATES[t][0], TEMPLATES[t][1], TEMPLATES[t][2].format(**values), t) for t in picked]
        for _ in range(PER_SUBJECT - FACTS_PER_SUBJECT):
            kind, text = _filler(rng)
            items.append((kind, "", text, -1))
        for i, (kind, slot, text, t) in enumerate(items):
            created = NOW - rng.uniform(0, 300) * 86400
            rec = MemoryRecord(
                id=f"m{s:05d}-{i:02d}",
                org_id=org,
                subject=subject,
                agent="assistant",
                conversation=f"c{s:05d}-{rng.randint(0, 9)}",
                kind=kind,  # type: ignore[arg-type]
                text=text,
                slot=slot,
                created_at=created,
            )
            records.append(rec)
            if t >= 0:
                questions.append(Question(rng.choice(TEMPLATES[t][3]), org, subject, rec.id))
    return records, questions


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[q - 1]


async def _cached_vectors(
    texts: list[str], embedder: HttpEmbedder
) -> tuple[dict[str, np.ndarray], float | None]:
    unique = sorted(set(texts))
    digest = hashlib.sha256(("\n".join(unique) + MODEL).encode()).hexdigest()[:16]
    path = REPO / ".auralink" / "cache" / f"memory-bench-{digest}.npz"
    if path.exists():
        data = np.load(path)
        return dict(zip(unique, data["vectors"], strict=True)), None
    t0 = time.perf_counter()
    vectors = await embedder.embed(unique)
    rate = len(unique) / (time.perf_counter() - t0)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=vectors)
    return dict(zip(unique, vectors, strict=True)), rate


async def _ingest(
    store: ChromaMemoryStore, records: list[MemoryRecord], vecs: dict[str, np.ndarray]
) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(records), 5000):
        part = records[start : start + 5000]
        await store.upsert(part, vectors=np.stack([vecs[r.text] for r in part]))
    return len(records) / (time.perf_counter() - t0)


async def _read(retriever: Retriever, questions: list[Question]) -> tuple[list[float], list[float], float]:
    total, store_only, hits = [], [], 0
    for q in questions:
        scope = MemoryScope(org_id=q.org_id, subject=q.subject)
        assert isinstance(retriever.embedder, CachedEmbedder)
        retriever.embedder.clear()  # questions repeat across subjects: time a real embedding each turn
        t0 = time.perf_counter()
        top = await retriever.search(scope, q.text, top_k=5, now=NOW)
        total.append((time.perf_counter() - t0) * 1000)
        hits += any(s.record.id == q.target_id for s in top)
        t1 = time.perf_counter()  # the utterance's embedding is cached now: this times store + ranking
        await retriever.search(scope, q.text, top_k=5, now=NOW)
        store_only.append((time.perf_counter() - t1) * 1000)
    return total, store_only, hits / len(questions)


async def _writes(store: ChromaMemoryStore, n: int) -> float:
    rng = random.Random(99)
    records = [
        MemoryRecord(
            org_id=f"org_{i % ORGS:02d}",
            subject=f"identity:writer-{i % 97}",
            kind="turn",
            text=f"Turn {i}: can you {rng.choice(ACTIONS)} {rng.choice(OBJECTS)} {rng.choice(WHENS)}?",
        )
        for i in range(n)
    ]
    t0 = time.perf_counter()
    async with MemoryWriter(store=store, max_queue=n) as writer:
        for r in records:
            writer.submit(r)
    return n / (time.perf_counter() - t0)


async def bench(port: int, quick: bool) -> dict[str, object]:
    sizes = [10_000] if quick else [10_000, 100_000]
    layouts = ["per_org"] if quick else ["per_org", "shared"]
    records, questions = corpus(sizes[-1])
    rng = random.Random(7)
    asked = rng.sample(
        [q for q in questions if int(q.subject[-5:]) < 10_000 // PER_SUBJECT], 200 if quick else 400
    )
    http = HttpEmbedder(base_url=f"http://127.0.0.1:{port}/v1", model=MODEL, batch_size=256)
    result: dict[str, object] = {"questions": len(asked)}
    t0 = time.perf_counter()
    vecs, rate = await _cached_vectors([r.text for r in records], http)
    print(
        f"corpus: {len(records)} memories, {len(vecs)} distinct texts; "
        + (
            f"embedded at {rate:.0f} texts/s ({time.perf_counter() - t0:.0f} s)"
            if rate
            else "embeddings from cache"
        )
    )
    if rate:
        result["embed_texts_per_s"] = round(rate, 1)
    try:
        for layout in layouts:
            with tempfile.TemporaryDirectory(prefix="auralink-membench-") as tmp:
                embedder = CachedEmbedder(http, size=4096)
                store = ChromaMemoryStore.embedded(Path(tmp), embedder=embedder, layout=layout)  # type: ignore[arg-type]
                retriever = Retriever(store=store, embedder=embedder)
                try:
                    done = 0
                    for size in sizes:
                        ingest = await _ingest(store, records[done:size], vecs)
                        done = size
                        embedder.clear()
                        total, store_only, recall = await _read(retriever, asked)
                        tag = f"{size // 1000}k"
                        print(
                            f"{layout:<8} {tag:>5}: read p50 {_pct(total, 50):6.1f} ms  p95 {_pct(total, 95):6.1f} ms"
                            f"  (store+rank only p50 {_pct(store_only, 50):5.1f} p95 {_pct(store_only, 95):5.1f})"
                            f"  recall@5 {recall:.3f}  chroma ingest {ingest:,.0f}/s"
                        )
                        if layout == "per_org":
                            result[f"read_p50_ms_{tag}"] = round(_pct(total, 50), 1)
                            result[f"read_p95_ms_{tag}"] = round(_pct(total, 95), 1)
                            result[f"store_read_p95_ms_{tag}"] = round(_pct(store_only, 95), 1)
                            result[f"recall_at_5_{tag}"] = round(recall, 3)
                            result[f"chroma_ingest_per_s_{tag}"] = round(ingest)
                        else:
                            result[f"shared_read_p95_ms_{tag}"] = round(_pct(total, 95), 1)
                            result[f"shared_store_read_p95_ms_{tag}"] = round(_pct(store_only, 95), 1)
                    if layout == "per_org":
                        result["writes_per_s"] = round(await _writes(store, 1000 if quick else 3000), 1)
                        print(f"writer: {result['writes_per_s']} records/s (embeddings over HTTP included)")
                finally:
                    await store.aclose()
    finally:
        await http.aclose()
    result["recall_at_5"] = result[f"recall_at_5_{sizes[-1] // 1000}k"]
    if quick:
        result["read_p95_ms_100k"] = None
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10k memories, one layout, 200 questions")
    args = ap.parse_args()
    port = free_port()
    env = {**os.environ, "AURALINK_MODELS_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auralink", "models", "serve", "--only", "embeddings", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the model server exited with code {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json().get("status") == "ready":
                    break
            except (httpx.TransportError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the model server did not become ready")
            time.sleep(0.2)
        result = asyncio.run(bench(port, args.quick))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result.update(
        {"machine": f"{platform.machine()} {os.cpu_count()} cpu", "date": dt.date.today().isoformat()}
    )
    last = {k: result.pop(k) for k in ("read_p95_ms_10k", "read_p95_ms_100k", "recall_at_5", "writes_per_s")}
    print(json.dumps({**result, **last}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
