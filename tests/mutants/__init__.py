"""Deliberately broken reference servers (one broken rule each) and the runner that proves the
suite fails exactly the requirements each one breaks."""
