"""Column spec and build settings, from flags or the seed's LEADGEN_* environment variables.

One typed place so the CLI, the build job (env vars set by CDK) and the manifest agree on names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from leadgen.errors import ConfigError

DEFAULT_TEXT_COLS = ("job_title", "bio")
DEFAULT_CAT_COLS = ("industry", "country")
DEFAULT_NUM_COLS = ("company_size", "web_activity_score", "email_engagement_score")
DEFAULT_HIGH_VALUE_COL = "is_high_value"
ID_COL = "customer_id"
EMAIL_COL = "email"
CURRENT_COL = "is_current"
# Weights of the ONNX text model; int8 is the default (leadgen.model.embedders).
PRECISIONS = ("int8", "fp32")


def split_cols(value: str | None) -> tuple[str, ...] | None:
    """Parse 'a,b , c' into ('a','b','c'); None stays None so defaults can apply."""
    if value is None:
        return None
    cols = tuple(c.strip() for c in value.split(",") if c.strip())
    return cols


@dataclass(frozen=True)
class ColumnSpec:
    """Which CRM columns feed the text block and the tabular block."""

    text_cols: tuple[str, ...] = DEFAULT_TEXT_COLS
    cat_cols: tuple[str, ...] = DEFAULT_CAT_COLS
    num_cols: tuple[str, ...] = DEFAULT_NUM_COLS

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for col in (*self.text_cols, *self.cat_cols, *self.num_cols):
            if col in seen:
                raise ConfigError(f"column {col!r} is configured twice (text/cat/num)")
            seen.add(col)
        if not self.text_cols and not self.cat_cols and not self.num_cols:
            raise ConfigError("no feature columns configured (--text-cols/--cat-cols/--num-cols)")

    @property
    def all_cols(self) -> tuple[str, ...]:
        return (*self.text_cols, *self.cat_cols, *self.num_cols)

    def to_json(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnSpec:
        return cls(
            text_cols=tuple(data["text_cols"]),
            cat_cols=tuple(data["cat_cols"]),
            num_cols=tuple(data["num_cols"]),
        )


@dataclass(frozen=True)
class HighValueRule:
    """High-value customers: a boolean column, or the top quantile of a value column."""

    column: str = DEFAULT_HIGH_VALUE_COL
    quantile: float | None = None  # set => `column` is numeric, top (1-quantile) are high

    def __post_init__(self) -> None:
        if self.quantile is not None and not 0.0 < self.quantile < 1.0:
            raise ConfigError(f"value quantile must be in (0, 1), got {self.quantile}")

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "quantile": self.quantile}


@dataclass(frozen=True)
class GradeBands:
    """Percentile floors of grades A/B/C (D below); configurable per build and per request."""

    a: float = 90.0
    b: float = 70.0
    c: float = 40.0

    def __post_init__(self) -> None:
        if not 100.0 >= self.a >= self.b >= self.c >= 0.0:
            raise ConfigError(
                f"grade bands must satisfy 100 >= A >= B >= C >= 0, got A={self.a} B={self.b} "
                f"C={self.c}"
            )

    def grade(self, percentile: float) -> str:
        if percentile >= self.a:
            return "A"
        if percentile >= self.b:
            return "B"
        if percentile >= self.c:
            return "C"
        return "D"

    def to_json(self) -> dict[str, float]:
        return {"A": self.a, "B": self.b, "C": self.c}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GradeBands:
        unknown = set(data) - {"A", "B", "C"}
        if unknown:
            raise ConfigError(f"unknown grade(s) {sorted(unknown)}: bands are A, B, C")
        try:
            vals = {k: float(data[k]) for k in ("A", "B", "C") if k in data}
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"grade bands must be numbers: {exc}") from None
        base = cls()
        return cls(a=vals.get("A", base.a), b=vals.get("B", base.b), c=vals.get("C", base.c))


@dataclass(frozen=True)
class BuildConfig:
    """Everything `leadgen build` needs besides the input and output locations."""

    columns: ColumnSpec = field(default_factory=ColumnSpec)
    high_value: HighValueRule = field(default_factory=HighValueRule)
    embedder: str = "onnx"  # onnx | hashing
    model: str | None = None  # sentence-transformers name or path; None = bundled MiniLM
    text_prefix: str = ""  # e.g. "query: " for E5 models
    k: int = 20
    w_text: float = 0.7
    tab_dims: int = 32
    index_type: str = "auto"  # auto | flat | hnsw | ivf
    ann_threshold: int = 50_000
    ann_recall: float = 0.99  # HNSW efSearch: the smallest meeting this recall@k at build time
    holdout_fraction: float = 0.1
    holdout_max: int = 2_000
    calibration_max: int = 5_000
    min_auc: float = 0.6
    min_lift: float = 1.2
    grade_bands: GradeBands = field(default_factory=GradeBands)
    seed: int = 0
    learn_weights: bool = True
    text_mode: str = "columns"  # columns | joint (see leadgen.model.features.embed_text)

    def __post_init__(self) -> None:
        if self.embedder not in ("onnx", "hashing"):
            raise ConfigError(f"embedder must be 'onnx' or 'hashing', got {self.embedder!r}")
        if self.text_mode not in ("columns", "joint"):
            raise ConfigError(f"text mode must be 'columns' or 'joint', got {self.text_mode!r}")
        if self.index_type not in ("auto", "flat", "hnsw", "ivf"):
            raise ConfigError(f"index type must be auto|flat|hnsw|ivf, got {self.index_type!r}")
        if not 1 <= self.k <= 1000:
            raise ConfigError(f"k must be in [1, 1000], got {self.k}")
        if not 0.5 <= self.ann_recall <= 1.0:
            raise ConfigError(f"ANN recall target must be in [0.5, 1], got {self.ann_recall}")
        if not 0.0 <= self.w_text <= 1.0:
            raise ConfigError(f"w_text must be in [0, 1], got {self.w_text}")
        if not 0.0 < self.holdout_fraction < 0.5:
            raise ConfigError(f"holdout fraction must be in (0, 0.5), got {self.holdout_fraction}")


def env(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A LEADGEN_* variable, treating empty strings as unset (CDK sets empty env values)."""
    value = (environ if environ is not None else os.environ).get(name)
    return value if value not in (None, "") else None


def env_float(name: str, default: float, environ: Mapping[str, str] | None = None) -> float:
    raw = env(name, environ)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def env_int(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    raw = env(name, environ)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
