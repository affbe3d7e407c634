"""A bound on a planning model beyond its LP relaxation: facility counts per type made integral.

On the Zhejiang default the access LP is as good as integral within each
facility type: priced by the LP's duals of the budget rows, each type's own
LP has an integral optimum. Its whole gap (0.068 %) comes from the budgets
being spent on fractions of facilities (10.125 art galleries: the last 10
million yuan of the culture budget). This bound makes those counts integral.
The coverage LP is of the same kind (9.625 art galleries, 18.75 middle
schools): its count bound is the optimal plan's value to the person, which
branch and bound does not prove in 300 s (benchmarks/README.md, session 19).

Written for a minimisation; a maximisation is solved as the minimisation of
its negation (costs, offset and HiGHS' row duals change sign), and its bound
is an upper bound.

1. **Price the coupling rows.** Rows that tie facility types together (per
   unit caps, user rows) are moved into the objective with the LP's duals
   ``π`` (signs clipped to the row's sense): for every plan meeting them,
   ``c·x − π(a·x − b) ≤ c·x``, so the minimum of the priced problem is a lower
   bound (Lagrangian relaxation).
2. **Each type's value per count.** Without the coupling rows, type ``t``'s
   columns (its sites, access levels and standard shortfalls) meet only its
   own rows. Its LP with ``Σ_j y_tj = n`` added gives ``V_t(n)``, a lower bound
   for every plan of type ``t`` with ``n`` sites. It is computed on a window
   of counts around the LP's, starting from the type's part of the LP's
   optimal basis (optimal at the LP's count, so a few dual simplex
   iterations move it to a whole count); ``V_t`` is convex in ``n`` (an LP's
   value in its right-hand side), so at a count not solved it lies above
   every chord of two neighbouring solved counts extended, and everywhere
   above the type's LP without the count row.
3. **Integral counts under the budgets.** The total and family budget rows,
   where each type's sites all cost the same, are kept exactly: a knapsack
   over whole counts (dynamic programming in units of the greatest common
   divisor of the costs) finds ``min Σ_t V_t(n_t)`` over the counts the
   budgets allow. Where it takes a count outside a type's window (from a
   chord: on the access default 14 primary schools, the LP's count 10.9),
   that count's LP is solved and the knapsack run again, until every count
   it takes is solved: the bound only rises (by 24,610 person-km there).

The result is a proven bound on every plan; it is never used to fix a
decision, only to report (and stop at) a smaller gap. The counts at which the
knapsack attains it are returned too: a plan with those counts is the one the
bound has in view (:mod:`optimizer.planning.lp_plan` solves for one).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import highspy
import numpy as np
import scipy.sparse as sp

from ..solvers import SolverOptions
from ..solvers.highs import highs_lp, lp_matrix, new_highs
from ..solvers.highs_bulk import constraint_dict

if TYPE_CHECKING:
    from .lp_relaxation import Relaxation
    from .model import PlanningModel

# Rows kept exact in the knapsack: the total budget and the family caps (model._budget, model._budget_caps).
_EXACT_PREFIXES = ("budget_total", "family_")
# The knapsack works in units of the costs' greatest common divisor; beyond this many units it is skipped.
_MAX_UNITS = 200_000
# Each type's LP is solved at the counts within this many of its LP count.
_WINDOW = 1
# At most this many rounds of solving the counts the knapsack takes from chords and running it again.
_ROUNDS = 10
# Share of |bound| taken off for the LP solves' tolerances.
_SAFETY = 1e-9

#: Share of the time left by which :func:`relaxation_count_bound` must be made (branch and bound keeps the rest).
COUNT_SHARE = 0.9
#: A plan within this share of the count bound is proven by it: the bound's own margin for the LP tolerances.
RESOLUTION = 2 * _SAFETY


@dataclass
class CountBound:
    """The bound and how it was made.

    Attributes
    ----------
    bound
        The proven bound on the objective (the model's offset included): a lower bound for a minimisation,
        an upper bound for a maximisation.
    seconds
        Time taken.
    lps
        The number of per-type LPs solved.
    counts
        Each type's site count at which the knapsack attains the bound.
    """

    bound: float
    lps: int
    seconds: float
    counts: tuple[int, ...] = ()


@dataclass
class _TypeValues:
    """``V_t(n)`` of one type: exact on a window, with the free LP below everything."""

    free: float
    n_min: int
    n_max: int
    values: dict[int, float]

    def at(self, n: int) -> float:
        """A lower bound on every plan of this type with ``n`` sites (``inf``: none exists).

        ``V_t`` is convex, so it lies above the line through any two
        neighbouring solved counts outside their interval: the best of those
        lines (and the free LP) at an unsolved count.
        """
        if n < self.n_min or n > self.n_max:
            return math.inf
        if n in self.values:
            return self.values[n]
        best = self.free
        for k, v in self.values.items():
            after = self.values.get(k + 1, math.inf)
            if math.isfinite(v) and math.isfinite(after):
                best = max(best, v + (after - v) * (n - k))
        return best


def _owners(a_csr: sp.csr_array, y_cols: Sequence[np.ndarray], n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The type owning each column and row (-1: none; a row whose columns belong to two types couples them).

    Sites belong to their type; a row with sites of one type only belongs to
    it, and so do its other columns (access levels, shortfalls), repeated
    until nothing changes.
    """
    col_owner = np.full(n_cols, -1, np.int64)
    for t, cols in enumerate(y_cols):
        col_owner[cols] = t
    n_rows = a_csr.shape[0]
    row_of_nz = np.repeat(np.arange(n_rows), np.diff(a_csr.indptr))
    row_owner = np.full(n_rows, -1, np.int64)
    while True:
        owner = col_owner[a_csr.indices]
        known = owner >= 0
        lo = np.full(n_rows, np.iinfo(np.int64).max)
        hi = np.full(n_rows, -1)
        np.minimum.at(lo, row_of_nz[known], owner[known])
        np.maximum.at(hi, row_of_nz[known], owner[known])
        single = (hi >= 0) & (lo == hi)
        new_cols = single[row_of_nz] & ~known
        if not new_cols.any():
            row_owner[single] = hi[single]
            return col_owner, row_owner
        col_owner[a_csr.indices[new_cols]] = hi[row_of_nz[new_cols]]


def _row_prices(row_dual: np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lagrangian prices of rows (HiGHS' duals with the sign each row's sense allows) and the bound each prices."""
    upper_only = np.isinf(row_lower) & np.isfinite(row_upper)
    lower_only = np.isfinite(row_lower) & np.isinf(row_upper)
    equal = np.isfinite(row_lower) & (row_lower == row_upper)
    price = np.where(upper_only, np.minimum(row_dual, 0.0), 0.0)
    price = np.where(lower_only, np.maximum(row_dual, 0.0), price)
    price = np.where(equal, row_dual, price)  # ranged rows are dropped (price 0): a relaxation too
    rhs = np.where(upper_only, row_upper, np.where(np.isfinite(row_lower), row_lower, 0.0))
    return price, np.where(price != 0, rhs, 0.0)


def _exact_rows(
    a_csr: sp.csr_array, names: Sequence[str], row_upper: np.ndarray, y_cols: Sequence[np.ndarray]
) -> dict[int, np.ndarray]:
    """Budget rows the knapsack keeps: row -> cost per type (0 where the type is not in it).

    A total or family row qualifies where it holds sites only, each type's
    sites all or none of them at one cost.
    """
    exact: dict[int, np.ndarray] = {}
    is_y = np.zeros(a_csr.shape[1], bool)
    for cols in y_cols:
        is_y[cols] = True
    for r, name in enumerate(names):
        if not name.startswith(_EXACT_PREFIXES) or not math.isfinite(row_upper[r]):
            continue
        row = a_csr[[r]].toarray().ravel()
        if (row[~is_y] != 0).any():
            continue
        costs = np.zeros(len(y_cols))
        for t, cols in enumerate(y_cols):
            values = row[cols]
            if len(values) and (values != values[0]).any():
                break
            costs[t] = values[0] if len(values) else 0.0
        else:
            exact[r] = costs
    return exact


def _solve_count(solvers: dict[int, _TypeSolver], counts: list[int], t: int) -> bool:
    """Type ``t``'s LP at its count in ``counts`` (:meth:`_TypeSolver.solve`)."""
    return solvers[t].solve(counts[t])


class _TypeSolver:
    """One type's priced LP (its last row the count) kept in a HiGHS instance, so more counts can be solved later.

    :attr:`values` is ``V_t`` on the counts solved so far; :attr:`lps` counts
    the LPs solved. Each solve starts from the last one's basis.
    """

    def __init__(
        self,
        lp: highspy.HighsLp,
        n_range: tuple[int, int],
        deadline: float,
        start: highspy.HighsBasis | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._h = new_highs(False)
        self._h.setOptionValue("output_flag", False)
        self._h.passModel(lp)
        if start is not None:  # an alien basis: HiGHS completes it where it is not square (a warm start only)
            self._h.setBasis(start)
        self._count_row = lp.num_row_ - 1
        self._deadline, self._stop = deadline, stop
        self.values = _TypeValues(-math.inf, n_range[0], n_range[1], {})
        self.lps = 0

    def window(self, centre: float) -> bool:
        """Solve the counts within :data:`_WINDOW` of the LP's count ``centre``; False if one is not solved in time.

        Nearest the LP's count first; the LP without the count row too where
        no two neighbouring counts have a value to extend.
        """
        v = self.values
        window = range(max(v.n_min, math.floor(centre) - _WINDOW), min(v.n_max, math.ceil(centre) + _WINDOW) + 1)
        if not all(self.solve(n) for n in sorted(window, key=lambda k: abs(k - centre))):
            return False
        values = v.values
        if any(math.isfinite(values[k]) and math.isfinite(values.get(k + 1, math.inf)) for k in values):
            return True  # the chords bound every count: the free LP is never needed
        free = _solve_at(self._h, self._count_row, -highspy.kHighsInf, highspy.kHighsInf, self._deadline, self._stop)
        if free is None or not math.isfinite(free):
            return False
        v.free, self.lps = free, self.lps + 1
        return True

    def solve(self, n: int) -> bool:
        """``V_t(n)`` into :attr:`values`; False if not solved in time (or stopped)."""
        value = _solve_at(self._h, self._count_row, float(n), float(n), self._deadline, self._stop)
        if value is None:
            return False
        self.values.values[n] = value
        self.lps += 1
        return True


def _solve_at(
    h: highspy.Highs, count_row: int, low: float, high: float, deadline: float, stop: threading.Event | None = None
) -> float | None:
    """The LP's value with the count row in ``[low, high]`` (``inf``: infeasible); None if not solved in time.

    ``stop`` (set by another thread) gives up before the next LP.
    """
    left = deadline - time.perf_counter()
    if left <= 0 or (stop is not None and stop.is_set()):
        return None
    h.setOptionValue("time_limit", left)
    h.changeRowBounds(count_row, low, high)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kOptimal:
        return float(h.getInfo().objective_function_value)
    if status == highspy.HighsModelStatus.kInfeasible:
        return math.inf
    return None


def _knapsack(
    values: Sequence[_TypeValues], costs: dict[int, np.ndarray], caps: dict[int, float], total: int | None
) -> tuple[float, list[int]] | None:
    """``min Σ_t V_t(n_t)`` over whole counts within the exact rows (a total row over disjoint family rows).

    Returns the least sum and counts ``n_t`` attaining it; None where the
    rows are not of that shape or the costs have no common unit small enough.
    """
    n_types = len(values)
    positive = [c for row in costs.values() for c in row if c > 0]
    unit = 0
    for c in positive:
        if abs(c - round(c)) > 1e-9:
            return None
        unit = math.gcd(unit, round(c))
    cost_of = [max((float(costs[r][t]) for r in costs), default=0.0) for t in range(n_types)]
    if any(costs[r][t] not in (0.0, cost_of[t]) for r in costs for t in range(n_types)):
        return None  # one price per type across the rows it is in
    if total is not None and any(costs[total][t] == 0 < cost_of[t] for t in range(n_types)):
        return None
    family_rows = [r for r in costs if r != total]
    member = [[r for r in family_rows if costs[r][t] > 0] for t in range(n_types)]
    if any(len(m) > 1 for m in member):
        return None
    budget = {r: math.floor(caps[r] / unit + 1e-9) if unit else 0 for r in costs}
    width = budget[total] if total is not None else max(budget.values(), default=0)
    if width > _MAX_UNITS or any(b < 0 for b in budget.values()):
        return None
    groups: dict[int | None, list[int]] = {}
    for t in range(n_types):
        groups.setdefault(member[t][0] if member[t] else None, []).append(t)
    steps = [round(cost_of[t] / unit) if unit and cost_of[t] > 0 else 0 for t in range(n_types)]
    counts = [values[t].n_min for t in range(n_types)]
    tables = [
        _GroupTable(values, types, steps, min(width, budget[row]) if row is not None else width, width)
        for row, types in groups.items()
    ]
    if total is None:
        best = 0.0
        for table in tables:
            best += float(table.table[table.cap])
            table.counts_at(table.cap, counts)
        return best, counts
    combined, before = np.zeros(width + 1), []
    for table in tables:
        before.append(combined)
        combined = _min_plus(combined, table.table)
    at = width
    for table, earlier in zip(reversed(tables), reversed(before), strict=True):
        # the group's spend u at which the groups before it and it attain the least sum within ``at``
        u = int(np.argmin(earlier[at::-1] + table.table[: at + 1]))
        table.counts_at(u, counts)
        at -= u
    return float(combined[width]), counts


class _GroupTable:
    """``f(b)`` = least ``Σ V_t(n_t)`` of a group's types spending at most ``b`` units (``inf`` above ``cap``).

    ``table`` holds ``f`` (``cap`` the group's cap in units); :meth:`counts_at` recovers counts attaining ``f(b)`` from the tables kept after
    each type (one argmin per type at the end, so the forward pass stays a plain ``minimum``).
    """

    def __init__(self, values: Sequence[_TypeValues], types: list[int], steps: list[int], cap: int, width: int) -> None:
        table = np.zeros(width + 1)
        self._before: list[tuple[int, np.ndarray]] = []
        self._values, self._steps, self.cap = values, steps, cap
        for t in types:
            self._before.append((t, table))
            step, v = steps[t], values[t]
            new = np.full(width + 1, np.inf)
            for n in self._counts(t):
                value = v.at(n)
                if math.isfinite(value):
                    shift = n * step
                    np.minimum(new[shift:], table[: width + 1 - shift] + value, out=new[shift:])
            table = new
        table[cap + 1 :] = table[cap]
        self.table = table

    def _counts(self, t: int) -> range:
        v, step = self._values[t], self._steps[t]
        return range(v.n_min, (v.n_max if step == 0 else min(v.n_max, self.cap // step)) + 1)

    def counts_at(self, b: int, counts: list[int]) -> None:
        """Write into ``counts`` the group's counts attaining ``f(b)`` (types outside the group untouched)."""
        b = min(b, self.cap)
        for t, before in reversed(self._before):
            step, v = self._steps[t], self._values[t]
            best, chosen = math.inf, v.n_min
            for n in self._counts(t):
                if n * step > b:
                    break
                total = before[b - n * step] + v.at(n)
                if total < best:
                    best, chosen = total, n
            counts[t] = chosen
            b -= chosen * step


def _min_plus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``c(s) = min_{u ≤ s} a(s − u) + b(u)``: the least sum of two groups spending at most ``s`` units together."""
    out = np.full(len(a), np.inf)
    for u in range(len(b)):
        if math.isfinite(b[u]):
            np.minimum(out[u:], a[: len(a) - u] + b[u], out=out[u:])
    return out


def _type_lp(
    csc: sp.csc_array,
    cost: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    rows: tuple,
    cols: np.ndarray,
    y: np.ndarray,
) -> highspy.HighsLp:
    """One type's LP: its columns and rows (``rows`` = (indices, lower, upper)), plus the count row ``Σ y`` last."""
    index, row_lower, row_upper = rows
    sub = csc[index][:, cols]
    count = sp.csr_array(
        (np.ones(len(y)), (np.zeros(len(y), np.int64), np.searchsorted(cols, y))), shape=(1, len(cols))
    )
    matrix = sp.vstack([sub, count]).tocsc()
    inf = highspy.kHighsInf
    return highs_lp(
        cost[cols],
        (bounds[0][cols], bounds[1][cols]),
        (np.r_[row_lower[index], -inf], np.r_[row_upper[index], inf]),
        matrix,
    )


def _type_basis(
    col_status: np.ndarray, row_status: np.ndarray, cols: np.ndarray, rows: np.ndarray
) -> highspy.HighsBasis:
    """One type's part of the whole LP's basis, its count row basic (its count is fractional at the LP's optimum).

    ``col_status``/``row_status`` are the whole basis' statuses as object arrays (:func:`_basis_arrays`),
    converted from HiGHS' lists once for all types.
    """
    start = highspy.HighsBasis()
    start.col_status = col_status[cols].tolist()
    start.row_status = row_status[rows].tolist() + [highspy.HighsBasisStatus.kBasic]
    start.valid = True
    start.alien = True
    return start


def _basis_arrays(basis: highspy.HighsBasis) -> tuple[np.ndarray, np.ndarray]:
    """The column and row statuses of ``basis`` as object arrays (each read of ``basis.col_status`` copies it)."""
    col_status = np.empty(len(basis.col_status), dtype=object)
    col_status[:] = basis.col_status
    row_status = np.empty(len(basis.row_status), dtype=object)
    row_status[:] = basis.row_status
    return col_status, row_status


@dataclass
class _Priced:
    """The model with its coupling rows priced: each type's LP and what the knapsack keeps.

    Attributes
    ----------
    constant
        Offset, priced right-hand sides and the loose columns at their cheaper bound.
    subs
        Each type's LP (count row last), None for a type without sites.
    cols, rows
        Each type's columns and rows in the whole model (sorted); ``sites`` the positions of its sites in ``cols``.
    sign
        1 for a minimisation; -1 for a maximisation, whose negation the priced LPs minimise.
    """

    constant: float
    subs: list[highspy.HighsLp | None]
    cols: list[np.ndarray]
    rows: list[np.ndarray]
    sites: list[np.ndarray]
    n_range: list[tuple[int, int]]
    exact: dict[int, np.ndarray]
    caps: dict[int, float]
    total: int | None
    sign: float = 1.0


def _priced_types(
    lp: highspy.HighsLp, row_names: Sequence[str], row_dual: np.ndarray, y_cols: Sequence[np.ndarray]
) -> _Priced | None:
    """Steps 1 and 2 of the module docstring up to the LPs: coupling rows priced by ``row_dual``, one LP per type."""
    sign = 1.0 if lp.sense_ == highspy.ObjSense.kMinimize else -1.0  # a maximisation as min of the negation
    csc = lp_matrix(lp)
    csr = csc.tocsr()
    row_lower, row_upper = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    lower, upper = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    y_cols = [np.sort(np.asarray(c, np.int64)) for c in y_cols]
    col_owner, row_owner = _owners(csr, y_cols, lp.num_col_)
    exact = {r: c for r, c in _exact_rows(csr, row_names, row_upper, y_cols).items() if np.isinf(row_lower[r])}
    coupling = (row_owner < 0) & ~np.isin(np.arange(lp.num_row_), list(exact))
    price, rhs = _row_prices(np.where(coupling, sign * row_dual, 0.0), row_lower, row_upper)
    cost = sign * np.asarray(lp.col_cost_) - csc.T @ price
    constant = sign * float(lp.offset_) + float(price @ rhs)
    loose = np.flatnonzero(col_owner < 0)  # columns in coupling rows only: each at its cheaper bound
    at = np.where(cost[loose] > 0, lower[loose], np.where(cost[loose] < 0, upper[loose], 0.0))
    if not np.isfinite(at).all():
        return None
    constant += float(cost[loose] @ at)
    subs: list[highspy.HighsLp | None] = []
    cols_of, rows_of, sites_of, n_range = [], [], [], []
    for t, y in enumerate(y_cols):
        cols = np.flatnonzero(col_owner == t)
        rows = np.flatnonzero(row_owner == t)
        cols_of.append(cols)
        rows_of.append(rows)
        sites_of.append(np.searchsorted(cols, y))
        n_range.append((math.ceil(float(lower[y].sum()) - 1e-9), math.floor(float(upper[y].sum()) + 1e-9)))
        subs.append(_type_lp(csc, cost, (lower, upper), (rows, row_lower, row_upper), cols, y) if len(y) else None)
    total = next((r for r in exact if row_names[r].startswith(_EXACT_PREFIXES[0])), None)
    caps = {r: float(row_upper[r]) for r in exact}
    return _Priced(constant, subs, cols_of, rows_of, sites_of, n_range, exact, caps, total, sign)


def _in_threads(items: Sequence[int], work: Callable[[int], bool], threads: int) -> bool:
    """``work(t)`` of every item, in up to ``threads`` threads taking the items in order; False if one is False.

    After a False no thread takes a new item; an exception in a thread is
    raised here once all have ended.
    """
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for t in items:
        pending.put(t)
    failed = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while not failed.is_set():
                try:
                    t = pending.get_nowait()
                except queue.Empty:
                    return
                if not work(t):
                    failed.set()
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)
            failed.set()

    others = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(threads, len(items))) - 1)]
    for thread in others:
        thread.start()
    worker()
    for thread in others:
        thread.join()
    if errors:
        raise errors[0]
    return not failed.is_set()


def count_bound(
    lp: highspy.HighsLp,
    row_names: Sequence[str],
    row_dual: np.ndarray,
    x: np.ndarray,
    y_cols: Sequence[np.ndarray],
    deadline: float,
    basis: highspy.HighsBasis | None = None,
    stop: threading.Event | None = None,
    threads: int = 1,
    enough: Callable[[float], bool] | None = None,
) -> CountBound | None:
    """The bound of the module docstring for ``lp`` (its LP relaxation solved: ``x``, ``row_dual``).

    Parameters
    ----------
    lp
        The whole model (columns numbered as ``x``), objective offset included.
    row_names
        Name of each row (the total and family budget rows are recognised by name).
    row_dual, x
        HiGHS' row duals and column values of the LP relaxation's optimum.
    y_cols
        The site columns of each facility type.
    deadline
        ``time.perf_counter()`` value after which the bound is given up (None).
    basis
        The LP relaxation's optimal basis, if known: each type's LP starts from its part of it (at the LP's
        count, with the coupling rows priced at the LP's duals, that part is optimal), which saves most of
        the simplex iterations; the values do not depend on it.
    stop
        Set by another thread to give the bound up (None) before the next LP: the bound may run beside
        the plan's sub-MIP (:mod:`optimizer.planning.access_solve`), which may prove the plan first.
    threads
        The types' LPs are solved in this many threads (HiGHS releases the GIL while it solves).
    enough
        Called with the bound after each knapsack: True stops solving the counts it takes from chords (the
        bound then is that knapsack's, lower but as valid), e.g. once it proves the plan in hand.

    Returns
    -------
    CountBound or None
        A lower bound for a minimisation, an upper bound for a maximisation; None where the model is not of the
        shape described or time ran out.
    """
    t0 = time.perf_counter()
    priced = _priced_types(lp, row_names, row_dual, y_cols)
    if priced is None:
        return None
    statuses = _basis_arrays(basis) if basis is not None else None
    solvers: dict[int, _TypeSolver] = {}

    def solve_window(t: int) -> bool:
        sub = priced.subs[t]
        assert sub is not None
        start = _type_basis(*statuses, priced.cols[t], priced.rows[t]) if statuses is not None else None
        solvers[t] = _TypeSolver(sub, priced.n_range[t], deadline, start, stop)
        return solvers[t].window(float(x[priced.cols[t][priced.sites[t]]].sum()))

    # Largest types first, so that the threads end together; each type's values do not depend on the order.
    order = sorted((t for t, sub in enumerate(priced.subs) if sub is not None), key=lambda t: -len(priced.cols[t]))
    if not _in_threads(order, solve_window, threads):
        return None
    empty = _TypeValues(0.0, 0, 0, {0: 0.0})
    best: tuple[float, list[int]] | None = None
    for _ in range(_ROUNDS):
        found = _knapsack(
            [solvers[t].values if t in solvers else empty for t in range(len(priced.subs))],
            priced.exact,
            priced.caps,
            priced.total,
        )
        if found is None or not math.isfinite(found[0]):
            return None
        best, counts = found, found[1]
        bound = priced.constant + best[0]
        bound = priced.sign * (bound - _SAFETY * abs(bound))
        # A count the knapsack takes from a chord is solved, and the knapsack run again: V_t there is at least
        # the chord's value, so the bound only rises, up to the least sum over counts all solved exactly.
        missing = [t for t in order if counts[t] not in solvers[t].values.values]
        if not missing or (enough is not None and enough(bound)):
            break
        if not _in_threads(missing, partial(_solve_count, solvers, counts), threads):
            break
    assert best is not None
    lps = sum(solver.lps for solver in solvers.values())
    return CountBound(bound, lps, time.perf_counter() - t0, tuple(best[1]))


def count_deadline(options: SolverOptions, t0: float) -> float:
    """The ``time.perf_counter()`` value by which the count bound must be made: :data:`COUNT_SHARE` of the time left."""
    left = math.inf if options.time_limit is None else options.time_limit - (time.perf_counter() - t0)
    return time.perf_counter() + COUNT_SHARE * left


def count_inputs(model: PlanningModel) -> tuple[list[str], list[np.ndarray]]:
    """The row names and each type's site columns: what the count bound reads from the PuLP model."""
    y_cols = [np.array([v.index for v in ys], dtype=np.int64) for ys in model.y.values()]
    return list(constraint_dict(model.problem)), y_cols


def relaxation_count_bound(
    relaxed: Relaxation,
    inputs: tuple[list[str], list[np.ndarray]],
    deadline: float,
    stop: threading.Event | None = None,
    threads: int = 2,
    enough: Callable[[float], bool] | None = None,
) -> CountBound | None:
    """The whole-count bound (planning/count_bound.py) of the LP ``relaxed`` by ``deadline``; None if not made.

    ``inputs`` are :func:`count_inputs` (read before a thread starts: a solve then writes on the PuLP
    variables), ``deadline`` :func:`count_deadline`'s (branch and bound keeps the rest; on small models the bound
    takes a fraction of a second, on the Zhejiang default it is what proves the plan). ``stop`` (set by another
    thread) gives the bound up before its next LP; ``threads`` (two: the machine's cores) and ``enough`` as in
    :func:`count_bound`.
    """
    names, y_cols = inputs
    return count_bound(
        relaxed.lp, names, relaxed.row_dual, relaxed.x, y_cols, deadline, relaxed.basis, stop, threads, enough
    )
