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

from leadgen.builder.fitting import Space
from leadgen.builder.reader import CrmTable
from leadgen.builder.serving_path import PublishedIndices
from leadgen.model.head import Head
from leadgen.model.knn import neighbour_features, search_neighbours

UNIT = "mean |contribution| to the log-odds of p_high_value (the units of a lead's drivers)"


def column_importance(
    space: Space,
    table: CrmTable,
    indices: PublishedIndices,
    head: Head,
    k: int,
    rows: np.ndarray,
    text_rows: np.ndarray,
) -> dict[str, Any]:
    """report["importance"]: each driver's mean |contribution| over the holdout `rows`, largest
    first (empty without a supervised head: there are no drivers then)."""
    if not len(rows) or not head.enabled:
        return {}
    ids, labels = table.ids, table.labels
    q = space.vectors[rows]
    high = search_neighbours(indices.high, ids[labels], q, k, exclude_ids=ids[rows])
    everyone = search_neighbours(indices.all, ids, q, k, exclude_ids=ids[rows])
    nb = neighbour_features(high, everyone, labels if head.uses_neighbours else None)
    out = head.score(table.subset(rows).columns, len(rows), text_rows, nb)
    if out is None:
        return {}
    mean = np.abs(out.contributions).mean(axis=0)
    order = np.argsort(-mean, kind="stable")
    return {
        "unit": UNIT,
        "customers": len(rows),
        # A group that never contributes (text without text columns) is no lead's driver either.
        "mean_abs_contribution": {
            out.groups[i]: round(float(mean[i]), 4) for i in order if mean[i] > 0
        },
    }
