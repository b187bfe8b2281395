"""The challenger gate: before LATEST moves, the candidate must not rank the matured logged leads
worse than the version serving them.

Both versions score the same matured leads (leadgen.builder.outcomes) from their logged inputs,
through the one implementation of scoring (leadgen.model.scoring): the candidate as the build
just made it, the serving version (LATEST's) loaded from the store like serving loads it, every
checksum verified. They are compared on the same outcomes: realised AUC and lift@20% of the
headline at finding the leads that became high-value, and the calibration error of p_high_value
on the leads that became customers. With at least MIN_LEADS matured leads of which MIN_POSITIVES
became high-value, a candidate whose AUC is below the serving version's by more than
`max_realized_auc_drop`, clearly (a paired bootstrap's 95% interval of the difference is wholly
below zero), is refused (QualityGateError: exit 3, LATEST untouched); with fewer the comparison
is reported, not enforced.

The candidate was built from the export that holds these outcomes, so a lead that converted is
one of its customers, which its head was fitted on: scoring it from its logged inputs would let
the candidate recognise its own training row. Such a lead is scored by the candidate as its
holdout is, out of fold: the p the head's cross-fitting gave that row (a model that never saw it,
with its own row left out of the neighbour features), and its own row left out of the
neighbours of the kNN scores; a lead that did not convert (no row) from its logged inputs
(docs/outcomes.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.builder.backtest import MIN_LEADS, MIN_POSITIVES, enough
from leadgen.builder.outcomes import Outcome, Outcomes, lead_key
from leadgen.builder.quality import calibration_error, lift_at, roc_auc
from leadgen.builder.reader import CrmTable
from leadgen.builder.staging import staging_dir
from leadgen.config import ColumnSpec
from leadgen.errors import ArtifactError
from leadgen.model.bundle import Bundle
from leadgen.model.embedders import Embedder, check_identity
from leadgen.model.scoring import (
    exact_search,
    feature_columns,
    neighbour_labels,
    score_columns,
)
from leadgen.model.text_cache import CachedEmbedder
from leadgen.stores.artifacts import FetchedVersion, open_version, read_pointer
from leadgen.stores.blob import Store, open_store

# The most recent matured leads compared, at most: bounds the gate's time and memory.
MAX_LEADS = 20_000
BATCH = 2_000
BOOTSTRAP_ROUNDS = 500


@dataclass
class Challenge:
    """The gate's decision: "refused", "accepted", "not_enforced" (too few matured leads) or
    "skipped" (nothing to compare: no log, no matured lead, no serving version, ...)."""

    status: str
    reason: str
    serving_version: str | None = None
    leads: int = 0
    positives: int = 0
    candidate: dict[str, Any] = field(default_factory=dict)
    serving: dict[str, Any] = field(default_factory=dict)
    max_drop: float = 0.0
    difference_ci95: tuple[float | None, float | None] = (None, None)

    @property
    def refused(self) -> bool:
        return self.status == "refused"

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "min_leads": MIN_LEADS,
            "min_positives": MIN_POSITIVES,
        }


def matured_leads(outcomes: Outcomes) -> list[Outcome]:
    """Each matured lead once (its first scoring), the most recent MAX_LEADS."""
    first: dict[tuple[str, str], Outcome] = {}
    for o in sorted(outcomes.matured, key=lambda o: o.record.scored_at):
        first.setdefault(lead_key(o.record), o)
    return list(first.values())[-MAX_LEADS:]


def challenge(
    store: Store,
    candidate: Bundle,
    embedder: Embedder,
    outcomes: Outcomes | None,
    export: tuple[CrmTable, np.ndarray | None],
    max_drop: float,
    say: Callable[[str], None] = print,
) -> Challenge:
    """Compare the candidate with LATEST's version on the matured logged leads. `export`: the
    table the candidate was built from and its head's out-of-fold p per row (None: no head)."""
    table, oof = export
    leads = matured_leads(outcomes) if outcomes is not None else []
    if not leads:
        return Challenge("skipped", "no matured logged leads to compare on", max_drop=max_drop)
    try:
        pointer = read_pointer(store)
    except ArtifactError:
        return Challenge("skipped", "no serving version (first build)", max_drop=max_drop)
    engine = CachedEmbedder(embedder, 50_000)  # the two versions embed the same texts once
    with staging_dir(say) as scratch:
        try:
            serving = open_version(store, pointer, scratch, _load)
            check_identity(serving.manifest.embedder, embedder.identity)
        except ArtifactError as exc:
            why = f"serving version {pointer.version} not comparable: {exc}"
            return Challenge("skipped", why, pointer.version, max_drop=max_drop)
        theirs = _headlines(serving, engine, leads, None)
    ours = _out_of_fold(_headlines(candidate, engine, leads, _own_rows(leads, table)), leads, oof)
    return decide(leads, ours, theirs, pointer.version, max_drop)


def _out_of_fold(
    scored: tuple[np.ndarray, np.ndarray | None], leads: Sequence[Outcome], oof: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The candidate's p of a lead that is one of its customers: its out-of-fold p."""
    headline, p = scored
    if oof is None or p is None:
        return scored
    headline, p = headline.copy(), p.copy()
    for i, o in enumerate(leads):
        if o.row is not None and not np.isnan(oof[o.row]):
            headline[i] = p[i] = oof[o.row]
    return headline, p


def _load(fetched: FetchedVersion) -> Bundle:
    return Bundle.load(fetched.directory, fetched.manifest)


def _own_rows(leads: Sequence[Outcome], table: CrmTable) -> np.ndarray:
    """Per lead, the id of the customer it became (None: none), to leave out of the
    candidate's neighbours."""
    ids = table.ids
    return np.array([ids[o.row] if o.row is not None else None for o in leads], dtype=object)


def _headlines(
    bundle: Bundle, embedder: Embedder, leads: Sequence[Outcome], exclude: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(headline, p_high_value or None) of every lead, scored in batches."""
    labels = neighbour_labels(bundle)
    heads, ps = [], []
    for start in range(0, len(leads), BATCH):
        part = leads[start : start + BATCH]
        columns = logged_columns([o.record.features for o in part], bundle.manifest.columns)
        skip = exclude[start : start + BATCH] if exclude is not None else None
        got = score_columns(
            bundle, embedder, columns, len(part), labels, exact_search(bundle, skip)
        )
        heads.append(np.asarray(got.headline, dtype=np.float64))
        if got.p_high_value is not None:
            ps.append(np.asarray(got.p_high_value, dtype=np.float64))
    p = np.concatenate(ps) if len(ps) == len(heads) else None
    return np.concatenate(heads), p


def logged_columns(features: Sequence[Mapping[str, Any]], spec: ColumnSpec) -> dict[str, list[Any]]:
    """Logged feature values as a version's columns: a number where it wants a number (text
    that is not one is missing), text where it wants text, missing where the log has none."""
    columns = feature_columns(features, spec)
    for c in spec.num_cols:
        columns[c] = [_as_number(v) for v in columns[c]]
    for c in (*spec.text_cols, *spec.cat_cols):
        columns[c] = [None if v is None else str(v) for v in columns[c]]
    return columns


def _as_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def figures(
    high_value: np.ndarray, converted: np.ndarray, scored: tuple[np.ndarray, np.ndarray | None]
) -> dict[str, Any]:
    headline, p = scored
    out: dict[str, Any] = {
        "auc": _r(roc_auc(high_value, headline)),
        "lift@20%": _r(lift_at(high_value, headline, 0.20)),
        "calibration_error": None,
    }
    if p is not None and converted.any():
        out["calibration_error"] = _r(calibration_error(high_value[converted], p[converted]))
    return out


def auc_difference(
    high: np.ndarray, ours: np.ndarray, theirs: np.ndarray, rounds: int = BOOTSTRAP_ROUNDS
) -> tuple[float | None, float | None]:
    """The 95% interval of (our AUC - their AUC) over the same leads resampled together (a
    paired bootstrap, fixed seed: a build's decision is reproducible)."""
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(rounds):
        idx = rng.integers(0, len(high), len(high))
        d = roc_auc(high[idx], ours[idx]) - roc_auc(high[idx], theirs[idx])
        if not math.isnan(d):
            diffs.append(d)
    if not diffs:
        return None, None
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return _r(float(lo)), _r(float(hi))


def decide(
    leads: Sequence[Outcome],
    ours: tuple[np.ndarray, np.ndarray | None],
    theirs: tuple[np.ndarray, np.ndarray | None],
    serving_version: str,
    max_drop: float,
) -> Challenge:
    """Refused: enough leads, a realised AUC more than `max_drop` below the serving version's,
    and a paired 95% interval of the difference wholly below zero (a drop the leads' noise
    could make is not a reason to keep a version out)."""
    high = np.array([o.high_value for o in leads], dtype=bool)
    converted = np.array([o.row is not None for o in leads], dtype=bool)
    mine, current = figures(high, converted, ours), figures(high, converted, theirs)
    out = Challenge("accepted", "", serving_version, len(leads), int(high.sum()))
    out.candidate, out.serving, out.max_drop = mine, current, max_drop
    a, b = mine["auc"], current["auc"]
    if a is None or b is None:
        out.status, out.reason = "not_enforced", "no realised AUC (one outcome only)"
        return out
    lo, hi = out.difference_ci95 = auc_difference(high, ours[0], theirs[0])
    line = (
        f"realised AUC {a:.3f} vs {b:.3f} for the serving version {serving_version} on "
        f"{out.leads} matured leads ({out.positives} became high-value; difference 95% "
        f"interval {lo} to {hi})"
    )
    if not enough(out.leads, out.positives):
        out.status = "not_enforced"
        out.reason = f"{line}: fewer than {MIN_LEADS} leads / {MIN_POSITIVES} high-value, reported"
    elif a < b - max_drop and hi is not None and hi < 0:
        out.status = "refused"
        out.reason = f"challenger gate: {line}, a drop beyond {max_drop}; not publishing"
    elif a < b - max_drop:
        out.reason = f"{line}: a drop beyond {max_drop} but within the leads' noise"
    else:
        out.reason = f"{line}: within {max_drop}"
    return out


def _r(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 4)


REFUSED = "refused"
KEEP_REFUSED = 5


def keep_refused_report(store: Store, version: str, report: bytes, html: bytes) -> str:
    """The refused candidate's build_report.json and report.html under refused/VERSION/ (not a
    version name: pruning and serving never see it), for the team to read why; the last
    KEEP_REFUSED are kept. Returns where the page is."""
    store.write_bytes(f"{REFUSED}/{version}/build_report.json", report)
    store.write_bytes(f"{REFUSED}/{version}/report.html", html)
    kept = open_store(f"{store.uri}/{REFUSED}")
    for old in kept.list_dirs()[:-KEEP_REFUSED]:
        kept.delete_prefix(old)
    return f"{store.uri}/{REFUSED}/{version}/report.html"
