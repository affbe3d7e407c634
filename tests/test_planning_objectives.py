"""Planning-model objective ``attendance`` against brute-force enumeration of plans."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from optimizer.config.schema import BudgetConfig, ObjectiveConfig
from optimizer.locate.attendance import decay_weights
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario
from tests.toy import X0, Y0, catalogue, facility_type, make_region


def _share(d_m: np.ndarray, cut_m: np.ndarray, decay: str, beta: float) -> np.ndarray:
    a = np.clip(1 - d_m / cut_m, 0, 1) if decay == "linear" else decay_weights(d_m / 1000.0, decay, beta, np.inf)
    return np.where(d_m <= cut_m, a, 0.0)


@pytest.mark.parametrize(
    "decay,beta,cutoff_km",
    [("linear", 1.0, None), ("linear", 1.0, 12.0), ("power", 1.5, 15.0), ("exponential", 0.2, None)],
)
@pytest.mark.parametrize("seed", range(4))
def test_attendance_matches_brute_force(seed, decay, beta, cutoff_km):
    rng = np.random.default_rng(seed)
    dxy = rng.random((10, 2)) * [40_000, 20_000] + [X0, Y0]
    sxy = rng.random((5, 2)) * [40_000, 20_000] + [X0, Y0]
    exy = rng.random(2) * [40_000, 20_000] + [X0, Y0]
    pop = rng.integers(0, 1000, 10).astype(float)
    urban = rng.random(10) < 0.3
    region = make_region(dxy, pop, sxy, existing=[("clinic", exy[0], exy[1])], urban=urban)
    clinic = facility_type("clinic", cost=10, urban_km=6, rural_km=10)
    objective = ObjectiveConfig.model_validate(
        {"kind": "attendance", "attendance": {"decay": decay, "beta": beta, "cutoff_km": cutoff_km}}
    )
    sc = Scenario(
        name="t", region=region, catalogue=catalogue(clinic), budget=BudgetConfig(total=20), objective=objective
    )
    result = PlanningModel(sc).solve()
    cut = np.full(10, cutoff_km * 1000.0) if cutoff_km else np.where(urban, 6000.0, 10000.0)
    d_site = cdist(dxy, sxy)
    d_exist = cdist(dxy, exy[None, :])[:, 0]

    def attendance(plan) -> float:
        d = np.minimum(d_exist, d_site[:, list(plan)].min(axis=1)) if plan else d_exist
        best = np.maximum(_share(d, cut, decay, beta), _share(d_exist, cut, decay, beta))
        return float(pop @ best)

    best = max(attendance(plan) for k in range(3) for plan in itertools.combinations(range(5), k))
    chosen = [int(s[1:]) for s in result.chosen_sites["site_id"]]
    assert result.status == "optimal"
    assert attendance(chosen) == pytest.approx(best, rel=1e-6, abs=1e-4)
    # objective = attendance minus a tie-break of at most 1e-3 per facility
    assert result.objective == pytest.approx(best, abs=3e-3)


# --------------------------------------------------------------------------- leximin and Kolm-Pollak


def _unit_region(seed: int):
    """Three counties (A, B west/east of a city C, plus D) with demand, sites and one existing clinic."""
    import geopandas as gpd
    from shapely.geometry import box

    from tests.toy import UTM51

    units = gpd.GeoDataFrame(
        {
            "unit_id": ["C", "A", "B", "D"],
            "name": ["City", "A", "B", "D"],
            "name_en": ["City", "A", "B", "D"],
            "level": ["city", "county", "county", "county"],
            "parent_id": [None, "C", "C", "C"],
            "mountain": [False, False, True, False],
        },
        geometry=[
            box(X0, Y0, X0 + 60_000, Y0 + 20_000),
            box(X0, Y0, X0 + 20_000, Y0 + 20_000),
            box(X0 + 20_000, Y0, X0 + 40_000, Y0 + 20_000),
            box(X0 + 40_000, Y0, X0 + 60_000, Y0 + 20_000),
        ],
        crs=UTM51,
    ).set_index("unit_id")
    rng = np.random.default_rng(seed)
    dxy = rng.random((9, 2)) * [60_000, 20_000] + [X0, Y0]
    sxy = rng.random((5, 2)) * [60_000, 20_000] + [X0, Y0]
    pop = rng.integers(1, 1000, 9).astype(float)
    region = make_region(dxy, pop, sxy, existing=[("clinic", X0 + 5000, Y0 + 5000)], units=units)
    county = np.select([dxy[:, 0] < X0 + 20_000, dxy[:, 0] < X0 + 40_000], ["A", "B"], "D")
    region.demand["unit_id"] = county
    region.candidates["unit_id"] = np.select([sxy[:, 0] < X0 + 20_000, sxy[:, 0] < X0 + 40_000], ["A", "B"], "D")
    return region, dxy, sxy, pop, county


def _plans_rates(region, dxy, sxy, pop, county, km: float, budget_sites: int):
    exy = np.array([[X0 + 5000, Y0 + 5000]])
    covered_ex = cdist(dxy, exy)[:, 0] <= km * 1000
    out = []
    for k in range(budget_sites + 1):
        for plan in itertools.combinations(range(len(sxy)), k):
            cov = covered_ex | (cdist(dxy, sxy[list(plan)]).min(axis=1) <= km * 1000 if plan else False)
            rates = {
                u: float(pop[(county == u) & cov].sum() / pop[county == u].sum())
                for u in ("A", "B", "D")
                if pop[county == u].sum() > 0
            }
            out.append((plan, rates, float(pop[cov].sum())))
    return out


def _solve(region, kind: str, budget: float, **equity):
    clinic = facility_type("clinic", cost=10, km=12)
    objective = ObjectiveConfig.model_validate({"kind": kind, "equity": {"levels": ["county"], **equity}})
    sc = Scenario(
        name="t", region=region, catalogue=catalogue(clinic), budget=BudgetConfig(total=budget), objective=objective
    )
    return PlanningModel(sc).solve()


def _chosen_rates(result, dxy, sxy, pop, county, km):
    chosen = [int(s[1:]) for s in result.chosen_sites["site_id"]]
    exy = np.array([[X0 + 5000, Y0 + 5000]])
    cov = cdist(dxy, exy)[:, 0] <= km * 1000
    if chosen:
        cov |= cdist(dxy, sxy[chosen]).min(axis=1) <= km * 1000
    return {
        u: float(pop[(county == u) & cov].sum() / pop[county == u].sum())
        for u in ("A", "B", "D")
        if pop[county == u].sum() > 0
    }


@pytest.mark.parametrize("seed", range(6))
def test_leximin_matches_brute_force(seed):
    region, dxy, sxy, pop, county = _unit_region(seed)
    plans = _plans_rates(region, dxy, sxy, pop, county, 12, 2)
    best = max(tuple(sorted(r.values())) for _, r, _ in plans)
    result = _solve(region, "leximin", 20)
    got = tuple(sorted(_chosen_rates(result, dxy, sxy, pop, county, 12).values()))
    assert result.status == "optimal"
    assert got == pytest.approx(best, abs=1e-5)
    # among leximin-optimal plans, the most people covered (the coverage stage)
    top = max(c for _, r, c in plans if np.allclose(sorted(r.values()), best, atol=1e-5))
    assert result.objective == pytest.approx(top, abs=0.05)


@pytest.mark.parametrize("aversion", [0.5, 5.0, 20.0])
@pytest.mark.parametrize("seed", range(4))
def test_kolm_pollak_matches_brute_force(seed, aversion):
    region, dxy, sxy, pop, county = _unit_region(seed)
    w = {u: float(pop[county == u].sum()) for u in ("A", "B", "D")}
    total = sum(v for v in w.values() if v > 0)

    def ede(rates: dict) -> float:
        return -np.log(sum(w[u] * np.exp(-aversion * r) for u, r in rates.items()) / total) / aversion

    plans = _plans_rates(region, dxy, sxy, pop, county, 12, 2)
    best = max(ede(r) for _, r, _ in plans)
    result = _solve(region, "kolm_pollak", 20, aversion=aversion)
    assert result.status == "optimal"
    assert ede(_chosen_rates(result, dxy, sxy, pop, county, 12)) == pytest.approx(best, abs=1e-6)
    assert result.objective == pytest.approx(best, abs=1e-6)
