"""Drift between two published versions, from a small per-version profile.

Every build writes profile.json into its version (leadgen.model.bundle.Files.PROFILE, so it is
checksummed like the rest): per column its missing share and the shares of its values in a few
bins, the label rate, the headline score's bins on the holdout, and each customer's grade. The
next build reads only that file of the previous version, never its data, and compares:

- PSI (population stability index) per column: sum over bins of (cur - prev) * ln(cur / prev),
  over the PREVIOUS version's bins: for a number column its deciles (inner edges of the previous
  values' 10%..90% quantiles, deduplicated), for a category column its PROFILE_CATEGORIES most
  common values plus one "other" bin, and in both a "missing" bin (a column going empty is drift).
  A share of 0 is floored at PSI_EPSILON so an empty bin costs a bounded amount instead of
  infinity. Usual reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 a population change.
  Text columns have only the missing bin and its share.
- the change of missing share per column, of the label (high-value) rate, the headline score's
  PSI over the previous holdout's score deciles and its mean shift, and the share of customers
  (present in both versions with a grade) whose grade changed.

Customer ids in the profile are 64-bit blake2b keys of the ids (`id_keys`), sorted; no email,
name or text value is stored (category values are: the column's vocabulary, already in
high_vocab.json).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from leadgen.builder.reader import CrmTable
from leadgen.config import ColumnSpec
from leadgen.names import Metric

PROFILE_FORMAT = 1
PROFILE_CATEGORIES = 20
PSI_EPSILON = 1e-4
DECILES = np.linspace(0.1, 0.9, 9)
MISSING = "__missing__"
OTHER = "__other__"


def _shares(counts: np.ndarray) -> list[float]:
    total = float(counts.sum())
    return [round(float(c) / total, 6) if total else 0.0 for c in counts]


def number_bins(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Counts per bin: (-inf, e1], (e1, e2], ..., (ek, inf), then the missing values."""
    v = np.asarray(values, dtype=np.float64)
    present = v[np.isfinite(v)]
    which = np.searchsorted(np.asarray(edges, dtype=np.float64), present, side="left")
    counts = np.bincount(which, minlength=len(edges) + 1).astype(np.float64)
    return np.append(counts, float(len(v) - len(present)))


def category_bins(values: Sequence[Any], categories: Sequence[str]) -> np.ndarray:
    """Counts per listed category, then every other value, then the missing values."""
    counts = Counter(None if v is None else str(v).strip() for v in values)
    listed = [counts.get(c, 0) for c in categories]
    missing = counts.get(None, 0)
    other = sum(counts.values()) - sum(listed) - missing
    return np.array([*listed, other, missing], dtype=np.float64)


def psi(previous: Sequence[float], current: Sequence[float]) -> float:
    """Population stability index of two share vectors over the same bins (see the module)."""
    p = np.maximum(np.asarray(previous, dtype=np.float64), PSI_EPSILON)
    c = np.maximum(np.asarray(current, dtype=np.float64), PSI_EPSILON)
    return float(np.sum((c - p) * np.log(c / p)))


def _missing_share(values: Any) -> float:
    if isinstance(values, np.ndarray):
        return float(np.mean(~np.isfinite(values))) if len(values) else 0.0
    return float(np.mean([v is None or not str(v).strip() for v in values])) if values else 0.0


def column_profile(kind: str, values: Any) -> dict[str, Any]:
    """One column's profile: its bins (edges or categories), their shares, its missing share."""
    out: dict[str, Any] = {"kind": kind, "missing_share": round(_missing_share(values), 6)}
    if kind == "num":
        v = np.asarray(values, dtype=np.float64)
        present = v[np.isfinite(v)]
        edges = np.unique(np.quantile(present, DECILES)).tolist() if len(present) else []
        out["edges"] = [float(e) for e in edges]
        out["shares"] = _shares(number_bins(v, edges))
    elif kind == "cat":
        counts = Counter(str(v).strip() for v in values if v is not None)
        out["categories"] = [c for c, _ in counts.most_common(PROFILE_CATEGORIES)]
        out["shares"] = _shares(category_bins(values, out["categories"]))
    return out


def score_profile(scores: np.ndarray) -> dict[str, Any]:
    """The headline score on the holdout: decile edges, shares over them, mean."""
    prof = column_profile("num", np.asarray(scores, dtype=np.float64))
    return {
        "edges": prof["edges"],
        "shares": prof["shares"],
        "mean": round(float(np.mean(scores)), 6),
    }


def id_keys(ids: np.ndarray) -> np.ndarray:
    """A customer id (an int or the export's own string id) as a 64-bit key: blake2b of its
    text, the same in every version; the profile stores these, never the ids."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(), "big")
            for i in ids
        ],
        dtype=np.uint64,
    )


def profile(
    table: CrmTable,
    spec: ColumnSpec,
    headline: str,
    holdout_scores: np.ndarray,
    grades: tuple[np.ndarray, str] | None,
) -> dict[str, Any]:
    """This version's profile (profile.json). `grades`: (customer ids, one grade letter each)."""
    kinds = {
        **{c: "text" for c in spec.text_cols},
        **{c: "cat" for c in spec.cat_cols},
        **{c: "num" for c in spec.num_cols},
    }
    out: dict[str, Any] = {
        "format": PROFILE_FORMAT,
        "customers": len(table),
        "label_rate": round(float(np.mean(table.labels)), 6) if len(table) else 0.0,
        "columns": {c: column_profile(k, table.columns[c]) for c, k in kinds.items()},
        "score": {"name": headline, **score_profile(holdout_scores)},
    }
    if grades is not None:
        ids, letters = grades
        keys = id_keys(ids)
        order = np.argsort(keys, kind="stable")
        out["grades"] = {
            "ids": [int(k) for k in keys[order]],
            "grades": "".join(letters[i] for i in order),
        }
    return out


def _column_drift(name: str, prev: dict[str, Any], values: Any) -> dict[str, Any] | None:
    kind = prev.get("kind")
    if kind == "num":
        cur = _shares(number_bins(np.asarray(values, dtype=np.float64), prev["edges"]))
    elif kind == "cat":
        cur = _shares(category_bins(values, prev["categories"]))
    elif kind == "text":
        cur = None
    else:
        return None
    missing = _missing_share(values)
    return {
        "column": name,
        "kind": kind,
        "psi": round(psi(prev["shares"], cur), 4) if cur is not None else None,
        "missing_previous": prev["missing_share"],
        "missing_current": round(missing, 6),
        "missing_change": round(missing - float(prev["missing_share"]), 6),
    }


def _grade_change(prev: dict[str, Any] | None, cur: dict[str, Any] | None) -> dict[str, Any]:
    """Share of the customers graded in both versions whose grade differs."""
    if not prev or not cur:
        return {"customers_compared": 0, "changed_share": None}
    p_ids, c_ids = np.asarray(prev["ids"], dtype=np.uint64), np.asarray(cur["ids"], dtype=np.uint64)
    common, pi, ci = np.intersect1d(p_ids, c_ids, assume_unique=True, return_indices=True)
    if not len(common):
        return {"customers_compared": 0, "changed_share": None}
    p_g = np.frombuffer(prev["grades"].encode(), dtype=np.uint8)[pi]
    c_g = np.frombuffer(cur["grades"].encode(), dtype=np.uint8)[ci]
    return {
        "customers_compared": len(common),
        "changed_share": round(float(np.mean(p_g != c_g)), 6),
    }


def _score_drift(prev: dict[str, Any], scores: np.ndarray, headline: str) -> dict[str, Any]:
    if prev.get("name") != headline:
        return {"psi": None, "shift": None, "note": f"headline was {prev.get('name')}"}
    cur = _shares(number_bins(scores, prev["edges"]))
    mean = float(np.mean(scores))
    return {
        "psi": round(psi(prev["shares"], cur), 4),
        "mean_previous": prev["mean"],
        "mean_current": round(mean, 6),
        "shift": round(mean - float(prev["mean"]), 6),
    }


def first_version(reason: str, previous_version: str | None = None) -> dict[str, Any]:
    return {
        "first_version": True,
        "reason": reason,
        "previous_version": previous_version,
        "max_psi": None,
    }


def compare(
    previous: dict[str, Any] | None,
    previous_version: str | None,
    table: CrmTable,
    current: dict[str, Any],
    holdout_scores: np.ndarray,
) -> dict[str, Any]:
    """report["drift"]: this build's data against the previous version's profile."""
    if previous_version is None:
        return first_version("no previous version")
    if previous is None or previous.get("format") != PROFILE_FORMAT:
        return first_version("the previous version has no profile", previous_version)
    columns = [
        d
        for name, prof in previous["columns"].items()
        if name in table.columns
        and (d := _column_drift(name, prof, table.columns[name])) is not None
    ]
    scored = [c for c in columns if c["psi"] is not None]
    top = max(scored, key=lambda c: c["psi"], default=None)
    label_prev, label_cur = float(previous["label_rate"]), float(current["label_rate"])
    return {
        "first_version": False,
        "previous_version": previous_version,
        "columns": columns,
        "max_psi": top["psi"] if top else 0.0,
        "max_psi_column": top["column"] if top else None,
        "label_rate": {
            "previous": label_prev,
            "current": label_cur,
            "change": round(label_cur - label_prev, 6),
        },
        "score": _score_drift(previous["score"], holdout_scores, current["score"]["name"]),
        "grade_change": _grade_change(previous.get("grades"), current.get("grades")),
    }


def metric_values(found: dict[str, Any]) -> dict[str, float]:
    """The drift as CloudWatch metric values (leadgen.names.Metric), none for a first version:
    max column PSI, label-rate change (signed, current minus previous), headline-score PSI."""
    if found.get("first_version"):
        return {}
    out = {
        Metric.DRIFT_MAX_PSI: found.get("max_psi"),
        Metric.DRIFT_LABEL_RATE_CHANGE: found.get("label_rate", {}).get("change"),
        Metric.DRIFT_SCORE_SHIFT: found.get("score", {}).get("psi"),
    }
    return {name: float(v) for name, v in out.items() if v is not None}
