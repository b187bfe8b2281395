"""`leadgen build`: CRM export in, one verified artifact version out, LATEST moved last.

Steps (each timed for the build report): read -> embed -> learn feature weights and evaluate on a
stratified holdout (kNN, learned kNN, blend, logistic and boosting baselines) -> fit on everything
-> indices (flat or ANN, recall measured) -> leave-one-out calibration -> write files + manifest ->
upload -> verify checksums -> quality gate -> LATEST. Any failure leaves LATEST untouched.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from leadgen import __version__
from leadgen.build.quality import Figures, figures, gate, stratified_holdout
from leadgen.build.reader import CrmTable, read_crm
from leadgen.config import BuildConfig
from leadgen.errors import InputError, LeadgenError
from leadgen.model import index as ix
from leadgen.model.embedders import Embedder, make_embedder
from leadgen.model.features import TabularTransform, combine, embed_text
from leadgen.model.head import Head
from leadgen.serve.scorer import neighbour_sims, raw_scores
from leadgen.stores.artifacts import (
    LATEST,
    new_version_name,
    prune_versions,
    read_pointer,
    set_latest,
    upload_version,
    verify_remote,
    write_manifest,
)
from leadgen.stores.blob import Store, open_store

log = logging.getLogger("leadgen.build.pipeline")
MIN_ROWS = 50
MIN_POSITIVES = 10
LR_MAX_ROWS = 200_000
GB_TEXT_DIMS = 16


@dataclass
class BuildResult:
    version: str
    published: bool
    report: dict[str, Any]
    customer_pairs: list[tuple[str, str]] = field(default_factory=list)


StepHook = Callable[[str, float | None], None]


class Timer:
    """Times each build step. `on_step(name, None)` at a step's start and `on_step(name, seconds)`
    at its end replace the text lines, so an adapter (the build job) can log them structured."""

    def __init__(self, say: Callable[[str], None], on_step: StepHook | None = None) -> None:
        self.steps: dict[str, float] = {}
        self._say = say
        self._on_step = on_step

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self._announce(name, None)
        t0 = time.perf_counter()
        yield
        self.steps[name] = round(time.perf_counter() - t0, 3)
        self._announce(name, self.steps[name])

    def _announce(self, name: str, seconds: float | None) -> None:
        if self._on_step is not None:
            self._on_step(name, seconds)
        elif seconds is None:
            self._say(f"[{name}] ...")
        else:
            self._say(f"[{name}] done in {seconds:.1f}s")


@dataclass
class Features:
    """Everything derived from the table that the holdout and the final fit share."""

    text: np.ndarray  # (n, d) unit rows
    table: CrmTable


def _text_rows(text: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """text[rows], without the copy when `rows` is every row in order (the final fit: 1.5 GB at
    1M customers)."""
    if len(rows) == len(text) and np.array_equal(rows, np.arange(len(text))):
        return text
    return text[rows]


def _fit_space(
    feats: Features, rows: np.ndarray, cfg: BuildConfig, weights: np.ndarray | None
) -> tuple[TabularTransform, np.ndarray, np.ndarray]:
    """Fit the tabular transform on `rows`; returns (transform, vectors, z) for those rows."""
    sub = feats.table.subset(rows)
    transform = TabularTransform(cfg.columns)
    tab = transform.fit(sub.columns, len(sub), cfg.tab_dims, weights)
    z = transform.standardise(transform.raw_matrix(sub.columns, len(sub)))
    return transform, combine(_text_rows(feats.text, rows), tab, cfg.w_text), z


def _apply_space(
    transform: TabularTransform, feats: Features, rows: np.ndarray, cfg: BuildConfig
) -> tuple[np.ndarray, np.ndarray]:
    sub = feats.table.subset(rows)
    z = transform.standardise(transform.raw_matrix(sub.columns, len(sub)))
    return combine(feats.text[rows], transform.project(z), cfg.w_text), z


def learn_weights(z: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Per-column weights from an L2 logistic model on standardised columns: |coef| scaled to
    RMS 1, so informative columns shape the neighbourhoods and noise columns fade out."""
    from sklearn.linear_model import LogisticRegression

    if z.shape[1] == 0:
        return np.ones(0)
    rows = _sample(len(z), LR_MAX_ROWS, seed)
    model = LogisticRegression(C=0.1, max_iter=300, random_state=seed)
    model.fit(z[rows], y[rows])
    w = np.abs(model.coef_[0])
    rms = math.sqrt(float(np.mean(w**2))) or 1.0
    return np.asarray(w / rms, dtype=np.float64)


def _sample(n: int, max_rows: int, seed: int) -> np.ndarray:
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def _kNN_scores(
    vec_train: np.ndarray, y_train: np.ndarray, ids_train: np.ndarray, vec_test: np.ndarray, k: int
) -> dict[str, np.ndarray]:
    """Scores of held-out rows against exact indices built without them."""
    idx_all, _ = ix.build_index(vec_train, "flat")
    idx_high, _ = ix.build_index(vec_train[y_train], "flat")
    sh, _ = neighbour_sims(idx_high, ids_train[y_train], vec_test, k)
    sa, _ = neighbour_sims(idx_all, ids_train, vec_test, k)
    return raw_scores(sh, sa)


def _fit_lr(text: np.ndarray, z: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """Logistic regression on [text embedding, standardised columns] of at most LR_MAX_ROWS
    sampled rows; the design matrix is built for the sample only (at 1M rows the full float64
    matrix alone would take 3 GB)."""
    from sklearn.linear_model import LogisticRegression

    rows = _sample(len(text), LR_MAX_ROWS, seed)
    x = np.hstack([text[rows], z[rows]]).astype(np.float32)
    y = y[rows]
    rows = np.arange(len(rows))
    model = LogisticRegression(C=1.0, max_iter=500, random_state=seed)
    model.fit(x[rows], y[rows])
    return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])


def _fit_stack(
    lr_logit: np.ndarray, contrast: np.ndarray, y: np.ndarray, seed: int
) -> tuple[float, float, float]:
    from sklearn.linear_model import LogisticRegression

    x = np.column_stack([lr_logit, contrast])
    model = LogisticRegression(C=10.0, max_iter=500, random_state=seed)
    model.fit(x, y)
    a, b = (float(c) for c in model.coef_[0])
    return a, b, float(model.intercept_[0])


def _cross_fit_stack(
    lr_logit: np.ndarray, contrast: np.ndarray, y: np.ndarray, seed: int
) -> np.ndarray:
    """Blend probabilities on the holdout, each half scored by a stack fitted on the other."""
    from leadgen.model.calibration import sigmoid

    folds = np.random.default_rng(seed + 7).integers(0, 2, size=len(y))
    out = np.empty(len(y))
    for f in (0, 1):
        tr, te = folds != f, folds == f
        if y[tr].all() or not y[tr].any() or not te.any():
            out[te] = sigmoid(lr_logit[te])
            continue
        a, b, c = _fit_stack(lr_logit[tr], contrast[tr], y[tr], seed)
        out[te] = sigmoid(a * lr_logit[te] + b * contrast[te] + c)
    return out


def evaluate_holdout(
    feats: Features, cfg: BuildConfig, say: Callable[[str], None]
) -> tuple[dict[str, Any], np.ndarray | None, tuple[float, float, float], str, np.ndarray]:
    """Quality on a stratified holdout scored against indices built without it.

    Returns (report, learned weights, stack params, headline name, headline holdout scores)."""
    from leadgen.build.quality import boosting_baseline

    y = feats.table.labels
    mask = stratified_holdout(y, cfg.holdout_fraction, cfg.holdout_max, cfg.seed)
    train, test = np.flatnonzero(~mask), np.flatnonzero(mask)
    y_tr, y_te = y[train], y[test]
    ids = feats.table.ids
    report: dict[str, Any] = {"holdout_rows": len(test), "holdout_positives": int(y_te.sum())}

    # plain kNN: unweighted columns
    tf_plain, vec_tr, z_tr = _fit_space(feats, train, cfg, None)
    vec_te, z_te = _apply_space(tf_plain, feats, test, cfg)
    plain = _kNN_scores(vec_tr, y_tr, ids[train], vec_te, cfg.k)
    # Each (n, d) float32 space is 1.5 GB at 1M rows: free it before building the next one
    # (measured: the holdout step held the build's peak memory).
    del vec_tr, vec_te
    results: dict[str, Figures] = {"knn": figures(y_te, plain["contrast"])}

    weights = None
    best_contrast = plain["contrast"]
    if cfg.learn_weights and z_tr.shape[1]:
        weights = learn_weights(z_tr, y_tr, cfg.seed)
        tf_w, vec_tr_w, _ = _fit_space(feats, train, cfg, weights)
        vec_te_w, _ = _apply_space(tf_w, feats, test, cfg)
        learned = _kNN_scores(vec_tr_w, y_tr, ids[train], vec_te_w, cfg.k)
        del vec_tr_w, vec_te_w
        results["knn_learned"] = figures(y_te, learned["contrast"])
        best_contrast = learned["contrast"]
        report["column_weights"] = {
            c: round(float(w), 4) for c, w in zip(tf_w.columns, weights, strict=True)
        }

    # supervised baselines on the same features (text embedding + standardised columns)
    x_te = np.hstack([feats.text[test], z_te])
    coef, icpt = _fit_lr(feats.text[train], z_tr, y_tr, cfg.seed)
    lr_logit = x_te @ coef + icpt
    from leadgen.model.calibration import sigmoid

    p_lr = sigmoid(lr_logit)
    results["logistic_regression"] = figures(y_te, p_lr, p_lr)
    try:
        # Trees on 384 raw embedding dims are slow and no better: give them the top text
        # components (SVD on the training rows) beside the standardised columns.
        rows = _sample(len(train), LR_MAX_ROWS, cfg.seed)
        t_tr = feats.text[train]
        _, _, vt = np.linalg.svd(t_tr[rows] - t_tr[rows].mean(axis=0), full_matrices=False)
        comp = vt[:GB_TEXT_DIMS].T
        g_tr = np.hstack([t_tr @ comp, z_tr])
        g_te = np.hstack([feats.text[test] @ comp, z_te])
        p_gb = boosting_baseline(g_tr[rows], y_tr[rows], g_te, cfg.seed)
        results["gradient_boosting"] = figures(y_te, p_gb, p_gb)
    except ValueError as exc:  # e.g. one class in a tiny table
        say(f"gradient boosting baseline skipped: {exc}")
    p_blend = _cross_fit_stack(lr_logit, best_contrast, y_te, cfg.seed)
    results["blend"] = figures(y_te, p_blend, p_blend)
    stack = (
        _fit_stack(lr_logit, best_contrast, y_te, cfg.seed)
        if 0 < y_te.sum() < len(y_te)
        else (1.0, 0.0, 0.0)
    )

    knn_key = "knn_learned" if "knn_learned" in results else "knn"
    blend_better = _nz(results["blend"].auc) > _nz(results[knn_key].auc)
    headline = "p_high_value" if blend_better else "contrast"
    headline_scores = p_blend if blend_better else best_contrast
    report["scores"] = {name: f.to_json() for name, f in results.items()}
    report["headline"] = {
        "score": headline,
        "source": "blend" if blend_better else knn_key,
        **results["blend" if blend_better else knn_key].to_json(),
    }
    report["headline_figures"] = results["blend" if blend_better else knn_key]
    return report, weights, stack, headline, headline_scores


def _nz(x: float) -> float:
    return -1.0 if math.isnan(x) else x


def calibration_rows(n: int, max_rows: int, seed: int) -> np.ndarray:
    """The sample of customers whose leave-one-out scores calibrate percentiles and the head."""
    return _sample(n, max_rows, seed + 3)


def loo_calibration(
    vec: np.ndarray,
    ids: np.ndarray,
    labels: np.ndarray,
    index_all: Any,
    index_high: Any,
    k: int,
    rows: np.ndarray,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Leave-one-out scores of the sample `rows`: (sorted contrasts, scores)."""
    q = vec[rows]
    sh, _ = neighbour_sims(index_high, ids[labels], q, k, exclude_ids=ids[rows])
    sa, _ = neighbour_sims(index_all, ids, q, k, exclude_ids=ids[rows])
    scores = raw_scores(sh, sa)
    return np.sort(scores["contrast"]), scores


def _high_attrs(
    table: CrmTable, cfg: BuildConfig, high_rows: np.ndarray, out: Path, log_cols: list[str]
) -> None:
    spec = cfg.columns
    vocab: dict[str, list[str]] = {}
    codes = np.full((len(high_rows), len(spec.cat_cols)), -1, dtype=np.int32)
    for j, col in enumerate(spec.cat_cols):
        vals = [table.columns[col][i] for i in high_rows]
        uniq = sorted({str(v).strip() for v in vals if v is not None})
        lookup = {v: i for i, v in enumerate(uniq)}
        codes[:, j] = [lookup[str(v).strip()] if v is not None else -1 for v in vals]
        vocab[col] = uniq
    num = np.full((len(high_rows), len(spec.num_cols)), np.nan, dtype=np.float32)
    std = np.ones(len(spec.num_cols), dtype=np.float32)
    for j, col in enumerate(spec.num_cols):
        allv = np.asarray(table.columns[col], dtype=np.float64)
        num[:, j] = allv[high_rows]
        spread = np.log1p(np.clip(allv, 0, None)) if col in log_cols else allv
        s = float(np.nanstd(spread)) if np.isfinite(allv).any() else 1.0
        std[j] = s if np.isfinite(s) and s > 0 else 1.0
    with (out / "high_attrs.npz").open("wb") as fh:
        np.savez(fh, cat_codes=codes, num=num, num_std=std)
    (out / "high_vocab.json").write_text(json.dumps(vocab))


def build(
    input_path: str,
    out_uri: str,
    cfg: BuildConfig,
    embedder: Embedder | None = None,
    progress: bool = True,
    say: Callable[[str], None] = print,
    keep_versions: int = 5,
    fail_at: str | None = None,
    on_step: StepHook | None = None,
) -> BuildResult:
    """Run the whole build. `fail_at` (upload|verify|gate) injects a failure, for tests of the
    promise that a failed build leaves LATEST untouched. `on_step` receives step starts/ends
    (see Timer) instead of the "[step] ..." text lines."""
    started = datetime.now(UTC)
    timer = Timer(say, on_step)
    store = open_store(out_uri)
    with timer.step("read"):
        table = read_crm(input_path, cfg.columns, cfg.high_value)
    n, n_pos = len(table), int(table.labels.sum())
    say(
        f"read {table.rows_read} rows: {n} current customers, {n_pos} high-value; "
        f"dropped {table.dropped}"
    )
    if n < MIN_ROWS:
        raise InputError(f"{input_path}: only {n} current customers; at least {MIN_ROWS} needed")
    if n_pos < MIN_POSITIVES or n - n_pos < MIN_POSITIVES:
        raise InputError(
            f"{input_path}: {n_pos} high-value of {n} customers; need at least {MIN_POSITIVES} "
            f"of each class (check --high-value-col / --value-col)"
        )
    with timer.step("embedder"):
        emb = embedder or make_embedder(cfg.embedder, cfg.model)
    with timer.step("embed"):
        text = embed_text(table.columns, cfg.columns, n, emb, cfg.text_mode, progress=progress)
    feats = Features(text=text, table=table)
    with timer.step("holdout_quality"):
        quality, weights, stack, headline, headline_scores = evaluate_holdout(feats, cfg, say)
    headline_figs: Figures = quality.pop("headline_figures")
    say("holdout: " + json.dumps(quality["scores"]))

    all_rows = np.arange(n)
    with timer.step("fit"):
        transform, vec, z = _fit_space(feats, all_rows, cfg, weights)
        coef, icpt = _fit_lr(text, z, table.labels, cfg.seed)
    # Past the fit only the calibration sample's text rows are used: drop the (n, d) text matrix
    # before the index step, the build's memory peak (1.5 GB of it at 1M customers).
    rows = calibration_rows(n, cfg.calibration_max, cfg.seed)
    text_cal, d = text[rows], text.shape[1]
    del feats, text
    kind = ix.choose_kind(n, cfg.index_type, cfg.ann_threshold)
    labels = table.labels
    with timer.step("index"):
        index_all, info_all = ix.build_index(
            vec, kind, cfg.k, cfg.seed, recall_target=cfg.ann_recall
        )
        index_high, info_high = ix.build_index(
            np.ascontiguousarray(vec[labels]),
            ix.choose_kind(n_pos, cfg.index_type, cfg.ann_threshold),
            cfg.k,
            cfg.seed,
            recall_target=cfg.ann_recall,
        )
    say(
        f"index all: {info_all.kind} recall@{cfg.k}={info_all.recall_at_k}; "
        f"high: {info_high.kind} recall@{cfg.k}={info_high.recall_at_k}"
    )
    with timer.step("calibrate"):
        calib, loo = loo_calibration(vec, table.ids, labels, index_all, index_high, cfg.k, rows)
        head = Head(headline_name="contrast")
        if headline == "p_high_value":
            head = Head(
                headline_name=headline,
                coef_text=coef[:d],
                coef_tab=coef[d:],
                intercept=icpt,
                stack=stack,
            )
            p = head.probability(text_cal, z[rows], loo)
            assert p is not None
            head.calibration = np.sort(p)
    if np.isnan(calib).any():
        raise LeadgenError("calibration produced NaN scores; not publishing")

    version = new_version_name()
    staging = Path(tempfile.mkdtemp(prefix="leadgen-build-"))
    vdir = staging / version
    vdir.mkdir()
    try:
        with timer.step("write"):
            ix.save_index(index_all, vdir / "index_all.faiss")
            ix.save_index(index_high, vdir / "index_high.faiss")
            np.save(vdir / "ids_all.npy", table.ids.astype(np.int64))
            np.save(vdir / "ids_high.npy", table.ids[labels].astype(np.int64))
            np.save(vdir / "calibration.npy", calib.astype(np.float64))
            (vdir / "transform.json").write_text(json.dumps(transform.to_json()))
            (vdir / "head.json").write_text(json.dumps(head.to_json()))
            _high_attrs(table, cfg, np.flatnonzero(labels), vdir, transform.log_cols)
            report: dict[str, Any] = {
                "version": version,
                "created_at": started.isoformat(),
                "leadgen_version": __version__,
                "input": input_path,
                "rows": {
                    "read": table.rows_read,
                    "current_customers": n,
                    "high_value": n_pos,
                    "dropped": table.dropped,
                },
                "embedder": emb.identity,
                "indices": {"all": info_all.to_json(), "high": info_high.to_json()},
                "quality": quality,
                "gate": {"min_auc": cfg.min_auc, "min_lift@10%": cfg.min_lift},
            }
            manifest_body = {
                "version": version,
                "created_at": started.isoformat(),
                "columns": cfg.columns.to_json(),
                "high_value_rule": cfg.high_value.to_json(),
                "embedder": emb.identity,
                "k": cfg.k,
                "w_text": cfg.w_text,
                "text_mode": cfg.text_mode,
                "grade_bands": cfg.grade_bands.to_json(),
                "indices": {"all": info_all.to_json(), "high": info_high.to_json()},
                "quality": quality,
                "rows": report["rows"],
            }
            write_manifest(vdir, manifest_body)
        report["steps_seconds"] = timer.steps
        published = _publish(
            store, vdir, version, headline_figs, headline_scores, cfg, timer, say, fail_at
        )
        report["steps_seconds"] = timer.steps
        report["published"] = published
        report["finished_at"] = datetime.now(UTC).isoformat()
        store.write_bytes(f"{version}/build_report.json", json.dumps(report, indent=2).encode())
        try:
            pruned = prune_versions(store, keep_versions, {version})
            if pruned:
                say(f"pruned old versions: {', '.join(pruned)}")
        except LeadgenError as exc:
            say(f"warning: pruning old versions failed: {exc}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from leadgen.stores.duplicates import customer_hash_pairs

    pairs = customer_hash_pairs(table.emails, table.ids.tolist()) if table.emails else []
    return BuildResult(version=version, published=True, report=report, customer_pairs=pairs)


def _publish(
    store: Store,
    vdir: Path,
    version: str,
    headline: Figures,
    headline_scores: np.ndarray,
    cfg: BuildConfig,
    timer: Timer,
    say: Callable[[str], None],
    fail_at: str | None,
) -> bool:
    """upload -> verify -> gate -> LATEST; on any failure the uploaded version is removed."""
    previous = None
    if store.exists(LATEST):
        previous = read_pointer(store).version
    try:
        with timer.step("upload"):
            if fail_at == "upload":
                raise LeadgenError("injected failure during upload")
            upload_version(store, vdir, version)
        with timer.step("verify"), tempfile.TemporaryDirectory() as scratch:
            if fail_at == "verify":
                store.write_bytes(f"{version}/ids_all.npy", b"corrupted")
            manifest_sha = verify_remote(store, version, Path(scratch))
        with timer.step("gate"):
            if fail_at == "gate":
                gate(Figures(0.0, 0.0, 0.0), cfg.min_auc, cfg.min_lift, headline_scores)
            gate(headline, cfg.min_auc, cfg.min_lift, headline_scores)
    except BaseException:
        try:
            store.delete_prefix(version)
        except Exception as exc:
            say(f"warning: could not remove the unpublished version {version}: {exc}")
        raise
    set_latest(store, version, manifest_sha)
    say(f"published {version} to {store.uri} (LATEST was {previous or 'unset'})")
    return True
