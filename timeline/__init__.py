"""Partnership Timeline: partnerships as immutable events, queryable on any date."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("partnership-timeline")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0"
