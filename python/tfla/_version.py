# The one place the Python package's version is written; it matches the
# library's (tfla_version()), which tests check.
__version__ = "0.7.2"
