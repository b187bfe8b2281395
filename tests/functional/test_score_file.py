"""`leadgen score-file`: a CRM lead file in, the same file scored out, bad rows in the rejects file.

Against a real version built from a Salesforce-like CSV (hashing embedder): every input column is
kept, the scores are the API's own, known people are duplicates (and stay so when the file is
scored again: bulk rows are not recorded), and a failure never leaves half a file behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from leadgen.cli import main
from leadgen.errors import InputError
from leadgen.model.numbers import NOT_A_NUMBER
from leadgen.model.text_cache import CachedEmbedder
from leadgen.serve.bulk import OUTPUT_COLUMNS, rejects_path
from tests.conftest import Driver

CUSTOMERS = 1500
LEADS = 1200
STRINGS = pcsv.ConvertOptions(strings_can_be_null=True, column_types=None)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from leadgen.synthetic.export_styles import SALESFORCE

    work = tmp_path_factory.mktemp("bulk")
    export, out = work / "accounts.csv", work / "artifacts"
    assert (
        main(["data", "--style", "salesforce", "--out", str(export), "--rows", str(CUSTOMERS)]) == 0
    )
    flags = [x for kv in SALESFORCE.build_flags.items() for x in kv]
    argv = ["build", "--input", str(export), "--out", str(out), *flags, "--embedder", "hashing"]
    assert main([*argv, "--quiet"]) == 0
    leads = work / "leads.csv"
    args = ["--style", "salesforce", "--out", str(leads), "--rows", str(LEADS), "--seed", "9"]
    assert main(["data", *args]) == 0
    return {"work": work, "artifacts": out, "export": export, "leads": leads}


def read_any(path: Path) -> pa.Table:
    """A parquet file as written; a CSV with every cell as text (as the CRM has it)."""
    from leadgen.stores.exports import open_export

    if path.name.endswith(".parquet"):
        return pq.read_table(path)
    export = open_export(str(path))
    return pa.Table.from_batches(list(export.batches()), export.schema)


def score_file(built: dict[str, Path], leads: Path, out: Path, *extra: str) -> int:
    argv = ["score-file", str(leads), "--artifacts", str(built["artifacts"]), "--out", str(out)]
    return main([*argv, "--embedder", "hashing", "--quiet", *extra])


def with_bad_rows(built: dict[str, Path], tmp_path: Path) -> Path:
    """The lead file plus three rows the API would refuse, each for one field."""
    table = pcsv.read_csv(built["leads"], convert_options=STRINGS)
    table = table.cast(pa.schema([(n, pa.string()) for n in table.column_names]))
    good = table.slice(0, 3).to_pylist()
    bad = [
        {**good[0], "Id": "BAD-NUMBER", "Number of Employees": "about fifty"},
        {**good[1], "Id": "BAD-TEXT", "Description": "x" * 10_001},
        {**good[2], "Id": "BAD-SCORE", "Web Activity Score": "12 pts"},
    ]
    path = tmp_path / "leads-with-bad-rows.csv"
    pcsv.write_csv(pa.concat_tables([table, pa.Table.from_pylist(bad, table.schema)]), path)
    return path


def test_a_csv_lead_file_is_scored_with_every_column_kept(
    built: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leads = with_bad_rows(built, tmp_path)
    out = tmp_path / "scored.csv"
    assert score_file(built, leads, out) == 0
    summary = capsys.readouterr().out
    source = read_any(leads)
    scored, rejected = read_any(out), read_any(tmp_path / "scored.rejects.csv")
    assert scored.column_names == [*source.column_names, *OUTPUT_COLUMNS]
    assert scored.num_rows + rejected.num_rows == source.num_rows == LEADS + 3
    # every row is there once, in the file's order, with its own cells untouched
    assert scored["Id"].to_pylist() == [
        i for i in source["Id"].to_pylist() if not i.startswith("BAD")
    ]
    first = source.slice(0, 1).to_pylist()[0]
    assert {k: scored.slice(0, 1).to_pylist()[0][k] for k in first} == first
    # bad rows: the field and the reason, nothing lost
    reasons = dict(
        zip(
            rejected["Id"].to_pylist(),
            zip(
                rejected["reject_field"].to_pylist(),
                rejected["reject_reason"].to_pylist(),
                strict=True,
            ),
            strict=True,
        )
    )
    assert reasons == {
        "BAD-NUMBER": ("Number of Employees", NOT_A_NUMBER),
        "BAD-TEXT": ("Description", "longer than 10000 characters"),
        "BAD-SCORE": ("Web Activity Score", NOT_A_NUMBER),
    }
    new = scored.filter(pa.compute.equal(scored["duplicate"], "false"))
    assert 0 < new.num_rows < scored.num_rows
    assert set(new["grade"].to_pylist()) <= {"A", "B", "C", "D"}
    assert all(0 <= float(p) <= 100 for p in new["percentile"].to_pylist())
    assert all(len(t.split(";")) == 3 for t in new["top_neighbours"].to_pylist())
    assert all(e.startswith("similarity to the") for e in new["explanation"].to_pylist())
    assert "outcomes: scored" in summary and "rejected 3" in summary and "grades:" in summary
    from leadgen.stores.exports import umask_mode

    assert out.stat().st_mode & 0o777 == umask_mode()  # not the temporary file's 0600


def test_scores_are_the_apis_own(built: dict[str, Path], tmp_path: Path) -> None:
    """A lead scored in bulk gets exactly what POST /score_lead answers for it."""
    out = tmp_path / "scored.parquet"
    assert score_file(built, built["leads"], out, "--no-dedup") == 0
    row = pq.read_table(out).slice(5, 1).to_pylist()[0]
    lead = {
        "Title": row["Title"],
        "Description": row["Description"],
        "Industry": row["Industry"],
        "Billing Country": row["Billing Country"],
        "Number of Employees": float(row["Number of Employees"].replace(",", "")),
        "Web Activity Score": float(row["Web Activity Score"]),
        "Email Engagement Score": float(row["Email Engagement Score"]),
    }
    (answer,) = _driver(built, tmp_path).score(lead)
    for col in ("s_look", "s_all", "contrast", "p_high_value", "percentile", "grade"):
        expected = answer[col]
        assert (
            row[col] == pytest.approx(expected, abs=1e-6)
            if isinstance(expected, float)
            else row[col] == expected
        )
    assert row["top_neighbours"] == ";".join(
        n["customer_id"] for n in answer["neighbors"]["high"][:3]
    )
    assert row["explanation"] == answer["explanation"]["summary"]


def _driver(built: dict[str, Path], tmp_path: Path) -> Driver:
    from leadgen.config import EmbedderSettings, ServiceConfig
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.serve.service import ScoringService

    cfg = ServiceConfig(
        str(built["artifacts"]), cache_dir=tmp_path / "c", embedder=EmbedderSettings(kind="hashing")
    )
    svc = ScoringService(cfg, HashingEmbedder(), None)
    assert svc.lifecycle.start()
    return Driver(svc)


def test_known_people_are_duplicates_and_stay_so_on_a_rerun(
    built: dict[str, Path], tmp_path: Path
) -> None:
    customers = read_any(built["export"]).slice(0, 40)
    leads = tmp_path / "known.parquet"
    pq.write_table(customers, leads)
    for run in ("first", "again"):
        out = tmp_path / f"{run}.parquet"
        assert score_file(built, leads, out) == 0
        scored = pq.read_table(out)
        with_email = [e is not None for e in customers["Email"].to_pylist()]
        assert scored["duplicate"].to_pylist() == with_email, run
        refs = [
            r for r, d in zip(scored["duplicate_ref"].to_pylist(), with_email, strict=True) if d
        ]
        ids = [i for i, d in zip(customers["Id"].to_pylist(), with_email, strict=True) if d]
        assert refs == ids  # the CRM's own ids
        assert scored["grade"].null_count == sum(with_email)  # duplicates are not scored
    assert (
        pq.read_table(out).schema.metadata[b"leadgen.artifact-version"]
        == json.loads((built["artifacts"] / "LATEST").read_text())["version"].encode()
    )


def test_a_failure_mid_file_leaves_the_previous_output_untouched(
    built: dict[str, Path], tmp_path: Path
) -> None:
    header, _, rows = built["leads"].read_text().partition("\n")
    broken = tmp_path / "broken.csv"  # past the first CSV block: rows were scored already
    broken.write_text(header + "\n" + rows * 4 + '"only","three","cells"\n')
    assert broken.stat().st_size > 1 << 20
    out = tmp_path / "scored.csv"
    out.write_text("previous run\n")
    ragged = 4 * rows.count("\n") + 1  # by its number and the header's columns, not its cells
    with pytest.raises(InputError, match=rf"broken.csv: row {ragged} .* has 3 cells") as err:
        main_raising(built, broken, out)
    assert not {"only", "three"} & set(str(err.value).replace("'", " ").split())
    assert out.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.csv", "scored.csv"]


def main_raising(built: dict[str, Path], leads: Path, out: Path) -> None:
    """score_file itself (the CLI would turn the error into one line and exit 2)."""
    from leadgen.config import EmbedderSettings, ServiceConfig
    from leadgen.serve.assemble import assemble, started
    from leadgen.serve.bulk import score_file as run

    cfg = ServiceConfig(
        str(built["artifacts"]),
        cache_dir=out.parent / ".c",
        embedder=EmbedderSettings(kind="hashing"),
    )
    try:
        run(started(assemble(cfg, "bulk")), str(leads), str(out), progress=False)
    finally:
        import shutil

        shutil.rmtree(out.parent / ".c", ignore_errors=True)


def test_a_file_without_the_models_columns_is_one_clear_error(
    built: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leads = tmp_path / "other.csv"
    leads.write_text("name,phone\nAda,123\n")
    assert score_file(built, leads, tmp_path / "o.csv") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "none of the model's columns" in err[-1]
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("duplicate_header", "'job_title' appears more than once in the header"),
        ("out_is_input", "is the lead file itself"),
        ("negative_neighbours", "--neighbours must be in [0, 100]"),
    ],
)
def test_a_run_that_cannot_be_right_is_refused_in_one_line_before_writing(
    built: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    needle: str,
) -> None:
    """A header naming a column twice (unreadable by name), an output over the lead file (it is
    read while the output is written), a negative neighbour count: one line, input untouched."""
    leads = tmp_path / "leads.csv"
    header = "job_title,job_title,bio" if case == "duplicate_header" else "job_title,bio"
    leads.write_text(f"{header}\nSales,Likes golf\n" if case != "duplicate_header" else
                     f"{header}\nSales,Ops,Likes golf\n")  # fmt: skip
    before = leads.read_bytes()
    out = leads if case == "out_is_input" else tmp_path / "o.csv"
    extra = ["--neighbours", "-1"] if case == "negative_neighbours" else []
    assert score_file(built, leads, out, *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and needle in err[-1], err
    assert leads.read_bytes() == before
    assert not (tmp_path / "o.csv").exists()


def test_the_text_cache_embeds_each_distinct_text_once_and_stays_bounded() -> None:
    from leadgen.model.embedders import HashingEmbedder

    class Counting(HashingEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.embedded: list[str] = []

        def embed(self, texts: Any, progress: bool = False) -> np.ndarray:
            self.embedded += list(texts)
            return super().embed(texts, progress)

    inner = Counting()
    cached = CachedEmbedder(inner, capacity=3)
    texts = ["a b", "c d", "a b", "e f"]
    np.testing.assert_array_equal(cached.embed(texts), HashingEmbedder().embed(texts))
    assert inner.embedded == ["a b", "c d", "e f"]
    np.testing.assert_array_equal(cached.embed(["c d"]), HashingEmbedder().embed(["c d"]))
    assert inner.embedded == ["a b", "c d", "e f"]  # from the cache
    cached.embed(["g h"])  # evicts the least recently used ("a b")
    cached.embed(["a b"])
    assert inner.embedded[-2:] == ["g h", "a b"] and len(cached._slots) == 3
    np.testing.assert_array_equal(
        cached.embed(["a b", "g h", "e f", "c d"]),
        HashingEmbedder().embed(["a b", "g h", "e f", "c d"]),
    )  # rows reused after evictions still hold their own text's vector


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        ("scored.parquet", "scored.rejects.parquet"),
        ("s3://b/scored/leads.csv.gz", "s3://b/scored/leads.rejects.csv.gz"),
        ("dir/out", "dir/out.rejects"),
        ("s3://b/scored/q3.leads.csv", "s3://b/scored/q3.leads.rejects.csv"),
        ("team.v2/leads.tsv.gz", "team.v2/leads.rejects.tsv.gz"),
    ],
)
def test_rejects_path(out: str, expected: str) -> None:
    assert rejects_path(out) == expected
