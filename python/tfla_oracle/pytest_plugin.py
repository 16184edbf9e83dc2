"""Compatibility name of `tfla.pytest_plugin` (the `tfla` fixture)."""
from tfla.pytest_plugin import tfla  # noqa: F401
