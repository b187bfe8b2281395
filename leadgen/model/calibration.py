"""Turning raw scores into percentiles against customers, and probabilities.

The percentile of a lead's score is its rank among leave-one-out scores of customers computed at
build time (sorted, stored as a plain array), so grades mean the same thing across versions.
"""

from __future__ import annotations

import numpy as np


def percentile_of(calibration: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share (0-100) of customer scores at or below each value; 50 with no calibration."""
    if len(calibration) == 0:
        return np.full(len(values), 50.0)
    return 100.0 * np.searchsorted(calibration, values, side="right") / len(calibration)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))
