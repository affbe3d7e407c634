"""The sweep grid: budgets, objectives and weights parsed and expanded into points."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..scenario import Scenario


#: Objective kinds a sweep can compare: those of ``objective.kind``, and ``kolm_pollak_time`` for
#: ``kolm_pollak`` over travel time (``objective.equity.over: travel_time``).
OBJECTIVES = (
    "coverage",
    "equity",
    "min_cost",
    "access",
    "attendance",
    "leximin",
    "kolm_pollak",
    "kolm_pollak_time",
)

#: Objectives whose value is minimised; the others are maximised.
_MINIMISED = {"min_cost", "access", "kolm_pollak_time"}

#: The scenario settings behind each grid objective (``objective.kind`` unless listed).
_OBJECTIVE_SETTINGS: dict[str, dict[str, Any]] = {
    "kolm_pollak": {"objective.kind": "kolm_pollak", "objective.equity.over": "coverage"},
    "kolm_pollak_time": {"objective.kind": "kolm_pollak", "objective.equity.over": "travel_time"},
}


# =============================================================================== grid
@dataclass(frozen=True)
class SweepPoint:
    """One point of the grid.

    Attributes
    ----------
    index
        Position in grid order (weights outermost, then objective, then budget).
    budget
        ``budget.total`` in yuan.
    objective
        ``objective.kind``.
    weights
        Objective weights as ``((type, weight), ...)``, or ``None`` for the
        scenario's own weights.
    weights_label
        How the weights appear in tables and plots (``"scenario"`` for the
        scenario's own).
    """

    index: int
    budget: float
    objective: str
    weights: tuple[tuple[str, float], ...] | None
    weights_label: str

    @property
    def line(self) -> str:
        """The curve this point belongs to: objective and weight set."""
        return f"{self.objective} / {self.weights_label}"


def _clean_number(x: float) -> float:
    # linspace leaves float noise (3.0000000000000004e9); 12 significant digits
    # keep every real budget and make equal budgets hash equally.
    return float(f"{float(x):.12g}")


def _number(text: str, option: str, what: str, hint: str = "write numbers like 2e9 or 2000000000") -> float:
    try:
        value = float(text.strip().replace("_", ""))
    except ValueError:
        raise ConfigError(f"{what} {text.strip()!r} is not a number", field=option, hint=hint) from None
    if not math.isfinite(value):
        raise ConfigError(f"{what} {text.strip()!r} is not a finite number", field=option, hint=hint)
    return value


def parse_budgets(spec: str | float | Sequence[float], option: str = "--budgets") -> list[float]:
    """Budgets (yuan) from ``"start:stop:count"`` (inclusive, evenly spaced) or a comma list.

    Items of a comma list may themselves be ranges: ``"1e9:5e9:5,1e10"``.

    Parameters
    ----------
    spec
        The specification, or already a number / list of numbers.
    option
        Named in error messages.

    Returns
    -------
    list of float
        The budgets in the order given.

    Raises
    ------
    ConfigError
        Malformed item, non-positive budget, count below 2, or a budget given twice.

    Examples
    --------
    >>> parse_budgets("1e9:3e9:3")
    [1000000000.0, 2000000000.0, 3000000000.0]
    >>> parse_budgets("5e8, 1e9")
    [500000000.0, 1000000000.0]
    """
    if isinstance(spec, (int, float, np.number)):
        items: list[float] = [float(spec)]
    elif isinstance(spec, str):
        if not spec.strip():
            raise ConfigError("no budgets given", field=option, hint="e.g. --budgets 1e9:1e10:10 or --budgets 2e9,4e9")
        items = []
        for part in spec.split(","):
            part = part.strip()
            if not part:
                raise ConfigError(f"empty item in {spec!r}", field=option, hint="separate budgets by single commas")
            if ":" in part:
                pieces = part.split(":")
                if len(pieces) != 3:
                    raise ConfigError(
                        f"range {part!r} must be start:stop:count",
                        field=option,
                        hint="e.g. 1e9:1e10:10 = ten budgets from 1e9 to 1e10, both included",
                    )
                start = _number(pieces[0], option, "range start")
                stop = _number(pieces[1], option, "range stop")
                count_f = _number(pieces[2], option, "range count")
                if count_f != int(count_f) or count_f < 2:
                    raise ConfigError(
                        f"range {part!r}: count must be a whole number of at least 2, got {pieces[2].strip()!r}",
                        field=option,
                        hint="start:stop:count gives count budgets from start to stop, both included",
                    )
                if stop <= start:
                    raise ConfigError(
                        f"range {part!r}: stop must be larger than start",
                        field=option,
                        hint="write the smaller budget first, e.g. 1e9:1e10:10",
                    )
                items.extend(np.linspace(start, stop, int(count_f)).tolist())
            else:
                items.append(_number(part, option, "budget"))
    else:
        try:
            items = [float(x) for x in spec]
        except (TypeError, ValueError):
            raise ConfigError(
                f"budgets must be numbers, got {spec!r}", field=option, hint="e.g. budgets=[2e9, 4e9] or '1e9:1e10:10'"
            ) from None
        if not items:
            raise ConfigError("no budgets given", field=option, hint="e.g. budgets=[2e9, 4e9] or '1e9:1e10:10'")
    out: list[float] = []
    for value in items:
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(
                f"budget {value:g} must be positive (yuan)",
                field=option,
                hint="give budgets in yuan above 0, e.g. 2e9 for 2 billion",
            )
        value = _clean_number(value)
        if value in out:
            raise ConfigError(f"budget {value:g} is given twice", field=option, hint="list each budget once")
        out.append(value)
    return out


def parse_objectives(spec: str | Sequence[str], option: str = "--objectives") -> list[str]:
    """Objective kinds from a comma list (``"coverage,equity"``) or a list."""
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    if not items or any(not s for s in items):
        raise ConfigError(f"empty objective in {spec!r}", field=option, hint=f"choose from {', '.join(OBJECTIVES)}")
    for kind in items:
        if kind not in OBJECTIVES:
            close = difflib.get_close_matches(kind, OBJECTIVES, n=1)
            raise ConfigError(
                f"unknown objective {kind!r}",
                field=option,
                hint=(f"did you mean {close[0]!r}? " if close else "") + f"choose from {', '.join(OBJECTIVES)}",
            )
    if len(set(items)) != len(items):
        raise ConfigError(f"an objective is listed twice in {spec!r}", field=option, hint="list each objective once")
    return items


def parse_weights(spec: str | dict | None, option: str = "--weights") -> dict[str, float] | None:
    """One weight set from ``"library=2,museum=1"``; ``"scenario"`` (or ``None``) = the scenario's own.

    Types not named weigh 1, as in a scenario file's ``objective.weights``.
    """
    if spec is None:
        return None
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        text = str(spec).strip()
        if text.lower() in ("scenario", "default"):
            return None
        if not text:
            raise ConfigError("empty weight set", field=option, hint="e.g. --weights 'library=2,museum=1'")
        items = []
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ConfigError(
                    f"{part.strip()!r} is not type=weight",
                    field=option,
                    hint="e.g. --weights 'library=2,museum=1' (repeat --weights for more weight sets)",
                )
            items.append((key.strip(), value))
    out: dict[str, float] = {}
    for key, value in items:
        w = (
            _number(str(value), option, f"weight of {key!r}", hint="e.g. --weights 'library=2,museum=1'")
            if not isinstance(value, (int, float))
            else float(value)
        )
        if not math.isfinite(w) or w < 0:
            raise ConfigError(
                f"weight of {key!r} must be a non-negative number, got {value!r}",
                field=option,
                hint="use 0 to ignore a type, 1 (the default) for equal weight, more to favour it",
            )
        if key in out:
            raise ConfigError(
                f"{key!r} is weighted twice in one weight set", field=option, hint="name each type once per --weights"
            )
        out[key] = _clean_number(w)
    return out


def _weights_label(weights: dict[str, float] | None) -> str:
    return "scenario" if weights is None else ",".join(f"{k}={v:g}" for k, v in weights.items())


def expand_grid(
    budgets: str | Sequence[float],
    objectives: str | Sequence[str],
    weights: Sequence[str | dict | None] | None = None,
) -> list[SweepPoint]:
    """All grid points in grid order: weight sets outermost, then objectives, then budgets.

    Parameters
    ----------
    budgets
        See :func:`parse_budgets`.
    objectives
        See :func:`parse_objectives`.
    weights
        Weight sets (see :func:`parse_weights`); ``None`` = only the scenario's own.

    Examples
    --------
    >>> [(p.objective, p.budget) for p in expand_grid("1e9,2e9", "coverage,equity")]
    [('coverage', 1000000000.0), ('coverage', 2000000000.0), ('equity', 1000000000.0), ('equity', 2000000000.0)]
    """
    bs = parse_budgets(budgets)
    objs = parse_objectives(objectives)
    sets = [parse_weights(w) for w in (weights if weights else [None])]
    labels = [_weights_label(w) for w in sets]
    if len(set(labels)) != len(labels):
        raise ConfigError("a weight set is given twice", field="--weights", hint="give each weight set once")
    points: list[SweepPoint] = []
    for w, label in zip(sets, labels, strict=False):
        frozen = None if w is None else tuple(w.items())
        for kind in objs:
            for b in bs:
                points.append(SweepPoint(len(points), b, kind, frozen, label))
    return points


# =============================================================================== hashing
def point_changes(
    point: SweepPoint,
    base: Scenario,
    *,
    scale_caps: bool = False,
    time_limit: float | None = None,
    mip_gap: float | None = None,
) -> dict[str, Any]:
    """The :meth:`Scenario.replace` changes that turn ``base`` into ``point``'s scenario.

    Always sets ``solver.threads = 1``: one thread per point makes the solve
    deterministic and lets workers, not solver threads, use the cores.
    ``scale_caps`` multiplies the per-family and per-unit caps by
    ``budget / base budget`` (departments keep their shares); otherwise caps
    stay as in the scenario and a budget beyond their sum buys nothing more.
    """
    changes: dict[str, Any] = {
        "budget.total": point.budget,
        "objective.kind": point.objective,
        "solver.threads": 1,
    }
    changes.update(_OBJECTIVE_SETTINGS.get(point.objective, {}))
    if point.weights is not None:
        changes["objective.weights"] = dict(point.weights)
    if time_limit is not None:
        changes["solver.time_limit"] = float(time_limit)
    if mip_gap is not None:
        changes["solver.mip_gap"] = float(mip_gap)
    if scale_caps:
        factor = point.budget / float(base.budget.total)
        if base.budget.per_family:
            changes["budget.per_family"] = {k: _clean_number(v * factor) for k, v in base.budget.per_family.items()}
        if base.budget.per_unit:
            caps = []
            for cap in base.budget.per_unit:
                d = cap.model_dump(mode="json")
                d["amount"] = None if cap.amount is None else _clean_number(cap.amount * factor)
                d["overrides"] = {k: _clean_number(v * factor) for k, v in cap.overrides.items()}
                caps.append(d)
            changes["budget.per_unit"] = caps
    return changes


#: Test-only: seconds each point sleeps on the worker before solving, so a
#: test can kill a worker while points are in flight. Never set it otherwise.
DELAY_ENV = "REGIONOPT_SWEEP_DELAY"


#: Version of the per-point JSON layout; part of the point hash so a change
#: of layout never reads an old file as a finished point.
_POINT_FORMAT = 1


#: Budgets are in yuan; 1e8 yuan = 100 million yuan (1 亿), the unit planners quote.
_PER = 1e8
