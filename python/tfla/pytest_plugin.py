"""pytest fixture `tfla`: a `tfla.cli.Tfla` bound to the executable from
`TFLA_BIN` or PATH, shared by the session.

Registered automatically when the package is installed (entry point
`pytest11`); otherwise add `pytest_plugins = ["tfla.pytest_plugin"]` to a
conftest.py. Tests that use it are skipped when no `tfla` is on PATH, but
fail when `TFLA_BIN` is set and does not name an executable, so that a
misconfigured suite does not pass by skipping everything.
"""
import os

import pytest

from .cli import Tfla, TflaNotFound


@pytest.fixture(scope="session")
def tfla():
    """The `tfla` oracle (`tfla.cli.Tfla`)."""
    try:
        return Tfla()
    except TflaNotFound as error:
        if os.environ.get("TFLA_BIN"):
            raise
        pytest.skip(str(error))
