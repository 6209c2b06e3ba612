"""Sending the bot's activities back through the channel's connector (``serviceUrl``).

Every send is bounded by one timeout, the token fetch included: a test bot must never hang the
channel that is waiting for it. The app's token goes only to service URLs the bot trusts (the
Bot Framework's own hosts, plus the origins the user names), never to whatever ``serviceUrl`` an
incoming activity happens to carry.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote, urlsplit

import httpx

from .behaviour import Activity, Outgoing
from .credentials import ClientCredentials, TokenError

__all__ = ["BOT_FRAMEWORK_DOMAINS", "Connector", "ReplyFailed", "origin_of"]

BOT_FRAMEWORK_DOMAINS = ("botframework.com", "botframework.azure.us")
"""Hosts (and their subdomains, over https) that get the app's token without being named."""


class ReplyFailed(Exception):
    """An activity could not be delivered to the channel; one line, no credential in it."""


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower-cased; None when it is not one."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


class Connector:
    """POSTs the bot's activities to the connector routes of the incoming activity's channel:
    ``{serviceUrl}/v3/conversations/{id}/activities[/{replyToId}]``."""

    def __init__(
        self,
        *,
        timeout: float,
        credentials: ClientCredentials | None = None,
        trusted_origins: frozenset[str] = frozenset(),
    ) -> None:
        self.timeout = timeout
        self.credentials = credentials
        self.trusted_origins = trusted_origins
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    def trusts(self, service_url: str) -> bool:
        """Whether the app's token may be sent to this service URL."""
        origin = origin_of(service_url)
        if origin is None:
            return False
        if origin in self.trusted_origins:
            return True
        host = urlsplit(origin).hostname or ""
        return origin.startswith("https://") and any(
            host == domain or host.endswith("." + domain) for domain in BOT_FRAMEWORK_DOMAINS
        )

    async def send(self, incoming: Activity, outgoing: Outgoing) -> None:
        """Deliver one activity for ``incoming``'s conversation; ReplyFailed says why not."""
        url = self.url_for(incoming, outgoing)
        try:
            await asyncio.wait_for(self._post(url, outgoing.activity), self.timeout)
        except asyncio.TimeoutError:
            raise ReplyFailed(f"the channel did not answer within {self.timeout:g} s") from None

    async def _post(self, url: str, activity: Activity) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.credentials is not None and self.trusts(url):
            try:
                token = await self.credentials.token(self._http)
            except TokenError as exc:
                raise ReplyFailed(f"no token for the reply: {exc}") from None
            headers["Authorization"] = f"Bearer {token}"
        # ASCII escapes carry what UTF-8 cannot (a lone surrogate the client sent, echoed back)
        body = json.dumps(activity).encode("ascii")
        try:
            answer = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ReplyFailed(f"the channel could not be reached ({type(exc).__name__})") from None
        if not 200 <= answer.status_code < 300:
            raise ReplyFailed(f"the channel answered HTTP {answer.status_code}")

    @staticmethod
    def url_for(incoming: Activity, outgoing: Outgoing) -> str:
        """The connector route for ``outgoing``; ReplyFailed when the activity gives no way back."""
        service_url = incoming.get("serviceUrl")
        if not isinstance(service_url, str) or origin_of(service_url) is None:
            raise ReplyFailed(
                f"the activity's serviceUrl {service_url!r:.80} is not an http(s) URL"
            )
        conversation = incoming.get("conversation")
        conversation_id = conversation.get("id") if isinstance(conversation, dict) else None
        if not isinstance(conversation_id, str) or not conversation_id:
            raise ReplyFailed("the activity names no conversation to answer in")
        url = f"{service_url.rstrip('/')}/v3/conversations/{quote(conversation_id, safe='')}"
        url += "/activities"
        if outgoing.reply_to:
            url += "/" + quote(outgoing.reply_to, safe="")
        return url
