"""report.html's section "What happened to the leads we scored": the outcomes of logged leads, the
backtest of the versions that scored them and the challenger gate's comparison.

It renders build_report.json's `outcomes` and `challenger` sections (leadgen.builder.outcomes,
backtest, challenger) with the page's helpers (leadgen.builder.report_html: every number carries
its data-key, here with a version, a grade or a decile addressing list items) and is kept apart
so the page around it can be rearranged without touching it. At most MAX_VERSIONS versions are
drawn, the newest first; the JSON holds them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadgen.builder import charts
from leadgen.builder.report_html import esc, img, kpi, num, table

TITLE = "What happened to the leads we scored"
MAX_VERSIONS = 3
RULE_LABELS = (
    ("matched_id", "became customers, found by id"),
    ("matched_email", "found by email hash"),
    ("matched_fuzzy", "found by identity (fuzzy)"),
    ("not_matched", "not customers (yet)"),
    ("too_recent", "too recent to judge"),
)


def section(report: Mapping[str, Any]) -> str:
    outcomes = report.get("outcomes") or {}
    head = f'<h2 id="outcomes">{esc(TITLE)}</h2>'
    if "counts" not in outcomes:
        why = outcomes.get("status", "no score log configured")
        return f'{head}<p class="note" id="outcomes-none">No outcomes: {esc(why)}.</p>'
    versions = (outcomes.get("backtest") or {}).get("versions") or []
    parts = [head, _counts(outcomes), _challenger(report.get("challenger") or {})]
    parts += [_version(v) for v in versions[:MAX_VERSIONS]]
    if not versions:
        parts.append('<p class="note">No logged lead is old enough to judge yet.</p>')
    return "".join(parts)


def _counts(outcomes: Mapping[str, Any]) -> str:
    counts = outcomes["counts"]
    kpis = kpi("matured scorings", num("outcomes.counts.matured", counts.get("matured")))
    kpis += kpi("logged records", num("outcomes.counts.records", counts.get("records")))
    rows = [[esc(label), num(f"outcomes.counts.{k}", counts.get(k))] for k, label in RULE_LABELS]
    note = (
        f'<p class="note">A lead scored at least {esc(outcomes.get("maturity_days"))} days before '
        f"this build ({esc(outcomes.get('as_of'))}) is judged on this export: found by its id, "
        "else its keyed email hash, else its hashed identity, it became a customer (high-value "
        "when that customer is). A lead scored twice by one version counts once.</p>"
    )
    return kpis + table(["logged leads", "scorings"], rows) + note


def _challenger(gate: Mapping[str, Any]) -> str:
    status = gate.get("status", "skipped")
    text = f'<p id="challenger-status"><b>Challenger gate: {esc(status)}</b> — '
    text += f"{esc(gate.get('reason', ''))}</p>"
    if status in ("skipped",):
        return "<h3>Challenger gate</h3>" + text
    rows = [
        [
            esc(label),
            num(f"challenger.candidate.{k}", (gate.get("candidate") or {}).get(k)),
            num(f"challenger.serving.{k}", (gate.get("serving") or {}).get(k)),
        ]
        for k, label in (
            ("auc", "realised AUC"),
            ("lift@20%", "lift@20%"),
            ("calibration_error", "calibration error (customers)"),
        )
    ]
    compared = table(["on the same matured leads", "this build", "serving version"], rows)
    note = ""
    if status == "not_enforced":
        note = (
            '<p class="note">Reported, not enforced: the gate decides from '
            f"{num('challenger.min_leads', gate.get('min_leads'))} matured leads of which "
            f"{num('challenger.min_positives', gate.get('min_positives'))} became high-value.</p>"
        )
    return "<h3>Challenger gate</h3>" + text + compared + note


def _version(v: Mapping[str, Any]) -> str:
    key = f"outcomes.backtest.versions.{v['version']}"
    rank = v.get("ranking") or {}
    kpis = (
        kpi("matured leads", num(f"{key}.leads", v.get("leads")))
        + kpi("became customers", num(f"{key}.conversion_rate", v.get("conversion_rate"), 3, True))
        + kpi("became high-value", num(f"{key}.high_value_rate", v.get("high_value_rate"), 3, True))
        + kpi("realised AUC", num(f"{key}.ranking.auc", rank.get("auc")))
        + kpi("lift@10%", num(f"{key}.ranking.lift@10%", rank.get("lift@10%")))
        + kpi("lift@20%", num(f"{key}.ranking.lift@20%", rank.get("lift@20%")))
    )
    pics = [img(charts.rate_bars("High-value rate per grade", v["grades"], "grade"), "grades")]
    cal = v.get("calibration") or {}
    if cal.get("reliability"):
        title = "Reliability (leads that became customers)"
        pics.append(img(charts.reliability(cal["reliability"], cal["ece"] or 0.0, title), "cal"))
    graded = ", ".join(v.get("graded_on") or [])
    return (
        f"<h3>Version {esc(v['version'])} (graded on {esc(graded)})</h3>{kpis}"
        f'<div class="grid">{"".join(pics)}</div>'
        + _rate_table(f"{key}.grades", v["grades"], "grade")
        + _rate_table(f"{key}.deciles", v["deciles"], "decile")
        + _calibration_note(key, cal)
    )


def _rate_table(key: str, rows: list[Mapping[str, Any]], label: str) -> str:
    def ci(row_key: str, bounds: list[Any]) -> str:
        lo, hi = bounds
        return f"{num(f'{row_key}.0', lo, 3, True)} – {num(f'{row_key}.1', hi, 3, True)}"

    body = []
    for r in rows:
        k = f"{key}.{r[label]}"
        body.append(
            [
                esc(r[label]),
                num(f"{k}.leads", r["leads"]),
                num(f"{k}.conversion_rate", r["conversion_rate"], 3, True),
                ci(f"{k}.conversion_ci95", r["conversion_ci95"]),
                num(f"{k}.high_value", r["high_value"]),
                num(f"{k}.high_value_rate", r["high_value_rate"], 3, True),
                ci(f"{k}.high_value_ci95", r["high_value_ci95"]),
            ]
        )
    head = [label, "leads", "became customers", "95% interval", "high-value", "rate", "95%"]
    return table(head, body)


def _calibration_note(key: str, cal: Mapping[str, Any]) -> str:
    if not cal:
        return '<p class="note">No p_high_value (graded on contrast): no calibration.</p>'
    customers = num(f"{key}.calibration.customers", cal.get("customers"))
    error = num(f"{key}.calibration.ece", cal.get("ece"))
    return (
        f"<p>Calibration of p_high_value on the {customers} leads that became customers: "
        f"expected calibration error {error}.</p>"
    )
