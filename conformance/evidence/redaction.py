"""The single place credentials are hidden from anything the kit prints, logs or saves.

A :class:`Redactor` hides every value registered with it (the secret, every token the target
handed out) and, by pattern, whatever looks like a credential: the credential of an
``Authorization`` header, ``Bearer <x>``, the ``t=`` of a stream URL and the value of a JSON
``"token"`` field. The transcripts, the reproductions and the reports all pass through one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["AUTH_SCHEMES", "PATTERNS_ONLY", "REDACTED", "REDACTED_TOKEN", "SECRET_ENV", "Redactor"]

#: What a hidden value is replaced with.
REDACTED = "<redacted>"
#: What a (non-secret) credential becomes in a reproduction line.
REDACTED_TOKEN = "<redacted-token>"
#: The environment variable a reproduction line reads the secret from.
SECRET_ENV = "DIRECTLINE_SECRET"

_MIN_SECRET_LENGTH = 6
_PLACEHOLDERS = (REDACTED, REDACTED_TOKEN)
# Authentication schemes: a lone one of these after "Authorization:" is not a credential.
AUTH_SCHEMES = frozenset(
    {"bearer", "basic", "digest", "negotiate", "ntlm", "token", "hoba", "mutual"}
)


# "Authorization: <value>" in a header line, a JSON object or a Python dict; the value runs to
# the end of the line or the closing quote.
_AUTH_LINE = re.compile(
    r"""((?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?)([^\r\n"']*)""", re.I
)
# "Bearer <token68>" of 6 characters or more (shorter is no secret, e.g. "Bearer token"),
# unless already a placeholder or an auth-param such as realm="...".
_BEARER = re.compile(r"""\b(Bearer[ \t]+)(?![A-Za-z_-]+=")([A-Za-z0-9\-._~+/]{6,}=*)""", re.I)
# the t= of a (stream) URL, also after an HTML-escaped "&amp;"
_T_PARAM = re.compile(r"""([?&;]t=)([^&#\s"'<>]+)""")
# the value of a JSON "token" field (non-empty strings only: an empty one is evidence)
#: The value of a JSON "token" field, up to its closing quote or the end of a cut-off text.
_JSON_TOKEN = re.compile(r'("token"\s*:\s*")((?:[^"\\]|\\.)+)', re.I)


class Redactor:
    """The single place secrets are removed from anything printed, logged or saved.

    ``redact`` replaces every registered value (longest first, also in its URL-encoded forms)
    with ``<redacted>``, then by pattern: the credential of any ``Authorization`` header line,
    ``Bearer <x>``, the value of a ``t=`` query parameter and of any JSON ``"token"`` field.
    It is idempotent. Values shorter than 6 characters are not registered (they would mangle
    ordinary text and are no secret).
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._secrets: dict[str, str] = {}
        #: The registered values by their first characters, each list longest first. Replaced,
        #: never changed in place, so a redact() running meanwhile keeps a consistent view.
        self._by_prefix: dict[str, list[str]] = {}
        #: Finds where any registered value may start (rebuilt when a new prefix comes).
        self._starts: re.Pattern[str] | None = None
        for value in values:
            self.add(value)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        """Hide ``value`` wherever it appears (None, empty and very short values are ignored)."""
        if not value or len(value) < _MIN_SECRET_LENGTH:
            return
        if any(value in placeholder for placeholder in _PLACEHOLDERS):
            return
        forms = {value, quote(value, safe=""), quote_plus(value, safe="")}
        with self._lock:
            new = forms - self._values
            if not new:
                return
            self._values |= new
            by_prefix = dict(self._by_prefix)
            for form in new:
                key = form[:_MIN_SECRET_LENGTH]
                if key not in by_prefix:
                    self._starts = None  # rebuilt on the next redact(): adding must stay cheap
                by_prefix[key] = sorted([*by_prefix.get(key, ()), form], key=len, reverse=True)
            self._by_prefix = by_prefix

    def add_secret(self, value: str | None, *, env_var: str = SECRET_ENV) -> None:
        """Register the Direct Line secret: hidden like any value, and written as ``"$ENV_VAR"``
        in reproduction lines. The first registration of a value keeps its variable name."""
        if not value or len(value) < _MIN_SECRET_LENGTH:
            return
        self.add(value)
        with self._lock:
            self._secrets.setdefault(value, env_var)

    def secret_env(self, value: str) -> str | None:
        """The environment variable holding ``value`` if it is a registered secret, else None."""
        return self._secrets.get(value)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def _index(self) -> tuple[re.Pattern[str] | None, dict[str, list[str]]]:
        """Where a registered value may start, and the values by their first characters.

        One alternation of every value (the obvious pattern) is recompiled whenever a token
        is added, and a run adds hundreds: seconds of CPU per worker. The first characters
        of the values are few (tokens of one service share their first ones), so their
        pattern is small and rarely rebuilt."""
        with self._lock:
            if self._starts is None and self._by_prefix:
                keys = "|".join(re.escape(key) for key in sorted(self._by_prefix))
                self._starts = re.compile(f"(?=({keys}))")
            return self._starts, self._by_prefix

    def _hide_values(self, text: str) -> str:
        """Every registered value in ``text`` replaced, as one alternation of them, longest
        first, would: left to right, at each place the longest value that starts there."""
        starts, by_prefix = self._index()
        if starts is None:
            return text
        parts: list[str] = []
        done = 0
        for match in starts.finditer(text):
            at = match.start()
            if at < done:
                continue  # inside a value already hidden
            for value in by_prefix[match.group(1)]:
                if text.startswith(value, at):
                    parts += [text[done:at], REDACTED]
                    done = at + len(value)
                    break
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    def redact(self, text: str) -> str:
        if not text:
            return text
        text = self._hide_values(text)
        text = _AUTH_LINE.sub(_redact_auth_match, text)
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        text = _T_PARAM.sub(lambda m: m.group(1) + REDACTED, text)
        return _JSON_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)

    def redact_headers(
        self, headers: Mapping[str, str] | Iterable[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Header pairs with credentials hidden: the scheme of an Authorization header is kept,
        cookie values are hidden, every other value goes through :meth:`redact`."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        out: list[tuple[str, str]] = []
        for name, value in pairs:
            lower = name.lower()
            if lower in ("authorization", "proxy-authorization"):
                value = _redact_auth_value(self.redact(value))
            elif lower == "cookie":
                value = re.sub(r"=[^;]*", "=" + REDACTED, value)
            elif lower == "set-cookie":
                value = re.sub(r"^([^=;]*=)[^;]*", r"\g<1>" + REDACTED, value)
            else:
                value = self.redact(value)
            out.append((name, value))
        return out


def _redact_auth_value(value: str) -> str:
    """``Bearer abc`` -> ``Bearer <redacted>``; a lone scheme or a placeholder is left alone."""
    stripped = value.strip()
    if not stripped:
        return value
    parts = stripped.split(None, 1)
    if len(parts) == 1:
        word = parts[0]
        if word.lower() in AUTH_SCHEMES or _is_placeholder(word):
            return value
        return REDACTED
    scheme, credential = parts
    if _is_placeholder(credential):
        return value
    return f"{scheme} {REDACTED}"


def _is_placeholder(text: str) -> bool:
    return text.startswith("<redacted") or text.startswith("$")


def _redact_auth_match(match: re.Match[str]) -> str:
    return match.group(1) + _redact_auth_value(match.group(2))


#: A pattern-only redactor, for messages built where no registered values are at hand.
PATTERNS_ONLY = Redactor()
