"""The built browser page (``web/dist``), served at ``/``.

The page is built by ``npm run build`` in ``web/`` (scripts/setup.sh does it). Without a
build, ``/`` answers 503 with a page saying how to make one, instead of a bare 404.
"""

from __future__ import annotations

__all__ = ["default_web_dist", "mount_page"]

import html
import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

logger = logging.getLogger("auralink.api")

_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AuraLink: page not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>AuraLink: the page is not built yet</h1>
<p>The API is running, but there is no built page in <code>{dist}</code>.</p>
<p>Run <code>scripts/setup.sh</code> (or <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>),
then restart <code>auralink api</code>.</p>
</body></html>
"""


def default_web_dist() -> Path:
    """``web/dist`` of the source tree this package sits in."""
    return Path(__file__).resolve().parents[2] / "web" / "dist"


def mount_page(app: FastAPI, dist: Path) -> None:
    """Serve ``dist`` at ``/``; mount last, after every API route."""
    if (dist / "index.html").is_file():
        app.mount("/", StaticFiles(directory=dist, html=True), name="page")
        return
    logger.warning("no built page in %s: / answers 503 until `npm run build` has run", dist)
    body = _MISSING.format(dist=html.escape(str(dist)))

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def page_not_built() -> HTMLResponse:
        return HTMLResponse(body, status_code=503)
