"""Bad exports fail by name (exit 2); duplicate ids and non-numeric values are counted, not
fatal.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from build_job.job import EXIT_INPUT, EXIT_OK
from tests.functional.build_job_runs.harness import (
    BUCKET,
    ROWS,
    artifacts,
    assert_one_clear_line,
    latest,
    put_parquet,
    report,
    run_job,
    version_dirs,
)


# ---- bad input -------------------------------------------------------------------------------
def _empty_object(s3: Any) -> str:
    s3.put_object(Bucket=BUCKET, Key="input/bad/empty.parquet", Body=b"")
    return f"s3://{BUCKET}/input/bad/empty.parquet"


def _no_rows(s3: Any, crm: pa.Table) -> str:
    return put_parquet(s3, "input/bad/no-rows.parquet", crm.slice(0, 0))


def _empty_part(s3: Any, crm: pa.Table) -> str:
    put_parquet(s3, "input/bad/parts/part-0.parquet", crm)
    s3.put_object(Bucket=BUCKET, Key="input/bad/parts/part-1.parquet", Body=b"")
    return f"s3://{BUCKET}/input/bad/parts/"


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("missing", ["bad/missing.parquet", "not found"]),
        ("empty", ["bad/empty.parquet", "empty file (0 bytes)"]),
        ("empty_part", ["bad/parts/part-1.parquet", "empty file (0 bytes)"]),
        ("no_rows", ["no rows"]),
        ("missing_column", ["'annual_revenue'", "not found"]),
        ("no_input", ["LEADGEN_INPUT_PATH is not set"]),
        ("bad_keep", ["LEADGEN_KEEP_VERSIONS must be an integer"]),
        ("bad_embedder", ["embedder must be"]),
    ],
)
def test_bad_input_is_a_named_failure(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table, case: str, needles: list[str]
) -> None:
    good = f"s3://{BUCKET}/input/full.parquet"
    put_parquet(s3, "input/full.parquet", crm)
    env = {"LEADGEN_INPUT_PATH": good, "ARTIFACTS_URI": artifacts("bad-input")}
    if case == "missing":
        env["LEADGEN_INPUT_PATH"] = f"s3://{BUCKET}/input/bad/missing.parquet"
    elif case == "empty":
        env["LEADGEN_INPUT_PATH"] = _empty_object(s3)
    elif case == "empty_part":
        env["LEADGEN_INPUT_PATH"] = _empty_part(s3, crm)
    elif case == "no_rows":
        env["LEADGEN_INPUT_PATH"] = _no_rows(s3, crm)
    elif case == "missing_column":
        env["LEADGEN_NUM_COLS"] = "company_size,annual_revenue"
    elif case == "no_input":
        del env["LEADGEN_INPUT_PATH"]
    elif case == "bad_keep":
        env["LEADGEN_KEEP_VERSIONS"] = "five"
    elif case == "bad_embedder":
        env["LEADGEN_EMBEDDER"] = "bert"
    result = run_job(job_env, **env)
    assert result.code == EXIT_INPUT
    assert_one_clear_line(result, *needles)
    assert result.one("build_failed")["exit_code"] == EXIT_INPUT
    assert latest(s3, "bad-input") is None and version_dirs(s3, "bad-input") == []


def test_duplicate_ids_and_non_numeric_values_are_counted_not_fatal(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table
) -> None:
    current = crm.filter(pc.field("is_current"))
    repeats = current.slice(0, 15)  # the same customer ids exported twice
    sizes = pc.cast(crm["company_size"], pa.string()).to_pylist()
    junk = [i for i, cur in enumerate(crm["is_current"].to_pylist()) if cur][:7]
    for i in junk:
        sizes[i] = "n/a" if i % 2 else "12 employees"
    messy = crm.set_column(
        crm.schema.get_field_index("company_size"), "company_size", pa.array(sizes, pa.string())
    )
    repeats = repeats.set_column(
        repeats.schema.get_field_index("company_size"),
        "company_size",
        pc.cast(repeats["company_size"], pa.string()),
    )
    messy = pa.concat_tables([messy, repeats])
    result = run_job(
        job_env,
        LEADGEN_INPUT_PATH=put_parquet(s3, "input/messy.parquet", messy),
        ARTIFACTS_URI=artifacts("messy"),
    )
    assert result.code == EXIT_OK, result.stderr
    dropped = result.one("build_finished")["rows"]["dropped"]
    assert dropped["duplicate_id"] == 15
    assert dropped["non_numeric_values"] == 7
    version = result.one("build_finished")["version"]
    assert report(s3, "messy", version)["rows"]["dropped"] == dropped
    assert report(s3, "messy", version)["rows"]["current_customers"] == ROWS
