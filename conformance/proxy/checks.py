"""Pure checks of a proxy: what the client sent against what reached the upstream.

Each function takes the two sides as :class:`~conformance.proxy.recording.Request` lists and
returns the problems it finds, one line each (empty: the rule held). The suite module
(``test_proxy.py``) turns them into Violations with the exchanges as evidence; the kit's own
tests call them with hand-made requests.

Requests are paired by method and path (what a proxy has no reason to change), the k-th of the
client's with the k-th that arrived; everything else (the query, the body, the headers) is what
the rules judge.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from conformance.proxy.recording import CASE_HEADER, Frame, Request

__all__ = [
    "CLOCK_SLACK",
    "INTERMEDIARY_HEADERS",
    "PROMPT_SECONDS",
    "added_headers",
    "arrivals",
    "body_changes",
    "cors_changes",
    "credential_changes",
    "frame_delays",
    "frame_order",
    "origin",
    "paired",
    "query_changes",
    "same_json",
    "slow_frames",
    "uninvited",
]

#: The median delay a proxy may add to stream frames (DL-PROXY-008).
PROMPT_SECONDS = 1.0
#: Seconds after the client had its answer that the upstream's record of the request may
#: still carry (it is written as the answer leaves, the client reads the clock on receipt).
CLOCK_SLACK = 0.05
#: Request headers an intermediary adds by design (RFC 9110 § 7.6: forwarding, Via; RFC 7239;
#: tracing; hop-by-hop and framing headers the next hop needs; the WebSocket handshake's own).
INTERMEDIARY_HEADERS = frozenset(
    {
        "via",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-forwarded-server",
        "x-real-ip",
        "x-request-id",
        "x-correlation-id",
        "request-id",
        "traceparent",
        "tracestate",
        "x-amzn-trace-id",
        "x-cloud-trace-context",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "accept-encoding",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
    }
)
#: Headers that carry a credential: never added by a pass-through proxy.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def _grouped(requests: Iterable[Request]) -> dict[tuple[str, str], list[Request]]:
    groups: dict[tuple[str, str], list[Request]] = defaultdict(list)
    for request in requests:
        groups[request.key].append(request)
    return groups


def paired(
    client: Sequence[Request], upstream: Sequence[Request], *, slack: float = CLOCK_SLACK
) -> list[tuple[Request, Request]]:
    """(the client's request, what arrived for it): the first request with its method and path
    that reached the upstream while the client waited for its answer (one clock: the upstream
    runs on this machine), each upstream request paired once. A request the proxy made on its
    own, or repeated, is left out; one that never arrived has no pair."""
    arrived = _grouped(sorted(upstream, key=lambda r: r.t))
    used: set[int] = set()
    pairs = []
    for request in sorted(client, key=lambda r: r.t):
        end = request.t + (request.elapsed if request.elapsed is not None else 1e9) + slack
        for candidate in arrived.get(request.key, []):
            # the client reads the clock before it sends, the upstream after it receives
            if id(candidate) not in used and request.t <= candidate.t <= end:
                used.add(id(candidate))
                pairs.append((request, candidate))
                break
    return pairs


def arrivals(client: Sequence[Request], upstream: Sequence[Request]) -> list[str]:
    """DL-PROXY-001: each request arrived; each POST exactly as often as the client sent it."""
    sent, arrived = _grouped(client), _grouped(upstream)
    problems = []
    for key, requests in sent.items():
        method, path = key
        count, got = len(requests), len(arrived.get(key, []))
        if method == "POST" and got != count:
            problems.append(
                f"POST {path}: the client sent it {count} time(s), the upstream received it "
                f"{got} time(s)" + (" (a POST repeated by the proxy)" if got > count else "")
            )
        elif got < count:
            problems.append(
                f"{method} {path}: the client sent it {count} time(s), the upstream received "
                f"it {got} time(s)"
            )
    return problems


def uninvited(client: Sequence[Request], upstream: Sequence[Request]) -> list[str]:
    """DL-PROXY-002: what arrived with a method and path the client never sent."""
    sent = {request.key for request in client}
    return [
        f"{request.describe()} reached the upstream (status {request.status}), but the client "
        "sent no such request"
        for request in upstream
        if request.key not in sent
    ]


def same_json(a: Any, b: Any) -> bool:
    """JSON equality that tells 1 from 1.0 from true (Python's == does not)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def body_changes(pairs: Iterable[tuple[Request, Request]]) -> list[str]:
    """DL-PROXY-003: each body arrived JSON-equivalent (JSON) or byte for byte (the rest)."""
    problems = []
    for sent, arrived in pairs:
        if sent.method != "POST":
            continue
        if sent.body.sha256 == arrived.body.sha256:
            continue
        mine, theirs = sent.body.json(), arrived.body.json()
        if mine is not None and theirs is not None:
            if not same_json(mine, theirs):
                problems.append(
                    f"{sent.describe()}: the client sent {_show(mine)}, the upstream received "
                    f"{_show(theirs)}" + _first_difference(mine, theirs)
                )
            continue
        problems.append(
            f"{sent.describe()}: the client sent {sent.body.size} bytes (sha256 "
            f"{sent.body.sha256[:16]}), the upstream received {arrived.body.size} bytes (sha256 "
            f"{arrived.body.sha256[:16]})"
        )
    return problems


def credential_changes(
    pairs: Iterable[tuple[Request, Request]], *, token_exchange: bool = False
) -> list[str]:
    """DL-PROXY-004: the client's credential arrived as sent (fingerprints compared); for a
    token-exchanging proxy, whatever arrived was accepted (no 401 or 403)."""
    problems = []
    for sent, arrived in pairs:
        if sent.kind == "websocket":
            continue  # the stream authenticates with its t (DL-PROXY-006)
        if token_exchange:
            if arrived.status in (401, 403):
                problems.append(
                    f"{sent.describe()}: the proxy's credential was refused upstream "
                    f"({arrived.status})"
                )
            continue
        mine, theirs = sent.header("authorization"), arrived.header("authorization")
        if mine != theirs:
            problems.append(
                f"{sent.describe()}: the client sent {_credential(mine)}, the upstream received "
                f"{_credential(theirs)}"
            )
    return problems


def added_headers(
    pairs: Iterable[tuple[Request, Request]], *, token_exchange: bool = False
) -> list[str]:
    """DL-PROXY-005: header names that arrived though the client sent none of that name, other
    than an intermediary's own (and a token-exchanging proxy's Authorization)."""
    problems = []
    for sent, arrived in pairs:
        own = {name for name, _ in sent.headers}
        allowed = INTERMEDIARY_HEADERS | ({"authorization"} if token_exchange else set())
        extra = sorted(
            {name for name, _ in arrived.headers} - own - allowed - {CASE_HEADER},
        )
        if extra:
            credentials = [name for name in extra if name in CREDENTIAL_HEADERS]
            what = f" (a credential: {', '.join(credentials)})" if credentials else ""
            problems.append(
                f"{sent.describe()}: the upstream received {', '.join(extra)}, which the client "
                f"did not send{what}"
            )
    return problems


def query_changes(pairs: Iterable[tuple[Request, Request]]) -> list[str]:
    """DL-PROXY-006: each query arrived with the same parameters and values."""
    problems = []
    for sent, arrived in pairs:
        if sorted(sent.query) != sorted(arrived.query):
            problems.append(
                f"{sent.method} {sent.path}: the client sent the query {_query(sent.query)}, "
                f"the upstream received {_query(arrived.query)}"
            )
    return problems


def _frame_value(frame: Frame, origins: Sequence[tuple[str, str]]) -> Any:
    """A frame's content to compare: parsed JSON (the text when it is not), the upstream's
    origins replaced by the proxy's (a proxy rewrites its URLs, DL-PROXY-010)."""
    text = frame.text or ""
    for upstream_origin, proxy_origin in origins:
        text = text.replace(upstream_origin, proxy_origin)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _content(frames: Iterable[Frame], direction: str) -> list[Frame]:
    return [f for f in frames if f.direction == direction and (f.text or "").strip()]


def frame_order(
    received: Sequence[Frame],
    sent: Sequence[Frame],
    *,
    origins: Sequence[tuple[str, str]] = (),
    closed_at: float | None = None,
    grace: float = PROMPT_SECONDS,
) -> list[str]:
    """DL-PROXY-007: the non-empty frames the client received are the upstream's, in order.

    Frames the upstream sent less than ``grace`` seconds before the client stopped reading
    (``closed_at``) may still have been on their way: missing, they are not counted lost."""
    mine = [_frame_value(f, origins) for f in _content(received, "down")]
    theirs_frames = _content(sent, "down")
    theirs = [_frame_value(f, origins) for f in theirs_frames]
    problems = []
    position = 0
    for index, value in enumerate(mine):
        found = next((j for j in range(position, len(theirs)) if same_json(theirs[j], value)), None)
        if found is None:
            earlier = any(same_json(v, value) for v in theirs[:position])
            problems.append(
                f"frame {index + 1} the client received "
                + (
                    "repeats or reorders an earlier upstream frame"
                    if earlier
                    else "was never sent by the upstream"
                )
                + f": {_show(value)}"
            )
            continue
        skipped = [
            theirs_frames[j] for j in range(position, found)
        ]  # upstream frames passed over: lost or reordered
        for frame in skipped:
            problems.append(
                f"upstream frame sent at {frame.t:.3f} did not reach the client before the next "
                f"one: {_show(_frame_value(frame, origins))}"
            )
        position = found + 1
    for frame in theirs_frames[position:]:
        if closed_at is not None and frame.t > closed_at - grace:
            continue
        problems.append(
            f"upstream frame sent at {frame.t:.3f} never reached the client: "
            f"{_show(_frame_value(frame, origins))}"
        )
    return problems


def frame_delays(
    received: Sequence[Frame], sent: Sequence[Frame], *, origins: Sequence[tuple[str, str]] = ()
) -> list[float]:
    """DL-PROXY-008: for each upstream frame that reached the client, the seconds from the
    upstream's send to the client's receipt (matched by content, in order)."""
    mine = _content(received, "down")
    values = [_frame_value(f, origins) for f in mine]
    delays = []
    position = 0
    for frame in _content(sent, "down"):
        value = _frame_value(frame, origins)
        found = next((j for j in range(position, len(values)) if same_json(values[j], value)), None)
        if found is None:
            continue
        delays.append(max(0.0, mine[found].t - frame.t))
        position = found + 1
    return delays


def slow_frames(delays: Sequence[float], limit: float = PROMPT_SECONDS) -> str | None:
    """Why the delays break DL-PROXY-008 (their median is over ``limit``), or None."""
    if not delays:
        return None
    median = statistics.median(delays)
    if median <= limit:
        return None
    shown = ", ".join(f"{d * 1000:.0f} ms" for d in delays[:20])
    return f"median delay {median * 1000:.0f} ms over {len(delays)} frames ({shown})"


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme family, host, port) of a URL: ws and http count as one family, wss and https as
    another, and a missing port is the scheme's default."""
    parts = urlsplit(url)
    secure = parts.scheme in ("https", "wss")
    try:
        port = parts.port
    except ValueError:
        port = None
    return (
        "https" if secure else "http",
        (parts.hostname or "").lower(),
        port or (443 if secure else 80),
    )


def cors_changes(
    upstream_headers: Iterable[tuple[str, str]], proxy_headers: Iterable[tuple[str, str]]
) -> list[str]:
    """DL-PROXY-011: every Access-Control-* header of the upstream's answer, with its value,
    in the proxy's answer."""
    theirs: dict[str, list[str]] = defaultdict(list)
    for name, value in proxy_headers:
        theirs[name.lower()].append(value.strip())
    problems = []
    for name, value in upstream_headers:
        lowered = name.lower()
        if not lowered.startswith("access-control-"):
            continue
        got = theirs.get(lowered)
        if not got:
            problems.append(f"{name}: {value} (from the upstream) is missing through the proxy")
        elif value.strip() not in got:
            problems.append(
                f"{name}: the upstream answered {value!r}, the proxy answered {', '.join(got)!r}"
            )
    return problems


def _credential(value: str | None) -> str:
    return "no Authorization" if value is None else f"Authorization {value}"


def _query(pairs: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in pairs) or "(none)"


def _show(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _first_difference(a: Any, b: Any, where: str = "$") -> str:
    """Where two JSON values first differ, e.g. ' (first at $.from.id)'."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b or not same_json(a[key], b[key]):
                if key in a and key in b:
                    return _first_difference(a[key], b[key], f"{where}.{key}")
                return f" (first at {where}.{key})"
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            if not same_json(x, y):
                return _first_difference(x, y, f"{where}[{index}]")
    return f" (first at {where})"
