"""The head's own features of a customer or a lead: what a supervised model can use.

The kNN space encodes categoricals as frequencies (which loses which category a value is) and
projects everything with PCA; a supervised head needs the columns themselves:
  - numerics: log1p for heavy right tails (the rule the kNN space uses), a missing indicator for
    every column that had missing values at build time, median imputation, standardisation;
  - categoricals: one-hot over the levels seen at least max(10, 0.2% of rows) times (the 50
    most frequent at most), the rest in one `__other__` column; missing is its own level;
  - a column with more frequent levels than the one-hot keeps also gets a target encoding
    (smoothed log-odds of the label per level; the build cross-fits it for the training rows);
  - text: the raw embedding (scaled so a dimension weighs like a standardised column) for the
    linear model, its top SVD components for the trees (trees on 384 raw dimensions are slow and
    no better).
Every feature remembers the configured column it came from (`groups`), so contributions add up
per CRM column. Fitted at build time, stored as JSON, applied with numpy at serving.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.model.features import heavy_tailed

OTHER = "__other__"
MISSING = "__missing__"
TEXT_GROUP = "text"
MIN_LEVEL_COUNT = 10
MIN_LEVEL_SHARE = 0.002
MAX_LEVELS = 50
MATRIX_BLOCK_ROWS = 4096  # rows of text turned into features at a time (float64 temporaries)

Columns = Mapping[str, Sequence[Any] | np.ndarray]


def cat_key(value: Any) -> str:
    """The level of a categorical value (None, NaN and blank are the `__missing__` level)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    text = str(value).strip()
    return text or MISSING


def as_float(values: Sequence[Any] | np.ndarray | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@dataclass
class TargetEncoding:
    """Smoothed high-value rate per level, as log-odds; unseen levels get the prior."""

    column: str
    rates: dict[str, float]
    prior: float

    def apply(self, values: Sequence[Any] | None, n: int) -> np.ndarray:
        vals = values if values is not None else [None] * n
        p = np.array([self.rates.get(cat_key(v), self.prior) for v in vals], dtype=np.float64)
        return np.log(p / (1.0 - p))


@dataclass
class HeadEncoder:
    """Numerics, their missing indicators, one-hot categoricals, target encodings: in that order."""

    num_cols: list[str]
    cat_cols: list[str]
    log_cols: list[str] = field(default_factory=list)
    missing_cols: list[str] = field(default_factory=list)
    median: dict[str, float] = field(default_factory=dict)
    levels: dict[str, list[str]] = field(default_factory=dict)
    target: list[TargetEncoding] = field(default_factory=list)
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std: np.ndarray = field(default_factory=lambda: np.ones(0))

    @property
    def groups(self) -> list[str]:
        """The configured column of every output feature."""
        return [
            *self.num_cols,
            *self.missing_cols,
            *(c for c in self.cat_cols for _ in self.levels[c]),
            *(t.column for t in self.target),
        ]

    def fit(self, columns: Columns, n: int) -> dict[str, int]:
        """Fit on customers; returns the number of frequent levels per categorical column (the
        caller adds target encodings where it exceeds MAX_LEVELS)."""
        frequent = self._fit_levels(columns, n)
        self.log_cols, self.missing_cols, self.median = [], [], {}
        for c in self.num_cols:
            x = as_float(columns.get(c), n)
            if heavy_tailed(x):
                self.log_cols.append(c)
                x = np.log1p(np.clip(x, 0.0, None))
            if np.isnan(x).any():
                self.missing_cols.append(c)
            finite = x[np.isfinite(x)]
            self.median[c] = float(np.median(finite)) if len(finite) else 0.0
        raw = self._raw(columns, n)
        n_scaled = len(self.num_cols)
        self.mean = np.zeros(raw.shape[1])
        self.std = np.ones(raw.shape[1])
        # only the numerics are standardised: indicators and one-hot columns stay 0/1
        self.mean[:n_scaled] = raw[:, :n_scaled].mean(axis=0) if n else 0.0
        sd = raw[:, :n_scaled].std(axis=0) if n else np.ones(n_scaled)
        self.std[:n_scaled] = np.where(sd > 1e-12, sd, 1.0)
        return frequent

    def _fit_levels(self, columns: Columns, n: int) -> dict[str, int]:
        min_count = max(MIN_LEVEL_COUNT, math.ceil(MIN_LEVEL_SHARE * n))
        frequent: dict[str, int] = {}
        for c in self.cat_cols:
            vals = columns.get(c)
            counts = Counter(cat_key(v) for v in (vals if vals is not None else [None] * n))
            frequent[c] = sum(1 for m in counts.values() if m >= min_count)
            kept = [k for k, m in counts.most_common(MAX_LEVELS) if m >= min_count]
            rest = n - sum(counts[k] for k in kept)
            self.levels[c] = kept + ([OTHER] if rest > 0 else [])
        return frequent

    def transform(self, columns: Columns, n: int, target: np.ndarray | None = None) -> np.ndarray:
        """(n, len(groups)) float64, the target encodings last: from the fitted maps, or
        `target` (the build's cross-fitted values of its training rows)."""
        out = (self._raw(columns, n) - self.mean) / self.std
        if not self.target:
            return out
        if target is None:
            target = np.column_stack([t.apply(columns.get(t.column), n) for t in self.target])  # type: ignore[arg-type]
        return np.hstack([out, target])

    def _raw(self, columns: Columns, n: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        logged = set(self.log_cols)
        nums = {}
        for c in self.num_cols:
            x = as_float(columns.get(c), n)
            nums[c] = x
            if c in logged:
                x = np.log1p(np.clip(x, 0.0, None))
            parts.append(np.where(np.isfinite(x), x, self.median[c])[:, None])
        for c in self.missing_cols:
            parts.append((~np.isfinite(nums[c])).astype(np.float64)[:, None])
        for c in self.cat_cols:
            parts.append(self._one_hot(columns.get(c), n, self.levels[c]))
        return np.hstack(parts) if parts else np.zeros((n, 0))

    @staticmethod
    def _one_hot(
        values: Sequence[Any] | np.ndarray | None, n: int, levels: list[str]
    ) -> np.ndarray:
        pos = {k: i for i, k in enumerate(levels)}
        other = pos.get(OTHER, -1)
        vals = values if values is not None else [None] * n
        idx = np.array([pos.get(cat_key(v), other) for v in vals], dtype=np.int64)
        block = np.zeros((n, len(levels)))
        ok = idx >= 0
        block[np.flatnonzero(ok), idx[ok]] = 1.0
        return block

    def to_json(self) -> dict[str, Any]:
        return {
            "num_cols": self.num_cols,
            "cat_cols": self.cat_cols,
            "log_cols": self.log_cols,
            "missing_cols": self.missing_cols,
            "median": self.median,
            "levels": self.levels,
            "target": [
                {"column": t.column, "rates": t.rates, "prior": t.prior} for t in self.target
            ],
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HeadEncoder:
        return cls(
            num_cols=list(data["num_cols"]),
            cat_cols=list(data["cat_cols"]),
            log_cols=list(data["log_cols"]),
            missing_cols=list(data["missing_cols"]),
            median={str(k): float(v) for k, v in data["median"].items()},
            levels={str(k): list(v) for k, v in data["levels"].items()},
            target=[
                TargetEncoding(str(t["column"]), dict(t["rates"]), float(t["prior"]))
                for t in data["target"]
            ],
            mean=np.asarray(data["mean"], dtype=np.float64),
            std=np.asarray(data["std"], dtype=np.float64),
        )


@dataclass
class HeadFeatures:
    """The linear model's and the trees' design matrices of customers or leads."""

    encoder: HeadEncoder
    text_dims: int = 0  # 0: no text columns configured
    text_scale: float = 1.0
    svd_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    svd: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (text_dims, k)

    def matrices(
        self,
        columns: Columns,
        n: int,
        text: np.ndarray,
        target: np.ndarray | None = None,
        linear_dtype: type[np.floating[Any]] = np.float64,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(linear model's matrix in `linear_dtype`, trees' float32 matrix): the trees get
        exactly what they were trained on, so split tests agree bit for bit. One encoding for
        both. The build asks float32 for the linear one: the text block is computed in float64
        a block of rows at a time and written into the result, so a build's many rows never
        hold the float64 copies of the text at once (the head's step is the build's memory
        peak: bench/BUILD_SPEED.md)."""
        own = self.encoder.transform(columns, n, target)
        if not self.text_dims:
            return own.astype(linear_dtype, copy=False), own.astype(np.float32)
        k, svd_k = own.shape[1], self.svd.shape[1] if self.svd.size else 0
        linear = np.empty((n, k + text.shape[1]), dtype=linear_dtype)
        trees = np.empty((n, k + svd_k), dtype=np.float32)
        linear[:, :k], trees[:, :k] = own, own
        for start in range(0, n, MATRIX_BLOCK_ROWS):
            rows = slice(start, min(n, start + MATRIX_BLOCK_ROWS))
            t = text[rows].astype(np.float64)
            linear[rows, k:] = t * self.text_scale
            if svd_k:
                trees[rows, k:] = (t - self.svd_mean) @ self.svd
        return linear, trees

    def linear_groups(self) -> list[str]:
        return [*self.encoder.groups, *([TEXT_GROUP] * (self.text_dims if self.text_dims else 0))]

    def tree_groups(self) -> list[str]:
        k = self.svd.shape[1] if self.text_dims and self.svd.size else 0
        return [*self.encoder.groups, *([TEXT_GROUP] * k)]

    def to_json(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.to_json(),
            "text_dims": self.text_dims,
            "text_scale": self.text_scale,
            "svd_mean": self.svd_mean.tolist(),
            "svd": self.svd.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HeadFeatures:
        dims = int(data["text_dims"])
        return cls(
            encoder=HeadEncoder.from_json(data["encoder"]),
            text_dims=dims,
            text_scale=float(data["text_scale"]),
            svd_mean=np.asarray(data["svd_mean"], dtype=np.float64),
            svd=np.asarray(data["svd"], dtype=np.float64).reshape(dims, -1)
            if dims
            else np.zeros((0, 0)),
        )
