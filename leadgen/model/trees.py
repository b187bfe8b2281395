"""A boosted tree ensemble as plain arrays: its raw score and exact TreeSHAP with numpy only.

Serving must not import LightGBM, and ONNX would give the score but not the drivers. So the build
exports the trees (leadgen.builder.boosting) into per-leaf arrays: every root-to-leaf path reduced
to its distinct features, each with the interval (lo, hi] a row must fall in to follow the path
and the cover ratio r of the path's splits on it. Paths are padded to D slots with null players
(always satisfied, r = 1), which change no Shapley value.

Path-dependent TreeSHAP (what LightGBM's `pred_contrib` computes) is the Shapley value of the
game v(S) = sum over leaves of value * prod_i (b_i if i in S else r_i), where b_i says whether the
row satisfies slot i. A leaf's game depends only on the row's bit pattern over its D slots, so
the build tabulates every leaf's Shapley values for all 2^D patterns (`shapley_tables`, shipped
in the bundle, so loading costs no computation). Per row, scoring is an interval test per
(leaf, slot), one gather and one bincount; the raw score is base_value + the sum of the values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Rows per chunk of the (rows, leaves, slots) arrays: bounds the batch path's memory.
_CHUNK_ELEMENTS = 1_000_000


@dataclass
class TreeEnsemble:
    """`table[l, p, j]`: Shapley value of slot j of leaf l when the row's slot bits are p."""

    n_features: int
    base_value: float  # expected raw score over the training rows (cover-weighted)
    slot_feature: np.ndarray  # (L, D) int32; padding slots point at feature 0
    slot_lo: np.ndarray  # (L, D) float64; padding: -inf
    slot_hi: np.ndarray  # (L, D) float64; padding: +inf
    table: np.ndarray  # (L, 2^D, D) float64

    @property
    def leaves(self) -> int:
        return int(self.slot_feature.shape[0])

    @property
    def depth(self) -> int:
        return int(self.slot_feature.shape[1])

    def shap(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(phi (n, n_features), raw score (n,)) of rows x: exact TreeSHAP values, which add up
        with base_value to the raw score, so the score and its drivers come from one pass."""
        x = np.asarray(x, dtype=np.float64)
        n = len(x)
        phi = np.zeros((n, self.n_features))
        step = max(1, _CHUNK_ELEMENTS // max(1, self.slot_feature.size))
        feats, first_row, rows2d, bit = self._layout
        for start in range(0, n, step):
            xs = x[start : start + step]
            xv = np.take(xs, feats, axis=1)  # (c, L, D)
            inside = (xv > self.slot_lo) & (xv <= self.slot_hi)
            pattern = inside @ bit  # (c, L)
            # One row of the (L * 2^D, D) table per leaf: np.take on a 2-D view reads each
            # leaf's D values contiguously, cheaper than indexing the 3-D table by two arrays.
            values = np.take(rows2d, first_row + pattern, axis=0)  # (c, L, D)
            if len(xs) == 1:  # a request's lead: no per-row offsets to add
                index = feats.ravel()
            else:
                index = (np.arange(len(xs))[:, None, None] * self.n_features + feats[None]).ravel()
            flat = np.bincount(index, weights=values.ravel(), minlength=len(xs) * self.n_features)
            phi[start : start + len(xs)] = flat.reshape(len(xs), self.n_features)
        return phi, self.base_value + phi.sum(axis=1)

    @cached_property
    def _layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(slot features as indices, each leaf's first row in the 2-D table, the 2-D table, the
        slots' bit weights): computed once per loaded version, not per request."""
        feats = self.slot_feature.astype(np.intp)
        first_row = np.arange(self.leaves, dtype=np.intp) * (1 << self.depth)
        bit = 1 << np.arange(self.depth, dtype=np.intp)
        return feats, first_row, self.table.reshape(-1, self.depth), bit

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays the bundle stores (one .npz, no pickles)."""
        return {
            "slot_feature": self.slot_feature,
            "slot_lo": self.slot_lo,
            "slot_hi": self.slot_hi,
            "table": self.table,
            "meta": np.array([self.n_features, self.base_value], dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> TreeEnsemble:
        meta = np.asarray(arrays["meta"], dtype=np.float64)
        return cls(
            n_features=int(meta[0]),
            base_value=float(meta[1]),
            slot_feature=np.asarray(arrays["slot_feature"], dtype=np.int32),
            slot_lo=np.asarray(arrays["slot_lo"], dtype=np.float64),
            slot_hi=np.asarray(arrays["slot_hi"], dtype=np.float64),
            table=np.asarray(arrays["table"], dtype=np.float64),
        )


def shapley_tables(r: np.ndarray, value: np.ndarray) -> np.ndarray:
    """table[l, p, j] for cover ratios r (L, D) and leaf values (L,).

    With a_i(S) = b_i if i in S else r_i and v(S) = value * prod_i a_i(S), the Shapley value of
    slot j is value * (b_j - r_j) * sum_s w(s) c_s, w(s) = s! (D-1-s)! / D!, where c_s are the
    coefficients of prod_{i != j} (r_i + b_i t): computed for all leaves and patterns at once."""
    n_leaves, d = r.shape
    patterns = 1 << d
    bits = ((np.arange(patterns)[:, None] >> np.arange(d)[None, :]) & 1).astype(np.float64)
    w = np.array(
        [math.factorial(s) * math.factorial(d - 1 - s) / math.factorial(d) for s in range(d)]
    )
    table = np.zeros((n_leaves, patterns, d))
    for j in range(d):
        coef = np.zeros((n_leaves, patterns, d))
        coef[:, :, 0] = 1.0
        for i in range(d):
            if i == j:
                continue
            shifted = np.concatenate([np.zeros((n_leaves, patterns, 1)), coef[:, :, :-1]], axis=2)
            coef = coef * r[:, i][:, None, None] + shifted * bits[:, i][None, :, None]
        table[:, :, j] = value[:, None] * (bits[None, :, j] - r[:, j][:, None]) * (coef @ w)
    return table
