"""The ASGI application: routes under `/v3/directline`, the connector routes, and the glue.

Handlers stay thin: read the credential, the query and a size-capped body, call one
`DirectLineService` method, and answer its result as JSON. Every refusal, Starlette's own
404/405 included, leaves as a status with an ErrorResponse body rendered by the service's
`error_response` (so the live behaviour lays out every error its own way).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from .config import ServerConfig
from .errors import (
    DirectLineError,
    method_not_allowed,
    path_not_found,
    too_large,
)
from .faults import TransientFaults
from .hot_routes import ACTIVITIES_PATH, HotRoutes
from .inbound import addressed_origin, receive_body
from .live import ATTACHMENTS_PATH, PLACEHOLDER_PATH, PLACEHOLDER_PNG, LiveDirectLineService
from .middleware import CORSMiddleware, ErrorGuard, LiveHeaders, deny_websocket
from .proxy_triggers import ProxyTriggers
from .recording import RecordingSink, UpstreamRecorder
from .service import BASE_PATH, CONNECTOR_PATH, DirectLineService
from .streaming import run_stream
from .traffic import TrafficCounter
from .wire import JSONAnswer

__all__ = ["create_app", "read_body"]

_SAFE_MEDIA_TYPE = re.compile(r"[\x21-\x7e][\x20-\x7e]*")


def _service(conn: HTTPConnection) -> DirectLineService:
    service: DirectLineService = conn.app.state.service
    return service


def request_origin(conn: HTTPConnection) -> str:
    """The origin the client addressed (Host header), unless config.public_url is set."""
    return addressed_origin(conn.scope, conn.headers.get("host", ""), _service(conn))


async def read_body(request: Request, limit: int, what: str = "The request body") -> bytes:
    """The body, refused with 413 past `limit` bytes (inbound.receive_body)."""
    return await receive_body(
        request.receive, request.headers.get("content-length", ""), limit, what
    )


# Tokens ------------------------------------------------------------------------------------


async def generate_token(request: Request) -> Response:
    service = _service(request)
    credential = service.authenticate(request.headers.get("authorization"))
    raw = await read_body(request, service.token_parameters_max_bytes)
    params = service.parse_token_parameters(raw)
    return JSONAnswer(service.generate_token(credential, params))


async def refresh_token(request: Request) -> Response:
    service = _service(request)
    credential = service.authenticate(request.headers.get("authorization"))
    await read_body(request, service.token_parameters_max_bytes)
    return JSONAnswer(service.refresh_token(credential))


# Conversations ----------------------------------------------------------------------------


async def start_conversation(request: Request) -> Response:
    service = _service(request)
    credential = service.authenticate(request.headers.get("authorization"))
    raw = await read_body(request, service.token_parameters_max_bytes)
    params = service.parse_token_parameters(raw)
    status, answer = await service.start_conversation(credential, params, request_origin(request))
    return JSONAnswer(answer, status)


async def reconnect(request: Request) -> Response:
    service = _service(request)
    credential = service.authenticate(request.headers.get("authorization"))
    answer = service.reconnect(
        credential,
        request.path_params["conversation_id"],
        request.query_params.get("watermark"),
        request_origin(request),
    )
    return JSONAnswer(answer)


async def activities(request: Request) -> Response:
    """Sends and polls; hot_routes.HotRoutes answers them before they get here, the same way."""
    service = _service(request)
    credential = service.authenticate(request.headers.get("authorization"))
    conversation_id = request.path_params["conversation_id"]
    if request.method == "POST":
        limit = service.config.max_activity_chars * 4
        raw = await read_body(request, limit, "The activity")
        answer = await service.post_activity(
            credential, conversation_id, raw, request_origin(request)
        )
        return JSONAnswer(answer)
    watermark = request.query_params.get("watermark")
    return JSONAnswer(service.get_activities(credential, conversation_id, watermark))


async def upload(request: Request) -> Response:
    service = _service(request)
    credential = service.authenticate(request.headers.get("authorization"))
    body = await read_body(request, service.config.max_upload_bytes, "The upload")
    answer = await service.upload(
        credential,
        request.path_params["conversation_id"],
        request.query_params.get("userId"),
        request.headers.get("content-type"),
        request.headers.get("content-disposition"),
        body,
        request_origin(request),
    )
    return JSONAnswer(answer)


async def stream_without_upgrade(request: Request) -> Response:
    """A plain GET of a stream URL: it needs a WebSocket upgrade."""
    err = DirectLineError(
        426, "BadArgument", "The stream URL must be opened as a WebSocket", {"Upgrade": "websocket"}
    )
    return _service(request).error_response(err)


async def stream(websocket: WebSocket) -> None:
    service = _service(websocket)
    try:
        subscription = service.open_stream(
            websocket.path_params["conversation_id"], websocket.query_params.get("t")
        )
    except DirectLineError as err:
        await deny_websocket(
            websocket.scope, websocket.receive, websocket.send, err, service.error_response
        )
        return
    try:
        await websocket.accept()
        await run_stream(websocket, subscription, service.config.keepalive_interval)
    finally:
        service.close_stream(subscription)


# Extras ------------------------------------------------------------------------------------


async def session_id(request: Request) -> Response:
    return JSONAnswer(_service(request).session_id())


async def attachment(request: Request) -> Response:
    """An uploaded file: by the key in its path, or (live behaviour) in its `t` parameter."""
    key = request.path_params.get("key") or request.query_params.get("t") or ""
    stored = _service(request).get_attachment(key)
    media_type = stored.content_type
    if not _SAFE_MEDIA_TYPE.fullmatch(media_type):
        media_type = "application/octet-stream"
    disposition = f"inline; filename*=UTF-8''{quote(stored.name, safe='')}"
    headers = {
        "Content-Type": media_type,
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
    }
    return Response(stored.data, headers=headers)


async def connector_activity(request: Request) -> Response:
    """Bot Framework connector: a bot sends (or replies) into a conversation."""
    service = _service(request)
    raw = await read_body(request, service.config.max_activity_chars * 4, "The activity")
    answer = await service.connector_post(
        request.path_params["conversation_id"], raw, request.path_params.get("activity_id")
    )
    return JSONAnswer(answer)


# Errors ------------------------------------------------------------------------------------


async def on_direct_line_error(conn: HTTPConnection, exc: Exception) -> Response:
    assert isinstance(exc, DirectLineError)
    return _service(conn).error_response(exc)


async def on_http_exception(conn: HTTPConnection, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        err = path_not_found()
    elif exc.status_code == 405:
        err = method_not_allowed((exc.headers or {}).get("Allow"))
    elif exc.status_code == 413:
        err = too_large("The request body is too large")
    else:
        code = "ServiceError" if exc.status_code >= 500 else "BadArgument"
        err = DirectLineError(exc.status_code, code, exc.detail or "Request refused")
    return _service(conn).error_response(err)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """The router's default: an unknown path (HTTP or WebSocket) is a 404 with the body."""
    if scope["type"] not in ("http", "websocket"):
        return
    render = _service(HTTPConnection(scope)).error_response
    if scope["type"] == "websocket":
        await deny_websocket(scope, receive, send, path_not_found(), render)
    else:
        await render(path_not_found())(scope, receive, send)


# The application ---------------------------------------------------------------------------


def routes() -> list[Route | WebSocketRoute]:
    conversation = BASE_PATH + "/conversations/{conversation_id}"
    return [
        Route(BASE_PATH + "/tokens/generate", generate_token, methods=["POST"]),
        Route(BASE_PATH + "/tokens/refresh", refresh_token, methods=["POST"]),
        Route(BASE_PATH + "/conversations", start_conversation, methods=["POST"]),
        Route(conversation, reconnect, methods=["GET"]),
        Route(ACTIVITIES_PATH, activities, methods=["GET", "POST"]),
        Route(conversation + "/upload", upload, methods=["POST"]),
        WebSocketRoute(conversation + "/stream", stream),
        Route(conversation + "/stream", stream_without_upgrade, methods=["GET"]),
        Route(BASE_PATH + "/session/getsessionid", session_id, methods=["GET"]),
        Route(BASE_PATH + "/attachments/{key}/{name:path}", attachment, methods=["GET"]),
        Route(BASE_PATH + "/attachments/{key}", attachment, methods=["GET"]),
        Route(
            CONNECTOR_PATH + "/{conversation_id}/activities",
            connector_activity,
            methods=["POST"],
        ),
        Route(
            CONNECTOR_PATH + "/{conversation_id}/activities/{activity_id}",
            connector_activity,
            methods=["POST"],
        ),
    ]


def live_routes() -> list[Route | WebSocketRoute]:
    """The extra routes of the live behaviour: uploaded files at the host's root, and the
    placeholder image clients see in their place (§11)."""
    path = ATTACHMENTS_PATH + "/{conversation_id}/{sequence}/{index}/{name:path}"
    return [
        Route(path, attachment, methods=["GET"]),
        Route(PLACEHOLDER_PATH, placeholder, methods=["GET"]),
    ]


async def placeholder(request: Request) -> Response:
    """The placeholder image of the live behaviour (served here, so no run needs the internet)."""
    return Response(PLACEHOLDER_PNG, media_type="image/png")


def middleware_stack(
    config: ServerConfig, service: DirectLineService, recording: RecordingSink | None = None
) -> list[Middleware]:
    """The stack, outermost first (see middleware.py for why in this order); a recording
    server records outermost (what really left) and answers its triggers inside CORS."""
    stack = [Middleware(CORSMiddleware)]
    if recording is not None:
        stack.append(Middleware(ProxyTriggers, render=service.error_response))
    if config.behave == "live":
        stack.insert(0, Middleware(LiveHeaders))
    if config.transient_error_rate > 0:
        stack.append(
            Middleware(
                TransientFaults,
                rate=config.transient_error_rate,
                seed=config.transient_seed,
                render=service.error_response,
            )
        )
    stack.append(Middleware(ErrorGuard, render=service.error_response))
    stack.append(Middleware(HotRoutes, service=service))
    if config.traffic_file is not None:
        stack.insert(0, Middleware(TrafficCounter, path=config.traffic_file))
    if recording is not None:
        stack.insert(0, Middleware(UpstreamRecorder, sink=recording))
    return stack


def create_app(
    config: ServerConfig, service_class: type[DirectLineService] | None = None
) -> Starlette:
    """A Starlette app serving one reference Direct Line server (its own state and bot).

    `service_class` defaults to the class of `config.behave`: DirectLineService, or
    LiveDirectLineService for "live".
    """
    if service_class is None:
        service_class = LiveDirectLineService if config.behave == "live" else DirectLineService
    service = service_class(config)
    recording = RecordingSink(config.recording_file) if config.recording_file else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await service.aclose()
            if recording is not None:
                recording.close()

    app = Starlette(
        routes=routes() + (live_routes() if config.behave == "live" else []),
        middleware=middleware_stack(config, service, recording),
        exception_handlers={
            DirectLineError: on_direct_line_error,
            HTTPException: on_http_exception,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.router.default = not_found
    app.state.service = service
    app.state.config = config
    app.state.recording = recording
    return app
