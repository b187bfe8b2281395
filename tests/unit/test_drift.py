"""Drift between versions (leadgen.builder.drift): PSI's binning, the profile, the comparison."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from leadgen.builder import drift
from leadgen.builder.reader import CrmTable
from leadgen.config import ColumnSpec
from leadgen.names import Metric

SPEC = ColumnSpec(text_cols=("bio",), cat_cols=("industry",), num_cols=("size",))


def table(size: np.ndarray, industry: list[str | None], labels: np.ndarray) -> CrmTable:
    n = len(size)
    columns = {"bio": ["secret text"] * n, "industry": industry, "size": size}
    return CrmTable(np.arange(n, dtype=np.int64), columns, labels.astype(bool), None, n)


def sample(seed: int, n: int = 2000, shift: float = 0.0, rate: float = 0.1) -> CrmTable:
    rng = np.random.default_rng(seed)
    size = rng.normal(100 + shift, 10, n)
    size[:20] = np.nan
    industry: list[str | None] = [str(v) for v in rng.choice(["a", "b", "c"], n)]
    industry[:5] = [None] * 5
    return table(size, industry, rng.random(n) < rate)


def test_psi_is_zero_for_equal_shares_and_the_textbook_sum_otherwise() -> None:
    assert drift.psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    expected = (0.6 - 0.5) * math.log(0.6 / 0.5) + (0.4 - 0.5) * math.log(0.4 / 0.5)
    assert drift.psi([0.5, 0.5], [0.6, 0.4]) == pytest.approx(expected)


def test_an_empty_bin_costs_a_bounded_amount_not_infinity() -> None:
    value = drift.psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2])
    assert math.isfinite(value)
    # floored at PSI_EPSILON: the new bin's share against 1e-4
    assert value > 0.2 * math.log(0.2 / drift.PSI_EPSILON) - 0.1


def test_number_bins_follow_the_edges_and_count_missing_apart() -> None:
    counts = drift.number_bins(np.array([1.0, 2.0, 2.5, 9.0, np.nan]), [2.0, 5.0])
    # (-inf, 2], (2, 5], (5, inf), missing
    assert counts.tolist() == [2, 1, 1, 1]


def test_category_bins_have_an_other_and_a_missing_bin() -> None:
    counts = drift.category_bins(["a", "b", "z", None, " a "], ["a", "b"])
    assert counts.tolist() == [2, 1, 1, 1]


def test_the_profile_holds_deciles_shares_and_no_raw_text() -> None:
    t = sample(0)
    prof = drift.profile(t, SPEC, "p_high_value", np.linspace(0, 1, 100), None)
    size = prof["columns"]["size"]
    assert len(size["edges"]) == 9 and len(size["shares"]) == 11
    assert size["missing_share"] == pytest.approx(0.01)
    assert sum(size["shares"][:-1]) == pytest.approx(0.99, abs=1e-4)
    assert prof["columns"]["bio"] == {"kind": "text", "missing_share": 0.0}
    assert "secret" not in json.dumps(prof)


def test_same_data_no_drift_shifted_data_large_psi() -> None:
    base = sample(0)
    scores = np.random.default_rng(1).random(300)
    before = drift.profile(base, SPEC, "p_high_value", scores, None)
    same = drift.compare(before, "v1", base, before, scores)
    assert same["max_psi"] == 0.0 and same["label_rate"]["change"] == 0.0
    assert same["score"]["psi"] == 0.0
    moved = sample(2, shift=15.0, rate=0.3)
    now = drift.profile(moved, SPEC, "p_high_value", scores + 0.2, None)
    found = drift.compare(before, "v1", moved, now, scores + 0.2)
    assert found["max_psi_column"] == "size" and found["max_psi"] > 0.25
    by_col = {c["column"]: c for c in found["columns"]}
    assert by_col["industry"]["psi"] < 0.1  # same categories, same shares (another sample)
    assert by_col["bio"]["psi"] is None
    assert found["label_rate"]["change"] == pytest.approx(now["label_rate"] - before["label_rate"])
    assert found["score"]["shift"] == pytest.approx(0.2, abs=1e-6)
    assert found["score"]["psi"] > 1.0


def test_a_column_going_missing_is_drift() -> None:
    base = sample(0)
    before = drift.profile(base, SPEC, "contrast", np.zeros(10), None)
    gone = sample(0)
    gone.columns["size"] = np.full(len(gone), np.nan)
    found = drift.compare(before, "v1", gone, before, np.zeros(10))
    size = next(c for c in found["columns"] if c["column"] == "size")
    assert size["missing_change"] == pytest.approx(0.99) and size["psi"] > 5


def test_grade_change_share_over_customers_in_both() -> None:
    t = sample(0, n=4)
    before = drift.profile(t, SPEC, "p", np.zeros(4), (np.array([4, 1, 2, 3]), "ABCD"))
    keys = drift.id_keys(np.array([4, 1, 2, 3]))
    assert before["grades"]["ids"] == sorted(int(k) for k in keys)
    assert (
        "".join(sorted("ABCD", key=lambda g: keys["ABCD".index(g)])) == before["grades"]["grades"]
    )
    now = drift.profile(t, SPEC, "p", np.zeros(4), (np.array([1, 2, 3, 9]), "BCAA"))
    found = drift.compare(before, "v1", t, now, np.zeros(4))
    assert found["grade_change"] == {"customers_compared": 3, "changed_share": pytest.approx(1 / 3)}


def test_first_version_and_a_previous_without_profile() -> None:
    t = sample(0)
    now = drift.profile(t, SPEC, "p", np.zeros(3), None)
    first = drift.compare(None, None, t, now, np.zeros(3))
    assert first["first_version"] and first["reason"] == "no previous version"
    older = drift.compare(None, "v0", t, now, np.zeros(3))
    assert older["first_version"] and older["previous_version"] == "v0"
    assert "no profile" in older["reason"]
    assert drift.metric_values(first) == {}


def test_metric_values_are_the_three_headline_figures() -> None:
    base = sample(0)
    scores = np.linspace(0, 1, 50)
    before = drift.profile(base, SPEC, "p", scores, None)
    found = drift.compare(before, "v1", sample(3, shift=20), before, scores)
    values = drift.metric_values(found)
    assert set(values) == {
        Metric.DRIFT_MAX_PSI,
        Metric.DRIFT_LABEL_RATE_CHANGE,
        Metric.DRIFT_SCORE_SHIFT,
    }
    assert values[Metric.DRIFT_MAX_PSI] == found["max_psi"] > 0.25


def test_string_ids_are_keyed_like_in_any_version() -> None:
    """Exports may carry their own string ids: the same id gets the same key in every build."""
    keys = drift.id_keys(np.array(["C-001", "C-002"]))
    assert keys.dtype == np.uint64 and keys[0] != keys[1]
    assert (drift.id_keys(np.array(["C-002"])) == keys[1:]).all()
    assert drift.id_keys(np.array([7]))[0] == drift.id_keys(np.array(["7"]))[0]
