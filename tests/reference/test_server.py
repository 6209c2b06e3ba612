"""Running the server: EmbeddedServer, serve's guard, ServerConfig validation, subclassing."""

from __future__ import annotations

import httpx
import pytest

from conformance.reference import (
    DirectLineService,
    EmbeddedServer,
    ServerConfig,
    create_app,
    serve,
)

SECRET = "server-test-secret"


def test_embedded_server_serves_on_loopback_and_stops():
    server = EmbeddedServer(ServerConfig(secret=SECRET))
    base_url = server.start()
    assert base_url == server.base_url
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v3/directline")
    headers = {"Authorization": f"Bearer {SECRET}"}
    response = httpx.post(base_url + "/conversations", headers=headers, trust_env=False)
    assert response.status_code == 201
    server.stop()
    server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.post(base_url + "/conversations", headers=headers, trust_env=False, timeout=2)


def test_embedded_server_serves_a_prebuilt_app_such_as_a_mutant():
    class AlwaysOk(DirectLineService):
        async def start_conversation(self, credential, params, origin):
            _status, answer = await super().start_conversation(credential, params, origin)
            return 200, answer

    app = create_app(ServerConfig(secret=SECRET), service_class=AlwaysOk)
    with EmbeddedServer(app=app) as server:
        headers = {"Authorization": f"Bearer {SECRET}"}
        response = httpx.post(server.base_url + "/conversations", headers=headers, trust_env=False)
    assert response.status_code == 200
    assert isinstance(app.state.service, AlwaysOk)


def test_embedded_server_needs_a_config_or_an_app():
    with pytest.raises(ValueError, match="ServerConfig or an ASGI app"):
        EmbeddedServer()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com"])
def test_only_loopback_is_bound_unless_allowed(host):
    with pytest.raises(ValueError, match="loopback"):
        EmbeddedServer(ServerConfig(secret=SECRET), host=host)
    with pytest.raises(ValueError, match="loopback"):
        serve(ServerConfig(secret=SECRET), host=host, port=0, announce=lambda line: None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"secret": ""}, "secret"),
        ({"secret": "has space"}, "whitespace"),
        ({"stream_window": 0}, "stream_window"),
        ({"token_lifetime": 0}, "token_lifetime"),
        ({"token_lifetime": 1.5}, "token_lifetime"),
        ({"bot_timeout": -1}, "bot_timeout"),
        ({"keepalive_interval": -1}, "keepalive_interval"),
        ({"end_of_conversation": "drop"}, "end_of_conversation"),
        ({"bot_url": "ftp://bot"}, "bot_url"),
        ({"public_url": "example.com"}, "public_url"),
        ({"max_activity_chars": 10}, "max_activity_chars"),
        ({"max_upload_bytes": 0}, "max_upload_bytes"),
        ({"trigger_error": ""}, "trigger_error"),
        ({"trigger_end": "#bot:error"}, "differ"),
    ],
)
def test_server_config_refuses_bad_values(overrides, message):
    settings = {"secret": SECRET, **overrides}
    with pytest.raises(ValueError, match=message):
        ServerConfig(**settings)


def test_public_url_is_used_in_the_urls_the_server_hands_out():
    config = ServerConfig(secret=SECRET, public_url="https://dl.example.com/")
    with EmbeddedServer(config) as server:
        headers = {"Authorization": f"Bearer {SECRET}"}
        body = httpx.post(
            server.base_url + "/conversations", headers=headers, trust_env=False
        ).json()
    assert body["streamUrl"].startswith("wss://dl.example.com/v3/directline/conversations/")
