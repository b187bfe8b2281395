"""The build's fits, each done once: the folds side by side give the same models as one after
the other, each fold's boosting stops early, the published indices searched for out-of-fold
neighbour features leave out the query's fold and the holdout, a build large enough to search
them publishes a head, and every fitting step says which model and fold it is on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from leadgen.builder import boosting, head_fit, workers
from leadgen.builder.head_fit import K_FOLDS, stratified_folds
from leadgen.builder.neighbours import oof_filter
from leadgen.builder.quality import roc_auc
from leadgen.model.index_backends import backend
from leadgen.model.knn import Neighbours, neighbour_features
from leadgen.model.vector_index import IndexSpec
from leadgen.synthetic.crm import generate_crm, write_crm
from tests.conftest import build_config, quiet_build


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    y = x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + rng.logistic(size=n) > 1.0
    return x, y


def test_folds_side_by_side_fit_the_same_models_as_one_after_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, y = _rows(1200, 0)
    folds = stratified_folds(y, K_FOLDS, 1)
    monkeypatch.setattr(workers, "cores", lambda: 1)
    serial = boosting.cross_fit(x, y, folds, 0, seed=0)
    monkeypatch.setattr(workers, "cores", lambda: 2)
    parallel = boosting.cross_fit(x, y, folds, 0, seed=0)
    np.testing.assert_array_equal(serial[0], parallel[0])
    assert serial[1] == parallel[1]


def test_boosting_stops_early_on_labels_it_cannot_learn() -> None:
    x, _ = _rows(1200, 2)
    noise = np.random.default_rng(3).random(len(x)) < 0.3
    folds = stratified_folds(noise, K_FOLDS, 1)
    _, rounds = boosting.cross_fit(x, noise, folds, 0, seed=0)
    assert rounds < boosting.PATIENCE + 10  # far below the cap: no signal to add rounds for


def _reference(
    vectors: np.ndarray, labels: np.ndarray, folds: np.ndarray, query: np.ndarray, k: int
) -> np.ndarray:
    """Exact neighbour features of each query position, by brute force over the customers
    outside its fold and outside the holdout (fold 5)."""
    sims = vectors[query] @ vectors.T
    allowed = (folds[None, :] != folds[query][:, None]) & (folds[None, :] != 5)
    sims = np.where(allowed, sims, -np.inf)
    high = np.flatnonzero(labels)

    def top(s: np.ndarray, to_pos: np.ndarray) -> Neighbours:
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        return Neighbours(np.take_along_axis(s, order, 1).astype(np.float32), to_pos[order])

    everyone = top(sims, np.arange(len(vectors)))
    return neighbour_features(top(sims[:, high], np.arange(len(high))), everyone, labels)


def test_filtered_search_leaves_out_the_query_fold_and_the_holdout() -> None:
    rng = np.random.default_rng(4)
    n, k = 400, 10
    vectors = rng.normal(size=(n, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = rng.random(n) < 0.3
    # the head's rows in folds 0-4, the holdout in fold 5, customers outside the sample -1
    folds = np.where(rng.random(n) < 0.1, -1, rng.integers(0, 5, size=n))
    folds[rng.choice(n, 40, replace=False)] = 5
    spec = IndexSpec(kind="flat", k=k, seed=0, measure_recall=False)
    pair = (backend().build(vectors, spec)[0], backend().build(vectors[labels], spec)[0])
    query = np.flatnonzero(folds >= 0)
    got = oof_filter(pair, labels, folds, vectors[query], query, k, left_out=5)
    np.testing.assert_allclose(got, _reference(vectors, labels, folds, query, k), atol=1e-5)


def test_a_build_that_searches_the_published_indices_publishes_a_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # above this many head rows the neighbour features come from the published indices; a
    # small table takes that path when the threshold is lowered
    monkeypatch.setattr(head_fit, "REFIT_MAX_ROWS", 100)
    write_crm(generate_crm(rows=1500, seed=5), tmp_path / "crm.parquet")
    report = quiet_build(build_config(tmp_path / "crm.parquet", tmp_path / "art")).report
    quality = report["quality"]
    assert quality["headline"]["score"] == "p_high_value"
    for name in ("logistic_regression", "gradient_boosting", "stack", "knn_learned"):
        assert 0.6 < quality["scores"][name]["auc"] <= 1.0
    assert quality["head"]["chosen"] in ("stack", "stack_neighbours")


def test_every_fitting_and_index_step_shows_progress_and_quiet_hides_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from leadgen.builder.pipeline import build

    write_crm(generate_crm(rows=800, seed=6), tmp_path / "crm.parquet")
    # an ANN index from 200 customers up, so the index step has stages to show
    cfg = build_config(tmp_path / "crm.parquet", tmp_path / "art", ann_threshold=200)
    build(cfg, None, progress=True, say=lambda _m: None)
    err = capfd.readouterr().err
    for line in (
        "index all: hnsw over 800 rows: exact neighbours of ",
        "index all: efSearch ",
        "serving quality: ",
        "leak checks: ",
        "identity: the export's own duplicates among ",
        f"holdout: neighbour features: fold 1 of {K_FOLDS}",
        f"holdout: neighbour features: fold {K_FOLDS} of {K_FOLDS}",
        f"of {K_FOLDS}",
        "holdout: logistic regression C=",
        "holdout: gradient boosting (",
        "head: gradient boosting (",
    ):
        assert line in err, line
    assert f"fold {K_FOLDS} of {K_FOLDS}" in err
    quiet_build(build_config(tmp_path / "crm.parquet", tmp_path / "art2"))
    quiet = capfd.readouterr().err
    assert "fold" not in quiet and "index all" not in quiet


@pytest.mark.parametrize("neighbours", [False, True])
def test_the_published_head_fits_the_chosen_stack_on_the_known_out_of_fold_values(
    neighbours: bool,
) -> None:
    from tests.unit.test_head import SPEC, _table

    columns, text, y, nb = _table(1500, 0)
    rows, folds = np.arange(len(y)), stratified_folds(y, K_FOLDS, 1)
    fit = head_fit.fit_head(head_fit.HeadData(rows, folds, columns, text, y, nb), SPEC, seed=0)
    choice = dataclasses.replace(fit.choice, neighbours=neighbours)
    data = head_fit.HeadData(rows, folds, columns, text, y, nb, level1=fit.level1)
    published = head_fit.fit_head(data, SPEC, 0, choice)
    assert len(published.head.stack) == (6 if neighbours else 2)
    assert list(published.stacks) == ["stack_neighbours" if neighbours else "stack"]
    assert f"neighbour features {'in' if neighbours else 'out'}" in published.why
    # the same out-of-fold values, the same stack: the published head's out-of-fold ranking is
    # the one the choice was made on, not a new cross-validation's
    name = "stack_neighbours" if neighbours else "stack"
    assert published.stacks[name].auc == pytest.approx(fit.stacks[name].auc, abs=1e-12)
    assert roc_auc(y, published.oof_p) == pytest.approx(fit.stacks[name].auc, abs=1e-12)
