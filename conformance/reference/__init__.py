"""The embedded reference Direct Line 3.0 server (stand-alone: imports nothing else of the kit).

Starlette on uvicorn, an in-memory store, an in-process echo bot (or forwarding to an external
bot over the Bot Framework connector protocol). Modules, one job each:

    config      ServerConfig: secret, timings, limits, bot trigger texts
    errors      DirectLineError and the ErrorResponse body of every refusal
    wire        strict JSON in, safe JSON out
    tokens      secret / conversation token / stream token checks (JWT, HS256)
    store       conversations, recorded activities, stream subscribers, uploaded files
    activities  the shape of a client activity, timestamps
    uploads     taking an upload body apart (raw file or multipart)
    bot         the echo bot and the forwarding bot
    service     DirectLineService: one method per operation (the rules live here)
    live        LiveDirectLineService: the hosted service's departures (behave="live")
    streaming   pumping one WebSocket stream
    middleware  CORS, the live behaviour's headers and the last-resort error guard
    faults      transient 503s on polling and reconnect GETs, for dry runs
    recording   every request, answer and frame into a file (the upstream of a proxy check)
    proxy_triggers  a late answer, a 429 or a 502 on demand, for a proxy check
    app         create_app: routes and thin handlers
    server      EmbeddedServer (background thread) and serve (foreground)
"""

from .app import create_app
from .config import ServerConfig
from .errors import DirectLineError
from .live import LiveDirectLineService
from .server import EmbeddedServer, serve
from .service import DirectLineService

__all__ = [
    "DirectLineError",
    "DirectLineService",
    "EmbeddedServer",
    "LiveDirectLineService",
    "ServerConfig",
    "create_app",
    "serve",
]
