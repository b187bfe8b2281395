"""Featurising: transforms round-trip through JSON, missing values zero-fill, bad types fail."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leadgen.config import ColumnSpec
from leadgen.errors import LeadValidationError
from leadgen.model.features import TabularTransform, combine, text_blob
from leadgen.serve.schemas import clean_lead

SPEC = ColumnSpec(text_cols=("title",), cat_cols=("industry",), num_cols=("size", "score"))


def _columns(n: int = 200) -> dict[str, object]:
    rng = np.random.default_rng(0)
    return {
        "industry": [["Finance", "Retail", "Tech"][i % 3] for i in range(n)],
        "size": rng.integers(1, 5000, n).astype(float),
        "score": rng.random(n),
    }


def test_transform_round_trips_through_json_exactly() -> None:
    cols = _columns()
    tf = TabularTransform(SPEC)
    block, z = tf.fit(cols, 200, dims=8)
    again = TabularTransform.from_json(json.loads(json.dumps(tf.to_json())))
    np.testing.assert_allclose(again.standardised(cols, 200), z, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(again.project(z), block, rtol=1e-6, atol=1e-6)
    assert block.shape == (200, 3)  # dims capped at the number of columns
    assert abs(float(np.mean(np.sum(block.astype(np.float64) ** 2, axis=1))) - 1.0) < 1e-6


def test_missing_column_and_values_are_zero_filled() -> None:
    tf = TabularTransform(SPEC)
    tf.fit(_columns(), 200, dims=8)
    z_missing = tf.standardise(tf.raw_matrix({"industry": [None]}, 1))
    assert np.all(z_missing == 0.0)
    unknown = tf.standardise(tf.raw_matrix({"industry": ["Mining"]}, 1))
    assert unknown[0, 0] < 0  # an unseen category has frequency 0: below the mean


def test_combined_vector_is_unit_and_splits_into_text_and_tabular() -> None:
    rng = np.random.default_rng(1)
    text = rng.normal(size=(5, 16)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    tab = rng.normal(size=(5, 3)).astype(np.float32)
    vec = combine(text, tab, 0.7)
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, rtol=1e-5)
    sim = vec @ vec.T
    split = vec[:, :16] @ vec[:, :16].T + vec[:, 16:] @ vec[:, 16:].T
    np.testing.assert_allclose(sim, split, rtol=1e-5, atol=1e-6)


def test_text_blob_skips_missing_parts() -> None:
    assert text_blob(["CTO", None, float("nan"), "  ", "Leads platform"]) == "CTO. Leads platform"


@pytest.mark.parametrize(
    ("lead", "field"),
    [
        ({"size": "large"}, "size"),
        ({"size": True}, "size"),
        ({"size": float("inf")}, "size"),
        ({"title": ["a"]}, "title"),
        ({"industry": {"x": 1}}, "industry"),
    ],
)
def test_wrong_types_name_the_field(lead: dict[str, object], field: str) -> None:
    with pytest.raises(LeadValidationError) as err:
        clean_lead(lead, SPEC)
    assert err.value.field == field
    with pytest.raises(LeadValidationError) as err:
        clean_lead(lead, SPEC, "leads[2].")
    assert err.value.field == f"leads[2].{field}"


def test_valid_lead_coerces_numbers_and_keeps_missing() -> None:
    clean = clean_lead({"size": 3, "title": "VP", "lead_id": 7, "email": "a@b.io"}, SPEC)
    assert clean.features == {"title": "VP", "industry": None, "size": 3.0, "score": None}
    assert clean.lead_id == "7" and clean.email == "a@b.io"
    with pytest.raises(LeadValidationError, match="email: expected a string"):
        clean_lead({"email": 3}, SPEC)


def test_column_mode_averages_distinct_column_embeddings() -> None:
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.model.features import embed_text

    spec = ColumnSpec(text_cols=("title", "bio"), cat_cols=(), num_cols=("size",))
    emb = HashingEmbedder(64)
    cols = {"title": ["CTO", "CTO", None], "bio": ["Builds data platforms", None, None]}
    got = embed_text(cols, spec, 3, emb, "columns")
    both = emb.embed(["CTO"])[0] + emb.embed(["Builds data platforms"])[0]
    np.testing.assert_allclose(got[0], both / np.linalg.norm(both), atol=1e-6)
    np.testing.assert_allclose(got[1], emb.embed(["CTO"])[0], atol=1e-6)  # missing bio skipped
    np.testing.assert_allclose(got[2], emb.embed([""])[0], atol=1e-6)
    joint = embed_text(cols, spec, 3, emb, "joint")
    np.testing.assert_allclose(joint[0], emb.embed(["CTO. Builds data platforms"])[0], atol=1e-6)


def test_a_country_too_long_to_be_one_is_no_identity_evidence_but_still_a_feature() -> None:
    """`country` is both a categorical column (long text allowed) and identity evidence: the
    fuzzer's schema-valid 10,000-character country must score, not be refused."""
    spec = ColumnSpec(text_cols=(), cat_cols=("country",), num_cols=())
    clean = clean_lead({"country": "0" * 5000}, spec)
    assert clean.features["country"] == "0" * 5000
    assert clean.who.country is None
    assert clean_lead({"country": "US"}, spec).who.country == "US"
