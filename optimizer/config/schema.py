"""The scenario and catalogue schema: strict pydantic models, one per section."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pyproj import CRS
from pyproj.exceptions import CRSError

from ..booleans import parse_yes_no


def _plain(annotation: Any) -> Any:
    """``float`` for ``Annotated[float, Field(...)]``; any other annotation unchanged."""
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation


#: A sum of money in yuan: finite (``allow_inf_nan=False`` below) and 0 or more. Used for every
#: budget figure (total, caps per unit and per family, overrides) so that a negative cap is a
#: schema error with its line, not an infeasible model at solve time.
Money = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    # allow_inf_nan=False: '.inf' or '.nan' for a cost, budget or distance would
    # pass the >= 0 checks and break the model; numbers must be finite.
    model_config = ConfigDict(extra="forbid", frozen=False, protected_namespaces=(), allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: Any) -> Any:
        """``cost: yes`` is YAML for true, which pydantic would read as 1; refuse it."""
        field = cls.model_fields.get(info.field_name) if info.field_name else None
        if field is None:
            return value
        args = {_plain(a) for a in typing.get_args(field.annotation)} or {field.annotation}
        values = [value]
        if isinstance(value, dict) and typing.get_origin(field.annotation) is dict:
            args = {_plain(typing.get_args(field.annotation)[1])}
            values = list(value.values())
        if bool not in args and args & {float, int} and any(isinstance(v, bool) for v in values):
            raise ValueError("a number is needed here, not true/false")
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _yes_no_text(cls, value: Any, info: Any) -> Any:
        """A yes/no setting written as text (``maps: "否"``) is read by the one yes/no parser, like data columns."""
        field = cls.model_fields.get(info.field_name) if info.field_name else None
        if field is None or not isinstance(value, str):
            return value
        args = set(typing.get_args(field.annotation)) or {field.annotation}
        if bool in args and not args & {str, int, float}:
            parsed = parse_yes_no(value)
            if isinstance(parsed, bool):
                return parsed
        return value


# --------------------------------------------------------------------------- region
class LayerSpec(_Strict):
    """Where one layer of the region comes from."""

    path: Path
    layer: str | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="canonical name -> column in the file")
    crs: str | None = None
    lon: str | None = None
    lat: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, (str, Path)) else value


class RegionConfig(_Strict):
    name: str
    admin_units: LayerSpec
    demand: LayerSpec
    facilities: LayerSpec | None = None
    candidates: LayerSpec | None = None
    competitors: LayerSpec | None = Field(
        default=None, description="competitor or private facilities (facility_type, optional attractiveness)"
    )
    projected_crs: str | None = None

    @field_validator("projected_crs")
    @classmethod
    def _metric_crs(cls, value: str | None) -> str | None:
        """Checked here, not when the region is loaded, so that the error names this file and line."""
        if value is None:
            return value
        try:
            crs = CRS.from_user_input(value)
        except CRSError:
            raise ValueError("not a coordinate reference system") from None
        if not crs.is_projected:
            raise ValueError(f"CRS {crs.to_string()} is not projected, so distances in it are not metres")
        return value


# --------------------------------------------------------------------------- catalogue
class ServiceStandard(_Strict):
    """A service standard: a straight-line distance, or travel minutes at a speed."""

    distance_km: float | None = Field(default=None, gt=0)
    minutes: float | None = Field(default=None, gt=0)
    speed_kmh: float | None = Field(default=None, gt=0)
    detour_factor: float = Field(default=1.0, ge=1.0)

    @model_validator(mode="after")
    def _one_kind(self) -> ServiceStandard:
        by_distance = self.distance_km is not None
        by_time = self.minutes is not None or self.speed_kmh is not None
        if by_distance == by_time:
            raise ValueError("give either distance_km, or minutes together with speed_kmh")
        if by_time and (self.minutes is None or self.speed_kmh is None):
            raise ValueError("a travel-time standard needs both minutes and speed_kmh")
        return self

    def radius_m(self) -> float:
        """Straight-line radius in metres equivalent to this standard."""
        if self.distance_km is not None:
            return self.distance_km * 1000.0 / self.detour_factor
        assert self.minutes is not None and self.speed_kmh is not None  # the validator requires both
        return self.minutes / 60.0 * self.speed_kmh * 1000.0 / self.detour_factor

    def describe(self) -> str:
        detour = f", detour ×{self.detour_factor:g}" if self.detour_factor != 1.0 else ""
        if self.distance_km is not None:
            return f"{self.distance_km:g} km{detour}"
        return f"{self.minutes:g} min at {self.speed_kmh:g} km/h{detour}"


class ServiceConfig(_Strict):
    """Separate urban and rural standards (a bare standard applies to both)."""

    urban: ServiceStandard
    rural: ServiceStandard

    @model_validator(mode="before")
    @classmethod
    def _same_everywhere(cls, value: Any) -> Any:
        if isinstance(value, dict) and not ({"urban", "rural"} & set(value)):
            return {"urban": value, "rural": value}
        return value


class FacilityTypeConfig(_Strict):
    """One facility type of the catalogue."""

    family: str
    name_zh: str = ""
    name_en: str = ""
    # Upper bounds: the solver cannot take coefficients near 1e15; no facility costs 10^13 yuan or serves 10^10 people.
    cost: float = Field(ge=0, le=1e13, description="construction cost of one new facility, yuan")
    capacity: float | None = Field(
        default=None, gt=0, le=1e10, description="people one facility can serve; null = unlimited"
    )
    serves: str = Field(default="all", description="population group served: all, school_age, elderly, ...")
    service: ServiceConfig
    sites: list[str] | None = Field(default=None, description="candidate-site kinds where it may be built; null = any")
    assumed: bool = Field(default=False, description="true when cost/capacity/standard are planning assumptions")
    notes: str = ""


class FacilityTypeOverride(_Strict):
    """Per-scenario changes to a catalogue entry; unset fields keep the catalogue value."""

    family: str | None = None
    name_zh: str | None = None
    name_en: str | None = None
    cost: float | None = Field(default=None, ge=0, le=1e13)
    capacity: float | None = Field(default=None, gt=0, le=1e10)
    serves: str | None = None
    service: ServiceConfig | None = None
    sites: list[str] | None = None
    assumed: bool | None = None
    notes: str | None = None


class CatalogueConfig(_Strict):
    name: str = "catalogue"
    currency: str = "CNY"
    notes: str = ""
    facility_types: dict[str, FacilityTypeConfig]


# --------------------------------------------------------------------------- standards
class StandardLevel(_Strict):
    """Facility types every admin unit of one level must have."""

    required: dict[str, int]
    mode: Literal["hard", "soft"] | None = None
    penalty: float | None = Field(default=None, ge=0)
    label: str = ""

    @field_validator("required", mode="before")
    @classmethod
    def _list_means_one_each(cls, value: Any) -> Any:
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ValueError("give a list of facility types, e.g. [library, museum], or a mapping type: count")
            counts: dict[str, int] = {}
            for item in value:
                counts[item] = counts.get(item, 0) + 1
            return counts
        return value

    @field_validator("required")
    @classmethod
    def _positive_counts(cls, value: dict[str, int]) -> dict[str, int]:
        for key, count in value.items():
            if count < 1:
                raise ValueError(f"required count for {key!r} must be at least 1, got {count}")
        return value


class StandardsConfig(_Strict):
    """Standards by administrative level, e.g. 五馆一院一厅 for a prefecture city."""

    mode: Literal["hard", "soft"] = "soft"
    penalty: float = Field(
        default=1e6, ge=0, description="objective units lost per unit of an unmet soft standard (see docs/scenario.md)"
    )
    levels: dict[str, StandardLevel] = Field(default_factory=dict)


# --------------------------------------------------------------------------- budget
class UnitCap(_Strict):
    """A spending cap for every admin unit of the given levels."""

    levels: list[str]
    amount: float | None = Field(default=None, ge=0, description="cap per unit (yuan); null = only the overrides apply")
    overrides: dict[str, Money] = Field(default_factory=dict, description="unit_id -> cap (yuan)")

    @field_validator("levels", mode="before")
    @classmethod
    def _one_level(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class BudgetConfig(_Strict):
    total: float = Field(gt=0, description="yuan")
    per_unit: list[UnitCap] = Field(default_factory=list)
    per_family: dict[str, Money] = Field(default_factory=dict, description="family -> cap (yuan)")


# --------------------------------------------------------------------------- objective
class EquityConfig(_Strict):
    """What "the worst-off" means for the equity objective."""

    levels: list[str] | None = Field(
        default=None, description="admin levels whose units are compared; null = the finest levels with boundaries"
    )
    group: str | None = Field(default=None, description="boolean column of admin_units naming a group, e.g. mountain26")
    compare: Literal["units", "group_vs_rest", "units_in_group"] = "units"
    tolerance: float = Field(default=1e-6, ge=0, description="slack allowed on the max-min rate in the second stage")
    aversion: float = Field(default=5.0, gt=0, description="kolm_pollak: inequality aversion kappa (per unit of rate)")
    over: Literal["coverage", "travel_time"] = Field(
        default="coverage",
        description="kolm_pollak: the units' coverage rates (a good), or each person's travel time (a bad)",
    )
    time_aversion: float = Field(
        default=1.0,
        gt=0,
        description="kolm_pollak over travel_time: Horton et al.'s aversion -epsilon (unit-free); "
        "kappa = time_aversion * sum(p t0) / sum(p t0^2) per minute, t0 the times before the plan",
    )
    speed_kmh: float = Field(
        default=30.0, gt=0, description="kolm_pollak over travel_time: km/h for types whose standard is in km"
    )

    @field_validator("levels", mode="before")
    @classmethod
    def _one_level(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class AttendanceConfig(_Strict):
    """Distance decay of the ``attendance`` objective (ArcGIS "maximize attendance")."""

    decay: Literal["linear", "power", "exponential"] = "linear"
    beta: float = Field(default=1.0, gt=0, description="decay parameter per km (power, exponential)")
    cutoff_km: float | None = Field(
        default=None, gt=0, description="nobody attends beyond this (default: each demand point's service standard)"
    )


class ObjectiveConfig(_Strict):
    kind: Literal["coverage", "equity", "min_cost", "access", "attendance", "leximin", "kolm_pollak"] = "coverage"
    weights: dict[str, float] = Field(default_factory=dict, description="facility_type -> weight (default 1, >= 0)")
    equity: EquityConfig = Field(default_factory=EquityConfig)
    coverage_targets: dict[str, float] = Field(
        default_factory=dict, description="min_cost: facility_type -> share of its population to cover"
    )
    access_cap_km: float | None = Field(
        default=None,
        gt=0,
        description="access: distances beyond this count as this (default: 3x each type's rural standard)",
    )
    attendance: AttendanceConfig = Field(default_factory=AttendanceConfig)

    def measures_access(self) -> bool:
        """Whether the objective is built from access pairs (``access``, or ``kolm_pollak`` over travel time)."""
        return self.kind == "access" or (self.kind == "kolm_pollak" and self.equity.over == "travel_time")

    @field_validator("coverage_targets")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        for key, share in value.items():
            if not 0 <= share <= 1:
                raise ValueError(f"coverage target for {key!r} must be a share between 0 and 1, got {share}")
        return value


# --------------------------------------------------------------------------- sites, solver, outputs
class SiteRule(_Strict):
    site_id: str
    facility_type: str | None = None

    @field_validator("site_id", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class SitesConfig(_Strict):
    required: list[SiteRule] = Field(default_factory=list)
    forbidden: list[SiteRule] = Field(default_factory=list)


class SolverConfig(_Strict):
    name: Literal["highs", "cbc"] = "highs"
    time_limit: float | None = Field(default=300, gt=0)
    mip_gap: float = Field(default=0.0, ge=0, lt=1)
    threads: int | None = Field(default=None, ge=1)
    msg: bool = False


class OutputConfig(_Strict):
    dir: Path | None = None
    maps: bool = True
    report: bool = True
    language: Literal["zh", "en"] = "en"
    basemap: Literal["none", "osm", "amap", "tianditu"] = Field(
        default="none", description="map background; none works offline (Tianditu's key comes from TIANDITU_KEY)"
    )


class LimitsConfig(_Strict):
    max_memory_gb: float | None = Field(
        default=None, gt=0, description="refuse models estimated above this (default: 80% of RAM)"
    )


# --------------------------------------------------------------------------- impedance
class ImpedanceSpec(_Strict):
    """How demand reaches facilities: straight line, an OD matrix file, or a road network.

    See docs/scenario.md ("impedance") and docs/data-format.md (OD matrices,
    road networks).
    """

    kind: Literal["straight_line", "od_matrix", "network", "terrain"] = "straight_line"
    path: Path | None = Field(
        default=None,
        description="OD matrix (CSV, Parquet, GeoPackage), road network (OSM PBF, line layer) or relief grid (.npz)",
    )
    layer: str | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="canonical name -> column in the file")
    speeds: dict[str, float] = Field(default_factory=dict, description="road class -> km/h, over the default table")
    use_maxspeed: bool = Field(default=True, description="OSM: use an edge's numeric maxspeed tag when it has one")
    access_speed_kmh: float = Field(
        default=5.0, gt=0, le=200, description="speed of the leg from a point to its nearest node"
    )
    # kind: terrain (optimizer/impedance/terrain.py; calibration in geodata/README.md)
    relief_window_cells: int = Field(
        default=3, ge=1, le=25, description="terrain: odd window (grid cells) of the local relief"
    )
    plain_relief_m: float = Field(
        default=30.0, ge=0, description="terrain: local relief up to which the terrain is a plain"
    )
    mountain_relief_m: float = Field(
        default=500.0, gt=0, description="terrain: local relief from which factors are full"
    )
    mountain_detour: float = Field(
        default=1.25, ge=1, le=3, description="terrain: detour multiplier at mountain relief"
    )
    mountain_speed: float = Field(default=0.75, gt=0, le=1, description="terrain: speed multiplier at mountain relief")

    @field_validator("speeds")
    @classmethod
    def _positive_speeds(cls, value: dict[str, float]) -> dict[str, float]:
        for road_class, speed in value.items():
            if not 0 < speed <= 300:
                raise ValueError(
                    f"speed of road class {road_class!r} must be more than 0 and at most 300 km/h, got {speed:g}"
                )
        return value

    @model_validator(mode="after")
    def _terrain_window(self) -> ImpedanceSpec:
        if self.relief_window_cells % 2 == 0:
            raise ValueError(
                f"relief_window_cells must be odd (the window is centred on a cell), got {self.relief_window_cells}"
            )
        if self.mountain_relief_m <= self.plain_relief_m:
            raise ValueError(
                f"mountain_relief_m ({self.mountain_relief_m:g}) must be more than plain_relief_m ({self.plain_relief_m:g})"
            )
        return self

    @model_validator(mode="after")
    def _path_for_files(self) -> ImpedanceSpec:
        if self.kind != "straight_line" and self.path is None:
            raise ValueError(f"impedance kind {self.kind!r} needs path: the file to read")
        return self


class ImpedanceConfig(ImpedanceSpec):
    """The scenario's impedance, optionally a different one per facility type (``by_type``)."""

    by_type: dict[str, ImpedanceSpec] = Field(default_factory=dict)


# --------------------------------------------------------------------------- periods (phased plans)
class PeriodConfig(_Strict):
    """One period of a phased plan: a year or a five-year plan, with its own budget."""

    label: str = Field(min_length=1, description="name of the period, e.g. 2026-2030")
    start: int = Field(description="first calendar year of the period")
    years: int = Field(default=1, ge=1, description="length in years; person-years are summed over them")
    budget: float = Field(ge=0, description="yuan that may be spent in this period")


class ClosureConfig(_Strict):
    """Existing facilities of one type that the plan may close, and what that brings."""

    value: float = Field(
        default=0.0, description="yuan returned to the period's budget by a closure (negative: a cost)"
    )
    repurpose_to: str | None = Field(default=None, description="facility type a closed facility may be turned into")
    repurpose_cost: float = Field(default=0.0, ge=0, description="yuan to turn one closed facility into repurpose_to")


class PeriodsConfig(_Strict):
    """A phased plan: periods with budgets, projected population, closures, deadlines."""

    phases: list[PeriodConfig] = Field(min_length=1, description="the periods, in time order")
    carry_over: bool = Field(default=False, description="unspent budget of a period may be spent later")
    population: Path | None = Field(
        default=None, description="CSV unit_id, group, year, population; null = the demand layer in every period"
    )
    equity: Literal["per_period", "horizon"] = "per_period"
    standards_deadline: str | None = Field(
        default=None, description="label of the period by which standards must be met"
    )
    standards_deadlines: dict[str, str] = Field(default_factory=dict, description="admin level -> deadline period")
    closures: dict[str, ClosureConfig] = Field(default_factory=dict, description="facility_type -> closure rules")
    compare_static: bool = Field(default=True, description="also solve the single-period plan and compare")


# --------------------------------------------------------------------------- scenario
class ScenarioConfig(_Strict):
    """A planning scenario: the root of a scenario file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="used for the output folder name")
    title: str = ""
    title_zh: str = ""
    description: str = ""
    region: RegionConfig
    catalogue: Path | CatalogueConfig
    facility_types: dict[str, FacilityTypeOverride] = Field(default_factory=dict)
    types: list[str] | None = Field(default=None, description="facility types planned in this scenario; null = all")
    ignore_facility_types: list[str] = Field(
        default_factory=list,
        description="facility_type values of the existing-facilities layer to leave out on purpose (types the "
        "catalogue does not have); any other type the catalogue lacks is an error",
    )
    standards: StandardsConfig = Field(default_factory=StandardsConfig)
    budget: BudgetConfig
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    sites: SitesConfig = Field(default_factory=SitesConfig)
    solver: SolverConfig = Field(default_factory=SolverConfig)
    outputs: OutputConfig = Field(default_factory=OutputConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    impedance: ImpedanceConfig = Field(default_factory=ImpedanceConfig)
    periods: PeriodsConfig | None = Field(
        default=None, description="phased plan over several periods (optimizer/phased.py)"
    )
