"""Columns that encode the outcome: found before anything is built on them.

A CRM export carries, beside what a lead looks like, traces of what happened after the sale: a
stage ("Closed - Converted"), a reason filled only for lost deals (empty exactly when won), notes
written after the deal ("onboarding call done"), the date it closed. A model built on them scores
its own holdout almost perfectly and new leads, which have none of it, badly. Every configured
column (and each column `inspect` would suggest) is checked on the customers' labels:

- single-column AUC: the column alone, as a rule fitted on the other customers (5 folds, each
  customer held out once), missingness a value of its own (so "empty exactly when won" counts);
  numbers and dates in quantile bins, categories by value, text by a bag of words;
- missingness bound to the label: one label (almost) always empty, or always filled, while the
  other is not (Pipedrive's "Lost reason" is empty for every won deal);
- outcome words: categories or text terms that are outcome words or stages (won, lost, converted,
  customer, churned, onboarded, signed ... in English, German, French, Spanish, Portuguese,
  Italian and Dutch) and occur only with one label; and categories that occur only with one
  label and hold most of it;
- outcome dates by name (leadgen.builder.outcome_columns: close, won, became-a-customer dates),
  and by their values: a date later than the row's other dates (or after the snapshot) for
  most of one label's rows and far fewer of the other's (a milestone only won deals reach).

Evidence never quotes a row's own value (it goes to a log line and the report): a value made
only of outcome and stage words is quoted, any other is counted. The same checks run on the
export's columns that are no feature (leadgen.builder.unconfigured_leaks), for the report.

The thresholds are set above what honest columns reach on the project's 23 real public tables
and the generated CRM (bench/LEAKS.md lists every column's figures); a flagged column is refused
by the build (exit 3, one line with the evidence) unless the user allows it by name, and never
suggested by `inspect`. A whole-model holdout AUC above MAX_HOLDOUT_AUC is refused the same way.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.builder.outcome_columns import outcome_reason
from leadgen.builder.quality import roc_auc
from leadgen.config import ColumnSpec
from leadgen.errors import LeakError

# Single-column AUC at or above this: the column alone separates the label (bench/LEAKS.md: the
# highest honest column of the real tables stays below it).
LEAK_AUC = 0.99
# The whole model's holdout AUC above this is refused unless allowed (--allow-high-auc), once the
# holdout has CEILING_LABEL_ROWS of each label: on fewer, an honest table's ranking comes out
# perfect by chance (bench/LEAKS.md, the build holdouts of the real tables that rank best).
MAX_HOLDOUT_AUC = 0.995
CEILING_LABEL_ROWS = 100
# Missingness bound to the label: one label at least this empty (or filled) ...
MISSING_BOUND = 0.98
# ... while the other label differs from it by at least this share.
MISSING_GAP = 0.3
# A value "occurs only with one label" when that many rows of it, or more, are all one label and
# the base rate makes that unlikely by chance (below PURE_CHANCE).
PURE_SUPPORT = 10
PURE_CHANCE = 1e-4
# Outcome-word values/terms bound to one label must hold at least this share of it; any values
# bound to one label, at least PURE_COVER of it.
WORD_COVER = 0.2
PURE_COVER = 0.8
# A date later than the row's other dates (or after the snapshot) for at least LATER_SHARE of one
# label's rows and LATER_GAP fewer of the other's: it was written after the outcome.
LATER_SHARE = 0.8
LATER_GAP = 0.5
FOLDS = 5
MAX_ROWS = 50_000  # checked on a stratified sample above it
BINS = 20
MIN_LABEL_ROWS = 10  # fewer of a label: nothing to check against

# Outcome words and stages, as word stems (a token starting with one matches), lower case.
OUTCOME_WORDS: tuple[str, ...] = (
    # English
    "won", "lost", "closed", "convert", "customer", "churn", "onboard", "signed", "contract",
    "purchased", "paid", "invoice", "renewal", "renewed", "cancel", "subscribed", "kickoff",
    "qbr", "disqualified", "unqualified",
    # German
    "gewonnen", "verloren", "abgeschlossen", "kunde", "gekündigt", "gekuendigt",
    "unterschrieben", "vertrag", "bezahlt", "konvertiert", "storniert",
    # French
    "gagné", "gagne", "perdu", "fermé", "clos", "clôtur", "converti", "client", "résili",
    "signé", "contrat", "payé",
    # Spanish and Portuguese
    "ganad", "ganho", "perdid", "cerrad", "fechad", "convertid", "firmad", "assinad",
    "pagad", "pago", "cancelad",
    # Italian
    "vint", "pers", "chius", "convertit", "firmat", "contratt", "pagat", "disdett",
    # Dutch
    "gesloten", "afgesloten", "geconverteerd", "klant", "getekend", "betaald", "opgezegd",
)  # fmt: skip
# Whole words a value may be quoted with in evidence: outcome words and stages, never a row's own
# words (a company or a person would be named in a log line otherwise).
QUOTABLE_WORDS = frozenset((
    "won", "lost", "closed", "close", "converted", "not", "customer", "customers", "churned",
    "onboarded", "signed", "paid", "cancelled", "canceled", "disqualified", "unqualified",
    "qualified", "open", "working", "contacted", "new", "lead", "prospect", "opportunity",
    "negotiation", "proposal", "demo", "trial", "evangelist", "subscriber", "other", "active",
    "inactive", "pending", "in", "progress", "yes", "no", "true", "false", "nurturing",
    "recycled", "dead", "junk", "gewonnen", "verloren", "abgeschlossen", "kunde", "offen",
    "gagné", "perdu", "client", "ouvert", "ganado", "perdido", "cliente", "abierto", "ganho",
    "vinto", "perso", "chiuso", "aperto", "klant",
))  # fmt: skip
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
_EMPTY = "\x00empty"  # missingness as a value of its own


@dataclass(frozen=True)
class Leak:
    """A column that looks like the outcome, with the evidence in words."""

    column: str
    evidence: tuple[str, ...]
    auc: float | None = None  # its single-column AUC
    terms: tuple[str, ...] = ()  # a text column's outcome-bound terms

    def describe(self) -> str:
        return f"column {self.column!r} looks like the outcome ({'; '.join(self.evidence)})"

    def short(self) -> str:
        """inspect's reason: the first piece of evidence."""
        return f"looks like the outcome: {self.evidence[0]}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.column, "evidence": list(self.evidence)}
        out["single_column_auc"] = None if self.auc is None else round(self.auc, 4)
        if self.terms:
            out["terms"] = list(self.terms)
        return out


@dataclass
class LeakCheck:
    """Every checked column's single-column AUC, the flagged columns and those allowed."""

    aucs: dict[str, float] = field(default_factory=dict)
    flagged: list[Leak] = field(default_factory=list)
    allowed: list[Leak] = field(default_factory=list)
    high_auc_allowed: float | None = None  # the holdout AUC above the ceiling, when allowed
    # The same checks on the export's columns that are no feature (never refused: reported).
    unconfigured: LeakCheck | None = None
    not_checked: str | None = None  # why these columns could not be checked

    def to_json(self) -> dict[str, Any]:
        other = self.unconfigured or LeakCheck()
        return {
            "single_column_auc": {c: round(a, 4) for c, a in self.aucs.items()},
            "allowed": [leak.to_json() for leak in self.allowed],
            "unconfigured": {
                "single_column_auc": {c: round(a, 4) for c, a in other.aucs.items()},
                "flagged": [leak.to_json() for leak in other.flagged],
                "not_checked": other.not_checked,
            },
            "max_holdout_auc": MAX_HOLDOUT_AUC,
            "ceiling_label_rows": CEILING_LABEL_ROWS,
            "high_auc_allowed": self.high_auc_allowed,
            "thresholds": {
                "single_column_auc": LEAK_AUC,
                "missing_bound": MISSING_BOUND,
                "missing_gap": MISSING_GAP,
            },
        }


def check_columns(
    columns: Mapping[str, Any],
    spec: ColumnSpec,
    labels: np.ndarray,
    seed: int = 0,
    only: Collection[str] | None = None,
) -> LeakCheck:
    """The feature columns of `spec` (those in `only`, when given) against the labels
    (None/NaN = missing); every date column of `spec` is one of a row's other dates."""
    y = np.asarray(labels, dtype=bool)
    rows = _sample(y, seed)
    y = y[rows]
    check = LeakCheck()
    if min(int(y.sum()), int((~y).sum())) < MIN_LABEL_ROWS:
        return check
    folds = np.random.default_rng(seed).permutation(len(y)) % FOLDS
    dates = {c: np.asarray(_take(columns[c], rows), dtype=np.float64) for c in spec.date_cols}
    later = _later_dates(dates, y)
    for col in spec.all_cols:
        if only is not None and col not in only:
            continue
        auc, leak = _column_check(col, _take(columns[col], rows), spec, y, folds, later)
        check.aucs[col] = auc
        if leak is not None:
            check.flagged.append(leak)
    return check


def _column_check(
    col: str,
    values: Any,
    spec: ColumnSpec,
    y: np.ndarray,
    folds: np.ndarray,
    later: Mapping[str, str],
) -> tuple[float, Leak | None]:
    """One column's single-column AUC, and the Leak when any check fires."""
    evidence: list[str] = []
    terms: tuple[str, ...] = ()
    if col in spec.text_cols:
        auc, terms = _text_auc(values, y, folds)
        if terms:
            evidence.append("outcome-bound terms: " + ", ".join(terms))
    else:
        auc = _oof_auc(_codes(values, col in spec.num_cols), y, folds)
    if auc >= LEAK_AUC:
        evidence.insert(0, f"single-column AUC {auc:.3f}")
    evidence += _missing_evidence(values, y)
    if col not in spec.num_cols and col not in spec.text_cols:
        evidence += _value_evidence(values, y)
    if col in spec.date_cols and (why := outcome_reason(col)) is not None:
        evidence.append(f"an outcome date by its name: {why}")
    if col in later:
        evidence.append(later[col])
    return auc, (Leak(col, tuple(evidence), auc, terms) if evidence else None)


def refuse(check: LeakCheck, allowed: Sequence[str]) -> None:
    """Raise LeakError naming every flagged column not allowed by name; the allowed ones are
    kept in `check.allowed` for the report's warnings."""
    check.allowed = [leak for leak in check.flagged if leak.column in allowed]
    refused = [leak for leak in check.flagged if leak.column not in allowed]
    if refused:
        flags = " ".join(f"--allow-column {shell_word(leak.column)}" for leak in refused)
        raise LeakError(
            "; ".join(leak.describe() for leak in refused)
            + f": not building on it; drop it from the columns, or pass {flags} if it is known "
            "before a lead becomes a customer"
        )


def ceiling(check: LeakCheck, auc: float, labels: np.ndarray, allow: bool) -> None:
    """Refuse a holdout AUC above MAX_HOLDOUT_AUC (a column probably encodes the outcome)
    unless allowed: by --allow-high-auc, or by a column the user already allowed by name (the
    report warns about both)."""
    positives = int(np.sum(labels))
    if math.isnan(auc) or auc <= MAX_HOLDOUT_AUC:
        return
    if min(positives, len(labels) - positives) < CEILING_LABEL_ROWS:
        return
    if allow or check.allowed:
        check.high_auc_allowed = round(auc, 4)
        return
    best = max(check.aucs.items(), key=lambda kv: kv[1], default=None)
    strongest = "" if best is None else f"; the strongest column alone: {best[0]!r} {best[1]:.3f}"
    raise LeakError(
        f"holdout AUC {auc:.4f} is above the ceiling {MAX_HOLDOUT_AUC} (leads are never that "
        f"predictable: some column probably records the outcome{strongest}); not publishing; "
        "pass --allow-high-auc if the columns are known before a lead becomes a customer"
    )


def shell_word(name: str) -> str:
    import shlex

    return shlex.quote(name)


def _sample(y: np.ndarray, seed: int) -> np.ndarray:
    """All rows, or a stratified sample of MAX_ROWS (the checks need rates, not every row)."""
    if len(y) <= MAX_ROWS:
        return np.arange(len(y))
    rng = np.random.default_rng(seed + 11)
    keep = [
        rng.choice(np.flatnonzero(y == c), round(MAX_ROWS * float((y == c).mean())), False)
        for c in (True, False)
    ]
    return np.sort(np.concatenate(keep))


def _take(values: Any, rows: np.ndarray) -> Any:
    if isinstance(values, np.ndarray):
        return values[rows]
    return [values[i] for i in rows]


def _missing(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return np.isnan(values)
    return np.array([v is None or not str(v).strip() for v in values], dtype=bool)


def _codes(values: Any, numeric: bool) -> np.ndarray:
    """Integer codes: quantile bins of numbers (and dates), categories by trimmed lower-case
    value; missing is code 0."""
    if numeric:
        x = np.asarray(values, dtype=np.float64)
        present = ~np.isnan(x)
        edges = np.unique(np.quantile(x[present], np.linspace(0, 1, BINS + 1)[1:-1]))
        codes = np.zeros(len(x), dtype=np.int64)
        codes[present] = np.searchsorted(edges, x[present], side="right") + 1
        return codes
    keys = [_EMPTY if v is None or not str(v).strip() else str(v).strip().lower() for v in values]
    uniq, inverse = np.unique(np.array(keys, dtype=object).astype(str), return_inverse=True)
    codes = inverse.astype(np.int64) + 1
    empty = np.flatnonzero(uniq == _EMPTY)
    if len(empty):
        codes[codes == empty[0] + 1] = 0
    return codes


def _oof_auc(codes: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """AUC of each customer's code scored by its smoothed label rate among the other folds."""
    n_codes = int(codes.max()) + 1
    prior = float(y.mean())
    score = np.empty(len(y))
    for f in range(FOLDS):
        test = folds == f
        n = np.bincount(codes[~test], minlength=n_codes)
        pos = np.bincount(codes[~test], weights=y[~test], minlength=n_codes)
        rate = (pos + prior) / (n + 1.0)
        score[test] = rate[codes[test]]
    auc = roc_auc(y, score)
    return 0.5 if math.isnan(auc) else auc


def _tokens(text: Any) -> set[str]:
    return {t.lower() for t in _TOKEN.findall(str(text))} if text is not None else set()


def _text_auc(values: list[Any], y: np.ndarray, folds: np.ndarray) -> tuple[float, tuple[str, ...]]:
    """A bag of words (binary terms, a missing-text term) scored by naive Bayes log-odds fitted
    on the other folds; and the outcome words among its terms bound to one label."""
    from sklearn.feature_extraction.text import CountVectorizer

    docs = [" ".join(sorted(_tokens(v))) or "zzemptyzz" for v in values]
    vec = CountVectorizer(binary=True, min_df=2, token_pattern=r"\S+", lowercase=False)
    try:
        x = vec.fit_transform(docs).tocsr().astype(np.float64)
    except ValueError:  # no term occurs twice: nothing to learn from the words
        return 0.5, ()
    score = np.zeros(len(y))
    for f in range(FOLDS):
        test = folds == f
        pos = np.asarray(x[~test & y].sum(axis=0)).ravel()
        neg = np.asarray(x[~test & ~y].sum(axis=0)).ravel()
        n_pos, n_neg = int((~test & y).sum()), int((~test & ~y).sum())
        w = np.log((pos + 0.5) / (n_pos + 1.0)) - np.log((neg + 0.5) / (n_neg + 1.0))
        score[test] = x[test] @ w
    auc = roc_auc(y, score)
    return (0.5 if math.isnan(auc) else auc), _outcome_terms(docs, y)


def _outcome_terms(docs: list[str], y: np.ndarray) -> tuple[str, ...]:
    """Outcome words among the terms that occur only with one label and hold WORD_COVER of it
    together ("onboarding 140/140 high-value")."""
    counts: dict[str, list[int]] = {}
    for doc, label in zip(docs, y.tolist(), strict=True):
        for term in doc.split():
            if _is_outcome_word(term):
                c = counts.setdefault(term, [0, 0])
                c[0] += 1
                c[1] += int(label)
    found: list[str] = []
    for side in (True, False):
        total = int((y == side).sum())
        bound = [(t, n) for t, (n, pos) in counts.items() if _pure(n, pos, side, float(y.mean()))]
        rows = [
            i for i, d in enumerate(docs) if y[i] == side and set(d.split()) & dict(bound).keys()
        ]
        if bound and len(rows) >= WORD_COVER * total:
            label = "high-value" if side else "other"
            bound.sort(key=lambda tn: -tn[1])
            found += [f"{_shown_term(t)} {n}/{n} {label}" for t, n in bound[:3]]
    return tuple(found)


def _pure(n: int, pos: int, side: bool, base: float) -> bool:
    """n rows all of label `side`, unlikely by chance at the base rate."""
    if n < PURE_SUPPORT or pos != (n if side else 0):
        return False
    p = base if side else 1.0 - base
    return n * math.log(max(p, 1e-12)) < math.log(PURE_CHANCE)


_OUTCOME_START = re.compile("|".join(re.escape(w) for w in OUTCOME_WORDS))


def _is_outcome_word(token: str) -> bool:
    return _OUTCOME_START.match(token) is not None


def _missing_evidence(values: Any, y: np.ndarray) -> list[str]:
    """'empty for 100% of high-value customers and 31% of the others' (or filled, or the other
    way round)."""
    miss = _missing(values)
    m_pos, m_neg = float(miss[y].mean()), float(miss[~y].mean())
    for a, b, who, other in ((m_pos, m_neg, "high-value customers", "the others"),
                             (m_neg, m_pos, "other customers", "high-value ones")):  # fmt: skip
        if a >= MISSING_BOUND and a - b >= MISSING_GAP:
            return [f"empty for {a:.0%} of {who} and {b:.0%} of {other}"]
        if a <= 1 - MISSING_BOUND and b - a >= MISSING_GAP:
            return [f"filled for {1 - a:.0%} of {who} and {1 - b:.0%} of {other}"]
    return []


def _value_evidence(values: list[Any], y: np.ndarray) -> list[str]:
    """Categories that occur only with one label: outcome words holding WORD_COVER of it, or any
    holding PURE_COVER of it."""
    keys = [None if v is None or not str(v).strip() else str(v).strip() for v in values]
    stats: dict[str, list[int]] = {}
    for k, label in zip(keys, y.tolist(), strict=True):
        if k is not None:
            s = stats.setdefault(k, [0, 0])
            s[0] += 1
            s[1] += int(label)
    base = float(y.mean())
    out: list[str] = []
    for side in (True, False):
        total = int((y == side).sum())
        bound = sorted(
            ((k, n) for k, (n, pos) in stats.items() if _pure(n, pos, side, base)),
            key=lambda kn: -kn[1],
        )
        words = [(k, n) for k, n in bound if any(_is_outcome_word(t) for t in _tokens(k))]
        label = "high-value customers" if side else "the other customers"
        for chosen, cover in ((words, WORD_COVER), (bound, PURE_COVER)):
            held = sum(n for _, n in chosen)
            if chosen and held >= cover * total:
                shown = _shown_values(chosen[:3])
                out.append(f"values that occur only with {label}: {shown}, {held} of {total}")
                break
    return out


def _later_dates(dates: Mapping[str, np.ndarray], y: np.ndarray) -> dict[str, str]:
    """Date columns set after the outcome, by their values, with the evidence: 'later than the
    row's other dates for 97% of high-value customers and 4% of the others'. In each row one
    date is the latest, so when a milestone is the latest for the won rows an honest date is
    the latest for the others: the strongest column is taken first (later for the high-value
    ones on a tie) and the rest compared again without it."""
    left, found = dict(dates), dict[str, str]()
    while left:
        shares = {c: _later_shares(c, left, y) for c in left}
        ranked = [
            (round(a - b, 2), side, c, a, b)
            for c, (pos, neg) in shares.items()
            for a, b, side in ((pos, neg, 1), (neg, pos, 0))
            if a >= LATER_SHARE and a - b >= LATER_GAP
        ]
        if not ranked:
            return found
        _, side, col, a, b = max(ranked)
        who, other = (
            ("high-value customers", "the others")
            if side
            else ("other customers", "high-value ones")
        )
        what = (
            "later than the row's other dates" if len(left) > 1 else "after the export's snapshot"
        )
        found[col] = f"{what} for {a:.0%} of {who} and {b:.0%} of {other}"
        del left[col]
    return found


def _later_shares(col: str, dates: Mapping[str, np.ndarray], y: np.ndarray) -> tuple[float, float]:
    """The share of each label's rows (high-value, other) whose `col` is at least a day later
    than every other date present in the row, or after the snapshot. Dates are days before the
    snapshot (leadgen.model.fields): later is smaller, after the snapshot below 0; an empty date
    is never later, nor is a date with no other date in its row."""
    own = dates[col]
    later = own < 0
    others = [d for c, d in dates.items() if c != col]
    if others:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a row with no other date
            latest_other = np.nanmin(np.vstack(others), axis=0)
        later = later | (own <= latest_other - 1.0)
    return float(later[y].mean()), float(later[~y].mean())


def _quotable(value: str) -> bool:
    """A value made only of outcome and stage words ('Closed - Converted', 'Open'): it may be
    quoted; any other is a row's own (a company, a person) and is only counted."""
    tokens = _TOKEN.findall(value)
    return (
        bool(tokens)
        and not any(ch.isdigit() for ch in value)
        and all(t.lower() in QUOTABLE_WORDS for t in tokens)
    )


def _shown_values(chosen: Sequence[tuple[str, int]]) -> str:
    """The values held by one label, as evidence: outcome and stage words quoted with their
    rows ("'Closed Won' (348)"), any other only counted ("2 values not quoted (40)")."""
    quoted = [f"{_short(k)} ({n})" for k, n in chosen if _quotable(k)]
    rest = [n for k, n in chosen if not _quotable(k)]
    if rest:
        noun = "value" if len(rest) == 1 else "values"
        lead = "other " if quoted else ""
        words = sorted(
            {t.lower() for k, _ in chosen if not _quotable(k) for t in _TOKEN.findall(k)}
        )
        shown = [_shown_term(t) for t in words if _is_outcome_word(t)][:3]
        holding = f" holding {', '.join(shown)}" if shown else ""
        quoted.append(f"{len(rest)} {lead}{noun} not quoted{holding} ({sum(rest)})")
    return ", ".join(quoted)


def _shown_term(term: str) -> str:
    """A text term as the outcome word it starts with: 'onboard…' for 'onboarding'."""
    if term in QUOTABLE_WORDS:
        return repr(term)
    match = _OUTCOME_START.match(term)
    return repr(term if match is None else match.group(0) + "…")


def _short(value: str, limit: int = 30) -> str:
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")
