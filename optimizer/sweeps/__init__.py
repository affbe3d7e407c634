"""Budget and objective sweeps, point by point, serially or on Dask."""

from .grid import (
    OBJECTIVES,
    SweepPoint,
    expand_grid,
    parse_budgets,
    parse_objectives,
    parse_weights,
    point_changes,
)
from .plots import write_sweep_outputs
from .points import input_digests, point_hash, solve_point
from .run import sweep
from .table import finalize_table

__all__ = [
    "OBJECTIVES",
    "SweepPoint",
    "expand_grid",
    "finalize_table",
    "input_digests",
    "parse_budgets",
    "parse_objectives",
    "parse_weights",
    "point_changes",
    "point_hash",
    "solve_point",
    "sweep",
    "write_sweep_outputs",
]
