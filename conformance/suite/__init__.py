"""Spec-derived conformance tests, one module per Direct Line 3.0 page, over the wire only."""
