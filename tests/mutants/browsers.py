"""Mutants of the browser rules (suite module test_browsers).

DL-HTTP-002 (getsessionid) is a MAY: its failure is informational and never fails a run, so no
mutant can prove it here.
"""

from __future__ import annotations

from typing import Any

from conformance.reference.app import create_app
from conformance.reference.config import ServerConfig
from tests.mutants.framework import mutant
from tests.mutants.wire import rewrite_response_start, set_header

MODULE = "test_browsers"


def _preflight(scope: dict[str, Any]) -> bool:
    return scope["method"] == "OPTIONS"


@mutant("DL-HTTP-001", modules=MODULE)
def preflight_without_allow_origin(config: ServerConfig) -> Any:
    """The CORS preflight answer has no Access-Control-Allow-Origin."""

    def change(scope: dict[str, Any], message: dict[str, Any]) -> None:
        if _preflight(scope):
            message["headers"] = [
                (k, v)
                for k, v in message.get("headers", [])
                if k.lower() != b"access-control-allow-origin"
            ]

    return rewrite_response_start(create_app(config), change)


@mutant("DL-HTTP-001", modules=MODULE)
def preflight_allows_headers_by_wildcard(config: ServerConfig) -> Any:
    """The preflight allows headers with `*` only, which never covers Authorization."""

    def change(scope: dict[str, Any], message: dict[str, Any]) -> None:
        if _preflight(scope):
            set_header(message, "access-control-allow-headers", "*")

    return rewrite_response_start(create_app(config), change)


@mutant("DL-HTTP-001", modules=MODULE)
def preflight_refused(config: ServerConfig) -> Any:
    """OPTIONS answers 405, so browsers cannot call the service from another origin."""

    def change(scope: dict[str, Any], message: dict[str, Any]) -> None:
        if _preflight(scope):
            message["status"] = 405

    return rewrite_response_start(create_app(config), change)
