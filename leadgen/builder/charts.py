"""The report's charts, drawn with matplotlib at build time into inline PNG data URIs.

matplotlib is a build-only dependency (requirements-dev.txt and the build job's
requirements-build.txt, never the serving image's requirements.txt): it is imported here,
lazily, inside the functions, with the Agg backend and no pyplot (no global figure state, no
display). Each chart is a `data:image/png;base64,...` string the HTML embeds as it is, so the
report is one file with no script and no network.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SIZE = (6.4, 3.6)
DPI = 90
PSI_MODERATE, PSI_MAJOR = 0.1, 0.25


def _figure(size: tuple[float, float] = SIZE) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    return fig, fig.add_subplot()


def _uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def gains_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(share of leads taken best-first, share of high-value customers among them)."""
    y = np.asarray(labels, dtype=np.float64)[np.argsort(-np.asarray(scores), kind="stable")]
    n, pos = len(y), max(float(y.sum()), 1.0)
    return np.arange(n + 1) / max(n, 1), np.concatenate([[0.0], np.cumsum(y) / pos])


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) over every threshold."""
    y = np.asarray(labels, dtype=np.float64)[np.argsort(-np.asarray(scores), kind="stable")]
    pos, neg = max(float(y.sum()), 1.0), max(float(len(y) - y.sum()), 1.0)
    return (
        np.concatenate([[0.0], np.cumsum(1 - y) / neg]),
        np.concatenate([[0.0], np.cumsum(y) / pos]),
    )


def _curves(
    title: str, xlabel: str, ylabel: str, curves: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> str:
    fig, ax = _figure()
    for name, (x, y) in curves.items():
        ax.plot(x, y, label=name, linewidth=2.2 if name.startswith("p_high") else 1.2)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="random")
    ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _uri(fig)


GAINS_TITLE = "Cumulative gains (holdout)"


def gains(labels: np.ndarray, scores: Mapping[str, np.ndarray]) -> str:
    curves = {name: gains_curve(labels, s) for name, s in scores.items()}
    return _curves(GAINS_TITLE, "share of leads, best first", "share of high-value", curves)


def roc(labels: np.ndarray, scores: Mapping[str, np.ndarray], title: str) -> str:
    """`title` names the one AUC the figure states (the curves' own AUCs are in the table)."""
    curves = {name: roc_curve(labels, s) for name, s in scores.items()}
    return _curves(title, "false positive rate", "true positive rate", curves)


def reliability(
    rows: Sequence[Mapping[str, Any]], ece: float, title: str = "Reliability (holdout)"
) -> str:
    fig, ax = _figure((4.6, 3.6))
    pred = [r["mean_predicted"] for r in rows]
    obs = [r["observed_rate"] for r in rows]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    ax.plot(pred, obs, marker="o", label=f"p_high_value (ECE {ece:.3f})")
    ax.set(
        title=title,
        xlabel="mean predicted probability",
        ylabel="observed high-value rate",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return _uri(fig)


def distribution(table: Mapping[str, Any], score: str) -> str:
    """Step histograms of the score for high-value vs other customers (each as shares)."""
    fig, ax = _figure()
    edges = np.asarray(table["edges"], dtype=np.float64)
    for key, label in (("other", "other customers"), ("high_value", "high-value customers")):
        counts = np.asarray(table[key], dtype=np.float64)
        ax.stairs(counts / max(counts.sum(), 1.0), edges, label=label, linewidth=1.5)
    ax.set(title=f"{score} on the holdout", xlabel=score, ylabel="share of the group")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _uri(fig)


def bars(
    title: str, values: Mapping[str, float], lines: Sequence[float] = (), xlabel: str = ""
) -> str:
    """Horizontal bars, largest on top; `lines` marks thresholds (PSI's 0.1 and 0.25)."""
    items = sorted(values.items(), key=lambda kv: kv[1])
    fig, ax = _figure((6.4, max(1.8, 0.32 * len(items) + 1.0)))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#4472c4")
    for x in lines:
        ax.axvline(x, linestyle="--", color="#c00000", linewidth=1)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _uri(fig)


def psi_bars(columns: Sequence[Mapping[str, Any]]) -> str:
    values = {c["column"]: float(c["psi"]) for c in columns if c.get("psi") is not None}
    return bars("PSI per column vs the previous version", values, (PSI_MODERATE, PSI_MAJOR))


def rate_bars(title: str, rows: Sequence[Mapping[str, Any]], label: str) -> str:
    """A rate per group (`label`: "grade" or "decile") with its 95% interval as an error bar:
    each row holds leads, high_value_rate and high_value_ci95."""
    fig, ax = _figure((4.6, 3.6))
    shown = [r for r in rows if r["leads"]]
    names = [str(r[label]) for r in shown]
    rate = np.array([r["high_value_rate"] for r in shown], dtype=float)
    lo = np.array([r["high_value_ci95"][0] for r in shown], dtype=float)
    hi = np.array([r["high_value_ci95"][1] for r in shown], dtype=float)
    ax.bar(names, rate, color="#4472c4", yerr=[rate - lo, hi - rate], capsize=3)
    for x, r in zip(names, shown, strict=True):
        ax.annotate(f"n={r['leads']}", (x, 0), textcoords="offset points", xytext=(0, 2),
                    ha="center", fontsize=7, color="white")  # fmt: skip
    ax.set(title=title, xlabel=label, ylabel="became high-value", ylim=(0, 1))
    ax.grid(axis="y", alpha=0.3)
    return _uri(fig)


IMPORTANCE_TITLE = "What moves the scores (holdout customers)"


def importance(values: Mapping[str, float], unit: str) -> str:
    """Each column's mean |contribution| in the units of a lead's drivers
    (leadgen.builder.importance)."""
    return bars(IMPORTANCE_TITLE, values, xlabel=unit)
