"""How large a planning model will be, before it is built."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from ..config.reader import config_line
from ..errors import ModelTooLargeError

if TYPE_CHECKING:
    from .model import PlanningModel


@dataclass
class ModelSize:
    """Rows, columns and nonzeros of the built model, plus the coverage pairs behind them."""

    rows: int = 0
    columns: int = 0
    nonzeros: int = 0
    binaries: int = 0
    coverage_pairs: int = 0
    demand_points: int = 0
    merged_rows: int = 0
    estimated_bytes: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _fmt_bytes(n: float) -> str:
    """``1.5 GiB``, ``340 MiB``, ``12 KiB``: sizes a planner can compare."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}" if n < 10 * scale else f"{n / scale:,.0f} {unit}"
    return f"{n:,.0f} bytes"


# Peak memory (bytes) of building a model with PuLP, handing it to HiGHS,
# solving and evaluating it, per nonzero / variable / row plus a fixed part.
# Calibrated (docs/errors.md, "Model too large for memory") by least squares
# against the peak RSS of 12 runs — uncapacitated and capacitated coverage,
# equity, min_cost and access; 2,000-40,000 demand points, 300-2,000 sites;
# 0.03-2.5 GiB — which gave about 73 B/nonzero, 3.1 kB/variable, 290 B/row
# and 20 MB; the constants below are those rounded up by roughly 2x.
# ``estimate_size`` counts rows, columns and nonzeros *before* demand rows with
# equal covering sets are merged, so the estimate is an upper bound: checked
# on 11 further runs (1.06-3.4x the measured peak: tightest for access models,
# loosest for uncapacitated coverage) and on the Zhejiang default (1.3 GiB
# estimated, 0.57 GiB measured).
_BYTES_PER_NONZERO = 150


_BYTES_PER_VARIABLE = 4500


_BYTES_PER_ROW = 600


_BYTES_FIXED = 64 * 2**20


# Objectives that compare admin units (equity's compared units, per-unit coverage expressions).
_UNIT_KINDS = ("equity", "leximin", "kolm_pollak")


def _estimate_size(model: PlanningModel) -> ModelSize:
    """Upper bounds on the rows, columns and nonzeros of the model, before building it.

    Counted from the coverage pairs before demand rows are merged, so the
    built model is never larger (usually smaller: see :attr:`size`).
    """
    model.prepare()
    sc = model.scenario
    kind = "access" if sc.objective.measures_access() else sc.objective.kind
    n_levels = len(sc.standards.levels)
    size = ModelSize(demand_points=len(sc.region.demand))
    rows = cols = nnz = 0
    # With nested compared units a demand row enters the equity row of each unit containing it.
    eq_depth = 0
    if kind in _UNIT_KINDS:
        _rows, _units, _labels = model._compare_members()
        eq_depth = int(np.bincount(_rows).max()) if len(_rows) else 0
    for td in model.types.values():
        pairs, ex_pairs, sites = len(td.rows), len(td.ex_rows), len(td.sites)
        size.coverage_pairs += pairs + ex_pairs
        size.binaries += sites
        cols += sites
        # y in the total budget, standards of each level, per-unit caps, family cap
        nnz += sites * (1 + n_levels + len(sc.budget.per_unit) + (td.ftype.family in sc.budget.per_family))
        if kind in ("access", "attendance"):  # a[i, j] per pair: link row (2 nonzeros) + nearest row (1)
            demand = np.unique(td.rows).size
            cols += pairs
            rows += pairs + demand
            nnz += 3 * pairs
        elif td.ftype.capacity is not None:  # x[r, j] per pair (new and existing sites)
            demand = np.unique(np.concatenate([td.rows, td.ex_rows])).size
            cols += pairs + ex_pairs
            rows += demand + sites + len(td.existing)
            nnz += 2 * (pairs + ex_pairs) + sites
            if model.strong_linking:
                rows += pairs
                nnz += 2 * pairs
            # each x also in its unit's equity row, or in the type's coverage-target row
            nnz += (pairs + ex_pairs) * (eq_depth + (td.ftype.type_id in sc.objective.coverage_targets))
        else:  # z[r] per demand row with a new site in reach
            demand = np.unique(td.rows).size
            cols += demand
            rows += demand
            nnz += pairs + demand
            nnz += demand * (eq_depth + (td.ftype.type_id in sc.objective.coverage_targets))
    units = sc.region.admin_units
    n_standards = sum(
        int((units["level"] == level).sum()) * len(spec.required) for level, spec in sc.standards.levels.items()
    )
    n_caps = sum(int(units["level"].isin(cap.levels).sum()) for cap in sc.budget.per_unit)
    n_equity = len(units) if kind in _UNIT_KINDS else 0  # one row per compared unit, each with t
    n_targets = len(sc.objective.coverage_targets) if kind == "min_cost" else 0
    rows += 1 + n_standards + n_caps + len(sc.budget.per_family) + n_equity + n_targets
    cols += n_standards + (1 if kind == "equity" else 0)  # shortfalls of soft standards; t
    nnz += n_standards + n_equity
    size.rows, size.columns, size.nonzeros = rows, cols, nnz
    size.estimated_bytes = nnz * _BYTES_PER_NONZERO + cols * _BYTES_PER_VARIABLE + rows * _BYTES_PER_ROW + _BYTES_FIXED
    return size


def _memory_limit(model: PlanningModel) -> float:
    """Bytes a model may take: ``limits.max_memory_gb``, else 80% of the machine's memory."""
    limit_gb = model.scenario.limits.max_memory_gb
    if limit_gb is not None:
        return limit_gb * 2**30
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 16 * 2**30
    return 0.8 * total


def _count_pairs_first(model: PlanningModel, site_xy: np.ndarray, radius: float, type_id: str) -> None:
    """Refuse before computing coverage pairs that could not fit in memory.

    The pairs themselves (about 24 bytes each) come before the estimate;
    when demand x sites could exceed the limit, they are first counted
    without being stored (``cKDTree.count_neighbors``), and a count whose
    model would not fit is refused at once.
    """
    limit = model._memory_limit()
    if len(model.demand_xy) * len(site_xy) * _BYTES_PER_NONZERO <= limit or not len(site_xy):
        return

    pairs = int(cKDTree(model.demand_xy).count_neighbors(cKDTree(site_xy), radius + 1e-6))
    needed = pairs * _BYTES_PER_NONZERO + _BYTES_FIXED
    if needed > limit:
        raise model._too_large(
            needed,
            f"{pairs:,} coverage pairs for '{type_id}' alone, counted before computing them",
            limit,
        )


def _too_large(model: PlanningModel, needed: float, detail: str, limit: float) -> ModelTooLargeError:
    limit_gb = model.scenario.limits.max_memory_gb
    allowed = "limits.max_memory_gb" if limit_gb is not None else "80% of this machine's memory"
    return ModelTooLargeError(
        f"the model would need at least {_fmt_bytes(needed)} of memory ({detail}), more than the "
        f"{_fmt_bytes(limit)} allowed ({allowed}); nothing was built",
        file=model.scenario.source_path,
        row=config_line(model.scenario.config, "limits", "max_memory_gb") if limit_gb is not None else None,
        field="limits.max_memory_gb",
        hint="shorten service standards, coarsen the demand layer, restrict candidate sites "
        "(facility_types.<type>.sites) or raise limits.max_memory_gb",
    )


def _check_memory(model: PlanningModel) -> None:
    est = model.estimate_size()
    limit_gb = model.scenario.limits.max_memory_gb
    limit = model._memory_limit()
    if est.estimated_bytes > limit:
        allowed = "limits.max_memory_gb" if limit_gb is not None else "80% of this machine's memory"
        raise ModelTooLargeError(
            f"the model would need up to {_fmt_bytes(est.estimated_bytes)} of memory "
            f"({est.nonzeros:,} nonzeros, {est.columns:,} variables, {est.rows:,} rows from "
            f"{est.coverage_pairs:,} coverage pairs), more than the {_fmt_bytes(limit)} allowed ({allowed}); "
            "nothing was built",
            file=model.scenario.source_path,
            row=config_line(model.scenario.config, "limits", "max_memory_gb") if limit_gb is not None else None,
            field="limits.max_memory_gb",
            hint="shorten service standards, coarsen the demand layer, restrict candidate sites "
            "(facility_types.<type>.sites) or raise limits.max_memory_gb",
        )
