"""directline-conformance: the conformance kit for the Bot Framework Direct Line API 3.0."""

__version__ = "0.1.0"
