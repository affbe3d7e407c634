"""Scenario and catalogue files: the schema and the reader (YAML/TOML, line numbers, alias checks)."""

from .reader import config_line, load_catalogue_config, load_config, read_config_file
from .schema import (
    BudgetConfig,
    CatalogueConfig,
    EquityConfig,
    FacilityTypeConfig,
    FacilityTypeOverride,
    LayerSpec,
    LimitsConfig,
    ObjectiveConfig,
    OutputConfig,
    RegionConfig,
    ScenarioConfig,
    ServiceConfig,
    ServiceStandard,
    SiteRule,
    SitesConfig,
    SolverConfig,
    StandardLevel,
    StandardsConfig,
    UnitCap,
)

__all__ = [
    "BudgetConfig", "CatalogueConfig", "EquityConfig", "FacilityTypeConfig", "FacilityTypeOverride", "LayerSpec",
    "LimitsConfig", "ObjectiveConfig", "OutputConfig", "RegionConfig", "ScenarioConfig", "ServiceConfig",
    "ServiceStandard", "SiteRule", "SitesConfig", "SolverConfig", "StandardLevel", "StandardsConfig", "UnitCap",
    "config_line", "load_catalogue_config", "load_config", "read_config_file",
]
