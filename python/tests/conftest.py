"""The `tfla` fixture (tfla.cli's command runner), also when the package is
not installed; the helpers are in support.py."""
from tfla.pytest_plugin import tfla  # noqa: F401
