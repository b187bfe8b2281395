"""Schemathesis hooks for the OpenAPI fuzzer run by tests/functional/test_fuzz.py.

JSON Schema cannot say that grade bands are ordered (100 >= A >= B >= C >= 0, a band left out
keeping its default): a body can be schema-valid and still rightly refused with 422 (the API
names the rule). A correct client sends them in order, so positive (schema-valid) cases are put
in that order before they are sent; negative cases are sent as generated.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from leadgen.config import GradeBands


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return
    for holder in [case.body, *(case.body.get("leads") or [])]:
        options = holder.get("options") if isinstance(holder, dict) else None
        if isinstance(options, dict) and isinstance(options.get("grade_bands"), dict):
            _order(options["grade_bands"])


def _order(bands: dict[str, Any]) -> None:
    """Sort the given floors, with the defaults standing in for the missing ones, into A >= B >= C
    and write back the given ones (missing ones stay missing)."""
    full = {**GradeBands().to_json(), **{k: v for k, v in bands.items() if v is not None}}
    for grade, value in zip("ABC", sorted(full.values(), reverse=True), strict=True):
        if bands.get(grade) is not None or full[grade] != value:
            bands[grade] = value
