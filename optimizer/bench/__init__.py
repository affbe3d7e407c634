"""Classic benchmark instances (OR-Library, SJC) and the runner behind ``regionopt bench``."""

from .orlib import (
    CapInstance,
    lookup_optimum,
    read_cap,
    read_optima,
    read_pmed,
    read_sjc,
)
from .runner import PeakMemory, run_cap, run_pmed, run_sjc

__all__ = [
    "CapInstance",
    "PeakMemory",
    "lookup_optimum",
    "read_cap",
    "read_optima",
    "read_pmed",
    "read_sjc",
    "run_cap",
    "run_pmed",
    "run_sjc",
]
