"""Prometheus metrics of the API: one registry per app, filled by an ASGI middleware.

- ``auralink_http_requests_total{method, route, status}``: requests answered;
- ``auralink_http_request_duration_seconds{method, route, status}``: time to the last byte;
- ``auralink_http_requests_in_flight``: requests being handled now.

``route`` is the route's template (``/v1/keys/{key_id}``), never the raw path, so codes and
ids never become labels; a request no route matched is ``<unmatched>``. ``status`` is the
class (``2xx``, ``4xx``...). ``/metrics`` serves the registry in the text exposition format.
"""

from __future__ import annotations

__all__ = ["ApiMetrics", "MetricsMiddleware"]

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_UNMATCHED = "<unmatched>"
_LABELS = ("method", "route", "status")


class ApiMetrics:
    """The collectors of one app, in their own registry (no process-wide global)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "auralink_http_requests", "HTTP requests answered", _LABELS, registry=self.registry
        )
        self.latency = Histogram(
            "auralink_http_request_duration_seconds",
            "HTTP request handling time",
            _LABELS,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "auralink_http_requests_in_flight", "HTTP requests being handled", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else _UNMATCHED


class MetricsMiddleware:
    """Counts and times every HTTP request into ``metrics``."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight.dec()
            labels = (str(scope.get("method", "")), _route_template(scope), f"{status // 100}xx")
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
