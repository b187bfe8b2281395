"""The generated CRM in the shape a real CRM exports it: Salesforce- or HubSpot-like CSV.

Why it exists: a new user arrives with an export, not with our parquet. The demo and the tests
must walk that path (`leadgen inspect`, `build` by the export's own column names, `score-file`),
so the generated customers are re-spelled as a CRM would: its column names (Id / Record ID,
Email, StageName / Lifecycle Stage...), text ids, a stage for a label instead of a boolean, numbers
with thousands separators, dates, and empty cells. Only current rows: an export is the CRM's
present state (SCD2 history is the parquet path's business).

Every value is a string, as in a CSV; blanks are deterministic in the seed. Columns another
generator adds (company, phone) are carried through under their CRM names when present.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadgen.stores.exports import umask_mode

STYLES = ("salesforce", "hubspot")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Style:
    """How one CRM names things; `build_flags` is what building from its export needs."""

    name: str
    id_col: str
    label_col: str
    won: str  # the label value of a high-value customer
    other_stages: tuple[str, ...]
    rename: dict[str, str]  # generated column -> CRM column
    created_col: str
    activity_col: str

    @property
    def build_flags(self) -> dict[str, str]:
        r = self.rename
        return {
            "--id-col": self.id_col,
            "--email-col": r["email"],
            **{f"--{f.replace('_', '-')}-col": r[f] for f in _IDENTITY},
            "--text-cols": f"{r['job_title']},{r['bio']}",
            "--cat-cols": f"{r['industry']},{r['country']}",
            "--num-cols": ",".join(
                r[c] for c in ("company_size", "web_activity_score", "email_engagement_score")
            ),
            "--high-value-col": self.label_col,
            "--high-value-values": self.won,
        }


# The generated identity columns and the flags naming them (leadgen.config.IdentityColumns).
_IDENTITY = ("first_name", "last_name", "company", "phone", "country")
_COMMON = {
    "first_name": "First Name",
    "last_name": "Last Name",
    "email": "Email",
    "industry": "Industry",
    "company_size": "Number of Employees",
    "web_activity_score": "Web Activity Score",
    "email_engagement_score": "Email Engagement Score",
    # columns other generators may add: carried under the CRM's names when present
    "company": "Company",
    "company_name": "Company",
    "phone": "Phone",
    "phone_number": "Phone",
}
SALESFORCE = Style(
    name="salesforce",
    id_col="Id",
    label_col="StageName",
    won="Closed Won",
    other_stages=("Prospecting", "Qualification", "Needs Analysis", "Closed Lost"),
    rename={
        **_COMMON,
        "job_title": "Title",
        "bio": "Description",
        "country": "Billing Country",
        "lifetime_value": "Annual Revenue",
    },
    created_col="Created Date",
    activity_col="Last Activity",
)
HUBSPOT = Style(
    name="hubspot",
    id_col="Record ID",
    label_col="Lifecycle Stage",
    won="customer",
    other_stages=("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity"),
    rename={
        **_COMMON,
        "job_title": "Job Title",
        "bio": "About",
        "country": "Country/Region",
        "lifetime_value": "Total Revenue",
        # HubSpot's own names for a contact's company and phone
        "company": "Company Name",
        "company_name": "Company Name",
        "phone": "Phone Number",
        "phone_number": "Phone Number",
    },
    created_col="Create Date",
    activity_col="Last Activity Date",
)
_BY_NAME = {s.name: s for s in (SALESFORCE, HUBSPOT)}
# Share of cells left empty, per generated column: what a real export looks like.
_BLANKS = {"bio": 0.04, "job_title": 0.02, "industry": 0.02, "company_size": 0.01, "email": 0.02}
# Generated columns a CRM export does not have (the label becomes the stage, history is dropped).
_DROPPED = ("customer_id", "is_high_value", "is_current")


def style(name: str) -> Style:
    if name not in _BY_NAME:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {name!r}")
    return _BY_NAME[name]


def crm_export(table: pa.Table, style_name: str, seed: int = 0) -> pa.Table:
    """The current rows of a generated CRM (leadgen.synthetic.crm) as `style_name` exports them."""
    st = style(style_name)
    current = (
        table.filter(table.column("is_current")) if "is_current" in table.column_names else table
    )
    n = current.num_rows
    rng = np.random.default_rng([seed, 13])
    columns: dict[str, pa.Array[Any]] = {st.id_col: _ids(current.column("customer_id"), st)}
    renamed = {**st.rename, "created_date": st.created_col, "last_activity_date": st.activity_col}
    for name in current.column_names:
        if name in _DROPPED:
            continue
        values = _formatted(name, current.column(name))
        if name in _BLANKS:
            values = pc.if_else(pa.array(rng.random(n) < _BLANKS[name]), None, values)
        columns[renamed.get(name, name)] = values
    label = np.asarray(current.column("is_high_value").to_numpy(zero_copy_only=False), bool)
    others = np.array(st.other_stages)[rng.integers(0, len(st.other_stages), n)]
    columns[st.label_col] = pa.array(np.where(label, st.won, others).tolist(), pa.string())
    if st.created_col not in columns:  # a table from before the generator had dates
        days = rng.integers(0, 5 * 365, n).astype("timedelta64[D]")
        created = (np.datetime64("2020-01-01") + days).astype(str)
        columns[st.created_col] = pa.array(created.tolist(), pa.string())
    return pa.table(columns)


def _ids(ids: Any, st: Style) -> pa.Array[Any]:
    """Salesforce: 18-character record ids (text, leading zeros); HubSpot: numeric-looking text."""
    values = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=np.int64)
    if st is HUBSPOT:
        return pa.array([str(40_000_000 + int(v)) for v in values], pa.string())
    return pa.array([f"0035g0000{_base62(int(v), 6)}AAS" for v in values], pa.string())


def _base62(value: int, width: int) -> str:
    out = ""
    while value:
        value, digit = divmod(value, 62)
        out = _BASE62[digit] + out
    return out.rjust(width, "0")


_FORMATS: dict[str, Callable[[float], str]] = {
    "company_size": lambda v: f"{int(v):,}",  # "1,234": what a CRM export does to counts
    "lifetime_value": lambda v: f"{v:,.2f}",
}


def _formatted(name: str, column: Any) -> pa.Array[Any]:
    """Every value as the string a CSV export would hold."""
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if name in _FORMATS:
        fmt = _FORMATS[name]
        return pa.array([None if v is None else fmt(v) for v in values.to_pylist()], pa.string())
    if pa.types.is_string(values.type):
        return values
    return pc.cast(values, pa.string())


DIALECTS = ("csv", "excel-eu")
_EU_NUMBER = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?$")
_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def excel_eu(table: pa.Table) -> pa.Table:
    """The export's cells as Excel in Germany shows them: decimal commas, '.' thousands groups
    ("1.234,5"), dates as dd.mm.yyyy; text as it is."""
    columns = {}
    for name in table.column_names:
        values = [_eu_cell(v) for v in table.column(name).to_pylist()]
        columns[name] = pa.array(values, pa.string())
    return pa.table(columns)


def _eu_cell(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    day = _ISO_DAY.match(text)
    if day:
        return f"{day.group(3)}.{day.group(2)}.{day.group(1)}"
    if _EU_NUMBER.match(text) and not (text.isdigit() and text.startswith("0")):
        return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def write_csv(table: pa.Table, path: str | Path, dialect: str = "csv") -> None:
    """Write `table` as CSV (gzip for .gz; tab-separated for .tsv, as the reader reads it)
    atomically: a reader sees the old file or the new one. `dialect` "excel-eu": as Excel in
    Europe saves it (excel_eu's cells; ';', UTF-8 with BOM, CRLF)."""
    import pyarrow.csv as pcsv

    if dialect == "excel-eu":
        from leadgen.stores.dialect import EXCEL_EU_CSV
        from leadgen.stores.exports import TableWriter

        eu = excel_eu(table)
        writer = TableWriter(str(path), eu.schema, "csv", dialect=EXCEL_EU_CSV)
        for batch in eu.to_batches():
            writer.write(batch)
        writer.commit()
        return

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        tab = target.name.lower().removesuffix(".gz").endswith(".tsv")
        options = pcsv.WriteOptions(delimiter="\t" if tab else ",")
        if target.name.endswith(".gz"):
            with pa.CompressedOutputStream(tmp, "gzip") as sink:
                pcsv.write_csv(table, sink, options)
        else:
            pcsv.write_csv(table, tmp, options)
        os.chmod(tmp, umask_mode())  # mkstemp's 0600 is not what a user expects
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
