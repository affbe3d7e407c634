"""The facility-type catalogue: what each type costs, serves and must reach.

A catalogue is a YAML/TOML file (``configs/catalogue.yaml`` for Zhejiang) with
one entry per facility type; a scenario may override any field of any entry.
:class:`FacilityType` is the resolved, immutable form used by the model.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config.reader import config_line, load_catalogue_config
from .config.schema import (
    CatalogueConfig,
    FacilityTypeConfig,
    ScenarioConfig,
    ServiceStandard,
)
from .errors import ConfigError

__all__ = ["FacilityType", "Catalogue", "build_catalogue", "closest_type", "check_facility_types", "check_site_kinds"]


@dataclass(frozen=True)
class FacilityType:
    """One kind of facility, resolved for a scenario.

    Attributes
    ----------
    type_id
        Identifier used in data files (``facility_type`` column) and configs.
    family
        ``culture``, ``health``, ``education``, ``elder_care``, …
    cost
        Construction cost of one new facility (yuan).
    capacity
        People one facility can serve; ``None`` = unlimited.
    serves
        Population group served (``all``, ``school_age``, ``elderly``, …).
    urban, rural
        Service standards for urban and rural demand points.
    sites
        Candidate-site kinds where it may be built (``None`` = any).
    """

    type_id: str
    family: str
    name_zh: str
    name_en: str
    cost: float
    capacity: float | None
    serves: str
    urban: ServiceStandard
    rural: ServiceStandard
    sites: tuple[str, ...] | None
    assumed: bool
    notes: str

    @property
    def label(self) -> str:
        """``name_en (name_zh)`` or the id, for tables and maps."""
        if self.name_en and self.name_zh:
            return f"{self.name_en} ({self.name_zh})"
        return self.name_en or self.name_zh or self.type_id

    def radius_m(self, urban: np.ndarray | bool) -> np.ndarray | float:
        """Straight-line service radius (metres) for urban/rural demand."""
        r_urban, r_rural = self.urban.radius_m(), self.rural.radius_m()
        if isinstance(urban, (bool, np.bool_)):
            return r_urban if urban else r_rural
        return np.where(np.asarray(urban, dtype=bool), r_urban, r_rural)

    def describe_standard(self) -> str:
        u, r = self.urban.describe(), self.rural.describe()
        return u if u == r else f"urban {u}; rural {r}"

    @classmethod
    def from_config(cls, type_id: str, cfg: FacilityTypeConfig) -> FacilityType:
        return cls(
            type_id=type_id,
            family=cfg.family,
            name_zh=cfg.name_zh,
            name_en=cfg.name_en,
            cost=float(cfg.cost),
            capacity=None if cfg.capacity is None else float(cfg.capacity),
            serves=cfg.serves,
            urban=cfg.service.urban,
            rural=cfg.service.rural,
            sites=None if cfg.sites is None else tuple(cfg.sites),
            assumed=cfg.assumed,
            notes=cfg.notes,
        )


class Catalogue(dict):
    """Mapping ``type_id -> FacilityType`` in catalogue order."""

    base: CatalogueConfig | None = None  # the catalogue file's settings, when built from a scenario
    # Every type of the catalogue and the scenario's new types, before ``types:`` picks the planned ones;
    # None: the planned types are all there are (a catalogue built in code).
    known: dict[str, FacilityType] | None = None

    def known_types(self) -> list[str]:
        """Type ids a data file may use: the whole catalogue, not only the planned ``types``."""
        return list(self.known) if self.known is not None else list(self)

    def all_types(self) -> dict[str, FacilityType]:
        """Every type of the catalogue (planned or not), by id."""
        return dict(self.known) if self.known is not None else dict(self)

    def families(self) -> list[str]:
        return list(dict.fromkeys(t.family for t in self.values()))

    def of_family(self, family: str) -> list[FacilityType]:
        return [t for t in self.values() if t.family == family]

    def require(self, type_id: str, *, field: str, file: Path | None = None, row: int | None = None) -> FacilityType:
        """The type ``type_id``, or a ConfigError naming ``field`` with a suggestion."""
        if type_id in self:
            return self[type_id]
        close = closest_type(type_id, list(self))
        hint = f"did you mean {close!r}?" if close else "known types: " + ", ".join(self)
        raise ConfigError(
            f"facility type {type_id!r} is not in the catalogue", file=file, row=row, field=field, hint=hint
        )


def build_catalogue(config: ScenarioConfig) -> Catalogue:
    """Resolve the scenario's catalogue: base file or inline, then overrides, then ``types``."""
    source: Path | None = getattr(config, "source_path", None)
    if isinstance(config.catalogue, CatalogueConfig):
        base = config.catalogue
    else:
        base = load_catalogue_config(config.catalogue)
    merged: dict[str, FacilityTypeConfig] = dict(base.facility_types)
    for type_id, override in config.facility_types.items():
        changes = override.model_dump(exclude_unset=True)
        if type_id in merged:
            data = merged[type_id].model_dump()
            data.update(changes)
        else:
            data = changes
        try:
            merged[type_id] = FacilityTypeConfig.model_validate(data)
        except Exception as exc:  # pydantic ValidationError: a new type must be complete
            missing = [e["loc"][0] for e in getattr(exc, "errors", lambda: [])() if e["type"] == "missing"]
            detail = f"missing {', '.join(map(str, missing))}" if missing else str(exc).splitlines()[0]
            raise ConfigError(
                f"facility type {type_id!r} is not in the catalogue and its definition is incomplete: {detail}",
                file=source,
                row=config_line(config, "facility_types", type_id),
                field=f"facility_types.{type_id}",
                hint="add the missing fields, or fix the type name",
            ) from None
    catalogue = Catalogue((k, FacilityType.from_config(k, v)) for k, v in merged.items())
    catalogue.base = base  # where each entry came from, for error locations (Scenario.validate)
    catalogue.known = dict(catalogue)
    if config.types is not None:
        for i, type_id in enumerate(config.types):
            catalogue.require(type_id, field=f"types[{i}]", file=source, row=config_line(config, "types", i))
        known = dict(catalogue)
        catalogue = Catalogue((k, catalogue[k]) for k in config.types)
        catalogue.base = base
        catalogue.known = known
    for i, type_id in enumerate(config.ignore_facility_types):
        if type_id in merged:
            raise ConfigError(
                f"facility type {type_id!r} is in the catalogue, so its existing facilities cannot be ignored",
                file=source,
                row=config_line(config, "ignore_facility_types", i),
                field=f"ignore_facility_types[{i}]",
                hint="remove it from ignore_facility_types; to leave the type out of the plan, "
                "list the planned types under types:",
            )
    return catalogue


def closest_type(type_id: str, known: Sequence[str]) -> str | None:
    """The known type that looks most like ``type_id`` (``'Library'`` -> ``'library'``), if one is close."""
    lowered = {k.lower(): k for k in reversed(list(known))}
    close = difflib.get_close_matches(str(type_id).strip().lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def check_facility_types(
    catalogue: Catalogue,
    facilities: pd.DataFrame,
    *,
    file: Path | None = None,
    ignored: Sequence[str] = (),
) -> None:
    """Refuse existing facilities whose type the catalogue lacks, unless the scenario ignores that type.

    Without this an existing ``Library`` (capital L) would silently count for
    nothing and the plan would build a new ``library`` beside it.

    Parameters
    ----------
    catalogue
        The scenario's catalogue (all its types count, planned or not).
    facilities
        The existing-facilities layer (``facility_type`` column, in file order).
    file
        The file the layer was read from; rows are then 1-based data rows,
        otherwise the facility's ID.
    ignored
        Types to leave out on purpose (``ignore_facility_types``).

    Raises
    ------
    ConfigError
        Naming the file, the first row with an unknown type, the value and the closest known type.
    """
    if len(facilities) == 0 or "facility_type" not in facilities:
        return
    known = catalogue.known_types()
    allowed = set(known) | set(ignored)
    types = facilities["facility_type"].astype(str).to_numpy()
    bad = np.flatnonzero(~np.isin(types, list(allowed)))
    if not len(bad):
        return
    first = int(bad[0])
    value = str(types[first])
    count = int((types == value).sum())
    close = closest_type(value, known)
    others = len(set(types[bad].tolist())) - 1
    more = f" ({others} other unknown type{'s' if others > 1 else ''} too)" if others else ""
    raise ConfigError(
        f"facility type {value!r} is not in the catalogue, so {count} existing "
        f"facilit{'y' if count == 1 else 'ies'} of this type would count for nothing{more}",
        file=file,
        row=first + 1 if file is not None else str(facilities.index[first]),
        field="facility_type",
        hint=(f"did you mean {close!r}? " if close else f"known types: {', '.join(known)}. ")
        + "Correct the value in the file, or list the type under ignore_facility_types in the scenario to leave "
        "these facilities out",
    )


def check_site_kinds(catalogue: Catalogue, candidates: pd.DataFrame, *, file: Path | None = None) -> None:
    """Refuse candidate sites of a kind that no facility type of the catalogue may be built at.

    When every type names its site kinds (``sites:``), a site of another kind
    (``Seat`` for ``seat``, a kind no entry lists) could never be used: it
    would silently drop out of every plan.

    Parameters
    ----------
    catalogue
        The scenario's catalogue (all its types, planned or not, count).
    candidates
        The candidate-sites layer (``kind`` column, in file order).
    file
        The file the layer was read from (rows are then 1-based data rows,
        otherwise the site's ID).

    Raises
    ------
    ConfigError
        Naming the file, the first such row, the kind and the closest kind a type lists.
    """
    types = catalogue.all_types()
    if len(candidates) == 0 or "kind" not in candidates or any(t.sites is None for t in types.values()):
        return
    usable = list(dict.fromkeys(k for t in types.values() for k in (t.sites or ())))
    kinds = candidates["kind"].astype(str).to_numpy()
    bad = np.flatnonzero(~np.isin(kinds, usable))
    if not len(bad):
        return
    first = int(bad[0])
    value = str(kinds[first])
    count = int((kinds == value).sum())
    close = closest_type(value, usable)
    raise ConfigError(
        f"candidate site kind {value!r} is in no facility type's sites list, so {count} candidate "
        f"site{'' if count == 1 else 's'} of this kind could host nothing",
        file=file,
        row=first + 1 if file is not None else str(candidates.index[first]),
        field="kind",
        hint=(f"did you mean {close!r}? " if close else f"kinds the catalogue lists: {', '.join(usable)}. ")
        + "Correct the kind in the file, add it to the sites of the types that may be built there, "
        "or remove these sites",
    )
