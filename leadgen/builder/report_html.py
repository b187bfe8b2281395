"""report.html: the build report as one self-contained page for the people who decide whether to
trust the scores (sales ops, the ML engineer on call).

It renders the same dict that becomes build_report.json (plus the holdout's score arrays for the
curves), so the page and the JSON cannot disagree: every number shown carries `data-key` (its
dotted path in build_report.json; a list item is addressed by its "grade" or "column") and
`data-value` (the JSON value), which tests/functional/test_report_page.py reads back from the
DOM headless Chromium produced. Templates are plain strings; every value is html-escaped; charts
are inline PNGs (leadgen.builder.charts); there is no script and no external resource.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from leadgen.builder import charts
from leadgen.builder.ranges_table import ranges_section
from leadgen.builder.summary import HEADLINE_AUC, SERVED_AUC

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;
color:#1b1b1b}
h1{font-size:22px;margin:8px 0}h2{border-bottom:2px solid #4472c4;padding-bottom:4px;
margin-top:32px}table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;
padding:3px 8px;text-align:right}th{background:#eef2fa}td:first-child,th:first-child{
text-align:left}.grid{display:flex;flex-wrap:wrap;gap:12px}.grid img{border:1px solid #ddd}
.note{color:#555}.warn{color:#b00000;font-weight:600}
#summary{border:1px solid #c9d3e8;background:#f7f9fd;padding:4px 16px 8px;margin:8px 0}
#summary h2{margin-top:8px}#summary-sentence{font-size:18px;font-weight:600}
#warnings{border-left:4px solid #b00000;background:#fff4f4;padding:4px 12px;margin:8px 0}
#warnings li{color:#b00000}#not-used li,#terms{font-size:13px}#terms dt{font-weight:600;
display:inline}#terms dd{display:inline;margin:0 12px 0 4px}details>summary{font-size:18px;
font-weight:600;margin-top:24px;cursor:pointer}.kpi{display:inline-block;margin:4px 18px
4px 0}.kpi .num{font-size:20px;font-weight:600}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def num(key: str, value: Any, digits: int = 4, percent: bool = False) -> str:
    """A number as shown, with its build_report.json path and raw value for machines."""
    if value is None:
        text = "n/a"
    elif percent:
        text = f"{100 * float(value):.{max(digits - 2, 0)}f}%"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = f"{float(value):.{digits}g}"
    raw = "" if value is None else json.dumps(value)
    return f'<span class="num" data-key="{esc(key)}" data-value="{esc(raw)}">{esc(text)}</span>'


def table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Cells are HTML already (escaped by the caller or made by `num`)."""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def img(uri: str, alt: str) -> str:
    return f'<img src="{esc(uri)}" alt="{esc(alt)}">'


def kpi(label: str, value_html: str) -> str:
    return f'<div class="kpi">{esc(label)}<br>{value_html}</div>'


def summary_section(summary: Mapping[str, Any]) -> str:
    """The plain-words first section (leadgen.builder.summary): what, from which columns, how
    well, warnings, then what is not used and why, grouped by reason so it stays short."""
    well = summary["how_well"]
    columns = ", ".join(summary["columns"])
    parts = [
        '<section id="summary"><h2>In short</h2>',
        f"<p>This model predicts {esc(summary['predicts'])}, from {len(summary['columns'])} "
        f"columns: {esc(columns)}.</p>",
        f'<p id="summary-sentence">{esc(well["sentence"])}</p>',
        f'<p class="note">{esc(HEADLINE_AUC[0].upper() + HEADLINE_AUC[1:])} '
        f"{num('summary.how_well.auc', well['auc'])}, on "
        f"{num('summary.how_well.holdout_rows', well['holdout_rows'])} holdout customers.</p>",
    ]
    if summary["warnings"]:
        items = "".join(f"<li>{esc(w)}</li>" for w in summary["warnings"])
        parts.append(f'<div id="warnings"><b>Warnings</b><ul>{items}</ul></div>')
    groups: dict[str, list[str]] = {}
    for item in summary["not_used"]:
        groups.setdefault(item["reason"], []).append(item["column"])
    items = "".join(
        f"<li>{esc(', '.join(cols))}: {esc(reason)}</li>" for reason, cols in groups.items()
    )
    parts.append(f'<div id="not-used"><b>Not used</b><ul>{items or "<li>none</li>"}</ul></div>')
    terms = "".join(f"<dt>{esc(t)}</dt><dd>{esc(d)}</dd>" for t, d in summary["terms"].items())
    parts.append(f'<dl id="terms">{terms}</dl></section>')
    return "".join(parts)


def data_section(report: Mapping[str, Any]) -> str:
    rows = report["rows"]
    kpis = "".join(
        kpi(label, num(f"rows.{k}", rows[k]))
        for label, k in (
            ("rows read", "read"),
            ("current customers", "current_customers"),
            ("high-value (positives)", "high_value"),
        )
    )
    dropped = table(
        ["dropped because", "rows"],
        [[esc(reason), num(f"rows.dropped.{reason}", n)] for reason, n in rows["dropped"].items()],
    )
    columns = table(
        ["column", "role", "type", "missing share"],
        [
            [
                esc(c["column"]),
                esc(c["role"]),
                esc(c["type"]),
                num(f"data.columns.{c['column']}.missing_share", c["missing_share"], percent=True),
            ]
            for c in report.get("data", {}).get("columns", [])
        ],
    )
    return f"<h2>Data</h2>{kpis}{dropped}<h3>Columns used</h3>{columns}"


def _score_table(quality: Mapping[str, Any]) -> str:
    rows = [
        [
            esc(name),
            num(f"quality.scores.{name}.auc", f.get("auc")),
            num(f"quality.scores.{name}.lift@10%", f.get("lift@10%")),
            num(f"quality.scores.{name}.lift@20%", f.get("lift@20%")),
        ]
        for name, f in quality["scores"].items()
    ]
    return table(["score", "AUC", "lift@10%", "lift@20%"], rows)


def _grade_table(quality: Mapping[str, Any]) -> str:
    rows = [
        [
            esc(g["grade"]),
            esc(f"≥ {g['min_percentile']}"),
            num(f"quality.grades.{g['grade']}.customers", g["customers"]),
            num(f"quality.grades.{g['grade']}.share", g["share"], percent=True),
            num(f"quality.grades.{g['grade']}.high_value_rate", g["high_value_rate"], percent=True),
        ]
        for g in quality.get("grades", [])
    ]
    return table(
        ["grade", "percentile", "holdout customers", "share of the holdout", "high-value rate"],
        rows,
    )


def quality_section(
    quality: Mapping[str, Any], labels: np.ndarray, scores: Mapping[str, np.ndarray]
) -> str:
    head = quality["headline"]
    kpis = (
        kpi("headline score", esc(head["score"]))
        + kpi(HEADLINE_AUC, num("quality.headline.auc", head.get("auc")))
        + kpi("lift@10%", num("quality.headline.lift@10%", head.get("lift@10%")))
        + kpi("holdout customers", num("quality.holdout_rows", quality["holdout_rows"]))
    )
    roc_title = "ROC (holdout)"
    if head.get("auc") is not None:
        roc_title += f": {HEADLINE_AUC} {head['auc']:.3f}"
    pics = [
        img(charts.gains(labels, scores), charts.GAINS_TITLE),
        img(charts.roc(labels, scores, roc_title), roc_title),
    ]
    calib = quality.get("calibration")
    cal_html = '<p class="note">The headline is not a probability: no reliability curve.</p>'
    if calib:
        pics.append(
            img(charts.reliability(calib["reliability"], calib["ece"]), "Reliability (holdout)")
        )
        cal_html = (
            f"<p>Expected calibration error: {num('quality.calibration.ece', calib['ece'])}</p>"
        )
    dist = quality.get("distributions", {}).get("headline")
    if dist:
        pics.append(img(charts.distribution(dist, head["source"]), "score distribution"))
    return (
        f"<h2>Quality (holdout)</h2>{kpis}{_score_table(quality)}"
        f'<div class="grid">{"".join(pics)}</div>{cal_html}'
        "<h3>Grades, measured on the holdout customers</h3>"
        f"{_grade_table(quality)}"
    )


def importance_section(importance: Mapping[str, Any]) -> str:
    """Each column's mean |contribution| over the holdout customers, in a lead's drivers' units
    and names (leadgen.builder.importance)."""
    values = importance.get("mean_abs_contribution") or {}
    if not values:
        return ""
    rows = [[esc(c), num(f"importance.mean_abs_contribution.{c}", v)] for c, v in values.items()]
    return (
        "<h3>What moves the scores</h3>"
        + img(charts.importance(values, importance["unit"]), charts.IMPORTANCE_TITLE)
        + table(["column", importance["unit"]], rows)
        + f'<p class="note">Over {num("importance.customers", importance["customers"])} '
        "holdout customers scored as leads are: the same numbers as a lead's drivers.</p>"
    )


def model_section(report: Mapping[str, Any]) -> str:
    quality, parts = report["quality"], ["<h2>Model</h2>"]
    served = quality.get("serving_path") or {}
    if served:
        parts.append(kpi(SERVED_AUC, num("quality.serving_path.auc_served", served["auc_served"])))
    parts.append(importance_section(report.get("importance") or {}))
    weights = quality.get("column_weights") or {}
    if weights:
        title = "Learned column weights (kNN space)"
        parts.append(img(charts.bars(title, weights), title))
        parts.append(
            table(
                ["column", "weight"],
                [[esc(c), num(f"quality.column_weights.{c}", w)] for c, w in weights.items()],
            )
        )
    head = quality.get("head") or {}
    if head:
        parts.append(f"<p>Head: <b>{esc(head.get('chosen'))}</b> — {esc(head.get('why', ''))}</p>")
    else:
        parts.append(f"<p>No supervised head: {esc(quality['headline'].get('reason', ''))}</p>")
    rows = [
        [
            esc(name),
            esc(info.get("kind")),
            num(f"indices.{name}.size", info.get("size")),
            num(f"indices.{name}.recall_at_k", info.get("recall_at_k")),
        ]
        for name, info in report.get("indices", {}).items()
    ]
    parts.append(table(["index", "kind", "vectors", "measured recall@k"], rows))
    return "".join(parts)


def drift_section(drift: Mapping[str, Any]) -> str:
    if drift.get("first_version"):
        return (
            '<h2>Drift</h2><p id="drift-first-version">First version: '
            f"{esc(drift.get('reason', 'nothing to compare with'))}.</p>"
        )
    label, score, grades = drift["label_rate"], drift["score"], drift["grade_change"]
    kpis = (
        kpi("max column PSI", num("drift.max_psi", drift["max_psi"]))
        + kpi("label-rate change", num("drift.label_rate.change", label["change"], percent=True))
        + kpi("score PSI", num("drift.score.psi", score.get("psi")))
        + kpi("score mean shift", num("drift.score.shift", score.get("shift")))
        + kpi(
            "grade changed",
            num("drift.grade_change.changed_share", grades["changed_share"], percent=True),
        )
    )
    rows = [
        [
            esc(c["column"]),
            esc(c["kind"]),
            num(f"drift.columns.{c['column']}.psi", c["psi"]),
            num(
                f"drift.columns.{c['column']}.missing_previous", c["missing_previous"], percent=True
            ),
            num(f"drift.columns.{c['column']}.missing_current", c["missing_current"], percent=True),
        ]
        for c in drift["columns"]
    ]
    warn = ""
    if (drift["max_psi"] or 0) > charts.PSI_MAJOR:
        warn = (
            f'<p class="warn">{esc(drift["max_psi_column"])} changed population (PSI > 0.25).</p>'
        )
    return (
        f"<h2>Drift since {esc(drift['previous_version'])}</h2>{kpis}{warn}"
        + img(charts.psi_bars(drift["columns"]), "PSI per column")
        + table(["column", "kind", "PSI", "missing before", "missing now"], rows)
        + _drift_note(label, grades)
    )


def _drift_note(label: Mapping[str, Any], grades: Mapping[str, Any]) -> str:
    before = num("drift.label_rate.previous", label["previous"], percent=True)
    now = num("drift.label_rate.current", label["current"], percent=True)
    compared = num("drift.grade_change.customers_compared", grades["customers_compared"])
    return (
        f'<p class="note">Label rate {before} → {now}; grades compared on {compared} customers. '
        "PSI over the previous version's decile bins (categories: its most common values), "
        "plus a missing bin, empty bins floored at 1e-4; below 0.1 stable, above 0.25 a "
        "population change.</p>"
    )


def duplicates_section(identity: Mapping[str, Any]) -> str:
    """The people the duplicate check knows from this export, and the export's own duplicates:
    one person under two ids splits their history (and their label) between two customers."""
    dups = identity.get("export_duplicates")
    if not dups:
        return ""
    kpis = "".join(
        kpi(label, num(f"identity.{key}", value))
        for label, key, value in (
            ("people known", "entries", identity.get("entries", 0)),
            ("of them customers", "customers", identity.get("customers", 0)),
            (
                "pairs with one email",
                "export_duplicates.same_email.pairs",
                dups["same_email"]["pairs"],
            ),
            (
                "pairs the fuzzy check calls one person",
                "export_duplicates.fuzzy.pairs",
                dups["fuzzy"]["pairs"],
            ),
            ("rows involved", "export_duplicates.people_involved", dups["people_involved"]),
        )
    )
    rows = [
        [esc(how), esc(a), esc(b)]
        for how, key in (("same email", "same_email"), ("fuzzy", "fuzzy"))
        for a, b in dups[key]["examples"]
    ]
    fields = ", ".join(identity.get("fields", [])) or "none"
    fuzzy = dups["fuzzy"]
    sample = (
        f"{fuzzy['people_scanned']:,} of {fuzzy['people']:,} people (a fixed sample) were "
        "matched against the others; "
        if fuzzy.get("people_scanned", 0) < fuzzy.get("people", 0)
        else ""
    )
    examples = table(["how", "id", "same person as id"], rows) if rows else ""
    return (
        f"<h2>Duplicates in the export</h2>{kpis}{examples}"
        f'<p class="note">Identity fields read: {esc(fields)}. Pairs are looked for within the '
        f"duplicate check's blocks (as a lead would be matched); {esc(sample)}merge them in the "
        "CRM, or the person's history is split between two customers.</p>"
    )


def render(
    report: Mapping[str, Any], labels: np.ndarray, scores: Mapping[str, np.ndarray]
) -> bytes:
    """The whole page. `labels`/`scores`: the holdout's, for the gains and ROC curves."""
    from leadgen.builder.report_outcomes import section as outcomes_section

    title = f"leadgen build {report['version']}"
    previous = report.get("previous_version") or "none"
    header = (
        f'<h1>{esc(title)}</h1><p class="note">built {esc(report["created_at"])} from '
        f"{esc(report.get('input'))}; previous version {esc(previous)}; "
        f"embedder {esc(report.get('embedder', {}).get('kind', ''))}</p>"
    )
    detail = "".join(
        [
            data_section(report),
            ranges_section(report.get("ranges")),
            quality_section(report["quality"], labels, scores),
            model_section(report),
            duplicates_section(report.get("identity", {})),
            drift_section(report.get("drift", {"first_version": True})),
            outcomes_section(report),
        ]
    )
    summary = summary_section(report["summary"]) if "summary" in report else ""
    body = (
        f"{header}{summary}<details><summary>Detail for data scientists: data, quality, model, "
        f"drift</summary>{detail}</details>"
    )
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return page.encode()
