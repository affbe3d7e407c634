"""Results: the PlanResult a solve returns and the result folder it writes."""

from .plan import PlanResult, site_unit_names, unit_group_columns
from .write import (
    check_output_dir,
    default_output_dir,
    input_files,
    package_versions,
    sha256_file,
    write_result,
)

__all__ = [
    "PlanResult",
    "check_output_dir",
    "default_output_dir",
    "input_files",
    "package_versions",
    "sha256_file",
    "site_unit_names",
    "unit_group_columns",
    "write_result",
]
