"""Classic facility-location models, solved exactly with sparse, strong formulations.

The five models speak spopt 0.7's vocabulary — ``from_cost_matrix`` /
``from_geodataframe`` with the same argument names, ``fac2cli`` and
``cli2fac`` after solving, and the same objective definitions — so a result
here compares one to one with spopt's:

:class:`LSCP`     location set covering: fewest facilities that cover every
                  demand point within ``service_radius``.
:class:`MCLP`     maximal covering: most demand weight covered with exactly
                  ``p_facilities`` facilities — or, beyond spopt, within a
                  ``budget`` over site costs.
:class:`PMedian`  p-median: exactly ``p_facilities`` facilities minimising the
                  weighted sum of distances from each client to its nearest one.
:class:`PCenter`  p-center: exactly ``p_facilities`` facilities minimising the
                  largest client-to-nearest-facility distance.
:class:`CFLP`     capacitated fixed-charge facility location (multi-source),
                  with an uncapacitated (UFLP) mode.

Every model accepts required ("predefined") sites, builds its
:class:`pulp.LpProblem` at construction — ``model.problem`` is there before
:meth:`solve`, so a user can add constraints — and solves it with HiGHS or CBC,
reporting honestly what was proven (``status``, ``gap``, ``bound``, ``report``).

What makes them fast
--------------------
* **Coverage models** never touch demand × site pairs out of range: coverage
  is a sparse matrix (from a dense cost matrix in bulk, a scipy sparse matrix,
  or a k-d tree for geodata). Demand points covered by a required site are
  constants; demand points with identical covering sets are merged (weights
  summed); sites covering a subset of another site's set at no lower cost are
  dropped where that provably keeps an optimum (see :class:`MCLP` and
  :class:`LSCP` for exactly when).
* **MCLP with p facilities** also gets a strong incumbent (LP rounding and
  dives, vectorised interchange, iterated local search) and exact site fixing
  by LP reduced costs and probing with certified Lagrangian bounds, so HiGHS
  usually receives a model with few or no undecided sites (see :class:`MCLP`).
* **p-median** uses the radius formulation of García, Labbé & Marín (2011),
  in Elloumi's (2010) incremental form: per client, one continuous variable
  per distinct distance level and one row per level holding the sites at that
  level, so nonzeros stay O(clients × sites) instead of O(clients × sites²),
  with the LP bound of the classic assignment model. Before building, a
  greedy + interchange heuristic gives an incumbent, a Lagrangian relaxation a
  lower bound, and Lagrangian reduction tests then remove sites and distance
  levels that no plan at least as good as the incumbent can use; when the
  bound is still far from the incumbent, each surviving site is probed
  (Lagrangian bound re-optimised with the site forced open). The incumbent is
  not given to HiGHS as a MIP start: HiGHS 1.16 mishandles starts on presolved
  models (see :meth:`LocateModel.solve`).
* **p-center** uses sorted distance levels (Elloumi, Labbé & Pochet 2004)
  restricted to radii between a lower bound and a heuristic's value, keeping
  only the level rows that are not implied by the next level.
* **CFLP** uses the strong linking ``x_ij <= y_j`` (tightened to
  ``x_ij <= min(1, s_j / d_i) y_j``) plus the aggregate capacity cut.

All models are built in bulk from numpy arrays, and HiGHS receives them as one
CSC matrix (``Highs.passModel``) rather than row by row; the solution is
written back onto the PuLP variables.

Reductions assume the model as built. If you add your own constraints to
``model.problem``, build it with ``reduce=False`` — :meth:`solve` refuses to
solve a reduced model whose constraints or objective were changed, because an
optimum of the changed model might need a site or distance level that was
removed. Any change counts (rows added or removed, coefficients, right-hand
sides or variable bounds edited in place, the objective replaced or extended;
:meth:`LocateModel.changed` tells), detected by a fingerprint of the problem
taken when it was built. A changed model is solved as it is and read as
solved: ``objective`` is ``pulp.value(problem.objective)``, the open sites and
CFLP's shares are the solver's, and the post-processing that assumes the built
formulation (the MCLP incumbent kept after a time limit, CFLP's re-solved
shares, objective values recomputed from the open sites) is skipped
(``report.extra['post_processing']`` says so).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from itertools import chain
from typing import TYPE_CHECKING, Any, Literal, Self, cast

import numpy as np
import pulp
import scipy.sparse as sp

from ..errors import SolverError
from ..impedance.rows import merge_rows
from ..solvers.highs_bulk import constraint_dict, solve_highs_bulk
from ..solvers.options import SolveReport, SolverName, SolverOptions, relative_gap
from ..solvers.pulp_path import solve_problem

if TYPE_CHECKING:
    import geopandas as gpd

SolverArg = Literal["highs", "cbc"] | SolverOptions | str


# =========================================================================== shared model machinery


# addConstraint would register each row's variables; PuLP's variables()
# collects them from the constraints anyway, so skip the per-row work.


def _problem_fingerprint(problem: pulp.LpProblem) -> bytes:
    """A digest of everything that defines ``problem``: rows, objective, sense, variable bounds and types.

    Identity-based for the row and variable objects (a row or variable replaced
    by an equal-looking one counts as a change) and value-based for names,
    senses, right-hand sides, coefficients and bounds, so edits in place are
    caught too. Objective terms with coefficient 0 and PuLP's ``__dummy``
    variable are left out: CBC's interface adds that to a constant objective
    and leaves it behind at coefficient 0, which changes nothing. Built from
    flat numpy arrays (C-level passes over the terms) and hashed with BLAKE2b —
    not Python's ``hash``, under which e.g. -1 and -2 collide.
    """
    cons = constraint_dict(problem)
    exprs = [c.expr for c in cons.values()]
    obj = problem.objective
    obj_terms = [] if obj is None else [(v, a) for v, a in obj.items() if a != 0]
    # The variables of the rows and the objective (what problem.variables() collects, without its sort).
    variables = [
        v for v in dict.fromkeys(chain((v for v, _ in obj_terms), chain.from_iterable(exprs))) if v.name != "__dummy"
    ]

    def ids(items: Iterable[object]) -> bytes:
        return np.fromiter(map(id, items), dtype=np.uint64).tobytes()

    def floats(items: Iterable[float]) -> bytes:
        return np.fromiter(items, dtype=np.float64).tobytes()

    def bounds(values: Iterable[float | None]) -> bytes:  # None (no bound) is NaN here: no finite bound equals it
        return floats(math.nan if b is None else b for b in values)

    digest = hashlib.blake2b(digest_size=20)
    for part in (
        "\x00".join(cons.keys()).encode("utf-8", "surrogatepass"),
        ids(cons.values()),
        ids(exprs),
        np.fromiter((c.sense for c in cons.values()), dtype=np.int8).tobytes(),
        floats(c.constant for c in cons.values()),
        np.fromiter(map(len, exprs), dtype=np.int64).tobytes(),
        ids(chain.from_iterable(exprs)),
        floats(chain.from_iterable(e.values() for e in exprs)),
        b"no objective" if obj is None else floats([obj.constant]),
        ids(v for v, _ in obj_terms),
        floats(a for _, a in obj_terms),
        ids(variables),
        bounds(v.lowBound for v in variables),
        bounds(v.upBound for v in variables),
        "".join("I" if v.cat == pulp.LpInteger else "C" for v in variables).encode(),
        str(problem.sense).encode(),
    ):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.digest()


def _options(
    solver: SolverArg, time_limit: float | None, mip_gap: float | None, threads: int | None, msg: bool
) -> SolverOptions:
    if isinstance(solver, SolverOptions):
        if time_limit is None and mip_gap is None and threads is None and not msg:
            return solver
        return SolverOptions(
            name=solver.name,
            time_limit=solver.time_limit if time_limit is None else time_limit,
            mip_gap=solver.mip_gap if mip_gap is None else mip_gap,
            threads=solver.threads if threads is None else threads,
            msg=solver.msg or msg,
        )
    return SolverOptions(
        # Checked by SolverOptions itself: an unknown name is a clear SolverNotAvailableError.
        name=cast(SolverName, str(solver).lower()),
        time_limit=time_limit,
        mip_gap=0.0 if mip_gap is None else mip_gap,
        threads=threads,
        msg=msg,
    )


class LocateModel:
    """Shared behaviour of the location models; not used directly.

    Attributes (after :meth:`solve`)
    --------------------------------
    status : str
        ``optimal``, ``feasible`` (time limit; see ``gap``), ``infeasible``,
        ``unbounded``, ``no_solution`` or ``error`` — see
        :class:`optimizer.solvers.SolveReport`.
    objective, bound, gap : float or None
        Value of the plan found in the model's own objective (same definition
        as spopt's), best proven bound and relative gap.
    selected_sites : numpy.ndarray
        Site ids of the open facilities (the facility layer's index labels
        when built from a GeoDataFrame, positional indices otherwise).
    selected_site_indices : numpy.ndarray
        Positional indices of the open facilities.
    assignment : numpy.ndarray
        Per client, the positional index of its facility (nearest open one,
        a covering one, or the main supplier), ``-1`` when none.
    fac2cli, cli2fac : list of list of int
        spopt's facility → clients and client → facilities lists (positional).
    report : SolveReport
        Everything the solver proved.
    problem : pulp.LpProblem
        The model; built at construction.
    stats : dict
        What the formulation and its reductions did (sizes, bounds, times).
    """

    sense = pulp.LpMinimize

    def __init__(
        self,
        name: str,
        problem: pulp.LpProblem | None = None,
        *,
        n: int = 0,
        m: int = 0,
        predefined: np.ndarray | None = None,
    ) -> None:
        """Declare the state every model shares; each model's ``__init__`` builds its ``problem``.

        Parameters
        ----------
        name : str
            Problem name.
        problem : pulp.LpProblem, optional
            The problem to fill (default: an empty one named ``name`` in the model's ``sense``).
        n, m : int
            Number of clients and of sites.
        predefined : numpy.ndarray, optional
            Boolean per site: required open (default: none).
        """
        self.name = name
        self.problem = problem if problem is not None else pulp.LpProblem(name, self.sense)
        self._n = n  # clients
        self._m = m  # sites
        self._predefined = np.zeros(m, dtype=bool) if predefined is None else predefined
        # positional site index -> its open/close variable (filled as the model is built)
        self._site_vars: dict[int, pulp.LpVariable] = {}
        self.status: str | None = None
        self.objective: float | None = None
        self.bound: float | None = None
        self.gap: float | None = None
        self.report: SolveReport | None = None
        self.selected_site_indices = np.empty(0, dtype=np.int64)
        self.selected_sites = np.empty(0)
        self.assignment = np.empty(0, dtype=np.int64)
        self.fac2cli: list[list[int]] = []
        self.cli2fac: list[list[int]] = []
        self.stats: dict[str, Any] = {}
        self.site_ids: np.ndarray | None = None
        self.client_ids: np.ndarray | None = None
        self._reduced = False
        self._fingerprint: bytes | None = None
        # Set by solve(): the problem was changed after it was built (by the user), so the
        # results come from the solver's plan as it is (see changed()).
        self._changed = False
        self._start: dict[str, float] | None = None

    # -- construction helpers
    def _labelled(self, gdf_demand: gpd.GeoDataFrame | None, gdf_fac: gpd.GeoDataFrame) -> Self:
        """Name sites and clients by the layers' index labels (what ``from_geodataframe`` returns)."""
        self.site_ids = gdf_fac.index.to_numpy()
        if gdf_demand is not None:
            self.client_ids = gdf_demand.index.to_numpy()
        return self

    def _seal(self, reduced: bool) -> None:
        """Remember the model as built, to detect any user edit before solving (see :meth:`changed`)."""
        self._reduced = reduced
        self._fingerprint = _problem_fingerprint(self.problem)

    def changed(self) -> bool:
        """Whether ``problem`` differs from the model as built (rows, objective, sense or variable bounds).

        Rows added or removed, a coefficient, right-hand side or bound changed in
        place, an objective replaced or extended: all count. A changed model is
        solved as it is, and its results are read from the solver's plan as it
        is (no post-processing that assumes the built formulation); a reduced
        one is refused.
        """
        return self._fingerprint is not None and _problem_fingerprint(self.problem) != self._fingerprint

    def _check_unmodified(self) -> bool:
        """Refuse a changed reduced model; return whether the model was changed (see :meth:`changed`)."""
        changed = self.changed()
        if changed and self._reduced:
            raise SolverError(
                f"{type(self).__name__} {self.name!r} was built with reductions that assume the model as built, "
                "but its constraints or objective were changed",
                field="reduce",
                hint=f"build it with {type(self).__name__}.from_cost_matrix(..., reduce=False) before adding "
                "constraints",
            )
        return changed

    def solve(
        self,
        solver: SolverArg = "highs",
        *,
        time_limit: float | None = None,
        mip_gap: float | None = None,
        threads: int | None = None,
        msg: bool = False,
        results: bool = True,
    ) -> Self:
        """Solve the model and fill in the results.

        Parameters
        ----------
        solver
            ``"highs"`` (default), ``"cbc"``, or a
            :class:`~optimizer.solvers.SolverOptions`.
        time_limit
            Seconds of solver wall time.
        mip_gap
            Relative gap at which to stop (default 0: prove optimality).
        threads, msg
            Solver threads; echo the solver log.
        results
            Compute ``fac2cli`` / ``cli2fac`` (spopt's flag; cheap here).

        Returns
        -------
        self
        """
        options = _options(solver, time_limit, mip_gap, threads, msg)
        self._changed = self._check_unmodified()
        if options.name == "highs":
            # The heuristic plan is NOT passed as a MIP start: HiGHS 1.16
            # evaluates a start in its presolved space without presolve's
            # objective offset and then prunes against that wrong value —
            # on pmed20 it returned 1790 as "optimal" (true optimum 1789).
            # The start stays in ``self._start`` for when that is fixed.
            report = solve_highs_bulk(self.problem, options, None)
        else:
            report = solve_problem(self.problem, options)
        if self._changed:
            # Every shortcut after the solve (incumbent kept, shares re-solved, values recomputed
            # from the open sites) assumes the model as built; a changed one is read as solved.
            report.extra["post_processing"] = "skipped: the problem was changed after it was built"
        else:
            self._improve_plan(report)
        self.report = report
        self.status = report.status
        self.bound = report.bound
        self.gap = report.gap
        if report.has_solution:
            self._collect()
            self.objective = (
                float(pulp.value(self.problem.objective) or 0.0) if self._changed else self._objective_value()
            )
            if report.status == "feasible":
                # The plan's own value (recomputed from the open sites) may beat
                # the solver's view of it; the gap is measured from that plan.
                self.gap = relative_gap(self.objective, self.bound)
            if results:
                self._fac2cli()
        else:
            self.objective = None
        return self

    def _improve_plan(self, report: SolveReport) -> None:
        """Hook: replace a time-limited solver plan — or the lack of one — by a better known one (see :class:`MCLP`)."""

    # -- results
    def _open_mask(self) -> np.ndarray:
        mask = self._predefined.copy()
        for j, v in self._site_vars.items():
            if v.varValue is not None and v.varValue > 0.5:
                mask[j] = True
            elif self._changed:
                mask[j] = False  # a user may have released a predefined site: the solver's plan decides
        return mask

    def _collect(self) -> None:
        mask = self._open_mask()
        self.selected_site_indices = np.flatnonzero(mask)
        ids = self.site_ids if self.site_ids is not None else np.arange(self._m)
        self.selected_sites = np.asarray(ids)[self.selected_site_indices]
        self._set_assignment(mask)

    def _set_assignment(self, mask: np.ndarray) -> None:
        """Fill ``assignment`` from the open-site mask; every model defines it."""
        raise NotImplementedError

    def _objective_value(self) -> float:
        return float(pulp.value(self.problem.objective))

    def _fac2cli(self) -> None:
        self.fac2cli = [[] for _ in range(self._m)]
        self.cli2fac = [[] for _ in range(self._n)]
        for i, j in zip(*self._served_pairs(), strict=False):
            self.fac2cli[j].append(int(i))
            self.cli2fac[i].append(int(j))

    def _served_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        ok = self.assignment >= 0
        return np.flatnonzero(ok), self.assignment[ok]

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r}: {self._n} clients, {self._m} sites, "
            f"status={self.status}, objective={self.objective}>"
        )


# =========================================================================== coverage models


def _merge_rows(cov: sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
    """Group rows with identical column sets: (group id per row, first row of each group)."""
    return merge_rows(cov.indptr, cov.indices, cov.shape[1])


# =========================================================================== p-median


def _nearest_open(d: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each client's nearest open site (p-median and p-center assignments)."""
    open_idx = np.flatnonzero(mask)
    return open_idx[np.argmin(d[:, open_idx], axis=1)]
