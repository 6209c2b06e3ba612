"""Reading a file the user named (a profile, an expectations file) into one clear line on
failure: which kind of file, its path, and what is wrong."""

from __future__ import annotations

from pathlib import Path

from conformance.errors import ConfigError

__all__ = ["read_user_file"]


def read_user_file(path: str | Path, what: str) -> str:
    """The text of the file; ConfigError ("``what`` ``path``: no such file", "...: cannot be
    read (...)") when it is missing or unreadable."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{what} {path}: no such file")
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path}: cannot be read ({exc})") from None
