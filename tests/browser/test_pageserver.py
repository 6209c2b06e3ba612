"""The page server without a browser: the token it hands out, and its one-line errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt

from conformance.reference import EmbeddedServer, ServerConfig
from tests.external import free_port

from .pageserver import PageSettings, create_page_app, main

SECRET = "page-server-secret-never-in-the-page"


@contextlib.contextmanager
def page_server(settings: PageSettings) -> Iterator[httpx.Client]:
    """The page server on loopback, and a client of it."""
    with (
        EmbeddedServer(app=create_page_app(settings)) as server,
        httpx.Client(base_url=server.origin or "", timeout=10.0, trust_env=False) as client,
    ):
        yield client


def test_the_page_gets_a_token_for_its_user_and_never_the_secret() -> None:
    with EmbeddedServer(ServerConfig(secret=SECRET)) as server:
        settings = PageSettings(directline=server.base_url or "", secret=SECRET)
        with page_server(settings) as page:
            answer = page.post("/api/token")
            served = [page.get(path).text for path in ("/", "/page.js")]
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["domain"] == server.base_url and body["userID"] == "dl_webchat-user"
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["user"] == "dl_webchat-user"
    assert all(SECRET not in text for text in [answer.text, *served])


def test_an_unreachable_direct_line_server_is_one_line_without_the_secret() -> None:
    settings = PageSettings(
        directline=f"http://127.0.0.1:{free_port()}/v3/directline", secret=SECRET
    )
    with page_server(settings) as page:
        answer = page.post("/api/token")
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert "could not be reached" in error and "\n" not in error and SECRET not in error


def test_a_wrong_secret_is_named_by_the_status_it_got() -> None:
    with EmbeddedServer(ServerConfig(secret=SECRET)) as server:
        settings = PageSettings(directline=server.base_url or "", secret="not-the-secret")
        with page_server(settings) as page:
            answer = page.post("/api/token")
    assert answer.status_code == 502
    assert answer.json()["error"].endswith("/tokens/generate answered HTTP 403")


def test_a_missing_bundle_says_how_to_install_it(tmp_path: Path) -> None:
    missing = tmp_path / "webchat.js"
    settings = PageSettings("http://127.0.0.1:9/v3/directline", None, bundle=missing)
    with page_server(settings) as page:
        script = page.get("/webchat.js").text
    assert script.startswith("console.error(") and "npm ci --prefix tests/browser" in script


def test_without_a_secret_the_command_is_one_line_and_exit_2(monkeypatch, capsys) -> None:
    monkeypatch.delenv("DIRECTLINE_SECRET", raising=False)
    assert main(["--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "pageserver: error: set DIRECTLINE_SECRET (the server's secret)"
    )
