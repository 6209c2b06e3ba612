"""What the run through a proxy is told about it: where the upstream is, where its recording is.

``certify-proxy`` writes this small JSON file and names it in ``DIRECTLINE_PROXY_CONTEXT`` for
the run through the proxy only; ``conformance/suite/test_proxy.py`` reads it at import. Without
it the PROXY rules are not-applicable (a run straight at a service has no proxy to judge), so a
plain ``run`` plans and sends nothing for them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from conformance.errors import ConfigError

__all__ = ["CONTEXT_ENV", "CONTEXT_FORMAT", "ProxyContext", "load_context"]

#: The environment variable naming the context file.
CONTEXT_ENV = "DIRECTLINE_PROXY_CONTEXT"
CONTEXT_FORMAT = "directline-conformance/proxy-context/1"


@dataclass(frozen=True)
class ProxyContext:
    """The proxy under test and the service behind it."""

    #: The base URL of the service behind the proxy, as the proxy reaches it.
    upstream: str
    #: The upstream's recording (JSON lines, conformance/reference/recording.py); None when the
    #: upstream is not the kit's (the rules judged from the recording are then not-applicable).
    recording: str | None = None
    #: A file the stream tests append their per-frame delays to (JSON lines), for the report.
    figures: str | None = None

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the context file; returns its path."""
        target = Path(path)
        data = {"format": CONTEXT_FORMAT, **asdict(self)}
        target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return target


def load_context(environ: dict[str, str] | None = None) -> ProxyContext | None:
    """The context named by ``DIRECTLINE_PROXY_CONTEXT``, None when it is not set; a file that
    cannot be read is a ConfigError naming it."""
    environ = dict(os.environ) if environ is None else environ
    name = environ.get(CONTEXT_ENV)
    if not name:
        return None
    where = f"{CONTEXT_ENV}={name}"
    try:
        data = json.loads(Path(name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: not a readable proxy context file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != CONTEXT_FORMAT:
        raise ConfigError(f"{where}: not a proxy context file (format {CONTEXT_FORMAT})")
    upstream = data.get("upstream")
    if not isinstance(upstream, str) or not upstream:
        raise ConfigError(f"{where}: no upstream URL in it")
    optional = {key: data.get(key) for key in ("recording", "figures")}
    for key, value in optional.items():
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a file name, not {value!r}")
    return ProxyContext(upstream=upstream.rstrip("/"), **optional)
