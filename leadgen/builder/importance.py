"""Which columns move the scores, on the same scale as the drivers a lead shows.

A lead's drivers (leadgen.serve.explanation) are the published head's contributions to the
logit of p_high_value, one per configured column (and `lookalike`, its neighbours' part):
base + contributions is the logit exactly. The report's column importance is the mean absolute
contribution of each of those columns over the holdout customers, scored the way serving scores
a lead (through the published indices, each customer leaving itself out: as
leadgen.builder.serving_path does), so a column's bar and a lead's driver are the same kind of
number, in log-odds, under the same name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leadgen.model.head import HeadOutput

UNIT = "mean |contribution| to the log-odds of p_high_value (the units of a lead's drivers)"


def column_importance(out: HeadOutput | None) -> dict[str, Any]:
    """report["importance"]: each driver's mean |contribution| over the holdout customers as
    served (`out`, leadgen.builder.serving_path), largest first (empty without a supervised
    head: there are no drivers then)."""
    if out is None or not len(out.p):
        return {}
    mean = np.abs(out.contributions).mean(axis=0)
    order = np.argsort(-mean, kind="stable")
    return {
        "unit": UNIT,
        "customers": len(out.p),
        # A group that never contributes (text without text columns) is no lead's driver either.
        "mean_abs_contribution": {
            out.groups[i]: round(float(mean[i]), 4) for i in order if mean[i] > 0
        },
    }
