"""Solvers: options and statuses, the PuLP path, HiGHS (interruptible, in bulk) and CBC."""

from .options import SolveReport, SolverOptions, relative_gap
from .pulp_path import solve_problem
from .versions import check_solver_available, solver_versions

__all__ = ["SolveReport", "SolverOptions", "check_solver_available", "relative_gap", "solve_problem", "solver_versions"]
