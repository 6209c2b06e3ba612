"""The web page that runs Web Chat, served from its own origin (not the Direct Line server's).

A bot developer's site works this way: the page comes from the site, Web Chat runs in the
browser, and the Direct Line secret stays on the site's server, which trades it for a token
(`POST /tokens/generate`) that the page fetches from `api/token`. Serving the page from a
second origin is also what makes the browser exercise CORS for real: every Direct Line call
from the page is cross-origin.

`botframework-webchat` comes from npm (`npm ci --prefix tests/browser`, pinned by the lock
file) and is served from this server too: no CDN, so the page works without the internet.

By hand (see docs/webchat.md):

    DIRECTLINE_SECRET=S python -m tests.browser.pageserver --directline URL [--port 8000]
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TOKEN_TIMEOUT = 10.0
"""Seconds the page server waits for the Direct Line server to hand out a token."""

__all__ = ["PageSettings", "create_page_app", "webchat_bundle"]


def webchat_bundle(modules: Path | None = None) -> Path:
    """Web Chat's self-contained browser bundle inside node_modules (it may not exist yet)."""
    base = modules if modules is not None else HERE / "node_modules"
    return base / "botframework-webchat" / "dist" / "webchat.js"


@dataclass(frozen=True)
class PageSettings:
    """What the page server needs: where Direct Line is and how to get a token for the page.

    directline: the Direct Line base URL the browser talks to (ending in /v3/directline, or
        /directline for the npm emulators).
    secret: the Direct Line secret, kept here; None when the target checks no credential
        at all (the emulators): the page is then given a placeholder token.
    user_id / username: the user embedded in the token and shown by Web Chat.
    """

    directline: str
    secret: str | None
    user_id: str = "dl_webchat-user"
    username: str = "Web Chat user"
    bundle: Path = field(default_factory=webchat_bundle)

    @property
    def domain(self) -> str:
        return self.directline.rstrip("/")


PLACEHOLDER_TOKEN = "no-credential-checked-by-this-target"


async def fetch_token(settings: PageSettings) -> str:
    """A token for the page's user, from the Direct Line server (raises TokenError)."""
    if settings.secret is None:
        return PLACEHOLDER_TOKEN
    url = settings.domain + "/tokens/generate"
    body = {"user": {"id": settings.user_id, "name": settings.username}}
    headers = {"Authorization": f"Bearer {settings.secret}"}
    try:
        async with httpx.AsyncClient(timeout=TOKEN_TIMEOUT, trust_env=False) as http:
            answer = await http.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise TokenError(f"{url} could not be reached ({type(exc).__name__})") from None
    if answer.status_code != 200:
        raise TokenError(f"{url} answered HTTP {answer.status_code}")
    try:
        token = answer.json()["token"]
    except (ValueError, KeyError, TypeError):
        raise TokenError(f"{url} answered without a token") from None
    if not isinstance(token, str) or not token:
        raise TokenError(f"{url} answered without a token")
    return token


class TokenError(Exception):
    """The Direct Line server did not hand out a token (the message never holds a secret)."""


def create_page_app(settings: PageSettings) -> Starlette:
    """The page, Web Chat's bundle, and the token endpoint."""

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def script(request: Request) -> Response:
        return FileResponse(STATIC / "page.js", headers={"Cache-Control": "no-store"})

    async def bundle(request: Request) -> Response:
        if not settings.bundle.is_file():
            message = f"{settings.bundle} is missing: run `npm ci --prefix tests/browser`"
            return Response(f"console.error({message!r});", media_type="text/javascript")
        return FileResponse(settings.bundle, media_type="text/javascript")

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)  # no 404 in the browser's console

    async def token(request: Request) -> Response:
        try:
            value = await fetch_token(settings)
        except TokenError as exc:
            return JSONResponse({"error": str(exc)}, status_code=502)
        return JSONResponse(
            {
                "token": value,
                "domain": settings.domain,
                "userID": settings.user_id,
                "username": settings.username,
            },
            headers={"Cache-Control": "no-store"},
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/page.js", script),
            Route("/webchat.js", bundle),
            Route("/api/token", token, methods=["POST"]),
            Route("/favicon.ico", no_icon),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Serve the page on 127.0.0.1 until Ctrl-C."""
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m tests.browser.pageserver",
        description="Serve a Web Chat page (from its own origin) that talks to a Direct Line "
        "server with a token fetched here; the secret comes from $DIRECTLINE_SECRET.",
    )
    parser.add_argument(
        "--directline",
        default="http://127.0.0.1:3978/v3/directline",
        help="the Direct Line base URL (default: `directline-conformance serve`'s)",
    )
    parser.add_argument("--port", type=int, default=8000, help="port of the page (default 8000)")
    parser.add_argument(
        "--no-credential",
        action="store_true",
        help="the target checks no credential (the npm emulators): no secret, no token",
    )
    options = parser.parse_args(argv)
    secret = None if options.no_credential else os.environ.get("DIRECTLINE_SECRET")
    if not options.no_credential and not secret:
        print("pageserver: error: set DIRECTLINE_SECRET (the server's secret)", file=sys.stderr)
        return 2
    settings = PageSettings(directline=options.directline, secret=secret)
    if not settings.bundle.is_file():
        print(
            f"pageserver: error: {settings.bundle} is missing: run `npm ci --prefix tests/browser`",
            file=sys.stderr,
        )
        return 2
    print(f"Web Chat page: http://127.0.0.1:{options.port}/ (polling: ?mode=polling)", flush=True)
    uvicorn.run(create_page_app(settings), host="127.0.0.1", port=options.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
