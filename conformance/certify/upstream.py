"""The kit's own upstream for a proxy check: the reference server, recording what reaches it.

``certify-proxy`` without ``--upstream`` serves the reference server (or its live stand-in) on a
loopback port the proxy under test forwards to, with the profile's timings and reading, a
recording file, and the ``#upstream:`` triggers. The run straight at it and the run through the
proxy each get a recording of their own (``switch``), so the one kept with the report holds only
what came through the proxy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

from conformance.config.profile import Profile
from conformance.errors import ConfigError

__all__ = ["KitUpstream"]


class KitUpstream:
    """The reference server as a recorded upstream, in a background thread on 127.0.0.1."""

    def __init__(
        self,
        profile: Profile,
        *,
        secret: str,
        recording: Path,
        port: int,
        behave: str = "reference",
    ) -> None:
        from conformance.reference.config import ServerConfig
        from conformance.reference.server import EmbeddedServer

        timings = profile.timings
        if behave == "live" and profile.end_of_conversation != "forward":
            raise ConfigError(
                "--upstream-behave live forwards endOfConversation as the hosted service does: "
                "certify under that reading (--eoc forward, or a profile that declares it)"
            )
        try:
            config = ServerConfig(
                secret=secret,
                behave=behave,  # type: ignore[arg-type]
                stream_window=timings.stream_connect_window,
                token_lifetime=int(timings.token_lifetime or (3600 if behave == "live" else 1800)),
                bot_timeout=timings.bot_timeout,
                end_of_conversation=profile.end_of_conversation,
                recording_file=str(recording),
            )
        except ValueError as exc:
            raise ConfigError(f"the kit's upstream cannot run this profile: {exc}") from None
        self.recording = recording
        # the suite's malformed uploads make the multipart parser warn on stderr, mid-output
        logging.getLogger("python_multipart").setLevel(logging.ERROR)
        self._server = EmbeddedServer(config, port=port)
        self.base_url: str | None = None

    def start(self) -> str:
        """Listen (one line naming the port when it cannot); returns the base URL."""
        from conformance.reference.server import ServerStartError

        try:
            self.base_url = self._server.start()
        except ServerStartError as exc:
            raise ConfigError(f"the kit's upstream did not start: {exc}") from None
        except OSError as exc:
            raise ConfigError(
                f"the kit's upstream cannot listen on 127.0.0.1:{self._server.port} "
                f"({exc.strerror or exc}): pick another with --upstream-port"
            ) from None
        return self.base_url

    def switch(self, recording: Path) -> None:
        """Record from now on into ``recording``."""
        sink = self._server.app.state.recording  # type: ignore[attr-defined]
        sink.switch(recording)
        self.recording = recording

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> KitUpstream:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
