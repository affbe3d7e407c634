"""The line region of tests/test_impedance.py planned under the hand-made OD matrix or the straight line.

tests/test_impedance_objectives.py and tests/test_impedance_competitors.py check the same small
scenarios by hand (one clinic type with a 15-minute standard at 30 km/h, budget for one site), several
of them with the same objective and impedance. :class:`LinePlans` (the session fixture ``line_plans``
of tests/conftest.py) builds the region once and solves each distinct scenario once; the results are
shared read-only by the tests that assert on them.

Geometry (``line_region``): d0 at x = 1 km, d1 at 5 km, d2 at 30 km (all at y = 1 km); s0 at 2 km,
s1 at 29 km; the existing clinic f0 at 1 km. People 100, 200, 400.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from test_impedance import MATRIX, line_region, minutes_type
from toy import UTM51, X0, Y0, catalogue, points

from optimizer.config.schema import BudgetConfig, ImpedanceConfig, ObjectiveConfig
from optimizer.planning.model import PlanningModel
from optimizer.region import Region
from optimizer.results import PlanResult
from optimizer.scenario import Scenario

#: Competitor pairs appended to MATRIX when the line region has rivals (see ``rival_clinics``).
COMPETITOR_PAIRS = "d2,c0,6,3\nd1,c0,25,9\n"


def competitor_layer(
    xy: np.ndarray, attractiveness: Any, types: list[str] | None = None, prefix: str = "c"
) -> gpd.GeoDataFrame:
    """Competitor facilities at planar ``xy`` (UTM 51N metres), stored in EPSG:4326 like a read layer.

    Parameters
    ----------
    xy : numpy.ndarray
        ``(n, 2)`` coordinates in metres.
    attractiveness : array-like
        One attractiveness per competitor.
    types : list of str, optional
        Facility type per competitor; every one a clinic by default.
    prefix : str
        Facility ids are ``prefix`` + 0, 1, ...

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``facility_id`` with ``facility_type`` and ``attractiveness``.
    """
    n = len(xy)
    return (
        gpd.GeoDataFrame(
            {
                "facility_id": [f"{prefix}{k}" for k in range(n)],
                "facility_type": types or ["clinic"] * n,
                "attractiveness": attractiveness,
            },
            geometry=points(xy).values,
            crs=UTM51,
        )
        .set_index("facility_id")
        .to_crs(4326)
    )


def rival_clinics(attractiveness: tuple[float, float] = (1.0, 1.0)) -> gpd.GeoDataFrame:
    """c0 20 km north of d2 (out of every straight-line reach; the matrix gives d2-c0 6 min / 3 km and
    d1-c0 25 min), c1 standing on d1 with no pair in the matrix."""
    xy = np.array([[X0 + 30_000, Y0 + 21_000], [X0 + 5000, Y0 + 1000]])
    return competitor_layer(xy, list(attractiveness))


class LinePlans:
    """Scenarios and memoised plans of the line region, one solve per distinct scenario.

    Parameters
    ----------
    folder : pathlib.Path
        Where the OD matrix files are written (a session temporary folder).
    """

    def __init__(self, folder: Path) -> None:
        self.region: Region = line_region()
        self.matrix = folder / "od.csv"
        self.matrix.write_text(MATRIX)
        self.matrix_with_rivals = folder / "od-rivals.csv"
        self.matrix_with_rivals.write_text(MATRIX + COMPETITOR_PAIRS)
        self._plans: dict[str, PlanResult] = {}

    def scenario(
        self,
        objective: dict,
        *,
        matrix: bool,
        rivals: tuple[float, float] | None = None,
        budget: float = 10,
    ) -> Scenario:
        """The line region under the matrix (``matrix=True``) or the straight line.

        Parameters
        ----------
        objective : dict
            The ``objective`` section, as in a scenario file.
        matrix : bool
            Measure reach by the OD matrix (plus the competitors' pairs with ``rivals``).
        rivals : tuple of float, optional
            Attractiveness of the competitors c0 and c1 of :func:`rival_clinics`; none without it.
        budget : float
            Total budget (a site costs 10).

        Returns
        -------
        optimizer.scenario.Scenario
            The scenario.
        """
        impedance = ImpedanceConfig()
        if matrix:
            path = self.matrix if rivals is None else self.matrix_with_rivals
            impedance = ImpedanceConfig(kind="od_matrix", path=path)
        return Scenario(
            name="t",
            region=self.region,
            catalogue=catalogue(minutes_type(15)),
            budget=BudgetConfig(total=budget),
            objective=ObjectiveConfig.model_validate(objective),
            impedance=impedance,
            competitors=None if rivals is None else rival_clinics(rivals),
        )

    def plan(
        self,
        objective: dict,
        *,
        matrix: bool,
        rivals: tuple[float, float] | None = None,
        budget: float = 10,
    ) -> PlanResult:
        """The optimal plan of :meth:`scenario` (solved on first use, then shared: do not modify it).

        Parameters
        ----------
        objective, matrix, rivals, budget
            As for :meth:`scenario`.

        Returns
        -------
        optimizer.results.PlanResult
            The plan, asserted optimal.
        """
        key = json.dumps([objective, matrix, rivals, budget], sort_keys=True)
        if key not in self._plans:
            sc = self.scenario(objective, matrix=matrix, rivals=rivals, budget=budget)
            result = PlanningModel(sc).solve()
            assert result.status == "optimal"
            self._plans[key] = result
        return self._plans[key]
