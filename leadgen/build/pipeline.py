"""`leadgen build`: CRM export in, one verified artifact version out, LATEST moved last.

Steps, each timed for the build report: read -> embed -> holdout quality (kNN, learned kNN,
blend, logistic and boosting baselines) -> fit on everything -> indices (flat or ANN, recall
measured) -> leave-one-out calibration -> publish (write, upload, verify, gate, LATEST) -> prune.
Any failure before LATEST moves leaves it untouched. Each step is one function over small typed
results; `build` only sequences them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from leadgen import __version__
from leadgen.build.fitting import Features, Space, fit_lr, fit_space, sample_rows
from leadgen.build.holdout import HoldoutResult, evaluate_holdout
from leadgen.build.publish import Published, prune, publish
from leadgen.build.reader import CrmTable, read_crm
from leadgen.build.timer import StepHook, Timer
from leadgen.config import BuildConfig
from leadgen.errors import InputError, LeadgenError
from leadgen.model import index as ix
from leadgen.model.bundle import REPORT, Bundle, HighAttributes, Manifest
from leadgen.model.embedders import Embedder, make_embedder
from leadgen.model.features import embed_text
from leadgen.model.head import Head
from leadgen.model.identity import customer_hash_pairs
from leadgen.model.knn import KnnScores, search_neighbours
from leadgen.stores.artifacts import new_version_name
from leadgen.stores.blob import Store, open_store

log = logging.getLogger(__name__)
MIN_ROWS = 50
MIN_POSITIVES = 10


@dataclass
class BuildResult:
    version: str
    report: dict[str, Any]
    customer_pairs: list[tuple[str, str]]  # (email hash, customer id) for the duplicate store


@dataclass
class Fitted:
    """The final space over every customer, and the supervised head's linear part."""

    space: Space
    coef: np.ndarray
    intercept: float


@dataclass
class Indices:
    all: Any
    high: Any
    info: dict[str, ix.IndexInfo]


def build(
    cfg: BuildConfig,
    embedder: Embedder | None = None,
    *,
    progress: bool = True,
    say: Callable[[str], None] = print,
    on_step: StepHook | None = None,
    store: Store | None = None,
) -> BuildResult:
    """Run the whole build from `cfg.input_path` to `cfg.artifacts_uri` (or `store`). `on_step`
    receives step starts/ends (see Timer) instead of the "[step] ..." text lines."""
    started = datetime.now(UTC)
    timer = Timer(say, on_step)
    store = store or open_store(cfg.artifacts_uri)
    with timer.step("read"):
        table = read_table(cfg, say)
    with timer.step("embedder"):
        emb = embedder or make_embedder(cfg.embedder)
    with timer.step("embed"):
        text = embed_text(table.columns, cfg.columns, len(table), emb, cfg.text_mode, progress)
    feats = Features(text=text, table=table)
    with timer.step("holdout_quality"):
        holdout = evaluate_holdout(feats, cfg, say)
    say("holdout: " + json.dumps(holdout.to_json()["scores"]))
    with timer.step("fit"):
        fitted = fit_final(feats, cfg, holdout.weights)
    # Past the fit only the calibration sample's text rows are used: the (n, d) text matrix is
    # dropped before the index step, the build's memory peak.
    cal_rows = sample_rows(len(table), cfg.calibration_max, cfg.seed + 3)
    text_cal = text[cal_rows]
    del feats, text
    with timer.step("index"):
        indices = build_indices(fitted.space.vectors, table.labels, cfg, say)
    with timer.step("calibrate"):
        calibration, head = calibrate(fitted, table, indices, holdout, cfg, cal_rows, text_cal)
    manifest = _manifest(new_version_name(), started, cfg, emb, indices, holdout, table)
    bundle = _bundle(manifest, fitted, table, indices, calibration, head)
    del fitted
    published = publish(
        store, bundle, cfg, holdout.headline_figures, holdout.headline_scores, timer
    )
    report = _report(manifest, published, cfg, timer, started)
    store.write_bytes(f"{published.version}/{REPORT}", json.dumps(report, indent=2).encode())
    prune(store, cfg.keep_versions, published.version, say)
    pairs = (
        customer_hash_pairs(table.emails, table.ids.tolist(), cfg.email_hash_key)
        if table.emails
        else []
    )
    return BuildResult(version=published.version, report=report, customer_pairs=pairs)


def read_table(cfg: BuildConfig, say: Callable[[str], None]) -> CrmTable:
    """The export's current customers, refused when too small or one-sided to learn from."""
    if not cfg.input_path:
        raise InputError("no input: pass --input PATH (or set LEADGEN_INPUT_PATH)")
    table = read_crm(
        cfg.input_path,
        cfg.columns,
        cfg.high_value,
        cfg.keys,
        fmt=cfg.input_format,
        max_non_numeric=cfg.max_non_numeric,
    )
    n, n_pos = len(table), int(table.labels.sum())
    say(
        f"read {table.rows_read} rows: {n} current customers, {n_pos} high-value; "
        f"dropped {table.dropped}"
    )
    for warning in table.warnings:
        say(f"warning: {warning}")
    if n < MIN_ROWS:
        raise InputError(
            f"{cfg.input_path}: only {n} current customers; at least {MIN_ROWS} needed"
        )
    if n_pos < MIN_POSITIVES or n - n_pos < MIN_POSITIVES:
        raise InputError(
            f"{cfg.input_path}: {n_pos} high-value of {n} customers; need at least "
            f"{MIN_POSITIVES} of each class (check --high-value-col / --high-value-values / "
            "--value-col)"
        )
    return table


def fit_final(feats: Features, cfg: BuildConfig, weights: np.ndarray | None) -> Fitted:
    """The space and the head's linear part, fitted on every customer."""
    space = fit_space(feats, np.arange(len(feats.table)), cfg, weights)
    coef, intercept = fit_lr(feats.text, space.z, feats.table.labels, cfg.seed)
    return Fitted(space, coef, intercept)


def build_indices(
    vectors: np.ndarray, labels: np.ndarray, cfg: BuildConfig, say: Callable[[str], None]
) -> Indices:
    """`all` over every customer and `high` over the high-value ones; exact or ANN by size."""
    n, n_pos = len(vectors), int(labels.sum())
    index_all, info_all = ix.build_index(
        vectors,
        ix.choose_kind(n, cfg.index_type, cfg.ann_threshold),
        cfg.k,
        cfg.seed,
        recall_target=cfg.ann_recall,
    )
    index_high, info_high = ix.build_index(
        np.ascontiguousarray(vectors[labels]),
        ix.choose_kind(n_pos, cfg.index_type, cfg.ann_threshold),
        cfg.k,
        cfg.seed,
        recall_target=cfg.ann_recall,
    )
    say(
        f"index all: {info_all.kind} recall@{cfg.k}={info_all.recall_at_k}; "
        f"high: {info_high.kind} recall@{cfg.k}={info_high.recall_at_k}"
    )
    return Indices(index_all, index_high, {"all": info_all, "high": info_high})


def calibrate(
    fitted: Fitted,
    table: CrmTable,
    indices: Indices,
    holdout: HoldoutResult,
    cfg: BuildConfig,
    rows: np.ndarray,
    text_rows: np.ndarray,
) -> tuple[np.ndarray, Head]:
    """Leave-one-out scores of a sample of customers: the sorted contrasts percentiles are
    taken against, and the head (its probabilities of the same customers, sorted, when the
    headline is p_high_value)."""
    vec, ids, labels = fitted.space.vectors, table.ids, table.labels
    q = vec[rows]
    high = search_neighbours(indices.high, ids[labels], q, cfg.k, exclude_ids=ids[rows])
    everyone = search_neighbours(indices.all, ids, q, cfg.k, exclude_ids=ids[rows])
    loo = KnnScores.of(high, everyone)
    calibration = np.sort(loo.contrast)
    if np.isnan(calibration).any():
        raise LeadgenError("calibration produced NaN scores; not publishing")
    if holdout.headline != "p_high_value":
        return calibration, Head(headline_name="contrast")
    d = text_rows.shape[1]
    head = Head(
        headline_name=holdout.headline,
        coef_text=fitted.coef[:d],
        coef_tab=fitted.coef[d:],
        intercept=fitted.intercept,
        stack=holdout.stack,
    )
    p = head.probability(text_rows, fitted.space.z[rows], loo)
    assert p is not None
    head.calibration = np.sort(p)
    return calibration, head


def _manifest(
    version: str,
    started: datetime,
    cfg: BuildConfig,
    emb: Embedder,
    indices: Indices,
    holdout: HoldoutResult,
    table: CrmTable,
) -> Manifest:
    return Manifest(
        version=version,
        created_at=started.isoformat(),
        columns=cfg.columns,
        high_value_rule=cfg.high_value.to_json(),
        embedder=emb.identity,
        k=cfg.k,
        w_text=cfg.w_text,
        text_mode=cfg.text_mode,
        grade_bands=cfg.grade_bands,
        indices={name: info.to_json() for name, info in indices.info.items()},
        quality=holdout.to_json(),
        rows={
            "read": table.rows_read,
            "current_customers": len(table),
            "high_value": int(table.labels.sum()),
            "dropped": table.dropped,
            **({"non_numeric": table.non_numeric} if table.non_numeric else {}),
            **({"warnings": table.warnings} if table.warnings else {}),
        },
        key_columns={"id": cfg.keys.id, "email": table.email_col},
    )


def _bundle(
    manifest: Manifest,
    fitted: Fitted,
    table: CrmTable,
    indices: Indices,
    calibration: np.ndarray,
    head: Head,
) -> Bundle:
    labels = table.labels
    return Bundle(
        manifest=manifest,
        transform=fitted.space.transform,
        index_all=indices.all,
        index_high=indices.high,
        ids_all=table.ids,
        ids_high=table.ids[labels],
        calibration=calibration,
        head=head,
        high_attrs=HighAttributes.of(
            table.columns, manifest.columns, np.flatnonzero(labels), fitted.space.transform.log_cols
        ),
    )


def _report(
    manifest: Manifest, published: Published, cfg: BuildConfig, timer: Timer, started: datetime
) -> dict[str, Any]:
    """build_report.json: what was read, built and measured, and how long each step took."""
    return {
        "version": manifest.version,
        "created_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "leadgen_version": __version__,
        "input": cfg.input_path,
        "rows": manifest.rows,
        "embedder": manifest.embedder,
        "indices": manifest.indices,
        "quality": manifest.quality,
        "gate": {"min_auc": cfg.min_auc, "min_lift@10%": cfg.min_lift},
        "published": True,
        "previous_version": published.previous,
        "steps_seconds": timer.steps,
    }
