"""Planning-model objective ``attendance`` against brute-force enumeration of plans."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from optimizer.config import BudgetConfig, ObjectiveConfig
from optimizer.locate_more import decay_weights
from optimizer.model import PlanningModel
from optimizer.scenario import Scenario
from tests.toy import X0, Y0, catalogue, facility_type, make_region


def _share(d_m: np.ndarray, cut_m: np.ndarray, decay: str, beta: float) -> np.ndarray:
    if decay == "linear":
        a = np.clip(1 - d_m / cut_m, 0, 1)
    else:
        a = decay_weights(d_m / 1000.0, decay, beta, np.inf)
    return np.where(d_m <= cut_m, a, 0.0)


@pytest.mark.parametrize("decay,beta,cutoff_km", [("linear", 1.0, None), ("linear", 1.0, 12.0), ("power", 1.5, 15.0),
                                                 ("exponential", 0.2, None)])
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
        {"kind": "attendance", "attendance": {"decay": decay, "beta": beta, "cutoff_km": cutoff_km}})
    sc = Scenario(name="t", region=region, catalogue=catalogue(clinic), budget=BudgetConfig(total=20),
                  objective=objective)
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
