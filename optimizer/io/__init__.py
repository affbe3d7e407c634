"""Reading and writing files: layer formats, column mapping, validation, the hierarchy link, atomic writes."""

from .atomic import atomic_output_dir
from .columns import ID_COLUMNS, LAYERS, OUTSIDE_TOLERANCE_KM
from .grid import grid_demand
from .layers import (
    load_region_layers,
    read_admin_units,
    read_candidates,
    read_demand,
    read_facilities,
    region_layers_from_geodataframes,
)

__all__ = [
    "ID_COLUMNS",
    "LAYERS",
    "OUTSIDE_TOLERANCE_KM",
    "atomic_output_dir",
    "grid_demand",
    "load_region_layers",
    "read_admin_units",
    "read_candidates",
    "read_demand",
    "read_facilities",
    "region_layers_from_geodataframes",
]
