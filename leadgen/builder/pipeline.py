"""`leadgen build`: CRM export in, one verified artifact version out, LATEST moved last.

Steps, each timed for the build report: read -> embed -> holdout quality (kNN, learned kNN, and
the supervised head's candidates, all fitted on the other customers) -> fit the space on
everything -> indices (flat or ANN, recall measured) -> the head on every customer -> leave-one-out
calibration -> identity blocks -> profile and drift against LATEST's profile (leadgen.builder.drift)
-> render report.html -> publish (write, upload, verify, gate, report, LATEST) -> prune.
Any failure before LATEST moves leaves it untouched. Each step is one function over small typed
results; `build` only sequences them.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from leadgen import __version__
from leadgen.builder import report_html
from leadgen.builder.backtest import backtest
from leadgen.builder.challenger import Challenge, challenge, keep_refused_report
from leadgen.builder.fitting import Features, Space, fit_space, sample_rows
from leadgen.builder.head_fit import final_head, refit_rows
from leadgen.builder.holdout import HoldoutResult, complete_holdout, evaluate_holdout
from leadgen.builder.importance import column_importance
from leadgen.builder.leaks import LeakCheck, ceiling, check_columns, refuse
from leadgen.builder.outcomes import CustomerIndex, Outcomes, lead_outcomes
from leadgen.builder.progress import Note, prefixed, silent, to_stderr
from leadgen.builder.publish import Published, prune, publish
from leadgen.builder.reader import CrmTable, read_export
from leadgen.builder.serving_path import serving_path_quality
from leadgen.builder.summary import CANDIDATES, served_line, summary
from leadgen.builder.timer import StepHook, Timer
from leadgen.builder.unconfigured_leaks import check_unconfigured
from leadgen.builder.version_profile import Grades, customer_grades, data_facts, profile_and_drift
from leadgen.config import BuildConfig
from leadgen.duplicates.customer_entries import (
    CustomerBlocks,
    customer_blocks,
    export_duplicates,
)
from leadgen.duplicates.normalise import Entry, customer_hash_pairs, key_fingerprint
from leadgen.errors import ConfigError, InputError, LeadgenError, QualityGateError
from leadgen.model.bundle import Bundle, Files, HighAttributes, Manifest
from leadgen.model.embedders import Embedder, make_embedder
from leadgen.model.features import embed_text
from leadgen.model.head import Head
from leadgen.model.index_backends import backend
from leadgen.model.knn import KnnScores, search_neighbours
from leadgen.model.ranges import TrainingRanges
from leadgen.model.vector_index import IndexInfo, IndexSpec, VectorIndex, choose_kind
from leadgen.stores.artifacts import new_version_name
from leadgen.stores.blob import Store, open_store
from leadgen.stores.score_log import read_log
from leadgen.stores.writable import check_build_outputs

log = logging.getLogger(__name__)
MIN_ROWS = 50
MIN_POSITIVES = 10


@dataclass
class BuildResult:
    version: str
    report: dict[str, Any]
    customer_pairs: list[tuple[str, str]]  # (email hash, id) of the export's people
    customer_blocks: CustomerBlocks = field(default_factory=CustomerBlocks)  # fuzzy entries


@dataclass
class Fitted:
    """The final space over every customer."""

    space: Space


@dataclass
class Indices:
    all: VectorIndex
    high: VectorIndex
    info: dict[str, IndexInfo]


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
    check_build_outputs(cfg.artifacts_uri)  # not found out at upload, after the whole build
    store = store or open_store(cfg.artifacts_uri)
    note = to_stderr(progress)
    with timer.step("read"):  # and the leak checks: nothing is embedded for a refused column
        table = read_table(cfg, say)
        leaks = check_leaks(table, cfg, say, note)
    with timer.step("embedder"):
        emb = embedder or make_embedder(cfg.embedder)
    with timer.step("embed"):
        text = embed_text(table.columns, cfg.columns, len(table), emb, cfg.text_mode, progress)
    feats = Features(text=text, table=table)
    with timer.step("holdout_quality"):
        holdout = evaluate_holdout(feats, cfg, say, prefixed(note, "holdout"))
    with timer.step("fit"):
        fitted = fit_final(feats, cfg, holdout)
    # Past the fit only the head's rows of text are used (kept in holdout.head_rows): the (n, d)
    # text matrix is dropped before the index step, the build's memory peak.
    cal_rows = sample_rows(len(table), cfg.calibration_max, cfg.seed + 3)
    text_held = text[holdout.test_rows]
    del feats, text
    with timer.step("index"):
        indices = build_indices(fitted.space.vectors, table.labels, cfg, say, emb.dim, note)
    with timer.step("head"):
        head, grades, oof = fit_final_head(
            fitted, indices, holdout, table, text_held, cfg, say, note
        )
    say(CANDIDATES + ": " + json.dumps(holdout.to_json()["scores"]))
    ceiling(leaks, holdout.headline_figures.auc, holdout.labels, cfg.allow_high_auc)
    with timer.step("calibrate"):
        calibration = calibrate(fitted, table, indices, cfg, cal_rows)
    with timer.step("serving_quality"):
        served, importance = served_holdout(
            fitted, table, indices, head, cfg.k, holdout, text_held, note
        )
    say(served_line(served))
    with timer.step("identity"):
        blocks = customer_blocks(table, cfg.email_hash_key, prefixed(note, "identity"))
        note(f"identity: the export's own duplicates among {blocks.report['entries']:,} people")
        identity_report = {**blocks.report, "export_duplicates": export_duplicates(table, blocks)}
    with timer.step("outcomes"):
        outcomes = read_outcomes(cfg, table, blocks, started, say)
    with timer.step("drift"):
        profiled = profile_and_drift(store, table, cfg, holdout, grades, say)
    manifest = _manifest(new_version_name(), started, cfg, emb, indices, holdout, table, served)
    ranges = TrainingRanges.of(table.columns, cfg.columns.num_cols)
    body = {
        **_report(manifest, cfg, started, profiled.drift["previous_version"]),
        "ranges": ranges.to_json(),
        "data": data_facts(table, cfg, profiled.profile),
        "drift": profiled.drift,
        "identity": identity_report,
        "leaks": leaks.to_json(),
        "importance": importance,
    }
    body["summary"] = summary(body, cfg, table.names)
    bundle = _bundle(manifest, fitted, table, indices, calibration, head)
    bundle.profile, bundle.ranges = profiled.profile, ranges
    with timer.step("challenger"):
        gate = challenge(store, bundle, emb, outcomes, (table, oof), cfg.max_realized_auc_drop, say)
    body.update(outcome_report(outcomes, gate))
    with timer.step("render"):
        bundle.report_html = report_html.render(body, holdout.labels, holdout.scores)
    refuse_if_worse(gate, store, bundle, body)
    del fitted
    published, report = publish_with_report(store, bundle, cfg, holdout, timer, body)
    prune(store, cfg.keep_versions, published.version, say)
    return BuildResult(published.version, report, _customer_pairs(table, cfg), blocks)


def served_holdout(
    fitted: Fitted,
    table: CrmTable,
    indices: Indices,
    head: Head,
    k: int,
    holdout: HoldoutResult,
    text_held: np.ndarray,
    note: Note = silent,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The holdout scored as serving scores a lead: its AUC through the published indices, and
    each column's mean |contribution| (the report's column importance)."""
    rows = holdout.test_rows
    note(f"serving quality: {len(rows):,} held-out customers, published indices and exact search")
    args = (fitted.space, table, indices, head, k, rows, text_held)
    figures, out = serving_path_quality(*args)
    return figures, column_importance(out)


def _customer_pairs(table: CrmTable, cfg: BuildConfig) -> list[tuple[str, str]]:
    """(email hash, id) of every row with an email, for the duplicate store's sync."""
    if not table.emails:
        return []
    customers = table.customer.tolist() if table.customer is not None else None
    return customer_hash_pairs(table.emails, table.ids.tolist(), cfg.email_hash_key, customers)


def publish_with_report(
    store: Store,
    bundle: Bundle,
    cfg: BuildConfig,
    holdout: HoldoutResult,
    timer: Timer,
    body: dict[str, Any],
) -> tuple[Published, dict[str, Any]]:
    """Publish the bundle; build_report.json is `body` completed once the version is known to be
    good (step times, LATEST's previous version, what serving it needs), written before LATEST."""
    reports: list[dict[str, Any]] = []

    def render(published: Published) -> bytes:
        reports.append(
            {
                **body,
                "finished_at": datetime.now(UTC).isoformat(),
                "steps_seconds": timer.steps,
                "previous_version": published.previous,
                "serving_requirements": published.requirements.to_json(),
            }
        )
        return json.dumps(reports[-1], indent=2).encode()

    published = publish(
        store,
        bundle,
        cfg,
        holdout.headline_figures,
        holdout.headline_scores,
        timer,
        render,
        body.get("drift"),
    )
    return published, reports[-1]


def _distinct_entries(blocks: CustomerBlocks) -> Iterator[Entry]:
    """Each customer's identity entry once (a customer sits in several blocks), read only if
    a logged lead needs the fuzzy look-up."""
    seen: set[str] = set()
    for block in blocks.blocks.values():
        for entry in block:
            if entry.ref not in seen:
                seen.add(entry.ref)
                yield entry


def read_outcomes(
    cfg: BuildConfig,
    table: CrmTable,
    blocks: CustomerBlocks,
    as_of: datetime,
    say: Callable[[str], None],
) -> Outcomes | None:
    """The logged leads' outcomes in this export (leadgen.builder.outcomes); None without a
    score log. A log that cannot be read is reported, never a failed build."""
    if cfg.score_log is None:
        return None
    out = Outcomes(as_of, cfg.maturity_days)
    try:
        read = read_log(cfg.score_log)
    except Exception as exc:
        say(f"warning: score log {cfg.score_log} not read: {type(exc).__name__}: {exc}")
        out.log = {"location": cfg.score_log, "error": f"{type(exc).__name__}: {exc}"}
        return out
    customers = CustomerIndex(table, _distinct_entries(blocks), cfg.email_hash_key)
    out = lead_outcomes(read.records, table, customers, as_of, cfg.maturity_days)
    out.log = {"location": cfg.score_log, **read.counts()}
    say("outcomes of logged leads: " + json.dumps(out.counts))
    return out


def outcome_report(outcomes: Outcomes | None, gate: Challenge) -> dict[str, Any]:
    """build_report.json's `outcomes` (counts and backtest) and `challenger` sections."""
    if outcomes is None:
        section: dict[str, Any] = {"status": "no score log configured (LEADGEN_SCORE_LOG)"}
    else:
        section = {**outcomes.to_json(), "backtest": backtest(outcomes)}
    return {"outcomes": section, "challenger": gate.to_json()}


def refuse_if_worse(gate: Challenge, store: Store, bundle: Bundle, body: dict[str, Any]) -> None:
    """A candidate the challenger gate refused is not published: its report is kept under
    refused/ for the team, and the build stops here (exit 3, LATEST untouched)."""
    if not gate.refused:
        return
    report = json.dumps({**body, "published": False}, indent=2).encode()
    where = keep_refused_report(store, bundle.manifest.version, report, bundle.report_html or b"")
    raise QualityGateError(f"{gate.reason} (LATEST unchanged; report: {where})")


def read_table(cfg: BuildConfig, say: Callable[[str], None]) -> CrmTable:
    """The export's current customers, refused when too small or one-sided to learn from."""
    table = read_export(cfg, cfg.columns)
    n, n_pos = len(table), int(table.labels.sum())
    say(
        f"read {table.rows_read} rows ({table.source}): {n} current customers, {n_pos} "
        f"high-value; dropped {table.dropped}"
    )
    for convention in table.conventions:
        say(f"read {convention}")
    for warning in table.warnings:
        say(f"warning: {warning}")
    if table.unmapped_identity:
        flags = " ".join(
            f"--{f.replace('_', '-')}-col {shlex.quote(c)}"
            for f, c in table.unmapped_identity.items()
        )
        say(
            "warning: the duplicate check reads no column for "
            f"{', '.join(table.unmapped_identity)}; the export seems to have them: {flags}"
        )
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


def check_leaks(
    table: CrmTable, cfg: BuildConfig, say: Callable[[str], None], note: Note = silent
) -> LeakCheck:
    """Refuse a column that looks like the outcome unless allowed by name; warn about those
    allowed (leadgen.builder.leaks)."""
    note(f"leak checks: {len(cfg.columns.all_cols)} configured columns, then the others")
    stray = [c for c in cfg.allow_columns if c not in cfg.columns.all_cols]
    if stray:
        raise ConfigError(f"--allow-column {stray[0]!r} is not one of the configured columns")
    leaks = check_columns(table.columns, cfg.columns, table.labels, cfg.seed)
    refuse(leaks, cfg.allow_columns)
    for leak in leaks.allowed:
        say(f"warning: {leak.describe()}; built on it as --allow-column says")
    leaks.unconfigured = check_unconfigured(cfg, table.names, say)
    for leak in leaks.unconfigured.flagged:
        say(f"not a feature: {leak.describe()}")
    return leaks


def fit_final(feats: Features, cfg: BuildConfig, holdout: HoldoutResult) -> Fitted:
    """The space over every customer, with the holdout's column weights."""
    every = np.arange(len(feats.table))
    return Fitted(fit_space(feats, every, cfg, holdout.weights))


def fit_final_head(
    fitted: Fitted,
    indices: Indices,
    holdout: HoldoutResult,
    table: CrmTable,
    text_held: np.ndarray,
    cfg: BuildConfig,
    say: Callable[[str], None],
    note: Note,
) -> tuple[Head, Grades | None, np.ndarray | None]:
    """The holdout's head part when it waited for the published indices, then the published
    head, with the holdout's choice and out-of-fold values (leadgen.builder.head_fit.refit_rows),
    each of its customers' grade (for the drift's grade-change share) and its out-of-fold p per
    row of the table (NaN for rows it was not fitted on; None without a head: the challenger
    gate scores converted leads by it); the holdout's rows are released once fitted."""
    if holdout.pending:
        engine = backend()  # the published indices' answers, decoded for 100,000s of queries
        pair = (engine.for_batches(indices.all), engine.for_batches(indices.high))
        holdout_note = prefixed(note, "holdout")
        complete_holdout(
            holdout, pair, fitted.space.vectors, table, text_held, cfg, say, holdout_note
        )
        del pair
    data = None
    if holdout.choice and holdout.out_of_fold and holdout.head_rows:
        held = table.subset(holdout.test_rows)
        data = refit_rows(holdout.head_rows, held, text_held, holdout.out_of_fold)
    holdout.head_rows = None
    head = final_head(data, holdout.choice, holdout.reason, cfg, prefixed(note, "head"))
    oof = None
    if data is not None and data.oof_p is not None and head.enabled:
        oof = np.full(len(table), np.nan)
        oof[data.rows] = data.oof_p
    return head, customer_grades(data, head, table, cfg.grade_bands), oof


def build_indices(
    vectors: np.ndarray,
    labels: np.ndarray,
    cfg: BuildConfig,
    say: Callable[[str], None],
    text_dims: int | None = None,
    note: Note = silent,
) -> Indices:
    """`all` over every customer and `high` over the high-value ones; exact or ANN by size,
    compact or not by `cfg.index_compression` (the vectors' first `text_dims` are the text)."""
    engine = backend()

    def spec(n: int, name: str) -> IndexSpec:
        return IndexSpec(
            kind=choose_kind(n, cfg.index_type, cfg.ann_threshold),
            k=cfg.k,
            seed=cfg.seed,
            recall_target=cfg.ann_recall,
            text_dims=text_dims,
            compression=cfg.index_compression,
            note=prefixed(note, f"index {name}"),
        )

    index_all, info_all = engine.build(vectors, spec(len(vectors), "all"))
    index_high, info_high = engine.build(
        np.ascontiguousarray(vectors[labels]), spec(int(labels.sum()), "high")
    )
    for name, info in (("all", info_all), ("high", info_high)):
        say(
            f"index {name}: {info.kind} ({info.params.get('storage', 'float32')}, "
            f"text dims {info.params.get('text_dims', text_dims)}) recall@{cfg.k}="
            f"{info.recall_at_k}"
        )
    return Indices(index_all, index_high, {"all": info_all, "high": info_high})


def calibrate(
    fitted: Fitted, table: CrmTable, indices: Indices, cfg: BuildConfig, rows: np.ndarray
) -> np.ndarray:
    """Leave-one-out contrasts of a sample of customers, sorted: what a lead's contrast
    percentile is taken against (the head's own percentiles come from its out-of-fold p)."""
    vec, ids, labels = fitted.space.vectors, table.ids, table.labels
    q = vec[rows]
    high = search_neighbours(indices.high, ids[labels], q, cfg.k, exclude_ids=ids[rows])
    everyone = search_neighbours(indices.all, ids, q, cfg.k, exclude_ids=ids[rows])
    calibration = np.sort(KnnScores.of(high, everyone).contrast)
    if np.isnan(calibration).any():
        raise LeadgenError("calibration produced NaN scores; not publishing")
    return calibration


def _manifest(
    version: str,
    started: datetime,
    cfg: BuildConfig,
    emb: Embedder,
    indices: Indices,
    holdout: HoldoutResult,
    table: CrmTable,
    served: dict[str, Any],
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
        quality={**holdout.to_json(), "serving_path": served},
        rows={
            "read": table.rows_read,
            "current_customers": len(table),
            "high_value": int(table.labels.sum()),
            "dropped": table.dropped,
            **({"non_numeric": table.non_numeric} if table.non_numeric else {}),
            **({"warnings": table.warnings} if table.warnings else {}),
        },
        hash_key_fingerprint=key_fingerprint(cfg.email_hash_key),
        key_columns={"id": cfg.keys.id, "email": table.email_col, **table.identity_cols},
        formats=table.formats,
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
    manifest: Manifest, cfg: BuildConfig, started: datetime, previous: str | None
) -> dict[str, Any]:
    """build_report.json: what was read, built and measured (the step times and the previous
    version as LATEST named it when publishing are added by `build`'s render)."""
    return {
        "version": manifest.version,
        "created_at": started.isoformat(),
        "leadgen_version": __version__,
        "input": cfg.input_path,
        "rows": manifest.rows,
        "embedder": manifest.embedder,
        "indices": manifest.indices,
        "quality": manifest.quality,
        "gate": {"min_auc": cfg.min_auc, "min_lift@10%": cfg.min_lift, "max_psi": cfg.max_psi},
        "published": True,
        "previous_version": previous,
        "report_html": Files.REPORT_HTML,
    }
