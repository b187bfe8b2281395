"""The leak checks on the export's columns nobody configured as features.

A column that is no feature cannot leak into the model, but the report lists it under what the
model does not use, and "not configured" hides what a sales-ops user should know: that the
export's `Status` or `Milestone Date` records the outcome (and must never be configured). So the
build runs the same single-column checks (leadgen.builder.leaks.check_columns) on every column
that is neither a feature, a key (id, label, email, current flag, customer rule) nor a person's
identity, read as `inspect` would read it (leadgen.builder.inspect.leak_check_spec), on the first
MAX_ROWS rows, as the configured checks sample. Nothing is refused here: the evidence goes to the
report's "not used" list and build_report.json.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from leadgen.builder.identity_columns import detect, personal
from leadgen.builder.inspect import leak_check_spec
from leadgen.builder.leaks import MAX_ROWS, LeakCheck, check_columns
from leadgen.builder.reader import read_export
from leadgen.config import BuildConfig, ColumnSpec
from leadgen.errors import LeadgenError


def unconfigured(cfg: BuildConfig, export_columns: list[str]) -> list[str]:
    """The export's columns that are neither features, keys nor a person's identity."""
    keys: set[str | None] = {cfg.keys.id, cfg.high_value.column, cfg.customers.column}
    keys |= {cfg.keys.email_name, cfg.keys.current_name}
    skip = keys | set(cfg.columns.all_cols) | person_columns(cfg, export_columns)
    return [c for c in export_columns if c not in skip]


def person_columns(cfg: BuildConfig, export_columns: list[str]) -> set[str]:
    """The columns that say who a person is, mapped or named like one: never a feature, never
    read for the leak checks (leadgen.builder.identity_columns)."""
    mapped = set(cfg.identity.resolve(list(export_columns)).values())
    mapped |= set(detect(export_columns).values())
    return mapped | {c for c in export_columns if personal(c) is not None}


def check_unconfigured(
    cfg: BuildConfig, export_columns: list[str], say: Callable[[str], None]
) -> LeakCheck:
    """The leak checks on the unconfigured columns (each configured date is one of a row's
    other dates); a column the reader cannot read as profiled is read as plain values."""
    columns, path = unconfigured(cfg, export_columns), cfg.input_path
    if not columns or not path:
        return LeakCheck()
    try:
        spec = leak_check_spec(path, cfg.input_format, MAX_ROWS, cfg.reading, columns)
        if spec is None:
            return LeakCheck()
        try:
            return _check(cfg, spec, columns)
        except LeadgenError:
            plain = ColumnSpec((), tuple(c for c in spec.all_cols if c in columns), ())
            return _check(cfg, plain, columns)
    except LeadgenError as exc:
        say(f"warning: the columns that are no feature were not checked for leaks: {exc}")
        return LeakCheck(not_checked=str(exc))


def _check(cfg: BuildConfig, spec: ColumnSpec, columns: list[str]) -> LeakCheck:
    """Read the first MAX_ROWS rows of `spec`'s columns and the configured dates; check
    `columns`."""
    dates = tuple(c for c in cfg.columns.date_cols if c not in spec.all_cols)
    full = replace(spec, num_cols=(*spec.num_cols, *dates), date_cols=(*spec.date_cols, *dates))
    table = read_export(cfg, full, identity=False, max_rows=MAX_ROWS)
    return check_columns(table.columns, full, table.labels, cfg.seed, only=columns)
