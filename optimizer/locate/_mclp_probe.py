"""The LP that MCLP probing solves: the relaxation restricted to what the fixings leave undecided.

Probing (:meth:`optimizer.locate._mclp_reduce._MclpReducer.probe_all`) solves
hundreds of LPs that differ from the current relaxation in one site bound.
The full relaxation keeps every cover row whatever the fixings, and HiGHS'
cost per run (refactorisation, edge weights, checks) and per iteration grows
with its size. Once sites are fixed, most rows are decided or repeat each
other, so the probes run on an *equivalent* smaller LP over the free sites:

* a group covered by a site fixed open has ``z_g = 1`` (a constant);
* a group no free site covers has ``z_g = 0``;
* a group only one free site ``j`` covers has ``z_g = y_j`` at every optimum,
  so its weight moves into ``y_j``'s objective;
* groups with the same set of free covering sites have equal ``z`` at an
  optimum: one row with the summed weight.

For every bound on the free sites this LP has the relaxation's value, and its
duals map back to multipliers of the full relaxation (a merged row's dual is
shared in proportion to the weights; a folded or uncovered group gets
``u_g = w_g``, a group covered by an open site ``u_g = 0``) with the same
Lagrangian value. Every bound a probe reports is that Lagrangian bound
recomputed on the full model (:meth:`_MclpRelaxation.certified`), so a fixing
never rests on this LP being right, only on weak duality.

The LP is minimised (minus the covered weight) so that HiGHS'
``objective_bound`` stops the dual simplex as soon as its exact dual objective
proves the probe below the threshold; HiGHS 1.16 checks that bound when
minimising only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import highspy
import numpy as np
import scipy.sparse as sp

from ..solvers.highs import highs_lp, new_highs
from .base import _merge_rows

if TYPE_CHECKING:
    from ._mclp_reduce import _MclpRelaxation


class _ProbeLp:
    """The relaxation of ``relax`` reduced to its free sites and undecided cover rows (module docstring).

    Built from the fixings of ``relax`` at construction and warm-started from
    its base solution; later fixings come through :meth:`fix` (followed by
    :meth:`solve_base`). Sites are named by their indices in ``relax``;
    bounds are certified on the full model by ``relax.certified``.
    """

    def __init__(self, relax: _MclpRelaxation) -> None:
        self.relax = relax
        self.iterations = 0
        self.runs = 0
        a, w = relax.a, relax.w
        self.lo, self.up = relax.lo.copy(), relax.up.copy()
        free = np.flatnonzero((self.lo < 0.5) & (self.up > 0.5))
        opened = self.lo > 0.5
        covered = (a @ opened.astype(np.float64)) > 0
        af = sp.csr_array(a[:, free])
        n_cover = np.diff(af.indptr)
        kept = np.flatnonzero(~covered & (n_cover >= 2))
        single = np.flatnonzero(~covered & (n_cover == 1))
        fold = np.zeros(len(free))
        np.add.at(fold, af.indices[af.indptr[single]], w[single])
        label, rep = _merge_rows(sp.csr_array(af[kept]))
        n_rows = len(rep)
        cls_weight = np.bincount(label, weights=w[kept], minlength=n_rows)
        # Multipliers of the groups the LP does not keep: 0 where an open site covers the group
        # (its weight is the constant), w_g where z_g is 0 or one free site's y (folded).
        self.u_fixed = np.where(covered, 0.0, w)
        self.u_fixed[kept] = 0.0
        self.constant = float(w[covered].sum())
        self.kept, self.label, self.share = kept, label, w[kept] / cls_weight[label]
        self.cover = sp.csr_array(af[kept[rep]])  # one row per class: its covering free sites
        self.free, self.n_rows = free, n_rows
        self.col_of = np.full(relax.ns, -1, dtype=np.int64)
        self.col_of[free] = np.arange(len(free))
        nf = len(free)
        k_left = float(relax.k - int(opened.sum()))
        self.matrix = sp.csc_array(
            sp.vstack(
                [
                    sp.hstack([-self.cover, sp.identity(n_rows, format="csr")]),
                    sp.hstack([sp.csr_array(np.ones((1, nf))), sp.csr_array((1, n_rows))]),
                ],
                format="csc",
            )
        )
        self.cost = -np.concatenate([fold, cls_weight])
        inf = highspy.kHighsInf
        self.lp = highs_lp(
            self.cost,
            (np.zeros(nf + n_rows), np.ones(nf + n_rows)),
            (np.concatenate([np.full(n_rows, -inf), [k_left]]), np.concatenate([np.zeros(n_rows), [k_left]])),
            self.matrix,
        )
        self.h = self._new_highs(self.lp)
        self.basis: highspy.HighsBasis | None = None
        self._start_from_base()

    @staticmethod
    def _new_highs(lp: highspy.HighsLp) -> highspy.Highs:
        h = new_highs(False)
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")  # presolve would discard the warm-start basis
        h.passModel(lp)
        return h

    def _start_from_base(self) -> None:
        """The base basis by crossover from ``relax``'s base solution (mapped), else by a cold solve.

        The mapped solution is optimal here too (same value), so crossover
        only has to find a basis for it: milliseconds, where a cold dual
        simplex takes thousands of iterations.
        """
        relax = self.relax
        y = np.clip(relax.y[self.free], 0.0, 1.0)
        col = np.concatenate([y, np.minimum(1.0, self.cover @ y)])
        class_u = np.bincount(self.label, weights=relax.u[self.kept], minlength=self.n_rows)
        row_dual = -np.concatenate([class_u, [relax.k_dual]])  # minimising: minus the multipliers
        sol = highspy.HighsSolution()
        sol.col_value = col.tolist()
        sol.row_value = (self.matrix @ col).tolist()
        sol.row_dual = row_dual.tolist()
        sol.col_dual = (self.cost - self.matrix.T @ row_dual).tolist()
        sol.value_valid = sol.dual_valid = True
        h = self.h
        if h.crossover(sol) == highspy.HighsStatus.kOk and h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            self.basis = h.getBasis()
        self.solve_base()

    def copy(self) -> _ProbeLp:
        """The same LP, fixings and base basis in a new HiGHS instance (for another thread)."""
        other = object.__new__(_ProbeLp)
        other.__dict__.update(self.__dict__)
        other.lo, other.up = self.lo.copy(), self.up.copy()
        other.iterations = other.runs = 0
        other.h = self._new_highs(self.lp)
        for j in self.free[self.lo[self.free] == self.up[self.free]]:  # fixed since construction
            other.h.changeColBounds(int(self.col_of[j]), float(self.lo[j]), float(self.up[j]))
        return other

    def fix(self, j: int, value: float) -> None:
        """Fix site ``j`` (an index of ``relax``) at ``value``; call :meth:`solve_base` after the last one."""
        self.lo[j] = self.up[j] = value
        c = int(self.col_of[j])
        if c >= 0:
            self.h.changeColBounds(c, float(value), float(value))

    def _run(self, objective_bound: float) -> np.ndarray:
        """Dual simplex (warm) to optimality or until its objective exceeds ``objective_bound``.

        Returns the full model's multipliers ``u`` mapped from the duals (the
        constant part only if HiGHS gave none: still a valid, weak certificate).
        """
        h = self.h
        h.setOptionValue("objective_bound", objective_bound)
        h.run()
        self.runs += 1
        self.iterations += max(0, int(h.getInfo().simplex_iteration_count))
        duals = np.asarray(h.getSolution().row_dual, dtype=np.float64)
        u = self.u_fixed.copy()
        if len(duals) == self.n_rows + 1:
            u[self.kept] = np.maximum(-duals[: self.n_rows], 0.0)[self.label] * self.share
        return u

    def solve_base(self) -> None:
        """Solve under the current fixings (warm from the last base); keep the basis as the probes' start."""
        if self.basis is not None:
            self.h.setBasis(self.basis)
        self._run(math.inf)
        self.basis = self.h.getBasis()

    def probe(self, j: int, value: float, threshold: float) -> float:
        """Certified bound on the plans obeying the fixings with ``y_j = value``; may stop once below ``threshold``."""
        lo, up = self.lo.copy(), self.up.copy()
        lo[j] = up[j] = value
        relax = self.relax
        if relax.certified(np.zeros(relax.ng), lo, up) == -math.inf:
            return -math.inf  # cardinality alone rules it out
        assert self.basis is not None, "probes start from the base basis: solve_base() first"
        c = int(self.col_of[j])
        assert c >= 0, "probes are of free sites"
        h = self.h
        h.setBasis(self.basis)
        h.changeColBounds(c, float(value), float(value))
        try:
            # Minimising minus the weight the LP decides (the rest is the constant): a probe is
            # settled once that objective provably exceeds minus what the threshold leaves.
            u = self._run(self.constant - threshold)
            bound = relax.certified(u, lo, up)
            if bound >= threshold and h.getModelStatus() == highspy.HighsModelStatus.kObjectiveBound:
                u = self._run(math.inf)  # HiGHS' bound is not certified here: finish the LP
                bound = min(bound, relax.certified(u, lo, up))
        finally:
            h.changeColBounds(c, float(self.lo[j]), float(self.up[j]))
        return bound
