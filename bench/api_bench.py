"""Management API throughput: link resolution and token minting under 50 concurrent clients.

Starts its own livekit-server and API (``auralink api``, one uvicorn process, SQLite in a temp
folder, rate limiting off so the limiter does not cap what is measured), makes an organisation,
an API key, a share link and a room through the API, then runs a load generator in a separate
process on loopback against:

- ``GET /j/<code>/info``: link resolution, what the join page asks first (a read), for one hot
  code (``link``) and for many codes in turn (``link_spread``: with ``--no-link-cache`` nearly
  every request reads the database);
- ``GET /j/<code>``: opening a link (counts the open and the visitor: two writes);
- ``POST /v1/rooms/<room>/tokens`` with the API key: token minting (key check + JWT);
- ``GET /healthz``: the baseline (no database), for the ratio.

Each run is bounded by time and request count. The last line printed is one JSON object
with ``link_rps``, ``link_p99_ms``, ``token_rps`` and ``token_p99_ms`` among others.

    .venv/bin/python bench/api_bench.py [--quick] [--clients 50] [--seconds 10] [--no-link-cache]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from auralink.cli.stack import Stack  # noqa: E402
from auralink.testing.stack import private_stack_settings  # noqa: E402

PASSWORD = "bench-password-0123"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- the load generator (runs in its own process) -------------------------------------------


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    deadline_warm = time.perf_counter() + spec["warmup_s"]
    stop_at = deadline_warm + spec["seconds"]
    budget = spec["max_requests"]
    body = json.dumps(spec["body"]).encode() if spec["body"] is not None else None
    paths: list[str] = spec["paths"] if "paths" in spec else [spec["path"]]
    turn = itertools.count()
    headers = dict(spec["headers"])
    if body is not None:
        headers["Content-Type"] = "application/json"
    connector = aiohttp.TCPConnector(limit=spec["clients"], force_close=False)
    async with aiohttp.ClientSession(base_url=spec["base"], connector=connector) as http:

        async def client() -> None:
            nonlocal errors, budget
            while True:
                now = time.perf_counter()
                if now >= stop_at or budget <= 0:
                    return
                t0 = time.perf_counter()
                try:
                    path = paths[next(turn) % len(paths)]
                    async with http.request(
                        spec["method"], path, data=body, headers=headers, allow_redirects=False
                    ) as r:
                        await r.read()
                        status = r.status
                except aiohttp.ClientError:
                    errors += 1
                    continue
                t1 = time.perf_counter()
                statuses[status] = statuses.get(status, 0) + 1
                if t0 >= deadline_warm:
                    budget -= 1
                    if status == spec["expect"]:
                        latencies.append((t1 - t0) * 1000)
                    else:
                        errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(spec["clients"])))
        elapsed = time.perf_counter() - max(started, deadline_warm) if latencies else 0.0
        measured = min(elapsed, time.perf_counter() - deadline_warm)
    return {
        "ok": len(latencies),
        "errors": errors,
        "statuses": statuses,
        "rps": round(len(latencies) / measured, 1) if measured > 0 else 0.0,
        "p50_ms": round(pct(latencies, 50), 2),
        "p95_ms": round(pct(latencies, 95), 2),
        "p99_ms": round(pct(latencies, 99), 2),
    }


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one load phase in a separate Python process and return its figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--load-spec", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=spec["warmup_s"] + spec["seconds"] + 60,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the bench ------------------------------------------------------------------------------


def _bootstrap(base: str, *, cold_links: int) -> dict[str, Any]:
    """An organisation, an owner session, an API key, links and a room, made through the API."""
    with httpx.Client(base_url=base, timeout=30) as http:
        body = {
            "name": "Bench",
            "owner": {"email": "owner@bench.test", "name": "Owner", "password": PASSWORD},
        }
        r = http.post("/v1/organisations", json=body)
        r.raise_for_status()
        http.post(
            "/v1/auth/login", json={"email": "owner@bench.test", "password": PASSWORD}
        ).raise_for_status()
        key = http.post("/v1/keys", json={"name": "bench"})
        key.raise_for_status()
        link = http.post("/v1/links", json={"agent": "assistant", "display_name": "Bench"})
        link.raise_for_status()
        room = http.post("/v1/rooms", json={"name": "bench-room"})
        room.raise_for_status()
        cold = [http.post("/v1/links", json={"agent": "assistant"}).json()["code"] for _ in range(cold_links)]
        return {
            "key": key.json()["secret"],
            "code": link.json()["code"],
            "room": room.json()["name"],
            "cold": cold,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short phases (about 25 s in all)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per phase")
    parser.add_argument(
        "--no-link-cache", action="store_true", help="run the API with AURALINK_LINK_CACHE_TTL_S=0"
    )
    parser.add_argument("--load-spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_spec:
        print(json.dumps(asyncio.run(_load(json.loads(args.load_spec)))))
        return 0

    seconds = args.seconds or (4.0 if args.quick else 12.0)
    with tempfile.TemporaryDirectory(prefix="auralink-api-bench-") as tmp:
        data = Path(tmp)
        settings = private_stack_settings(data, agents_file=REPO / "agents.yaml").model_copy(
            update={
                "database_url": f"sqlite+aiosqlite:///{data / 'bench.db'}",
                "rate_limit_enabled": False,
                "log_level": "WARNING",
                "link_cache_ttl_s": 0.0 if args.no_link_cache else 2.0,
            }
        )
        stack = Stack(settings, services=["livekit", "api"], run_dir=data / "run")
        with stack:
            s = stack.settings
            base = f"http://127.0.0.1:{s.api_port}"
            made = _bootstrap(base, cold_links=200 if args.quick else 1000)
            common = {
                "base": base,
                "clients": args.clients,
                "seconds": seconds,
                "warmup_s": 1.0 if args.quick else 2.0,
                "max_requests": 200_000,
                "body": None,
                "headers": {},
            }
            phases = {
                "healthz": {**common, "method": "GET", "path": "/healthz", "expect": 200},
                "link": {**common, "method": "GET", "path": f"/j/{made['code']}/info", "expect": 200},
                # many codes in turn: with the cache off, nearly every resolution reads the database
                "link_spread": {
                    **common,
                    "method": "GET",
                    "paths": [f"/j/{code}/info" for code in made["cold"]],
                    "expect": 200,
                },
                "link_open": {**common, "method": "GET", "path": f"/j/{made['code']}", "expect": 303},
                "token": {
                    **common,
                    "method": "POST",
                    "path": f"/v1/rooms/{made['room']}/tokens",
                    "expect": 201,
                    "headers": {"Authorization": f"Bearer {made['key']}"},
                    "body": {"identity": "bench-user", "ttl": 600},
                },
            }
            results: dict[str, dict[str, Any]] = {}
            for name, spec in phases.items():
                results[name] = run_load(spec)
                print(f"{name:10s} {json.dumps(results[name])}", flush=True)

    healthz = results["healthz"]["rps"] or float("nan")
    summary = {
        "bench": "api",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "database": "sqlite",
        "link_cache": not args.no_link_cache,
        "clients": args.clients,
        "seconds_per_phase": seconds,
        "link_rps": results["link"]["rps"],
        "link_p50_ms": results["link"]["p50_ms"],
        "link_p99_ms": results["link"]["p99_ms"],
        "link_spread_rps": results["link_spread"]["rps"],
        "link_spread_p99_ms": results["link_spread"]["p99_ms"],
        "link_open_rps": results["link_open"]["rps"],
        "link_open_p99_ms": results["link_open"]["p99_ms"],
        "token_rps": results["token"]["rps"],
        "token_p50_ms": results["token"]["p50_ms"],
        "token_p99_ms": results["token"]["p99_ms"],
        "healthz_rps": results["healthz"]["rps"],
        "link_vs_healthz": round(results["link"]["rps"] / healthz, 3),
        "token_vs_healthz": round(results["token"]["rps"] / healthz, 3),
        "errors": {k: v["errors"] for k, v in results.items()},
        "targets": {"link_rps": ">= 1000", "link_p99_ms": "< 50"},
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
