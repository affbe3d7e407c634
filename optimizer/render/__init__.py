"""Maps and the bilingual report, drawn from a result folder."""

from .report import REPORT_FILE, render, render_outputs, write_report
from .result_files import ResultFiles, read_result

__all__ = ["REPORT_FILE", "ResultFiles", "read_result", "render", "render_outputs", "write_report"]
