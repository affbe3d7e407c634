"""Classic location models in spopt's vocabulary (``from_cost_matrix``, ``from_geodataframe``, ``solve``)."""

from .attendance import MaxAttendance, decay_weights
from .backup_coverage import LSCPB
from .base import LocateModel
from .capacitated_coverage import CapacitatedMCLP
from .cflp import CFLP
from .coverage import LSCP, MCLP
from .k_nearest_p_median import KNearestPMedian
from .market_share import MarketShare, TargetMarketShare
from .p_center import PCenter
from .p_dispersion import PDispersion
from .p_median import PMedian

__all__ = [
    "CFLP",
    "LSCP",
    "LSCPB",
    "MCLP",
    "CapacitatedMCLP",
    "KNearestPMedian",
    "LocateModel",
    "MarketShare",
    "MaxAttendance",
    "PCenter",
    "PDispersion",
    "PMedian",
    "TargetMarketShare",
    "decay_weights",
]
