"""The Direct Line 3.0 catalog and wire schemas (installed as ``conformance.specs``)."""
