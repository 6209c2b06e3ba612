"""Schemathesis against the reference server: the official Swagger, a runner, hooks and the
baseline of accepted deviations (see README.md here)."""
