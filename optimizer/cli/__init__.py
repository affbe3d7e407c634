"""The command line: a thin shell over the Python API, and the only place that knows click."""

from .main import main

__all__ = ["main"]
