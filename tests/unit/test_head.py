"""The head fitted on every customer: exact TreeSHAP from the exported trees, drivers that add up
to the logit for linear, tree and stacked heads, a pickle-free round trip, and grading on contrast
(saying why) when an export has too few high-value customers to learn from."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.builder.boosting import SHAPES, boost
from leadgen.builder.head_fit import K_FOLDS, HeadData, HeadFit, fit_head, stratified_folds
from leadgen.config import ColumnSpec
from leadgen.model.head import LOOKALIKE_GROUP, Head, sigmoid
from leadgen.model.head_features import TEXT_GROUP
from leadgen.model.trees import TreeEnsemble

SPEC = ColumnSpec(text_cols=("bio",), cat_cols=("segment", "region"), num_cols=("size", "score"))


def _table(n: int, seed: int) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """Columns with a rare level, a missing value, a heavy tail, 80 frequent regions (so a
    target encoding is fitted), a text block, an interaction in the label; plus neighbour
    features that carry some of the signal."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["a", "b", "c", "d", "rare"], size=n, p=[0.3, 0.3, 0.2, 0.197, 0.003])
    region = rng.integers(0, 80, size=n)
    size = np.exp(rng.normal(3, 1.5, size=n))
    size[rng.random(n) < 0.1] = np.nan
    score = rng.normal(size=n)
    text = rng.normal(size=(n, 16)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    signal = (
        1.5 * (segment == "a") * (score > 0)
        + 0.8 * np.nan_to_num(np.log1p(size) > 3.5)
        + 0.02 * region
        + 2.0 * text[:, 0]
    )
    y = signal + rng.logistic(size=n) > 2.0
    columns: dict[str, Any] = {
        "bio": ["x"] * n,
        "segment": [None if i % 97 == 0 else s for i, s in enumerate(segment.tolist())],
        "region": [f"r{r}" for r in region],
        "size": size,
        "score": score,
    }
    nb = np.column_stack([signal, signal * 0.5, signal * 0.5, y * 0.3]) + rng.normal(size=(n, 4))
    return columns, text, y, nb


@pytest.fixture(scope="module")
def fitted() -> tuple[HeadFit, dict[str, Any], np.ndarray, np.ndarray]:
    columns, text, y, nb = _table(4000, 0)
    folds = stratified_folds(y, K_FOLDS, 1)
    fit = fit_head(HeadData(np.arange(len(y)), folds, columns, text, y, nb), SPEC, seed=0)
    fit.head.calibration = np.array([float(y.mean())])  # the training rate, for one test
    new_cols, new_text, _, new_nb = _table(300, 1)
    return fit, new_cols, new_text, new_nb


@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_tree_shap_from_exported_arrays_equals_lightgbm_pred_contrib(shape: int) -> None:
    columns, text, y, _ = _table(1500, 2)
    x = np.column_stack([np.nan_to_num(columns["size"]), columns["score"], text[:, :4]])
    x = x.astype(np.float32)
    boosted = boost(x, y, stratified_folds(y, K_FOLDS, 3), seed=0, shape=shape)
    assert boosted.trees.depth <= SHAPES[shape]["max_depth"]
    phi, raw = boosted.trees.shap(x)
    ref = boosted.booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(phi, ref[:, :-1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ref[:, -1], boosted.trees.base_value, rtol=0, atol=1e-9)
    np.testing.assert_allclose(raw, boosted.booster.predict(x, raw_score=True), rtol=0, atol=1e-9)


def _reference_logit(head: Head, fit: HeadFit, cols: dict[str, Any], text: np.ndarray,
                     nb: np.ndarray) -> np.ndarray:  # fmt: skip
    """The calibrated logit from LightGBM's own prediction and a plain dot product."""
    assert head.features is not None
    n = len(text)
    lr = head.features.matrices(cols, n, text)[0] @ head.lr_coef + head.lr_intercept
    gb = fit.boosted.booster.predict(head.features.matrices(cols, n, text)[1], raw_score=True)
    level1 = np.column_stack([lr, gb, nb])[:, : head.stack.size]
    a, b = head.platt
    return np.asarray(a * (level1 @ head.stack + head.stack_bias) + b)


@pytest.mark.parametrize("kind", ["linear", "trees", "stack", "stack_neighbours"])
def test_drivers_add_up_to_the_calibrated_logit(fitted: Any, kind: str) -> None:
    fit, cols, text, nb = fitted
    w = {
        "linear": [0.9, 0.0],
        "trees": [0.0, 1.1],
        "stack": [0.7, 0.6],
        "stack_neighbours": [0.7, 0.6, 0.2, -0.1, 0.3, 0.5],
    }[kind]
    head = dataclasses.replace(fit.head, stack=np.array(w), stack_bias=-0.3)
    out = head.score(cols, len(text), text, nb)
    assert out is not None
    logit = out.base + out.contributions.sum(axis=1)
    np.testing.assert_allclose(logit, _reference_logit(head, fit, cols, text, nb), atol=1e-9)
    np.testing.assert_allclose(out.p, sigmoid(logit), atol=1e-12)
    by_group = dict(zip(out.groups, np.abs(out.contributions).sum(axis=0), strict=True))
    assert set(by_group) == {*SPEC.cat_cols, *SPEC.num_cols, TEXT_GROUP, LOOKALIKE_GROUP}
    assert (by_group[LOOKALIKE_GROUP] > 0) == (kind == "stack_neighbours")
    assert all(v > 0 for g, v in by_group.items() if g != LOOKALIKE_GROUP)


def test_the_fit_is_reported_and_calibrated(fitted: Any) -> None:
    fit, *_ = fitted
    assert fit.head.features is not None and fit.head.features.encoder.target  # 80 regions
    assert set(fit.cv) >= {"logistic_regression", "gradient_boosting", "stack", "knn_contrast"}
    assert fit.cv["stack"]["auc"] > 0.7
    # Platt on out-of-fold logits: the mean probability is the training rate
    assert abs(float(fit.oof_p.mean()) - float(fit.head.calibration[0])) < 0.01
    assert "stack of logistic regression" in fit.why


def test_head_round_trips_without_pickles(fitted: Any, tmp_path: Path) -> None:
    fit, cols, text, nb = fitted
    assert fit.head.trees is not None
    path = tmp_path / "trees.npz"
    np.savez(path, **fit.head.trees.arrays())
    with np.load(path, allow_pickle=False) as arrays:
        trees = TreeEnsemble.from_arrays({k: arrays[k] for k in arrays.files})
    again = Head.from_json(json.loads(json.dumps(fit.head.to_json())), trees)
    a, b = fit.head.score(cols, len(text), text, nb), again.score(cols, len(text), text, nb)
    assert a is not None and b is not None
    np.testing.assert_allclose(a.p, b.p, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.contributions, b.contributions, rtol=0, atol=1e-12)


def test_a_lead_missing_every_column_still_gets_a_probability(fitted: Any) -> None:
    fit, _, text, nb = fitted
    out = fit.head.score({}, 1, text[:1], nb[:1])
    assert out is not None and 0.0 < float(out.p[0]) < 1.0


def _served(artifacts: Path, tmp: Path) -> Any:
    from leadgen.config import ServiceConfig
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.serve.service import ScoringService

    cfg = ServiceConfig(artifacts_uri=str(artifacts), cache_dir=tmp / "cache")
    svc = ScoringService(cfg, HashingEmbedder(), None)
    assert svc.lifecycle.start()
    return svc


def _score(svc: Any, *leads: dict[str, Any]) -> list[dict[str, Any]]:
    from leadgen.serve.schemas import clean_lead

    scorer = svc.scorer()
    clean = [clean_lead(lead, scorer.spec) for lead in leads]
    return [r.model_dump(mode="json") for r in svc.score_leads(clean, scorer=scorer)]


def test_served_drivers_add_up_and_health_shows_the_grades(
    hashing_artifacts: Path, tmp_path: Path
) -> None:
    from leadgen.synthetic.crm import example_lead

    svc = _served(hashing_artifacts, tmp_path)
    for res in _score(svc, *(example_lead(s) for s in range(20))):
        p, exp = res["p_high_value"], res["explanation"]
        assert res["graded_on"] == "p_high_value" and res["graded_on_reason"] is None
        total = exp["drivers_base"] + sum(d["contribution"] for d in exp["drivers"])
        total += exp["drivers_rest"]
        assert total == pytest.approx(math.log(p / (1 - p)), abs=1e-3)
        assert len(exp["drivers"]) == 5
    health = svc.health().model_dump()
    assert [g["grade"] for g in health["grades"]] == ["A", "B", "C", "D"]
    rates = [g["high_value_rate"] for g in health["grades"]]
    assert rates[0] > rates[-1]  # the bands mean something on held-out customers
    assert sum(g["customers"] for g in health["grades"]) > 0


def test_too_few_high_value_customers_grade_on_contrast_and_say_why(tmp_path: Path) -> None:
    from leadgen.synthetic.crm import example_lead, generate_crm, write_crm
    from tests.conftest import build_config, quiet_build

    write_crm(generate_crm(rows=1500, seed=3, high_value_rate=0.02), tmp_path / "crm.parquet")
    cfg = build_config(tmp_path / "crm.parquet", tmp_path / "art", min_auc=0.0, min_lift=0.0)
    quality = quiet_build(cfg).report["quality"]
    assert quality["headline"]["score"] == "contrast"
    assert "high-value customers to learn from" in quality["headline"]["reason"]
    assert "p_high_value" not in quality["scores"] and len(quality["grades"]) == 4
    svc = _served(tmp_path / "art", tmp_path)
    res = _score(svc, example_lead(1))[0]
    assert res["graded_on"] == "contrast" and res["p_high_value"] is None
    assert "high-value customers to learn from" in res["graded_on_reason"]
    assert res["explanation"]["drivers"] == [] and res["explanation"]["drivers_base"] is None
    assert "high-value customers" in svc.health().model_dump()["graded_on_reason"]


def test_a_version_of_the_previous_format_is_refused_with_a_clear_error() -> None:
    """Format 1 had the linear head: its head.json cannot describe this one."""
    from leadgen.errors import ArtifactError
    from leadgen.model.bundle import FORMAT_VERSION, Manifest

    assert FORMAT_VERSION == 2
    raw = json.dumps({"format_version": 1, "version": "v1"}).encode()
    with pytest.raises(ArtifactError, match=r"artifact format 1 is not supported.*rebuild"):
        Manifest.from_bytes(raw, "v1/manifest.json")
