"""Candidate sites a phased plan never needs: dominated sites of uncapacitated types.

Split from :mod:`optimizer.planning.phased` (one job: shrinking the program
before it is built, keeping its optimum).

A candidate site ``j`` of an uncapacitated type ``k`` is *dominated* by a site
``j'`` of the same type when

- every demand point ``j`` reaches that counts (some person-years in some
  period, not already covered for good by a fixed existing facility) ``j'``
  reaches too,
- ``j'`` lies in no ``budget.per_unit`` unit that ``j`` does not lie in, and
- no standard of type ``k`` in a unit containing ``j`` can bind (the type is
  not required there, or enough facilities exist and none of them may close),
- ``j`` is not a required site,

and, when both dominate each other, ``j'`` comes first (lower row): the
relation is then a strict partial order, so every dropped site has a kept
site above it. Both cost the same (same type, same family).

Why the optimum is kept: take an optimal schedule that builds a dropped site
``j`` in period ``t`` and a kept site ``m`` above it. If ``m`` is open by
``t``, ``j`` adds no coverage in any period (its points are ``m``'s) and counts
for no binding standard: unbuild it. Otherwise build ``m`` in ``t`` instead of
``j`` (and not later): every period's coverage is at least as large, period
``t`` spends the same and a later period less (with or without carry-over),
family, total and unit caps hold (``m``'s capped units are ``j``'s), and
standards only gain facilities. The objective does not fall (less spending,
also in its tie-break); repeat until no dropped site is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # pragma: no cover - annotations only (phased.py imports this module)
    from .phased import PhasedPlanningModel

__all__ = ["dominated_sites"]


def dominated_sites(model: PhasedPlanningModel) -> dict[str, set[int]]:
    """Per type, the candidate rows of dominated sites (see the module docstring); prepared ``model``."""
    out: dict[str, set[int]] = {}
    capped = _capped_units(model)
    binding = _binding_standard_units(model)
    required = model.base.required
    su = model.base.site_units
    site_units: dict[int, set[str]] = {}
    for row, unit_id in zip(su["row"].tolist(), su["unit_id"].astype(str).tolist(), strict=False):
        site_units.setdefault(int(row), set()).add(unit_id)
    assert model.population is not None  # prepare() has run
    for type_id, td in model.base.types.items():
        if td.ftype.capacity is not None or not len(td.sites):
            continue
        sites = td.sites
        allowed = np.array(
            [model.only_sites is None or (int(j), type_id) in model.only_sites for j in sites.tolist()], dtype=bool
        )
        PY = model.population[td.ftype.serves]
        counts = PY.sum(axis=1) > 0
        if type_id not in model.periods.closures:
            counts[td.ex_rows] = False  # covered for good by an existing facility
        keep = counts[td.rows]
        reach = sp.csc_array((np.ones(int(keep.sum())), (td.rows[keep], td.cols[keep])), shape=(len(PY), len(sites)))
        reach.sum_duplicates()
        reach.data[:] = 1.0
        size = np.asarray(reach.sum(axis=0)).ravel()
        common = (reach.T @ reach).tocsr()  # |reach(j) ∩ reach(j')|
        unit_sets = [capped.get(int(j), frozenset()) for j in sites.tolist()]
        blocked = binding.get(type_id, set())
        dropped: set[int] = set()
        for p, j in enumerate(sites.tolist()):
            if (model.base.site_ids[j], type_id) in required or not allowed[p]:
                continue
            if blocked & site_units.get(int(j), set()):
                continue  # it may count for a standard that binds
            if _has_dominator(p, size, common, allowed, unit_sets, empty=size[p] == 0):
                dropped.add(int(j))
        if dropped:
            out[type_id] = dropped
    return out


def _has_dominator(
    p: int,
    size: np.ndarray,
    common: sp.csr_array,
    allowed: np.ndarray,
    unit_sets: list[frozenset[str]],
    *,
    empty: bool,
) -> bool:
    """Whether an allowed site ``q`` reaches all that site ``p`` reaches, in no extra capped unit (ties: lower first)."""
    if empty:
        candidates = np.flatnonzero(allowed)
    else:
        row = common.indices[common.indptr[p] : common.indptr[p + 1]]
        vals = common.data[common.indptr[p] : common.indptr[p + 1]]
        candidates = row[(vals >= size[p]) & allowed[row]]
    for q in candidates.tolist():
        if q == p or not unit_sets[q] <= unit_sets[p]:
            continue
        mutual = size[q] == size[p] and unit_sets[q] == unit_sets[p]
        if not mutual or q < p:
            return True
    return False


def _capped_units(model: PhasedPlanningModel) -> dict[int, frozenset[str]]:
    """Per candidate row, the units with a ``budget.per_unit`` cap that contain it."""
    sc = model.scenario
    units = sc.region.admin_units
    capped: set[str] = set()
    for cap in sc.budget.per_unit:
        for unit_id in units.index[units["level"].isin(cap.levels)].astype(str):
            if cap.overrides.get(unit_id, cap.amount) is not None:
                capped.add(unit_id)
    out: dict[int, set[str]] = {}
    su = model.base.site_units
    for row, unit_id in zip(su["row"].tolist(), su["unit_id"].astype(str).tolist(), strict=False):
        if unit_id in capped:
            out.setdefault(int(row), set()).add(unit_id)
    return {j: frozenset(s) for j, s in out.items()}


def _binding_standard_units(model: PhasedPlanningModel) -> dict[str, set[str]]:
    """Per type, the units whose standard of that type may bind (too few facilities, or some may close)."""
    base = model.base
    fac_by_unit = base.fac_units.groupby("unit_id")["row"].apply(lambda s: set(s.tolist())).to_dict()
    out: dict[str, set[str]] = {}
    for std in model.scenario.standard_list():
        k = std.facility_type
        facs = fac_by_unit.get(std.unit_id, set())
        have = sum(1 for e in facs if model.fac_types[e] == k)
        may_close = k in model.periods.closures and have > 0
        if std.count - have > 0 or may_close:
            out.setdefault(k, set()).add(std.unit_id)
    return out
