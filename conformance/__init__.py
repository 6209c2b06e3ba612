"""directline-conformance: the conformance kit for the Bot Framework Direct Line API 3.0."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("directline-conformance")
    """The installed version: set from the git tag when the package is built (setuptools-scm)."""
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
