"""The LP relaxation of a PuLP planning model in HiGHS, with what the LP-first solves read from it.

One home for the relaxation that :mod:`~.access_solve`, :mod:`~.lp_plan` and
:mod:`~.count_bound` share: bound, column values, reduced costs, row duals
and the optimal basis, and the HiGHS columns of site decisions to fix.
"""

from __future__ import annotations

from typing import NamedTuple

import highspy
import numpy as np
import pulp

from ..solvers import SolverOptions
from ..solvers.highs import run_highs_interruptibly
from ..solvers.highs_bulk import BulkLp, bulk_lp, new_configured_highs


class Relaxation(NamedTuple):
    """The LP relaxation's optimum: bound, column values, reduced costs, row duals, the model passed, its basis."""

    bound: float
    x: np.ndarray
    reduced: np.ndarray
    row_dual: np.ndarray
    lp: highspy.HighsLp
    basis: highspy.HighsBasis | None = None


def lp_relaxation(prob: pulp.LpProblem, options: SolverOptions, bulk: BulkLp | None = None) -> Relaxation | None:
    """The LP relaxation of ``prob`` (columns numbered by ``v.index``; ``bulk`` its conversion if made); None if not solved."""
    if bulk is None:
        bulk = bulk_lp(prob, prob.variables())
    h = new_configured_highs(options)
    h.passModel(bulk.lp)
    h.setOptionValue("solve_relaxation", True)
    run_highs_interruptibly(h)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    solution = h.getSolution()
    x = np.asarray(solution.col_value)
    reduced = np.asarray(solution.col_dual)
    row_dual = np.asarray(solution.row_dual)
    if len(reduced) != len(x) or len(row_dual) != bulk.lp.num_row_:  # no duals: no fixing, no count bound
        return None
    basis = h.getBasis()
    return Relaxation(
        float(bulk.cost @ x + bulk.constant), x, reduced, row_dual, bulk.lp, basis if basis.valid else None
    )


def site_fixing(index: np.ndarray, values: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """HiGHS columns and values of site decisions ``k`` (positions in ``index``) fixed at ``values[k]``."""
    keys = np.fromiter(values, dtype=np.int64, count=len(values))
    return index[keys], np.fromiter(values.values(), dtype=float, count=len(values))
