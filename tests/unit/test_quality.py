"""Quality figures: AUC equals scikit-learn's, lift and the stratified holdout behave."""

from __future__ import annotations

import numpy as np
import pytest

from leadgen.builder.quality import Figures, gate, lift_at, roc_auc, stratified_holdout
from leadgen.errors import QualityGateError


def test_auc_matches_sklearn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.1
    s = np.round(rng.normal(size=2000) + y, 1)  # rounding creates ties
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert np.isnan(roc_auc(np.zeros(5, bool), np.arange(5.0)))


def test_lift_of_a_perfect_ranking() -> None:
    y = np.array([True] * 10 + [False] * 90)
    s = np.linspace(1, 0, 100)
    assert lift_at(y, s, 0.10) == pytest.approx(10.0)
    assert lift_at(y, s, 0.20) == pytest.approx(5.0)


def test_holdout_is_stratified() -> None:
    y = np.random.default_rng(1).random(10_000) < 0.06
    mask = stratified_holdout(y, 0.1, 2000, seed=0)
    assert mask.sum() == pytest.approx(1000, abs=2)
    assert y[mask].mean() == pytest.approx(y.mean(), abs=0.003)


def test_gate_refuses_nan_and_low_figures() -> None:
    ok = Figures(auc=0.8, lift10=3.0, lift20=2.0)
    gate(ok, 0.6, 1.2, np.zeros(3))
    with pytest.raises(QualityGateError, match="NaN"):
        gate(ok, 0.6, 1.2, np.array([0.1, np.nan]))
    with pytest.raises(QualityGateError, match="AUC 0.550 is below the floor 0.600"):
        gate(Figures(auc=0.55, lift10=3.0, lift20=2.0), 0.6, 1.2, np.zeros(3))


def test_gate_refuses_a_lift_below_its_floor_and_nan_figures() -> None:
    """The AUC alone can pass while the top of the ranking is no better than chance: the lift
    floor refuses that; a NaN AUC or lift (a holdout without positives) is never a pass."""
    good_auc_flat_top = Figures(auc=0.8, lift10=1.1, lift20=1.0)
    with pytest.raises(QualityGateError, match=r"lift@10% 1\.10 is below the floor 1\.20"):
        gate(good_auc_flat_top, 0.6, 1.2, np.zeros(3))
    gate(good_auc_flat_top, 0.6, 1.1, np.zeros(3))  # at the floor passes
    with pytest.raises(QualityGateError, match="AUC nan is below the floor"):
        gate(Figures(auc=float("nan"), lift10=3.0, lift20=2.0), 0.6, 1.2, np.zeros(3))
    with pytest.raises(QualityGateError, match="lift@10% nan is below the floor"):
        gate(Figures(auc=0.8, lift10=float("nan"), lift20=2.0), 0.6, 1.2, np.zeros(3))
