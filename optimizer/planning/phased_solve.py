"""Solving a phased plan: HiGHS told the whole objective, so it stops at the scenario's gap.

Split from :mod:`optimizer.planning.phased` (one job: handing the built
program to the solver). The person-years already covered by existing
facilities that no decision can change are a constant of the objective
(2.9 of the 3.6 billion weighted person-years of ``configs/zhejiang-2035.yaml``).
PuLP's HiGHS interface, and :func:`optimizer.solvers.highs_bulk._solve_highs_bulk`,
keep that constant out of HiGHS, so HiGHS measures its relative gap against
the variable part alone and keeps searching long after the reported gap,
``|objective − bound| / |objective|`` of the whole objective, is within
``solver.mip_gap`` (on the Zhejiang default HiGHS' own target is about five
times tighter). Here the constant is HiGHS' objective offset: HiGHS' own stopping
rule is then the reported gap. The plan's value is recomputed from the
solution and the bound read from HiGHS in the same terms (shifted like the
bulk path does, should HiGHS report in its presolved space).

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

import math
import time

import highspy
import numpy as np
import pulp

from ..solvers.highs import highs_outcome, run_highs_interruptibly
from ..solvers.highs_bulk import _PULP_STATUS, _bulk_lp, _new_configured_highs
from ..solvers.options import SolveReport, SolverOptions
from ..solvers.pulp_path import solve_problem
from ..solvers.versions import solver_versions_cached

__all__ = ["solve_phased_problem"]


# HiGHS' mip_heuristic_effort for a phased solve (HiGHS' default: 0.05); see the module docstring.
_HEURISTIC_EFFORT = 0.3


def solve_phased_problem(problem: pulp.LpProblem, options: SolverOptions) -> SolveReport:
    """Solve ``problem`` in place; with HiGHS, the objective's constant is HiGHS' offset.

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
    t0 = time.perf_counter()
    variables = problem.variables()
    bulk = _bulk_lp(problem, variables)
    bulk.lp.offset_ = bulk.constant
    h = _new_configured_highs(options)
    if bulk.is_mip:
        h.setOptionValue("mip_heuristic_effort", _HEURISTIC_EFFORT)
    h.passModel(bulk.lp)
    run_highs_interruptibly(h)
    seconds = time.perf_counter() - t0
    problem.solverModel = h
    model_status = h.getModelStatus()
    info = h.getInfo()
    has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
    objective: float | None = None
    shift = 0.0
    if has_primal:
        values = np.asarray(h.getSolution().col_value, dtype=float)
        for v, x in zip(variables, values.tolist(), strict=False):
            v.varValue = x
        objective = float(np.dot(bulk.cost, values)) + bulk.constant
        if math.isfinite(info.objective_function_value):
            shift = objective - float(info.objective_function_value)
    bound: float | None = None
    if bulk.is_mip:
        if math.isfinite(info.mip_dual_bound):
            bound = float(info.mip_dual_bound) + shift
    elif model_status == highspy.HighsModelStatus.kOptimal:
        bound = objective
    status, bound, gap = highs_outcome(model_status, has_primal, objective, bound)
    problem.assignStatus(*_PULP_STATUS[status])
    return SolveReport(
        status,
        objective,
        bound,
        gap,
        seconds,
        "highs",
        solver_versions_cached("highs"),
        h.modelStatusToString(model_status),
        extra={
            "transfer": "bulk passModel, objective constant as HiGHS offset",
            "nonzeros": bulk.nnz,
            "objective_constant": bulk.constant,
            "highs_objective_shift": shift,
            "mip_heuristic_effort": _HEURISTIC_EFFORT if bulk.is_mip else None,
            "solver_gap": info.mip_gap if bulk.is_mip and math.isfinite(info.mip_gap) else None,
        },
    )
