"""Solving a phased plan: HiGHS told the whole objective, so it stops at the scenario's gap.

Split from :mod:`optimizer.planning.phased` (one job: handing the built
program to the solver). The person-years already covered by existing
facilities that no decision can change are a constant of the objective
(2.9 of the 3.6 billion weighted person-years of ``configs/zhejiang-2035.yaml``).
PuLP keeps that constant out of HiGHS, which would then measure its relative
gap against the variable part alone and keep searching long after the
reported gap, ``|objective − bound| / |objective|`` of the whole objective, is
within ``solver.mip_gap`` (on the Zhejiang default HiGHS' own target would be
about five times tighter). Both HiGHS paths of :mod:`optimizer.solvers` hand
the constant to HiGHS as its objective offset; this one passes the model in
bulk (:func:`optimizer.solvers.highs_bulk.solve_highs_bulk`, one CSC matrix
instead of PuLP's column-by-column transfer).

Heuristics. On the Zhejiang default the LP bound is tight (within 0.03 % of
the best plan after HiGHS' root cuts) while HiGHS' default search finds a
plan that good only late in the tree (benchmarks/README.md): the full solve
runs with ``mip_heuristic_effort`` 0.3 instead of HiGHS' 0.05, so its sub-MIP
heuristics (RINS, RENS) run more often from the root on. This changes the
search, never what is proven. No MIP start is passed (HiGHS 1.16 evaluates a
start in its presolved space without presolve's objective offset, see
benchmarks/README.md).
"""

from __future__ import annotations

import pulp

from ..solvers.highs_bulk import solve_highs_bulk
from ..solvers.options import SolveReport, SolverOptions
from ..solvers.pulp_path import solve_problem

__all__ = ["solve_phased_problem"]


# HiGHS' mip_heuristic_effort for a phased solve (HiGHS' default: 0.05); see the module docstring.
_HEURISTIC_EFFORT = 0.3


def solve_phased_problem(problem: pulp.LpProblem, options: SolverOptions) -> SolveReport:
    """Solve ``problem`` in place; with HiGHS in bulk, the objective's constant as HiGHS' offset.

    Parameters
    ----------
    problem
        The phased program (or any PuLP problem).
    options
        Solver, time limit and gap; CBC goes through
        :func:`optimizer.solvers.solve_problem` unchanged.

    Returns
    -------
    SolveReport
        As :func:`optimizer.solvers.solve_problem` reports it: values set on the
        problem's variables, ``problem.status`` assigned, status, objective,
        proven bound and gap of the whole objective.
    """
    if options.name != "highs":
        return solve_problem(problem, options)
    return solve_highs_bulk(problem, options, heuristic_effort=_HEURISTIC_EFFORT)
