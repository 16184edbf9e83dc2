"""Makes the `tfla` fixture available: from the installed tfla package, else
from the copy in this repository (python/)."""
import os
import sys

try:
    import tfla.cli  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from tfla.pytest_plugin import tfla  # noqa: E402,F401  (the fixture)
