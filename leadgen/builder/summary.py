"""The report's first section, in plain words, for the people who use the grades.

What the model predicts, from which columns, how well (one number with its meaning: "of the
holdout customers graded A, 52% were high-value, against 9% overall"), which of the export's
columns it does not use and why, and what to be careful about (columns allowed although they
look like the outcome, few high-value customers, drift, the reader's warnings). It is plain JSON
under report["summary"], so build_report.json and report.html say the same thing; the build's
last line uses the same names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leadgen.builder.leaks import shell_word
from leadgen.builder.outcome_columns import outcome_reason
from leadgen.builder.unconfigured_leaks import person_columns
from leadgen.config import BuildConfig

# The names of the AUCs, the same in the build's printed lines, build_report.json's summary and
# report.html: one AUC per figure or line, each with its name.
HEADLINE_AUC = "holdout AUC of the published score"
SERVED_AUC = "holdout AUC through the published indices"
CANDIDATES = "holdout, every candidate score (the report's detail)"

# Fewer high-value customers than this: every figure of the holdout rests on a handful of them.
FEW_POSITIVES = 100
PSI_MAJOR = 0.25  # a population change (leadgen.builder.charts.PSI_MAJOR)

TERMS = {
    "grade": "A, B, C or D: where a lead's score falls among the customers' scores (A: the top "
    "10% by default).",
    "holdout customers": "customers set aside before the model was fitted, then graded like new "
    "leads: the figures here are measured on them.",
    "high-value rate": "the share of customers in a group that are high-value.",
    "AUC": "the chance that a high-value customer is ranked above another one (0.5: a coin, "
    "1.0: perfect).",
    "drivers": "the columns that moved a lead's score most, up or down, in the model's own "
    "units (log-odds).",
}


def label_words(rule: Mapping[str, Any]) -> str:
    """'Is Won' is true / 'StageName' is Closed Won / the top 10% of 'Annual Revenue'."""
    column = rule["column"]
    if rule.get("quantile") is not None:
        return f"in the top {1 - float(rule['quantile']):.0%} of {column!r}"
    values = rule.get("values") or []
    if values:
        return f"{column!r} is {' or '.join(values)}"
    return f"{column!r} is true"


def summary(
    report: Mapping[str, Any], cfg: BuildConfig, export_columns: Sequence[str]
) -> dict[str, Any]:
    """report["summary"]: the plain-words section (the holdout and drift parts of `report`
    must be there)."""
    quality = report["quality"]
    used = list(cfg.columns.all_cols)
    label = label_words(cfg.high_value.to_json())
    out: dict[str, Any] = {
        "predicts": f"whether a lead becomes a high-value customer ({label})",
        "columns": used,
        "how_well": how_well(quality),
        "not_used": not_used(cfg, export_columns, report.get("leaks", {})),
        "warnings": warnings(report),
        "terms": TERMS,
    }
    return out


def how_well(quality: Mapping[str, Any]) -> dict[str, Any]:
    """The A grade's high-value rate on the holdout against the holdout's overall rate."""
    rows, positives = quality["holdout_rows"], quality["holdout_positives"]
    overall = round(positives / rows, 4) if rows else None
    top = next((g for g in quality.get("grades", []) if g["customers"]), None)
    auc = quality["headline"].get("auc")
    if top is None or overall is None:
        sentence = "No holdout customer was graded: nothing measures the grades yet."
    else:
        sentence = (
            f"Of the {top['customers']} holdout customers graded {top['grade']}, "
            f"{top['high_value_rate']:.0%} were high-value, against {overall:.0%} overall."
        )
    return {
        "grade": None if top is None else top["grade"],
        "grade_customers": None if top is None else top["customers"],
        "grade_high_value_rate": None if top is None else top["high_value_rate"],
        "overall_rate": overall,
        "holdout_rows": rows,
        "auc": auc,
        "auc_name": HEADLINE_AUC,
        "sentence": sentence,
    }


def not_used(
    cfg: BuildConfig, export_columns: Sequence[str], leaks: Mapping[str, Any]
) -> list[dict[str, str]]:
    """Every column of the export that is no feature, with the reason: the leak checks'
    evidence for one that looks like the outcome (leadgen.builder.unconfigured_leaks)."""
    keys = {
        cfg.keys.id: "the customer id",
        cfg.high_value.column: "the label: what the model predicts",
    }
    if cfg.keys.email_name in export_columns:
        keys[cfg.keys.email_name] = "the email: read by the duplicate check, never a feature"
    if cfg.keys.current_name in export_columns:
        keys[cfg.keys.current_name] = "the current-row flag: history rows are left out"
    used = set(cfg.columns.all_cols)
    other = leaks.get("unconfigured", {})
    flagged = {leak["column"]: leak["evidence"] for leak in other.get("flagged", [])}
    checked = other.get("single_column_auc", {})
    identity = person_columns(cfg, list(export_columns))
    out = []
    for column in export_columns:
        if column in used:
            continue
        reason = keys.get(column)
        if reason is None and column in identity:
            reason = "a name or contact detail: read by the duplicate check, never a feature"
        if reason is None and column in flagged:
            reason = f"looks like the outcome ({'; '.join(flagged[column])})"
        if reason is None and (why := outcome_reason(column)) is not None:
            reason = f"it may record the outcome ({why}); not configured"
        if reason is None and column in checked:
            reason = "not configured as a feature (checked: no sign of the outcome)"
        out.append({"column": column, "reason": reason or "not configured as a feature"})
    return out


def warnings(report: Mapping[str, Any]) -> list[str]:
    """What a user of the grades should know before trusting them."""
    out: list[str] = []
    leaks = report.get("leaks", {})
    for leak in leaks.get("allowed", []):
        out.append(
            f"{leak['column']} looks like the outcome ({'; '.join(leak['evidence'])}); it is "
            f"used because --allow-column {shell_word(leak['column'])} said so: new leads do not "
            "have it as customers do, and their grades may be wrong."
        )
    if leaks.get("high_auc_allowed") is not None:
        out.append(
            f"The holdout AUC {leaks['high_auc_allowed']} is above the ceiling "
            f"{leaks['max_holdout_auc']}: leads are rarely that predictable; built because it "
            "was allowed."
        )
    positives = report["rows"]["high_value"]
    if positives < FEW_POSITIVES:
        out.append(
            f"Only {positives} high-value customers to learn from: the figures below are uncertain."
        )
    reason = report["quality"]["headline"].get("reason")
    if reason:
        out.append(f"No supervised model: {reason}.")
    drift = report.get("drift", {})
    if not drift.get("first_version") and (drift.get("max_psi") or 0) > PSI_MAJOR:
        out.append(
            f"{drift['max_psi_column']} changed a lot since {drift['previous_version']} (PSI "
            f"{drift['max_psi']:.2f}): customers look different from the last version's."
        )
    out += [f"Reading the export: {w}." for w in report["rows"].get("warnings", [])]
    return out


def served_line(served: Mapping[str, Any]) -> str:
    """The build's line about the holdout scored through the published indices."""
    if not served:
        return f"{SERVED_AUC}: no holdout"
    return (
        f"{SERVED_AUC} {served['auc_served']} ({served['score']}, {served['rows']} customers; "
        f"exact search {served['auc_exact']})"
    )


def published_line(version: str, uri: str, headline: Mapping[str, Any]) -> str:
    """The build's last line but one: what was published and its AUC, named as the report."""
    return (
        f"published {version} to {uri}: {HEADLINE_AUC} {headline['auc']} ({headline['score']}), "
        f"lift@10% {headline['lift@10%']}"
    )
