"""Columns that record the outcome rather than describe the customer before it.

A CRM export holds, beside what a lead looks like, what happened after: when the deal closed or
was lost, when the contact became a customer, when the first order was paid. As features they
leak the label (a closed-won date exists only for customers), and a lead, scored before any of
it happened, never has them. `inspect` never suggests them as features; the build's leak checks
read the same rule. One place, by name: values cannot tell a close date from a created date.
"""

from __future__ import annotations

import re

# (pattern, why): the first that matches names the reason.
_OUTCOME_DATES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), why)
    for pattern, why in (
        (r"\bclos(e|ed|ing)\b|\bwon\b|\blost\b", "when the deal closed, was won or lost"),
        (r"\bconver(ted|sion)\b", "when the lead converted"),
        (r"\bbec(a|o)me\b|\bdate entered\b|\bentered\b.*\bstage\b", "a lifecycle-stage change"),
        (r"\bstage\b.*\b(change|date)\b|\blifecycle", "a lifecycle-stage change"),
        (r"\bopportunit(y|ies)\b", "a later stage of the funnel"),
        (r"\bcustomer since\b", "when they became a customer"),
        (
            r"\b(deal|contract|subscription|renewal|invoice|payment|order|purchase)s?\b",
            "a deal or its money",
        ),
        (r"\bchurn|\bcancel", "when the customer left"),
        (r"\bsigned\b|\bonboard", "after the sale"),
    )
)


def outcome_reason(name: str) -> str | None:
    """Why a (date) column is an outcome, by its name; None when it does not look like one."""
    spaced = re.sub(r"[_\-.]+|(?<=[a-z])(?=[A-Z])", " ", name)
    for pattern, why in _OUTCOME_DATES:
        if pattern.search(spaced):
            return why
    return None
