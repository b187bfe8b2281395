"""Outcomes of logged leads, the backtest and the challenger's decision, on hand-made tables whose
answers are known (leadgen.builder.outcomes, backtest, challenger; the hashed fuzzy match of
leadgen.duplicates.hashed_identity)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from leadgen.builder.backtest import backtest, metric_values, wilson
from leadgen.builder.challenger import decide, logged_columns
from leadgen.builder.outcomes import CustomerIndex, Outcome, lead_outcomes
from leadgen.builder.reader import CrmTable
from leadgen.config import ColumnSpec
from leadgen.duplicates.customer_entries import customer_blocks
from leadgen.duplicates.hashed_identity import hashed, to_json
from leadgen.duplicates.normalise import email_hash, identity_of
from leadgen.names import Metric
from leadgen.stores.score_log import ScoreRecord

KEY = "outcome-key"
AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
OLD = AS_OF - timedelta(days=120)
V1, V2 = "20250101T000000000Z-aaaaaa", "20250201T000000000Z-bbbbbb"

CUSTOMERS = [  # id, first, last, email, company, phone, country, high-value
    ("C1", "Ada", "Ngata", "ada@ngata.io", "Ngata Labs", None, "NZ", True),
    ("C2", "Bo", "Lind", "bo.lind@lindco.se", "Lind Co", None, "SE", False),
    ("C3", "William", "Okafor", "w.okafor@acmesoft.com", "ACME-Soft, Inc.", "+1 555 201 7788",
     "US", True),
    ("C4", "John", "Smith", "js1@globex.com", "Globex", None, "US", False),
    ("C5", "John", "Smith", "js2@globex.com", "Globex", None, "US", True),
]  # fmt: skip


def crm() -> CrmTable:
    cols = list(zip(*CUSTOMERS, strict=True))
    names = ("first_name", "last_name", "email", "company", "phone", "country")
    identity = {n: list(c) for n, c in zip(names, cols[1:7], strict=True) if n != "email"}
    return CrmTable(
        ids=np.array(cols[0]),
        columns={},
        labels=np.array(cols[7], dtype=bool),
        emails=list(cols[3]),
        rows_read=len(CUSTOMERS),
        identity=identity,
    )


def lead(when: datetime = OLD, version: str = V1, **kw: Any) -> ScoreRecord:
    who = kw.pop("who", None)
    person = to_json(hashed(identity_of(*who), KEY)) if who else None
    email = kw.pop("email", None)
    p = kw.pop("p", 0.5)
    return ScoreRecord(
        scored_at=when,
        source="api",
        artifact_version=version,
        lead_id=kw.pop("lead_id", None),
        email_hash=email_hash(email, KEY) if email else None,
        lead_ref=kw.pop("lead_ref", None),
        p_high_value=p,
        percentile=50.0,
        grade=kw.pop("grade", "B"),
        graded_on="p_high_value",
        headline=p,
        features={},
        who=person,
    )


def index(table: CrmTable) -> CustomerIndex:
    blocks = customer_blocks(table, KEY).blocks
    entries = {e.ref: e for block in blocks.values() for e in block}.values()
    return CustomerIndex(table, entries, KEY)


def test_each_rule_in_turn_and_what_it_cannot_see() -> None:
    table = crm()
    records = [
        lead(lead_id="C1"),  # id
        lead(email="Bo.Lind@LindCo.se"),  # email, as typed
        lead(who=("Bill", "Okafor", "bill.o@gmail.com", "Acme Soft", "555-201-7788", "USA")),
        lead(who=("William", "Okafr", "w@gmail.com", "Acme Soft", "555-201-7788", "USA")),  # typo
        lead(who=("John", "Smith", "john@gmail.com", "Globex", None, "US")),  # two John Smiths
        lead(AS_OF - timedelta(days=10), lead_id="C2"),  # too recent
        lead(OLD + timedelta(days=1), lead_id="C1"),  # C1 again, same version: one scoring
        lead(OLD + timedelta(days=2), version=V2, lead_id="C1"),  # by another version: counted
    ]
    out = lead_outcomes(records, table, index(table), AS_OF, 90)
    assert out.counts == {
        "records": 8,
        "scorings": 7,
        "too_recent": 1,
        "matured": 6,
        "matured_leads": 5,
        "not_matched": 2,
        "matched_id": 2,
        "matched_email": 1,
        "matched_fuzzy": 1,
    }
    got = [(o.matched_by, o.row, o.high_value) for o in out.matured]
    assert got == [
        ("id", 0, True),
        ("email", 1, False),
        ("fuzzy", 2, True),  # a nickname still matches: the first name is hashed canonically
        (None, None, False),  # a typo needs the text, which the log never holds
        (None, None, False),  # one-to-one: either John Smith, so neither
        ("id", 0, True),
    ]


def test_the_hashed_identity_holds_no_name() -> None:
    who = identity_of("William", "Okafor", "w.okafor@acmesoft.com", "ACME-Soft", "5552017788", "US")
    text = str(to_json(hashed(who, KEY))).lower()
    for plain in ("william", "okafor", "acme", "2017788", "us'"):
        assert plain not in text
    assert to_json(hashed(identity_of(None, "Okafor"), KEY)) is None  # no name: nothing to match


def test_wilson_interval() -> None:
    assert wilson(8, 10) == (0.4902, 0.9433)
    assert wilson(0, 50)[0] == 0.0 and wilson(0, 0) == (None, None)


def _graded(n_per_grade: dict[str, tuple[int, int, int]]) -> tuple[list[ScoreRecord], CrmTable]:
    """Leads per grade: (leads, became customers, of them high-value); ids L<g><i>."""
    records, ids, labels = [], [], []
    for g, (n, conv, high) in n_per_grade.items():
        for i in range(n):
            p = {"A": 0.9, "B": 0.6, "C": 0.3, "D": 0.1}[g] - i / 1000
            records.append(lead(lead_id=f"L{g}{i}", grade=g, p=p))
            if i < conv:
                ids.append(f"L{g}{i}")
                labels.append(i < high)
    table = CrmTable(np.array(ids), {}, np.array(labels, bool), None, len(ids))
    return records, table


def test_the_backtest_counts_per_grade_exactly_and_ranks() -> None:
    records, table = _graded(
        {"A": (40, 30, 20), "B": (60, 20, 6), "C": (80, 10, 1), "D": (100, 5, 0)}
    )
    out = lead_outcomes(records, table, CustomerIndex(table, [], KEY), AS_OF, 90)
    figures = backtest(out)
    (v1,) = figures["versions"]
    assert v1["version"] == V1 and v1["leads"] == 280 and v1["high_value"] == 27
    rows = {g["grade"]: (g["leads"], g["converted"], g["high_value"]) for g in v1["grades"]}
    assert rows == {"A": (40, 30, 20), "B": (60, 20, 6), "C": (80, 10, 1), "D": (100, 5, 0)}
    a = v1["grades"][0]
    assert a["high_value_rate"] == 0.5 and a["high_value_ci95"] == list(wilson(20, 40))
    assert [d["leads"] for d in v1["deciles"]] == [28] * 10
    assert v1["deciles"][0]["high_value"] == 20  # the top decile: grade A's best 28
    assert v1["ranking"]["auc"] > 0.9 and v1["ranking"]["enough"] is True
    assert v1["calibration"]["customers"] == 65
    values = metric_values({"outcomes": {**out.to_json(), "backtest": figures},
                            "quality": {"headline": {"auc": 0.95}}})  # fmt: skip
    assert values[Metric.MATURED_LEADS] == 280 and values[Metric.REALIZED_GRADE_A_HIGH_VALUE] == 0.5
    assert values[Metric.REALIZED_AUC_GAP] == round(0.95 - values[Metric.REALIZED_AUC], 4)


def test_too_few_matured_leads_put_no_realised_auc() -> None:
    records, table = _graded({"A": (10, 8, 5), "D": (10, 1, 0)})
    out = lead_outcomes(records, table, CustomerIndex(table, [], KEY), AS_OF, 90)
    values = metric_values({"outcomes": {**out.to_json(), "backtest": backtest(out)}})
    assert values == {Metric.MATURED_LEADS: 20.0}


def _leads(n: int, positives: int) -> list[Outcome]:
    return [Outcome(lead(lead_id=str(i)), "id" if i < positives else None,
                    i if i < positives else None, i < positives) for i in range(n)]  # fmt: skip


@pytest.mark.parametrize(
    ("n", "positives", "candidate", "status"),
    [
        (300, 30, "shuffled", "refused"),  # ranks like chance on enough leads
        (300, 30, "slightly_worse", "accepted"),  # within the 0.02 limit
        (300, 30, "better", "accepted"),
        (300, 19, "shuffled", "not_enforced"),  # too few became high-value
        (199, 30, "shuffled", "not_enforced"),  # too few leads
    ],
)
def test_the_gate_refuses_only_a_clearly_worse_candidate_on_enough_leads(
    n: int, positives: int, candidate: str, status: str
) -> None:
    from leadgen.builder.quality import roc_auc

    leads = _leads(n, positives)
    y = np.array([o.high_value for o in leads])
    rng = np.random.default_rng(0)
    serving = np.where(y, 0.6, 0.4) + rng.normal(0, 0.1, n)
    ours = {
        "shuffled": rng.permutation(serving),
        "slightly_worse": serving + rng.normal(0, 0.01, n),
        "better": np.where(y, 1.0, 0.0) + rng.normal(0, 0.01, n),
    }[candidate]
    gate = decide(leads, (ours, None), (serving, None), V1, 0.02)
    assert gate.status == status, gate.reason
    assert (gate.leads, gate.positives) == (n, positives)
    assert gate.candidate["auc"] == round(roc_auc(y, ours), 4)
    if status == "refused":
        assert gate.reason.startswith("challenger gate: realised AUC")
        assert "not publishing" in gate.reason
        low, high = gate.difference_ci95
        assert low is not None and high is not None and low <= high < 0  # clearly worse


def test_logged_inputs_become_the_versions_columns() -> None:
    spec = ColumnSpec(text_cols=("bio",), cat_cols=("industry",), num_cols=("size", "score"))
    cols = logged_columns([{"bio": "x", "industry": 5, "size": "1,2", "score": 3.0},
                           {"size": 12, "extra": "y"}], spec)  # fmt: skip
    assert cols == {
        "bio": ["x", None],
        "industry": ["5", None],
        "size": [None, 12.0],  # text that is not a number is missing
        "score": [3.0, None],
    }


def test_a_large_exports_identities_are_read_with_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading every customer's identity takes a minute at a million rows: the build notes
    each NOTE_EVERY rows read (two rows here), the last one too, and the blocks are the same."""
    from leadgen.duplicates import customer_entries

    monkeypatch.setattr(customer_entries, "NOTE_EVERY", 2)
    notes: list[str] = []
    noted = customer_blocks(crm(), KEY, notes.append)
    assert notes == [
        "2 of 5 customers' identities read",
        "4 of 5 customers' identities read",
        "5 of 5 customers' identities read",
    ]
    assert noted.blocks == customer_blocks(crm(), KEY).blocks
