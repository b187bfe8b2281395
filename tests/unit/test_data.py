"""Tests of the synthetic CRM generator (leadgen.synthetic.crm).

Why these matter: every quality figure of the service is measured on this data, so the properties
the rest of the system relies on are pinned here: determinism, schema, the exact positive rate,
SCD2 history, e-mail duplicates, noise that really is noise, and a label that is learnable from
both the text and the tabular columns.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadgen.synthetic.crm import (
    DATE_COLS,
    DEFAULT_CAT_COLS,
    DEFAULT_NUM_COLS,
    DEFAULT_TEXT_COLS,
    LABEL_COLS,
    example_lead,
    generate_crm,
    write_crm,
)

BASE_SCHEMA = [
    ("customer_id", pa.int64()),
    ("first_name", pa.string()),
    ("last_name", pa.string()),
    ("email", pa.string()),
    ("company", pa.string()),
    ("phone", pa.string()),
    ("industry", pa.string()),
    ("company_size", pa.int64()),
    ("country", pa.string()),
    ("job_title", pa.string()),
    ("bio", pa.string()),
    ("web_activity_score", pa.float64()),
    ("email_engagement_score", pa.float64()),
    ("created_date", pa.date32()),
    ("last_activity_date", pa.date32()),
    ("lifetime_value", pa.float64()),
    ("is_high_value", pa.bool_()),
    ("is_current", pa.bool_()),
]


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))


def _norm_email(email: str) -> str:
    """Deliberately independent of the generator: what a mailbox-level dedup must do."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}@{domain}"


def _col(table: pa.Table, name: str) -> np.ndarray[Any, Any]:
    return table.column(name).to_numpy(zero_copy_only=False)


def _strings(table: pa.Table, name: str) -> list[str]:
    return [str(v) for v in table.column(name).to_pylist()]


def _current(table: pa.Table) -> pa.Table:
    return table.filter(table.column("is_current"))


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


@pytest.fixture(scope="module")
def crm() -> pa.Table:
    return generate_crm(20_000, seed=0, noise_cols=6)


def test_default_column_sets_exist_in_the_table(crm: pa.Table) -> None:
    for name in DEFAULT_TEXT_COLS + DEFAULT_CAT_COLS + DEFAULT_NUM_COLS:
        assert name in crm.column_names


def test_same_seed_gives_byte_identical_table(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"noise_cols": 4, "label_noise": 0.1, "high_value_rate": 0.06}
    a = generate_crm(3_000, seed=7, **kwargs)
    b = generate_crm(3_000, seed=7, **kwargs)
    assert a.equals(b)
    assert _ipc_bytes(a) == _ipc_bytes(b)
    write_crm(a, tmp_path / "a.parquet")
    write_crm(b, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert not generate_crm(3_000, seed=8, **kwargs).equals(a)


def test_columns_and_dtypes(crm: pa.Table) -> None:
    names = [(f.name, f.type) for f in crm.schema]
    assert names[: len(BASE_SCHEMA)] == BASE_SCHEMA
    assert crm.num_rows == 20_000 + 2_000  # current customers + 10% SCD2 history
    nulls = {name: crm.column(name).null_count for name in crm.column_names}
    assert {name for name, n in nulls.items() if n} == {"phone", "last_activity_date"}
    assert 0.2 < nulls["phone"] / crm.num_rows < 0.4  # 30% give none
    assert 0.02 < nulls["last_activity_date"] / crm.num_rows < 0.06  # 4% were never active
    for name in ("web_activity_score", "email_engagement_score"):
        values = _col(crm, name)
        assert values.min() >= 0.0 and values.max() <= 1.0
    assert _col(crm, "company_size").min() >= 1
    assert _col(crm, "lifetime_value").min() > 0


def test_customer_ids_unique_among_current_rows_and_sorted(crm: pa.Table) -> None:
    current = _current(crm)
    ids = _col(current, "customer_id")
    assert current.num_rows == 20_000
    assert len(np.unique(ids)) == len(ids)
    assert np.all(np.diff(_col(crm, "customer_id")) >= 0)


@pytest.mark.parametrize("rate", [0.02, 0.06, 0.10, 0.173, 0.30])
def test_positive_rate_is_exact(rate: float) -> None:
    table = _current(generate_crm(4_000, seed=1, high_value_rate=rate))
    assert int(_col(table, "is_high_value").sum()) == _round(rate * 4_000)


def test_lifetime_value_top_decile_is_the_label_at_ten_percent(crm: pa.Table) -> None:
    current = _current(crm)
    ltv, label = _col(current, "lifetime_value"), _col(current, "is_high_value")
    assert np.array_equal(ltv >= np.quantile(ltv, 0.9), label)


def test_history_rows_are_older_versions_of_current_customers(crm: pa.Table) -> None:
    is_current = _col(crm, "is_current")
    ids = _col(crm, "customer_id")
    hist_ids = ids[~is_current]
    assert len(hist_ids) == 2_000
    assert np.isin(hist_ids, ids[is_current]).all()
    # Where a customer has exactly one history row, it sits right before the current row and
    # carries older values: lower engagement and a different (junior) title for most.
    pos = np.flatnonzero(~is_current)
    nxt = pos + 1
    ok = (nxt < len(ids)) & is_current[np.minimum(nxt, len(ids) - 1)]
    pos, nxt = pos[ok], nxt[ok]
    assert np.array_equal(ids[pos], ids[nxt])
    web = _col(crm, "web_activity_score")
    assert np.all(web[pos] <= web[nxt])
    titles = _col(crm, "job_title")
    assert np.mean(titles[pos] != titles[nxt]) > 0.8
    emails = _col(crm, "email")
    assert np.array_equal(emails[pos], emails[nxt])
    assert np.array_equal(_col(crm, "last_name")[pos], _col(crm, "last_name")[nxt])


def test_duplicate_people_have_email_variants_that_normalise_equal(crm: pa.Table) -> None:
    current = _current(crm)
    raw = _strings(current, "email")
    assert len(set(raw)) == len(raw)  # raw addresses all differ ...
    norm = [_norm_email(e) for e in raw]
    groups = Counter(norm)
    dup_keys = {k for k, c in groups.items() if c > 1}
    assert len(raw) - len(groups) == _round(0.02 * 20_000)  # ... but 2% are the same mailbox
    first, last = _strings(current, "first_name"), _strings(current, "last_name")
    people: dict[str, set[tuple[str, str]]] = {}
    for key, f, la in zip(norm, first, last, strict=True):
        if key in dup_keys:
            people.setdefault(key, set()).add((f, la))
    assert all(len(names) == 1 for names in people.values())  # the same person each time
    variants = [e for e, k in zip(raw, norm, strict=True) if k in dup_keys]
    assert any("+" in e for e in variants)
    assert any(e != e.lower() for e in variants)
    gmail = [e.lower().strip() for e in variants if "@gmail.com" in e.lower()]
    assert {"." in e.split("@")[0] for e in gmail} == {True, False}


def test_emails_look_real(crm: pa.Table) -> None:
    domains = Counter(e.strip().lower().split("@")[1] for e in _strings(crm, "email"))
    assert domains.most_common(1)[0][0] == "gmail.com"
    assert {"outlook.com", "yahoo.com", "hotmail.com", "googlemail.com"} <= set(domains)
    free = {"gmail.com", "googlemail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com"}
    company = set(domains) - free - {"protonmail.com"}
    assert len(company) > 100
    assert sum(domains[d] for d in company) > 0.3 * sum(domains.values())


def test_text_columns_are_varied_but_repetitive(crm: pa.Table) -> None:
    current = _current(crm)
    titles = Counter(_strings(current, "job_title"))
    assert len(titles) >= 50
    assert titles.most_common(1)[0][1] > 100  # real CRMs repeat titles a lot
    bios = _strings(current, "bio")
    n_sentences = Counter(b.count(". ") + 1 for b in bios if b)
    assert set(n_sentences) >= {1, 2, 3}
    assert 1_000 < len(set(bios)) < len(bios)
    assert sum(c for c in Counter(bios).values() if c > 1) > 2_000
    assert len(set(_strings(current, "country"))) == 15
    industries = Counter(_strings(current, "industry"))
    assert len(industries) == 12
    assert max(industries.values()) > 3 * min(industries.values())  # skewed


def test_noise_columns_alternate_and_are_unrelated_to_the_label(crm: pa.Table) -> None:
    names = crm.column_names[len(BASE_SCHEMA) :]
    assert names == [f"noise_{kind}_{i}" for i in range(3) for kind in ("num", "cat")]
    current = _current(crm)
    label = _col(current, "is_high_value").astype(np.float64)
    for name in names:
        values = _col(current, name)
        if name.startswith("noise_num"):
            assert current.schema.field(name).type == pa.float64()
            assert abs(np.corrcoef(values, label)[0, 1]) < 0.05
        else:
            assert current.schema.field(name).type == pa.string()
            levels = np.unique(values)
            assert 5 <= len(levels) <= 50
            worst = max(abs(np.corrcoef(values == lv, label)[0, 1]) for lv in levels)
            assert worst < 0.05


def test_options_only_change_what_they_are_about() -> None:
    base = generate_crm(3_000, seed=2)
    noisy_cols = generate_crm(3_000, seed=2, noise_cols=5)
    assert noisy_cols.select(base.column_names).equals(base)
    flipped = generate_crm(3_000, seed=2, label_noise=0.2)
    features = [c for c in base.column_names if c not in ("is_high_value", "lifetime_value")]
    assert flipped.select(features).equals(base.select(features))
    cur_a, cur_b = _current(base), _current(flipped)
    a, b = _col(cur_a, "is_high_value"), _col(cur_b, "is_high_value")
    assert a.sum() == b.sum() == 300  # the positive rate stays exact
    assert (a != b).sum() == 2 * _round(0.2 * 3_000 / 2)  # 20% of the labels flipped
    no_history = generate_crm(3_000, seed=2, history_fraction=0.0)
    assert no_history.num_rows == 3_000
    assert no_history.equals(cur_a)


def test_label_is_learnable_from_text_and_from_tabular_features() -> None:
    sk_lr = pytest.importorskip("sklearn.linear_model")
    sk_text = pytest.importorskip("sklearn.feature_extraction.text")
    sk_metrics = pytest.importorskip("sklearn.metrics")
    from scipy import sparse

    table = _current(generate_crm(8_000, seed=3))
    y = _col(table, "is_high_value")
    train, test = np.arange(6_000), np.arange(6_000, 8_000)

    onehot = [
        (_col(table, c)[:, None] == np.unique(_col(table, c))[None, :]) for c in DEFAULT_CAT_COLS
    ]
    num = np.column_stack(
        [
            np.log(_col(table, "company_size")),
            _col(table, "web_activity_score"),
            _col(table, "email_engagement_score"),
        ]
    )
    num = (num - num.mean(axis=0)) / num.std(axis=0)
    tabular = sparse.csr_matrix(np.column_stack([*onehot, num]).astype(np.float64))
    text = [f"{t} {b}" for t, b in zip(_col(table, "job_title"), _col(table, "bio"), strict=True)]
    bow = sk_text.CountVectorizer(binary=True, min_df=2).fit_transform(text)

    def auc(x: Any) -> float:
        x = sparse.csr_matrix(x)
        model = sk_lr.LogisticRegression(max_iter=2_000).fit(x[train], y[train])
        return float(sk_metrics.roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))

    auc_tab, auc_text = auc(tabular), auc(bow)
    auc_all = auc(sparse.hstack([tabular, bow]))
    assert auc_all > 0.9
    assert auc_tab > 0.75 and auc_text > 0.75  # both halves carry signal ...
    assert abs(auc_tab - auc_text) < 0.08  # ... in roughly equal parts
    assert auc_all > max(auc_tab, auc_text) + 0.05  # and they add up


def test_seniority_and_industry_separate_the_classes(crm: pa.Table) -> None:
    current = _current(crm)
    y = _col(current, "is_high_value")
    titles = _col(current, "job_title")
    prefixes = ("VP", "Vice", "SVP", "Head", "Director", "C")
    senior = np.array([t.startswith(prefixes) for t in titles])
    assert senior[y].mean() > 2 * senior[~y].mean()
    industry = _col(current, "industry")
    good = np.isin(industry, ["Software", "Finance"])
    bad = np.isin(industry, ["Retail", "Education"])
    assert y[good].mean() > 2 * y[bad].mean()
    bios = _col(current, "bio")
    buyer = np.array(["enterprise" in b or "procurement" in b for b in bios])
    assert y[buyer].mean() > 2 * y[~buyer].mean()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rows": 1}, "rows"),
        ({"rows": 10.5}, "rows"),
        ({"rows": True}, "rows"),
        ({"seed": -1}, "seed"),
        ({"noise_cols": -1}, "noise_cols"),
        ({"noise_cols": 2.0}, "noise_cols"),
        ({"label_noise": -0.1}, "label_noise"),
        ({"label_noise": 0.5}, "label_noise"),
        ({"label_noise": float("nan")}, "label_noise"),
        ({"high_value_rate": 0.01}, "high_value_rate"),
        ({"high_value_rate": 0.31}, "high_value_rate"),
        ({"high_value_rate": "0.1"}, "high_value_rate"),
        ({"history_fraction": 1.5}, "history_fraction"),
        ({"duplicate_fraction": 0.6}, "duplicate_fraction"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        generate_crm(**kwargs)


def test_tiny_tables_work() -> None:
    table = generate_crm(2, seed=0)
    assert _current(table).num_rows == 2
    assert int(_col(_current(table), "is_high_value").sum()) == 1


def test_write_crm_is_atomic_and_creates_parent(tmp_path: Path) -> None:
    table = generate_crm(500, seed=4, noise_cols=2)
    target = tmp_path / "nested" / "dir" / "crm.parquet"
    write_crm(table, str(target))
    assert pq.read_table(target).equals(table)
    write_crm(generate_crm(300, seed=5), target)  # replaces in place
    assert pq.read_table(target).num_rows == 300 + 30
    assert [p.name for p in target.parent.iterdir()] == ["crm.parquet"]  # no temp files left


def test_write_crm_failure_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "crm.parquet"
    write_crm(generate_crm(100, seed=0), target)
    before = target.read_bytes()
    with pytest.raises((TypeError, AttributeError, pa.ArrowException)):
        write_crm("not a table", target)  # type: ignore[arg-type]
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["crm.parquet"]


def test_example_lead_is_a_json_ready_new_customer(crm: pa.Table) -> None:
    lead = example_lead()
    expected = [c for c, _ in BASE_SCHEMA if c not in (*LABEL_COLS, *DATE_COLS)]
    assert list(lead) == expected
    assert json.loads(json.dumps(lead)) == lead
    assert example_lead(1) == lead and example_lead(2) != lead
    types = dict(BASE_SCHEMA)
    for key, value in lead.items():
        py_type = {pa.string(): str, pa.int64(): int, pa.float64(): float}[types[key]]
        assert isinstance(value, py_type), key
    assert lead["bio"]
    known = {_norm_email(e) for e in _strings(crm, "email")}
    assert _norm_email(str(lead["email"])) not in known  # a new person, not a duplicate
