"""What a build adds to its version for people and for the next build: the profile
(leadgen.builder.drift), the drift against the previous published version, the data facts of the
report, and the rendered report.html (leadgen.builder.report_html). All of it goes into the Bundle,
so it is checksummed and verified with the version before LATEST moves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadgen.builder import drift
from leadgen.builder.head_fit import HeadData
from leadgen.builder.holdout import HoldoutResult
from leadgen.builder.reader import CrmTable
from leadgen.config import BuildConfig, GradeBands
from leadgen.errors import ArtifactError
from leadgen.model.bundle import Files
from leadgen.model.head import Head, percentile_of
from leadgen.stores.artifacts import latest_version, read_version_file
from leadgen.stores.blob import Store

Grades = tuple[np.ndarray, str]  # (customer ids, one grade letter each)


@dataclass
class Profiled:
    profile: dict[str, Any]
    drift: dict[str, Any]


def customer_grades(
    data: HeadData | None, head: Head, table: CrmTable, bands: GradeBands
) -> Grades | None:
    """Each of the head's customers' grade from its out-of-fold p, ranked like a lead's; None
    without a head (the grade-change share is then not measured)."""
    if data is None or data.oof_p is None or not head.enabled:
        return None
    pct = percentile_of(head.calibration, data.oof_p)
    return table.ids[data.rows], "".join(bands.grade(float(p)) for p in pct)


def previous_profile(
    store: Store, say: Callable[[str], None]
) -> tuple[str | None, dict[str, Any] | None]:
    """LATEST's version and its profile (None when it has none or it cannot be read: drift then
    reports a first version rather than failing the build)."""
    previous = latest_version(store)
    if previous is None:
        return None, None
    try:
        raw = read_version_file(store, previous, Files.PROFILE)
        return previous, json.loads(raw) if raw is not None else None
    except (ArtifactError, OSError, ValueError) as exc:
        say(f"warning: cannot read the profile of {previous}: {exc}; drift not measured")
        return previous, None


def profile_and_drift(
    store: Store,
    table: CrmTable,
    cfg: BuildConfig,
    holdout: HoldoutResult,
    grades: Grades | None,
    say: Callable[[str], None],
) -> Profiled:
    previous, before = previous_profile(store, say)
    scores = holdout.headline_scores
    profile = drift.profile(table, cfg.columns, holdout.headline, scores, grades)
    found = drift.compare(before, previous, table, profile, scores)
    say("drift: " + json.dumps(summary(found)))
    return Profiled(profile, found)


def summary(found: dict[str, Any]) -> dict[str, Any]:
    """The drift figures an operator (and CloudWatch) reads first."""
    if found.get("first_version"):
        return {"first_version": True, "reason": found.get("reason")}
    return {
        "previous_version": found["previous_version"],
        "max_psi": found["max_psi"],
        "max_psi_column": found["max_psi_column"],
        "label_rate_change": found["label_rate"]["change"],
        "score_psi": found["score"].get("psi"),
        "score_shift": found["score"].get("shift"),
        "grade_changed_share": found["grade_change"]["changed_share"],
    }


def data_facts(table: CrmTable, cfg: BuildConfig, profile: dict[str, Any]) -> dict[str, Any]:
    """report["data"]: every column used, its role, its type in the export, its missing share."""
    roles = {
        **{c: "text" for c in cfg.columns.text_cols},
        **{c: "category" for c in cfg.columns.cat_cols},
        **{c: "number" for c in cfg.columns.num_cols},
    }
    return {
        "columns": [
            {
                "column": c,
                "role": role,
                "type": table.types.get(c, "unknown"),
                "missing_share": profile["columns"][c]["missing_share"],
            }
            for c, role in roles.items()
        ]
    }
