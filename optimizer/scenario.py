"""A validated planning scenario: region + catalogue + standards + budget + objective.

Build one from a scenario file with :func:`load_scenario`, or in code with
:class:`Scenario` directly (e.g. in a notebook, from GeoDataFrames)::

    region = Region.from_geodataframes(name="Toy", admin_units=units, demand=pts,
                                       facilities=existing, candidates=sites)
    scenario = Scenario(name="toy", region=region, catalogue=catalogue,
                        budget=BudgetConfig(total=3e8))

All cross-checks between the parts (standards name known types and levels,
required sites exist and may host their type, budget covers required sites)
happen in :meth:`Scenario.validate`, so a broken scenario fails before any
model is built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np

from .catalogue import (
    Catalogue,
    FacilityType,
    build_catalogue,
    check_facility_types,
    check_site_kinds,
)
from .config.reader import config_line, load_config, validate_mapping
from .config.schema import (
    BudgetConfig,
    CatalogueConfig,
    ImpedanceConfig,
    LimitsConfig,
    ObjectiveConfig,
    OutputConfig,
    ScenarioConfig,
    SitesConfig,
    SolverConfig,
    StandardsConfig,
)
from .errors import ConfigError
from .explore import explore_points, explore_units, family_styles
from .io.competitors import check_competitors, read_competitors
from .region import Region, finest_levels, load_region
from .solvers.options import SolverOptions

__all__ = ["Standard", "Scenario", "load_scenario", "scenario_from_config"]


@dataclass(frozen=True)
class Standard:
    """Admin unit ``unit_id`` must have ``count`` facilities of ``facility_type``."""

    unit_id: str
    level: str
    facility_type: str
    count: int
    hard: bool
    penalty: float
    label: str = ""


@dataclass
class Scenario:
    """Everything a planning run needs, validated."""

    name: str
    region: Region
    catalogue: Catalogue
    budget: BudgetConfig
    standards: StandardsConfig = field(default_factory=StandardsConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    sites: SitesConfig = field(default_factory=SitesConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    outputs: OutputConfig = field(default_factory=OutputConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    impedance: ImpedanceConfig = field(default_factory=ImpedanceConfig)
    title: str = ""
    title_zh: str = ""
    description: str = ""
    config: ScenarioConfig | None = None
    source_path: Path | None = None
    # Existing-facility types the catalogue lacks, left out on purpose (any other unknown type is an error).
    ignore_facility_types: tuple[str, ...] = ()
    # Competitor or private facilities capturing demand (optimizer/io/competitors.py, planning/competitors.py).
    competitors: gpd.GeoDataFrame | None = None

    def __post_init__(self) -> None:
        self.validate()

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some settings changed, validated again.

        Keys are dotted paths into the scenario settings, e.g.
        ``scenario.replace(**{"budget.total": 2e9, "objective.kind": "equity"})``
        or top-level fields (``name=...``). The region and catalogue are shared,
        not copied.
        """

        top: dict = {}
        nested: dict[str, dict] = {}
        for key, value in changes.items():
            head, _, rest = key.partition(".")
            if not rest:
                top[head] = value
            else:
                nested.setdefault(head, {})[rest] = value
        for head, updates in nested.items():
            current = getattr(self, head, None)
            if current is None or not hasattr(current, "model_dump"):
                raise ConfigError(
                    f"cannot change {head!r}: not a settings section",
                    field=head,
                    hint="use dotted keys into a settings section, e.g. scenario.replace(**{'budget.total': 2e9})",
                )
            data = current.model_dump()
            for dotted, value in updates.items():
                target = data
                parts = dotted.split(".")
                for part in parts[:-1]:
                    if not isinstance(target.get(part), dict):
                        raise ConfigError(
                            f"unknown setting {head}.{dotted}",
                            field=f"{head}.{dotted}",
                            hint="use keys of docs/scenario.md, e.g. 'budget.total' or 'objective.kind'",
                        )
                    target = target[part]
                if parts[-1] not in target:
                    raise ConfigError(
                        f"unknown setting {head}.{dotted}",
                        field=f"{head}.{dotted}",
                        hint="use keys of docs/scenario.md, e.g. 'budget.total' or 'objective.kind'",
                    )
                target[parts[-1]] = value

            top[head] = validate_mapping(data, type(current), path=self.source_path)
        return dataclasses.replace(self, **top)

    def explore(self, *, tiles: str | None = "OpenStreetMap") -> folium.Map:
        """A folium map of the region: units, existing facilities and candidate sites (like ``GeoDataFrame.explore``).

        Returns
        -------
        folium.Map
        """

        region = self.region
        m = explore_units(region.admin_units, None, label="admin units", tiles=tiles)
        planned = set(self.catalogue)
        fac = region.facilities[region.facilities["facility_type"].astype(str).isin(planned)].copy()
        families = family_styles(list(dict.fromkeys(t.family for t in self.types)))
        if len(fac):
            fac["family"] = [self.catalogue[t].family for t in fac["facility_type"].astype(str)]
            explore_points(
                fac, m, name="existing facilities", families=families, radius=4, tooltip=["name", "facility_type"]
            )
        if len(region.candidates):
            explore_points(region.candidates.assign(family=""), m, name="candidate sites", radius=2, tooltip=["name"])
        folium.LayerControl(collapsed=True).add_to(m)
        return m

    # ------------------------------------------------------------------ derived
    @property
    def solver_options(self) -> SolverOptions:
        s = self.solver
        return SolverOptions(name=s.name, time_limit=s.time_limit, mip_gap=s.mip_gap, threads=s.threads, msg=s.msg)

    @property
    def types(self) -> list[FacilityType]:
        return list(self.catalogue.values())

    def weight(self, type_id: str) -> float:
        return float(self.objective.weights.get(type_id, 1.0))

    def eligible_sites(self) -> dict[str, np.ndarray]:
        """For each planned type, a boolean mask over candidate sites where it may be built.

        A site is eligible when its ``kind`` is among the type's ``sites`` and
        it is not forbidden for the type (or for every type).
        """
        cand = self.region.candidates
        kinds = cand["kind"].astype(str).to_numpy() if "kind" in cand else np.full(len(cand), "site")
        ids = cand.index.astype(str).to_numpy()
        forbidden_all = {r.site_id for r in self.sites.forbidden if r.facility_type is None}
        forbidden = {(r.site_id, r.facility_type) for r in self.sites.forbidden if r.facility_type is not None}
        masks = {}
        for type_id, ftype in self.catalogue.items():
            ok = np.ones(len(cand), bool) if ftype.sites is None else np.isin(kinds, list(ftype.sites))
            if forbidden_all or forbidden:
                ok &= np.array([(i not in forbidden_all) and ((i, type_id) not in forbidden) for i in ids], bool)
            masks[type_id] = ok
        return masks

    def standard_list(self) -> list[Standard]:
        """One :class:`Standard` per (admin unit, required facility type)."""
        units = self.region.admin_units
        out: list[Standard] = []
        for level, spec in self.standards.levels.items():
            hard = (spec.mode or self.standards.mode) == "hard"
            penalty = self.standards.penalty if spec.penalty is None else spec.penalty
            for unit_id in units.index[units["level"] == level]:
                for type_id, count in spec.required.items():
                    out.append(Standard(str(unit_id), level, type_id, int(count), hard, float(penalty), spec.label))
        return out

    def fingerprint(self) -> str:
        """SHA-256 of the scenario's settings (not the data files), for caching and manifests."""
        payload = {
            "name": self.name,
            "budget": self.budget.model_dump(mode="json"),
            "standards": self.standards.model_dump(mode="json"),
            "objective": self.objective.model_dump(mode="json"),
            "sites": self.sites.model_dump(mode="json"),
            "solver": self.solver.model_dump(mode="json"),
            "types": {k: repr(v) for k, v in self.catalogue.items()},
        }
        if self.impedance != ImpedanceConfig():  # unchanged fingerprints for straight-line scenarios
            payload["impedance"] = self.impedance.model_dump(mode="json")
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Cross-check the scenario's parts; raise :class:`ConfigError` naming the key at fault."""
        try:
            self._validate_parts()
        except ConfigError as err:
            # Name the line of the key in the scenario file when the check did not.
            if err.row is None and err.field and self.config is not None and err.file == self.source_path:
                loc = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", err.field)]
                err.row = config_line(self.config, *loc)
            raise

    def _type_source(self, type_id: str, key: str) -> tuple[Path | None, int | None]:
        """File and line where facility type ``type_id`` got its ``key``: the scenario's override, else the catalogue."""

        cfg = self.config
        if cfg is None:
            return self.source_path, None
        override = cfg.facility_types.get(type_id)
        if override is not None and key in override.model_fields_set:
            return self.source_path, config_line(cfg, "facility_types", type_id, key)
        if isinstance(cfg.catalogue, CatalogueConfig):  # inline catalogue
            return self.source_path, config_line(cfg, "catalogue", "facility_types", type_id, key)
        base = getattr(self.catalogue, "base", None)
        return Path(cfg.catalogue), config_line(base, "facility_types", type_id, key)

    def _validate_parts(self) -> None:
        levels = set(self.region.admin_units["level"])
        self._validate_types()
        self._validate_standards(levels)
        self._validate_objective(levels)
        self._validate_budget(levels)
        for type_id in self.impedance.by_type:
            self.catalogue.require(type_id, field="impedance.by_type", file=self.source_path)
        self._validate_sites()
        if self.competitors is not None:
            self.competitors = check_competitors(self.competitors, list(self.catalogue.known_types()))

    def _validate_types(self) -> None:
        """Every planned type serves a population group of the demand layer and may be built at some site kind."""
        region = self.region
        check_facility_types(
            self.catalogue, region.facilities, file=region.files.get("facilities"), ignored=self.ignore_facility_types
        )
        check_site_kinds(self.catalogue, region.candidates, file=region.files.get("candidates"))
        groups = set(region.population_groups())
        for type_id, ftype in self.catalogue.items():
            if ftype.serves not in groups:
                where, line = self._type_source(type_id, "serves")
                raise ConfigError(
                    f"facility type {type_id!r} serves population group {ftype.serves!r}, "
                    "which the demand layer does not have",
                    file=where,
                    row=line,
                    field=f"facility_types.{type_id}.serves",
                    hint=f"use one of {sorted(groups)} or add a 'pop_{ftype.serves}' column to the demand layer",
                )
            if ftype.sites is not None:
                kinds = set(region.candidates["kind"]) if "kind" in region.candidates else set()
                unknown = [k for k in ftype.sites if k not in kinds]
                if unknown and kinds:
                    where, line = self._type_source(type_id, "sites")
                    raise ConfigError(
                        f"facility type {type_id!r} may be built at site kinds {unknown}, "
                        "but no candidate site has that kind",
                        file=where,
                        row=line,
                        field=f"facility_types.{type_id}.sites",
                        hint=f"candidate kinds in the data: {sorted(kinds)}",
                    )

    def _validate_standards(self, levels: set[str]) -> None:
        """Standards name admin levels of the region and planned facility types."""
        file = self.source_path
        for level, spec in self.standards.levels.items():
            if level not in levels:
                raise ConfigError(
                    f"standards are set for admin level {level!r}, which the region does not have",
                    file=file,
                    field=f"standards.levels.{level}",
                    hint=f"levels in the admin units: {sorted(levels)}",
                )
            for type_id in spec.required:
                self.catalogue.require(type_id, field=f"standards.levels.{level}.required", file=file)

    def _validate_objective(self, levels: set[str]) -> None:
        """Weights and coverage targets name planned types; the equity settings fit the region."""
        file = self.source_path
        for key in self.objective.weights:
            self.catalogue.require(key, field="objective.weights", file=file)
        for key in self.objective.coverage_targets:
            self.catalogue.require(key, field="objective.coverage_targets", file=file)
        for w_key, w in self.objective.weights.items():
            if w < 0:
                raise ConfigError(
                    f"weight must be non-negative, got {w}",
                    file=file,
                    field=f"objective.weights.{w_key}",
                    hint="use 0 to ignore a type, 1 (the default) for equal weight, more to favour it",
                )
        self._validate_equity(levels)

    def _validate_equity(self, levels: set[str]) -> None:
        """The equity comparison's levels and group exist in the region."""
        file = self.source_path
        region = self.region
        eq = self.objective.equity
        if self.objective.kind in ("equity", "leximin", "kolm_pollak"):
            for level in eq.levels or []:
                if level not in levels:
                    raise ConfigError(
                        f"equity compares units of level {level!r}, which the region does not have",
                        file=file,
                        field="objective.equity.levels",
                        hint=f"levels in the admin units: {sorted(levels)}",
                    )
            if eq.compare != "units" and eq.group is None:
                raise ConfigError(
                    f"equity.compare = {eq.compare!r} needs equity.group (a boolean column of the admin units)",
                    file=file,
                    field="objective.equity.group",
                    hint="set objective.equity.group, or use compare: units",
                )
        if eq.group is not None and eq.group not in region.admin_units.columns:
            raise ConfigError(
                f"unit group {eq.group!r} is not a column of the admin units",
                file=file,
                field="objective.equity.group",
                hint="name a boolean column of the admin-units layer, e.g. mountain26",
            )
        if eq.group is not None:
            region.group_members(eq.group)  # every value yes/no, else an InputError naming file, row, column

    def _validate_budget(self, levels: set[str]) -> None:
        """Budget caps name admin levels and units of the region and families of planned types."""
        file = self.source_path
        region = self.region
        for i, cap in enumerate(self.budget.per_unit):
            for level in cap.levels:
                if level not in levels:
                    raise ConfigError(
                        f"budget cap for admin level {level!r}, which the region does not have",
                        file=file,
                        field=f"budget.per_unit[{i}].levels",
                        hint=f"levels in the admin units: {sorted(levels)}",
                    )
            for unit_id in cap.overrides:
                if unit_id not in region.admin_units.index:
                    raise ConfigError(
                        f"budget cap override for unknown admin unit {unit_id!r}",
                        file=file,
                        field=f"budget.per_unit[{i}].overrides",
                        hint="use a unit_id of the admin units layer",
                    )
        families = set(self.catalogue.families())
        for family in self.budget.per_family:
            if family not in families:
                raise ConfigError(
                    f"budget cap for facility family {family!r}, which no planned type belongs to",
                    file=file,
                    field="budget.per_family",
                    hint=f"families: {sorted(families)}",
                )

    def _validate_sites(self) -> None:
        file = self.source_path
        candidates = self.region.candidates
        required_cost = 0.0
        for section in ("required", "forbidden"):
            for i, rule in enumerate(getattr(self.sites, section)):
                where = f"sites.{section}[{i}]"
                if rule.site_id not in candidates.index:
                    raise ConfigError(
                        f"site {rule.site_id!r} is not a candidate site",
                        file=file,
                        field=f"{where}.site_id",
                        hint="use a site_id from the candidates layer",
                    )
                if rule.facility_type is None:
                    if section == "required":
                        raise ConfigError(
                            "a required site needs the facility_type to build there",
                            file=file,
                            field=f"{where}.facility_type",
                            hint="add facility_type: <type> to this entry",
                        )
                    continue
                ftype = self.catalogue.require(rule.facility_type, field=f"{where}.facility_type", file=file)
                if section == "required":
                    kind = candidates.at[rule.site_id, "kind"] if "kind" in candidates else None
                    if ftype.sites is not None and kind not in ftype.sites:
                        raise ConfigError(
                            f"site {rule.site_id!r} is a {kind!r} site, where {rule.facility_type!r} may not be built",
                            file=file,
                            field=where,
                            hint=f"{rule.facility_type!r} may be built at {list(ftype.sites)}",
                        )
                    required_cost += ftype.cost
        forbidden = {(r.site_id, r.facility_type) for r in self.sites.forbidden}
        for i, rule in enumerate(self.sites.required):
            if (rule.site_id, rule.facility_type) in forbidden or (rule.site_id, None) in forbidden:
                raise ConfigError(
                    f"site {rule.site_id!r} is both required and forbidden for {rule.facility_type!r}",
                    file=file,
                    field=f"sites.required[{i}]",
                    hint="remove it from sites.required or from sites.forbidden",
                )
        if required_cost > self.budget.total:
            raise ConfigError(
                f"the required sites cost {required_cost:,.0f} yuan, more than the budget of "
                f"{self.budget.total:,.0f} yuan (short by {required_cost - self.budget.total:,.0f})",
                file=file,
                field="budget.total",
                hint="raise the budget or require fewer sites",
            )

    def summary(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "objective": self.objective.kind,
            "budget_total": self.budget.total,
            "facility_types": list(self.catalogue),
            "standards": len(self.standard_list()),
            "region": self.region.summary(),
        }


def scenario_from_config(config: ScenarioConfig, region: Region | None = None) -> Scenario:
    """Load the region named by ``config`` (unless given) and assemble the scenario."""

    source = getattr(config, "source_path", None)
    catalogue = build_catalogue(config)
    if region is None:
        r = config.region
        region = load_region(
            r.name,
            admin_units=r.admin_units.model_dump(),
            demand=r.demand.model_dump(),
            facilities=r.facilities.model_dump() if r.facilities else None,
            candidates=r.candidates.model_dump() if r.candidates else None,
            projected_crs=r.projected_crs,
        )
    # Existing facilities of catalogue types outside this scenario's ``types`` do
    # not count here; of types the catalogue lacks, only those the scenario
    # ignores (ignore_facility_types), else Scenario.validate refuses them.
    return Scenario(
        name=config.name,
        title=config.title,
        title_zh=config.title_zh,
        description=config.description,
        region=region,
        catalogue=catalogue,
        budget=config.budget,
        standards=config.standards,
        objective=config.objective,
        sites=config.sites,
        solver=config.solver,
        outputs=config.outputs,
        limits=config.limits,
        impedance=config.impedance,
        config=config,
        source_path=source,
        ignore_facility_types=tuple(config.ignore_facility_types),
        competitors=read_competitors(**config.region.competitors.model_dump()) if config.region.competitors else None,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and assemble the scenario in ``path`` (YAML or TOML)."""
    return scenario_from_config(load_config(path))


def default_unit_levels(scenario: Scenario) -> list[str]:
    """The finest admin levels that have polygons — "counties" in Zhejiang.

    These are the units equity compares unless the scenario names others;
    where some counties have township polygons, ``[township, county]``
    (see :func:`optimizer.region.finest_levels`).
    """
    return finest_levels(scenario.region.admin_units)
