"""The report's table of training ranges: what serving clips each numeric input to.

Self-contained (its own escaping and markup) so the page's layout can change around it; the
ranges are the version's ranges.json (leadgen.model.ranges), as build_report.json's "ranges".
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any


def ranges_section(ranges: Mapping[str, Any] | None) -> str:
    """An h3 and a table: per numeric column its low and high end; empty without numeric
    columns. A lead's value outside is scored as the nearest end and flagged in `warnings`."""
    columns = (ranges or {}).get("columns", {})
    if not columns:
        return ""
    rows = "".join(
        f"<tr><td>{escape(str(col))}</td><td>{_number(r['low'])}</td>"
        f"<td>{_number(r['high'])}</td></tr>"
        for col, r in columns.items()
    )
    method = escape(str((ranges or {}).get("method", "")))
    return (
        "<h3>Training ranges</h3><p class=\"note\">A lead's numeric value outside its column's "
        "range is scored as the nearest end and flagged in the answer's <code>warnings</code> "
        f"(range: {method}).</p>"
        '<table id="training-ranges"><tr><th>column</th><th>low</th><th>high</th></tr>'
        f"{rows}</table>"
    )


def _number(value: Any) -> str:
    return escape(f"{float(value):,.6g}")
