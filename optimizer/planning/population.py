"""Population by period: projections per admin unit, group and year, applied to demand points.

A phased plan (:mod:`optimizer.phased`) counts person-years: the people of
each group at each demand point in every year of every period. They come from

* the demand layer itself, the same in every year (no projection given); or
* a projection CSV with columns ``unit_id, group, year, population`` (an
  optional ``source`` column is carried into the outputs). Each demand point
  gets its unit's projected population in proportion to its share of the
  unit's population of that group in the demand layer; years between the
  projection's years are interpolated linearly; years outside them are refused.

:func:`cohort_ageing` is the illustrative cohort-component projection behind
the shipped Zhejiang projection (``geodata/build_projection.py``): 5-year age
brackets aged by survival from a Gompertz life table and fed by births from a
total fertility rate, with no migration. It is ILLUSTRATIVE, not a forecast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..config.schema import PeriodConfig
from ..errors import ConfigError, InputError
from ..region import Region

__all__ = [
    "BRACKETS",
    "GROUP_BRACKETS",
    "PROJECTION_COLUMNS",
    "cohort_ageing",
    "gompertz_alpha",
    "period_population",
    "read_projection",
    "survival_ratios",
]

PROJECTION_COLUMNS = ("unit_id", "group", "year", "population")


def read_projection(path: str | Path) -> pd.DataFrame:
    """Read and check a population projection CSV.

    Parameters
    ----------
    path
        CSV with ``unit_id, group, year, population`` (and optionally ``source``).

    Returns
    -------
    pandas.DataFrame
        The rows, ``unit_id`` and ``group`` as text, ``year`` as int, ``population`` as float.

    Raises
    ------
    InputError
        A missing file or column, a year that is not a whole number, a
        population that is negative or not a number, or a repeated
        (unit_id, group, year).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "population projection file not found",
            file=path,
            hint="give periods.population as a CSV path relative to the scenario file",
        )
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in PROJECTION_COLUMNS:
        if column not in frame.columns:
            raise InputError(
                f"population projection has no column {column!r}",
                file=path,
                field=column,
                hint="columns: unit_id, group, year, population",
            )
    for column in ("year", "population"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values) | (values < 0)
        if column == "year":
            bad |= values.notna() & (values != values.round())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            what = "a whole year" if column == "year" else "a number of people (0 or more)"
            raise InputError(
                f"{column} {str(frame[column].iloc[row])!r} is not {what}",
                file=path,
                row=row + 1,
                field=column,
                hint="write years as whole numbers (e.g. 2030) and populations as plain numbers of 0 or more",
            )
        frame[column] = values
    frame["year"] = frame["year"].astype(int)
    frame["population"] = frame["population"].astype(float)
    dup = frame.duplicated(["unit_id", "group", "year"])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        rec = frame.iloc[row]
        raise InputError(
            f"unit {rec['unit_id']!r}, group {rec['group']!r}, year {rec['year']} is given twice",
            file=path,
            row=row + 1,
            field="year",
            hint="give one population per unit, group and year",
        )
    return frame


def _years(phase: PeriodConfig) -> np.ndarray:
    return np.arange(phase.start, phase.start + phase.years)


def period_population(
    region: Region,
    groups: list[str],
    phases: list[PeriodConfig],
    projection: pd.DataFrame | None = None,
    source: Path | None = None,
) -> dict[str, np.ndarray]:
    """Person-years of each group at each demand point in each period.

    Parameters
    ----------
    region
        The region; its demand layer gives each point's share of its unit.
    groups
        Population groups needed (``all``, ``elderly``, ...).
    phases
        The periods, in time order.
    projection
        Output of :func:`read_projection`, or ``None`` for the demand layer in every year.
    source
        The projection file, for error messages.

    Returns
    -------
    dict
        ``{group: array (demand points × periods)}`` of person-years.

    Raises
    ------
    ConfigError
        A unit unknown to the region, a group the periods need but the
        projection lacks, a demand point in no (or in two) projected units,
        people projected into a unit with none of that group in the demand
        layer, or a period year outside the projection's years.
    """
    n = len(region.demand)
    out: dict[str, np.ndarray] = {}
    if projection is None:
        for group in groups:
            base = region.group_population(group)
            out[group] = np.column_stack([base * p.years for p in phases]) if phases else np.zeros((n, 0))
        return out
    known = set(region.admin_units.index.astype(str))
    unknown = sorted(set(projection["unit_id"]) - known)
    if unknown:
        row = int(np.flatnonzero(projection["unit_id"].eq(unknown[0]).to_numpy())[0]) + 1
        raise ConfigError(
            f"population projection names unit {unknown[0]!r}, which is not in the admin units",
            file=source,
            row=row,
            field="unit_id",
            hint="use unit_id values of the admin-units layer",
        )
    membership = region.unit_membership(region.demand["unit_id"].astype(str))
    demand_ids = region.demand.index.astype(str)
    for group in groups:
        rows = projection[projection["group"] == group]
        if rows.empty:
            raise ConfigError(
                f"population projection has no rows for group {group!r}, which a planned type serves",
                file=source,
                field="group",
                hint=f"add rows for {group!r} (groups given: {sorted(set(projection['group']))})",
            )
        units = list(dict.fromkeys(rows["unit_id"]))
        hit = membership[membership["unit_id"].isin(units)]
        counts = np.bincount(hit["row"].to_numpy(), minlength=n)
        if (counts != 1).any():
            i = int(np.flatnonzero(counts != 1)[0])
            where = "no unit" if counts[i] == 0 else "more than one unit"
            raise ConfigError(
                f"demand point {demand_ids[i]!r} lies in {where} of the population projection for group {group!r}",
                file=source,
                field="unit_id",
                hint="project every unit of one level (e.g. every county) once for each group",
            )
        unit_of = np.empty(n, dtype=object)
        unit_of[hit["row"].to_numpy()] = hit["unit_id"].to_numpy()
        base = region.group_population(group)
        base_total = pd.Series(base).groupby(unit_of).sum()
        result = np.zeros((n, len(phases)))
        for unit, sub in rows.groupby("unit_id", sort=False):
            sub = sub.sort_values("year")
            years = sub["year"].to_numpy()
            values = sub["population"].to_numpy(dtype=float)
            for t, phase in enumerate(phases):
                need = _years(phase)
                if need.min() < years.min() or need.max() > years.max():
                    raise ConfigError(
                        f"period {phase.label!r} needs population for {need.min()}-{need.max()}, but the projection "
                        f"of unit {unit!r}, group {group!r} covers {years.min()}-{years.max()}",
                        file=source,
                        field="year",
                        hint="extend the projection or shorten the periods",
                    )
                person_years = float(np.interp(need, years, values).sum())
                mask = unit_of == unit
                total = float(base_total.get(unit, 0.0))
                if total <= 0:
                    if person_years > 0:
                        raise ConfigError(
                            f"unit {unit!r} has no {group!r} population in the demand layer to distribute its "
                            f"projection over",
                            file=source,
                            field="population",
                            hint="the projection is shared out in proportion to the demand layer's population",
                        )
                    continue
                result[mask, t] = base[mask] / total * person_years
        out[group] = result
    return out


# =========================================================================== cohort ageing
#: 5-year age brackets of the 2020 census tabulation; the last is open (85+).
BRACKETS = (
    "0_4",
    "5_9",
    "10_14",
    "15_19",
    "20_24",
    "25_29",
    "30_34",
    "35_39",
    "40_44",
    "45_49",
    "50_54",
    "55_59",
    "60_64",
    "65_69",
    "70_74",
    "75_79",
    "80_84",
    "85plus",
)
#: Population groups of the demand layer as sums of brackets (by index into BRACKETS).
GROUP_BRACKETS = {
    "all": tuple(range(18)),
    "0_14": (0, 1, 2),
    "school_age": (1, 2),
    "elderly": tuple(range(12, 18)),
    "65plus": tuple(range(13, 18)),
}


def _life_table(alpha: float, beta: float, step: float = 0.05, top: float = 130.0) -> tuple[np.ndarray, np.ndarray]:
    """Ages and survivorship l(x) of the Gompertz hazard mu(x) = alpha * exp(beta * x)."""
    ages = np.arange(0.0, top + step, step)
    cumulative_hazard = alpha / beta * np.expm1(beta * ages)
    return ages, np.exp(-cumulative_hazard)


def gompertz_alpha(life_expectancy: float, beta: float) -> float:
    """The Gompertz level alpha that gives ``life_expectancy`` at birth for slope ``beta`` (bisection)."""
    lo, hi = 1e-9, 1.0
    for _ in range(200):
        mid = (lo * hi) ** 0.5
        ages, survivors = _life_table(mid, beta)
        e0 = float(np.trapezoid(survivors, ages))
        lo, hi = (lo, mid) if e0 < life_expectancy else (mid, hi)
    return (lo * hi) ** 0.5


def survival_ratios(life_expectancy: float, beta: float) -> tuple[np.ndarray, float]:
    """Five-year survival of each bracket into the next, and of births into 0–4.

    Life-table ratios ``L(x+5)/L(x)`` with ``L(x) = ∫_x^{x+5} l``; the open
    bracket uses ``T(85)/T(80)`` (80+ into 85+) with ``T(x) = ∫_x^∞ l``; births of a 5-year
    span survive into 0–4 with ``L(0) / (5 l(0))``.

    Returns
    -------
    tuple
        ``(ratios, birth_survival)``: ``ratios[b]`` moves bracket ``b`` into
        ``b + 1`` (the last entry keeps 85+ in 85+).
    """
    alpha = gompertz_alpha(life_expectancy, beta)
    ages, survivors = _life_table(alpha, beta)  # l(x) of the life table

    def integral(a: float, b: float) -> float:
        mask = (ages >= a - 1e-9) & (ages <= b + 1e-9)
        return float(np.trapezoid(survivors[mask], ages[mask]))

    L = [integral(5 * b, 5 * b + 5) for b in range(17)]
    T85 = integral(85, ages[-1])
    closing = T85 / (L[16] + T85)
    ratios = np.array([L[b + 1] / L[b] for b in range(16)] + [closing, closing])
    # ratios[16] moves 80-84 into 85+ and ratios[17] keeps 85+: everyone 80+
    # at the start is 85+ five years on, with the open-interval ratio
    # T(85) / T(80), the usual closing of a life table.
    return ratios, L[0] / 5.0


def cohort_ageing(
    brackets: np.ndarray,
    women_15_49: np.ndarray,
    *,
    steps: int,
    tfr: float,
    life_expectancy: float,
    beta: float,
) -> np.ndarray:
    """Project 5-year age brackets forward by 5-year steps (no migration).

    Parameters
    ----------
    brackets
        People per unit and bracket, shape ``(units, 18)`` in :data:`BRACKETS` order.
    women_15_49
        Women aged 15–49 per unit at the start; later steps scale it with the
        15–49 brackets.
    steps
        Number of 5-year steps.
    tfr
        Total fertility rate (children per woman over ages 15–49), spread
        evenly over those 35 years.
    life_expectancy, beta
        The Gompertz life table (see :func:`survival_ratios`).

    Returns
    -------
    numpy.ndarray
        Shape ``(steps + 1, units, 18)``: the start and each step.
    """
    ratios, birth_survival = survival_ratios(life_expectancy, beta)
    current = np.asarray(brackets, dtype=float)
    women = np.asarray(women_15_49, dtype=float)
    adult = current[:, 3:10].sum(axis=1)
    women_share = np.divide(women, adult, out=np.zeros_like(women), where=adult > 0)
    out = [current]
    for _ in range(steps):
        births = 5.0 * tfr / 35.0 * women_share * current[:, 3:10].sum(axis=1)
        nxt = np.empty_like(current)
        nxt[:, 0] = births * birth_survival
        nxt[:, 1:17] = current[:, 0:16] * ratios[0:16]
        nxt[:, 17] = current[:, 16] * ratios[16] + current[:, 17] * ratios[17]
        out.append(nxt)
        current = nxt
    return np.stack(out)
