"""Sparse building blocks shared by the newer classic models: pairs in reach, site variables, allocation rows."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pulp
import scipy.sparse as sp

from ..errors import InputError
from ..solvers.highs_bulk import add_bulk_rows, bulk_affine, bulk_var, solve_highs_bulk
from ..solvers.options import SolveReport
from ..solvers.pulp_path import solve_problem
from ._validate import _dense_costs, _pairs_within
from .base import SolverArg, _options

# =========================================================================== shared helpers


class _SiteVarsOwner(Protocol):
    """A model whose ``__init__`` (or rebuild) fills ``_site_vars`` through :func:`_site_vars`."""

    problem: pulp.LpProblem
    _site_vars: dict[int, pulp.LpVariable]


def _pairs_in_reach(cost_matrix: Any, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """(client, site, distance) of the pairs with distance <= cutoff, sorted by client then site.

    A dense matrix is thresholded in bulk; a scipy sparse matrix is read as
    "stored entries are the pairs in reach, valued by their distance" (as
    :func:`optimizer.distance.coverage_matrix` returns), so cost grows with
    the pairs in reach, not with clients × sites.
    """
    if sp.issparse(cost_matrix):
        mat = sp.csr_array(cost_matrix)
        mat.sum_duplicates()
        if mat.ndim != 2 or 0 in mat.shape:
            raise InputError(
                f"cost_matrix must be a non-empty 2-D matrix, got shape {mat.shape}",
                field="cost_matrix",
                hint="pass a clients × sites matrix with at least one client and one site",
            )
        if np.isnan(mat.data).any() or (mat.data < 0).any():
            raise InputError(
                "cost_matrix has NaN or negative entries",
                field="cost_matrix",
                hint="store only the pairs in reach, each valued by its distance (a number, 0 or more)",
            )
        ii, jj, dd = _pairs_within(mat, cutoff)
        order = np.lexsort((jj, ii))
        return ii[order], jj[order], dd[order], mat.shape
    arr = _dense_costs(cost_matrix, allow_inf=True)
    ii, jj, dd = _pairs_within(arr, cutoff)
    return ii, jj, dd, arr.shape


def _site_vars(model: _SiteVarsOwner, m: int, pre: np.ndarray, prefix: str = "y") -> np.ndarray:
    """One binary per site (predefined ones fixed open); fills ``model._site_vars``."""
    y = np.empty(m, dtype=object)
    model._site_vars = {}
    for j in range(m):
        v = bulk_var(model.problem, f"{prefix}_{j}", 1 if pre[j] else 0, 1, pulp.LpBinary)
        if pre[j]:
            v.lowBound = 1  # PuLP resets a binary's bounds to 0..1
        y[j] = v
        model._site_vars[j] = v
    return y


def _p_row(problem: pulp.LpProblem, y: np.ndarray, p: int) -> None:
    """The row ``Σ_j y_j = p`` (exactly ``p`` open sites)."""
    problem.addConstraint(
        pulp.LpConstraint(bulk_affine(y, np.ones(len(y))), pulp.LpConstraintEQ, "p_facilities", float(p))
    )


def _allocation_rows(
    problem: pulp.LpProblem,
    y: np.ndarray,
    x: np.ndarray,
    ii: np.ndarray,
    jj: np.ndarray,
    n: int,
    assign_sense: int,
    demand: np.ndarray | None = None,
    capacity: np.ndarray | None = None,
) -> None:
    """``Σ_j x_ij (sense) 1`` per client, ``x_ij <= y_j`` per pair, and optionally ``Σ_i d_i x_ij <= c_j y_j``."""
    m, k = len(y), len(x)
    allv = np.concatenate([y, x])
    clients = np.unique(ii)
    row_of = np.full(n, -1)
    row_of[clients] = np.arange(len(clients))
    assign = sp.csr_array((np.ones(k), (row_of[ii], m + np.arange(k))), shape=(len(clients), m + k))
    add_bulk_rows(problem, allv, assign, assign_sense, np.ones(len(clients)), [f"assign_{i}" for i in clients])
    link = sp.csr_array(
        (
            np.concatenate([np.ones(k), -np.ones(k)]),
            (np.concatenate([np.arange(k)] * 2), np.concatenate([m + np.arange(k), jj])),
        ),
        shape=(k, m + k),
    )
    link.sort_indices()
    add_bulk_rows(
        problem, allv, link, pulp.LpConstraintLE, np.zeros(k), [f"link_{i}_{j}" for i, j in zip(ii, jj, strict=False)]
    )
    if capacity is not None and demand is not None:
        sites = np.unique(jj)
        srow = np.full(m, -1)
        srow[sites] = np.arange(len(sites))
        cap = sp.csr_array(
            (
                np.concatenate([demand[ii], -capacity[sites]]),
                (np.concatenate([srow[jj], np.arange(len(sites))]), np.concatenate([m + np.arange(k), sites])),
            ),
            shape=(len(sites), m + k),
        )
        cap.sum_duplicates()
        cap.sort_indices()
        add_bulk_rows(problem, allv, cap, pulp.LpConstraintLE, np.zeros(len(sites)), [f"capacity_{j}" for j in sites])


def _solve_once(
    problem: pulp.LpProblem,
    solver: SolverArg,
    time_limit: float | None,
    mip_gap: float | None,
    threads: int | None,
    msg: bool,
) -> SolveReport:
    """Solve ``problem`` once as it stands (HiGHS in bulk, or CBC through PuLP)."""
    options = _options(solver, time_limit, mip_gap, threads, msg)
    if options.name == "highs":
        return solve_highs_bulk(problem, options, None)
    return solve_problem(problem, options)


def _var_values(x: np.ndarray) -> np.ndarray:
    """The solved values of the variables ``x`` (0 where the solver left none)."""
    return np.array([v.varValue or 0.0 for v in x], dtype=float)
