r"""The equity level test with one block per capped unit (city): its budget cap stays inside, with integrality.

:class:`~optimizer.planning.equity_bound.UnitBlocks` relaxes every budget row,
the per-unit caps included, with the LP's duals; on the Zhejiang default the
LP puts 0.92 of the weight on the Lishui city cap, so the county blocks never
see that a city's counties compete for one cap in whole facilities. Here the
blocks are the capped units: every compared unit inside a capped unit (or
containing one) joins that unit's block, a cap row goes into the block of its
unit, and the rows that couple blocks (the total and family budgets, capacity
shared across cities, rows a study added) are relaxed. Each block is a MIP
"the cheapest way, at these prices, to lift every county of the city to
:math:`\tau` within the city's cap". The probe :math:`P(\tau)` scales only the
coupling budget rows by :math:`\theta`; the caps keep their limits, so
:math:`\theta^* > 1` still means "out of reach".

Any partition and any multipliers give a lower bound on :math:`\min\theta`
(weak duality, as for the county blocks), so the multipliers of the coupling
budget rows are improved from the probe LP's duals by cutting-plane steps
(:meth:`CityBlocks._lagrangian`); the best value over the steps is the bound.

Measured on the Zhejiang default (``benchmarks/equity_city_lagrange.py``,
benchmarks/README.md, session s16-ub): 11 city blocks, 890 coupling rows;
0.3300 proven out of reach (θ 1.048, 94 s), but not 0.3295 (0.9997), 0.329
(0.998), 0.327 (0.90) or 0.3245 (0.84). That is no better than the
few-cities relaxations (Lishui's 0.33007 in 15-20 s, with Hangzhou's 0.3290),
so :func:`~optimizer.planning.equity_bound.solve_stage1` does not use it.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import highspy
import numpy as np
import pulp
from scipy.optimize import linprog

from ..solvers.highs_bulk import constraint_dict
from .equity_bound import PROOF_MARGIN, LevelTest, UnitBlocks, _Block
from .equity_search import equity_row_names, equity_row_units

if TYPE_CHECKING:
    from .model import PlanningModel

__all__ = ["CityBlocks", "city_blocks", "city_partition"]

#: Cutting-plane steps after the LP duals' evaluation (each solves every block MIP once more). Measured on the
#: Zhejiang default at τ = 0.329 (s16-ub, load 0.2-4.2): of 9 steps tried (cutting plane, and Polyak subgradient
#: steps on every coupling row) one raised θ, from 0.99780 to 0.99805, at 70-240 s each against 46-72 s for the LP
#: duals' evaluation.
MULTIPLIER_STEPS = 4
#: Half-width of the box around the best budget weights where the next cutting-plane step may go.
TRUST = 0.1
#: Relative gap of the block MIPs (their dual bound is what counts, so a gap only weakens, never breaks, a bound).
BLOCK_GAP = 1e-5


def city_partition(model: PlanningModel) -> tuple[dict[str, int], dict[str, int]]:
    """The blocks: a block number per equity row, and the block of each per-unit cap row inside one.

    Compared units under (or above) the same capped unit share a block
    (unions over every cap of ``model.unit_caps``); a cap whose unit holds or
    lies in no compared unit stays a coupling row; compared units under no
    cap are blocks of their own.
    """
    unit_of = equity_row_units(model)
    names = list(unit_of)
    region = model.scenario.region
    chains = region.ancestors_of(unit_of.values())
    cap_chains = region.ancestors_of(model.unit_caps.values())
    root = list(range(len(names)))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    cap_member: dict[str, int] = {}
    for row, capped in model.unit_caps.items():
        members = [
            i for i, name in enumerate(names) if capped in chains[unit_of[name]] or unit_of[name] in cap_chains[capped]
        ]
        for i in members[1:]:
            root[find(i)] = find(members[0])
        if members:
            cap_member[row] = members[0]
    number: dict[int, int] = {}
    block_of = {name: number.setdefault(find(i), len(number)) for i, name in enumerate(names)}
    caps = {row: number[find(i)] for row, i in cap_member.items()}
    return block_of, caps


def city_blocks(model: PlanningModel, steps: int = MULTIPLIER_STEPS) -> CityBlocks:
    """The model's stage-1 problem split by :func:`city_partition`."""
    block_of, caps = city_partition(model)
    return CityBlocks(model.problem, model.t, equity_row_names(model), block_of, caps, steps=steps)


class CityBlocks(UnitBlocks):
    """:class:`UnitBlocks` with a given partition of the equity rows and cap rows inside blocks; subgradient steps.

    Parameters
    ----------
    problem, t, equity_rows
        As for :class:`UnitBlocks`.
    block_of
        Block number (0, 1, …) of each equity row; rows not named get blocks of their own.
    caps
        Budget rows kept inside a block (name → block number): not scaled by ``θ``.
    steps
        Subgradient steps per level test (0: the probe LP's duals only).
    """

    def __init__(
        self,
        problem: pulp.LpProblem,
        t: pulp.LpVariable,
        equity_rows: list[str],
        block_of: dict[str, int],
        caps: dict[str, int],
        *,
        steps: int = MULTIPLIER_STEPS,
    ) -> None:
        position = {name: i for i, name in enumerate(constraint_dict(problem))}
        top = max(block_of.values(), default=-1) + 1
        self._equity_block: dict[int, int] = {}
        for name in equity_rows:
            if name in position:
                if name not in block_of:
                    block_of[name], top = top, top + 1
                self._equity_block[position[name]] = block_of[name]
        self._cap_block = {position[name]: b for name, b in caps.items() if name in position}
        self.steps = steps
        self.history: list[tuple[float, float]] = []  # (Lagrangian value, seconds) of each evaluation
        super().__init__(problem, t, equity_rows)

    # ------------------------------------------------------------------ structure
    def _budget_rows(self) -> np.ndarray:
        """The coupling budget rows: :class:`UnitBlocks`' but the caps kept inside blocks."""
        rows = super()._budget_rows()
        return rows[~np.isin(rows, np.fromiter(self._cap_block, dtype=np.int64, count=len(self._cap_block)))]

    def _equity_groups(self) -> np.ndarray:
        """The block of each equity row: its capped unit's (:func:`city_partition`)."""
        return np.array([self._equity_block[int(r)] for r in self.equity_rows.tolist()], dtype=np.int64)

    def _row_blocks(self) -> np.ndarray:
        """:class:`UnitBlocks`' rows by block over the city blocks, and each cap row in its city's block."""
        row_block = super()._row_blocks()
        for r, b in self._cap_block.items():
            row_block[r] = b
        return row_block

    def _probe_lp(self) -> highspy.Highs:
        """The probe LP without presolve: its duals are then a dual-feasible basis's, every sign right.

        (With presolve the total budget, the sum of the family budgets on the default, gets the weight
        split across them with the wrong signs on the families: no bound at all.)
        """
        h = super()._probe_lp()
        h.setOptionValue("presolve", "off")
        return h

    def _block_highs(self, block: _Block, lower: np.ndarray, upper: np.ndarray) -> highspy.Highs:
        h = super()._block_highs(block, lower, upper)
        h.setOptionValue("mip_rel_gap", BLOCK_GAP)
        return h

    # ------------------------------------------------------------------ multipliers
    def _lagrangian(self, level: float, y: np.ndarray, deadline: float) -> tuple[float, int]:
        """The best ``L`` over the probe LP's duals and :attr:`steps` cutting-plane steps on the budgets' weights.

        The weights ``w_b = −y_b U_b`` of the coupling budget rows (``Σ w = 1``:
        ``θ``'s relaxed cost 0) move; every other multiplier stays the LP's.
        Each evaluation gives a cut ``L(w) ≤ L_k + g_k·(w − w_k)`` with ``g_k``
        the relative overspend ``(a_b x − U_b)/U_b`` at the blocks' plans; the
        next weights maximise the cuts' minimum within a box of half-width
        :data:`TRUST` around the best weights (halved after each step that
        does not improve).
        """
        t0 = time.perf_counter()
        budget = self.budget_rows
        y = self._normalised(y)
        best, solved = super()._lagrangian(level, y, deadline)
        self.history = [(best, time.perf_counter() - t0)]
        lp_point = np.asarray(self._probe_lp().getSolution().col_value, dtype=float)[: self.n]
        limits = self.row_upper[budget]
        w = -y[budget] * limits
        best_w, value, trust = w.copy(), best, TRUST
        cuts: list[tuple[float, np.ndarray, np.ndarray]] = []
        for _ in range(self.steps):
            if not math.isfinite(best) or best > 1.0 + PROOF_MARGIN or time.perf_counter() >= deadline:
                break
            if math.isfinite(value):
                cuts.append((value, w, self._overspend(level, lp_point)))
            w = _cutting_plane(cuts, best_w, trust)
            y = y.copy()
            y[budget] = -w / limits
            value, did = super()._lagrangian(level, y, deadline)
            solved = max(solved, did)
            self.history.append((value, time.perf_counter() - t0))
            if value > best:
                best, best_w = value, w.copy()
            else:
                trust /= 2.0
        return best, solved

    def _normalised(self, y: np.ndarray) -> np.ndarray:
        """``y`` on its signs, scaled so the coupling budgets' weight ``Σ_b |y_b| U_b`` is 1 (``θ``'s relaxed cost 0).

        A coupling row's multiplier of the wrong sign for its one finite side
        (the LP's tolerance, or a degenerate basis) is set to 0: any
        multipliers of the right signs give a bound, a wrong sign none.
        """
        coupling = self.row_block < 0
        y = np.where(coupling & (y > 0) & ~np.isfinite(self.row_lower), 0.0, y)
        y = np.where(coupling & (y < 0) & ~np.isfinite(self._probe_upper), 0.0, y)
        budget = self.budget_rows
        weight = -float(np.dot(np.minimum(y[budget], 0.0), self.row_upper[budget]))
        return y / weight if weight > 0 else y

    def _overspend(self, level: float, lp_point: np.ndarray) -> np.ndarray:
        """``(a_b x − U_b)/U_b`` on the coupling budget rows at the blocks' plans (copies averaged)."""
        total = np.zeros(self.n)
        count = np.zeros(self.n)
        for block in self.blocks:
            total[block.cols] += block.point if block.point is not None else lp_point[block.cols]
            count[block.cols] += 1
        x = np.where(count > 0, total / np.maximum(count, 1), lp_point)
        x[self.t_col] = level
        limits = self.row_upper[self.budget_rows]
        return (self.csr[self.budget_rows] @ x - limits) / limits


def _cutting_plane(cuts: list[tuple[float, np.ndarray, np.ndarray]], centre: np.ndarray, trust: float) -> np.ndarray:
    """The weights (``≥ 0``, sum 1, within ``trust`` of ``centre``) maximising the minimum of the cuts."""
    k = len(centre)
    # Variables: w (k), z; maximise z subject to z − g·w ≤ L − g·w_k for every cut.
    a_ub = np.array([np.r_[-g, 1.0] for _, _, g in cuts]).reshape(len(cuts), k + 1)
    b_ub = np.array([value - float(np.dot(g, w)) for value, w, g in cuts])
    bounds = [(max(0.0, c - trust), min(1.0, c + trust)) for c in centre.tolist()] + [(None, None)]
    res = linprog(
        np.r_[np.zeros(k), -1.0],
        A_ub=a_ub if len(cuts) else None,
        b_ub=b_ub if len(cuts) else None,
        A_eq=np.r_[np.ones(k), 0.0].reshape(1, -1),
        b_eq=[1.0],
        bounds=bounds,
        method="highs",
    )
    return np.asarray(res.x[:k], dtype=float) if res.status == 0 else centre.copy()


def city_test(model: PlanningModel, level: float, seconds: float, steps: int = MULTIPLIER_STEPS) -> LevelTest:
    """One :meth:`CityBlocks.test` of the model's stage 1 at ``level`` (a fresh split)."""
    return city_blocks(model, steps).test(level, seconds)
