"""`leadgen COMMAND` (or `python -m leadgen COMMAND`): data, inspect, build, report, score,
score-file, serve, export-model, openapi, client.

A thin adapter: read the runtime's configuration from the environment (BuildConfig.from_env,
ServiceConfig.from_env), overlay the flags given, call the core, print. Every LeadgenError
becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from leadgen.config import (
    DEFAULT_ARTIFACTS,
    EMBEDDERS,
    INDEX_COMPRESSIONS,
    INDEX_TYPES,
    PRECISIONS,
    TEXT_MODES,
    BuildConfig,
    ColumnSpec,
    EmbedderSettings,
    GradeBands,
    KeyColumns,
    ReadSettings,
    ServiceConfig,
    artifacts_from_env,
    high_value_rule,
    split_cols,
)
from leadgen.errors import ConfigError, InputError, LeadgenError
from leadgen.names import INPUT_FORMATS, OUT_FORMATS

LOCAL_CACHE = Path.home() / ".cache" / "leadgen" / "artifacts"


def _overlay(base: Any, **flags: Any) -> Any:
    """`base` with every flag that was given (not None) replacing its field."""
    given = {k: v for k, v in flags.items() if v is not None}
    return replace(base, **given) if given else base


def embedder_settings(base: EmbedderSettings, args: argparse.Namespace) -> EmbedderSettings:
    settings: EmbedderSettings = _overlay(
        base, kind=args.embedder, model=args.model, precision=args.precision
    )
    return settings


def build_config(args: argparse.Namespace, environ: dict[str, str] | None = None) -> BuildConfig:
    """BuildConfig.from_env with the `build` flags given on top."""
    base = BuildConfig.from_env(environ)
    cols = base.columns
    columns = ColumnSpec.with_dates(
        text_cols=_cols(args.text_cols, cols.text_cols),
        cat_cols=_cols(args.cat_cols, cols.cat_cols),
        num_cols=_cols(args.num_cols, cols.plain_num_cols),
        date_cols=_cols(args.date_cols, cols.date_cols),
    )
    rule = base.high_value
    values = split_cols(args.high_value_values)
    if args.value_col or args.high_value_col:
        quantile = args.value_quantile if args.value_quantile is not None else 0.9
        keep = rule.values if rule.quantile is None and not args.value_col else ()
        rule = high_value_rule(args.high_value_col, args.value_col, quantile, values or keep)
    elif args.value_quantile is not None and rule.quantile is not None:
        rule = replace(rule, quantile=args.value_quantile)
    elif values is not None:
        rule = replace(rule, values=values)
    keys: KeyColumns = _overlay(
        base.keys, id=args.id_col, email=args.email_col, current=args.current_col
    )
    cfg: BuildConfig = _overlay(
        base,
        input_path=args.input,
        input_format=args.format,
        reading=read_settings(args, base.reading),
        as_of=args.as_of,
        max_non_numeric=args.max_non_numeric,
        artifacts_uri=args.out,
        keep_versions=args.keep_versions,
        k=args.k,
        w_text=args.w_text,
        index_type=args.index_type,
        index_compression=args.index_compression,
        ann_threshold=args.ann_threshold,
        ann_recall=args.ann_recall,
        min_auc=args.min_auc,
        min_lift=args.min_lift,
        max_psi=args.max_psi,
        grade_bands=GradeBands.parse(args.grade_bands) if args.grade_bands else None,
        seed=args.seed,
        learn_weights=False if args.no_learn_weights else None,
        text_mode=args.text_mode,
        allow_columns=tuple(args.allow_column) if args.allow_column else None,
        allow_high_auc=True if args.allow_high_auc else None,
    )
    return replace(
        cfg,
        columns=columns,
        high_value=rule,
        keys=keys,
        embedder=embedder_settings(cfg.embedder, args),
    )


def read_settings(args: argparse.Namespace, base: ReadSettings | None = None) -> ReadSettings:
    """The reading flags given (--delimiter, --encoding, --sheet, --decimal, --dayfirst,
    --date-format) over `base` (the environment's, for a build)."""
    given = ReadSettings.parse(
        args.delimiter, args.encoding, args.sheet, args.decimal, args.dayfirst, args.date_format
    )
    return _overlay(base or ReadSettings(), **vars(given))  # type: ignore[no-any-return]


def _cols(flag: str | None, current: tuple[str, ...]) -> tuple[str, ...]:
    cols = split_cols(flag)
    return current if cols is None else cols


def service_config(args: argparse.Namespace) -> ServiceConfig:
    """ServiceConfig.from_env with the `score`/`serve` flags on top; ./artifacts by default, and
    remote versions cached under ~/.cache (not Lambda's /tmp)."""
    base = ServiceConfig.from_env(default_artifacts=DEFAULT_ARTIFACTS, default_cache=LOCAL_CACHE)
    cfg: ServiceConfig = _overlay(
        base, artifacts_uri=args.artifacts, refresh_seconds=args.refresh_seconds
    )
    return replace(cfg, embedder=embedder_settings(cfg.embedder, args))


def _dup_store_path(artifacts: str, explicit: str | None) -> str | None:
    if explicit:
        return explicit
    if artifacts.startswith("s3://"):
        return None
    return str(Path(artifacts) / "duplicates.sqlite")


def _duplicates(artifacts: str, args: argparse.Namespace) -> Any:
    """The local duplicate store (none with --no-dedup or S3 artifacts without --dup-store).
    A local artifacts folder that does not exist is refused here, before the store's file
    would be created in it and leave a folder holding only an empty database."""
    from leadgen.errors import ArtifactError
    from leadgen.serve.assemble import NOWHERE, DuplicateSource

    if not artifacts.startswith("s3://") and not Path(artifacts).is_dir():
        raise ArtifactError(
            f"{artifacts}: no such artifacts folder (build one with `leadgen build --out "
            f"{artifacts}`)"
        )
    path = _dup_store_path(artifacts, args.dup_store)
    return DuplicateSource(sqlite_path=path) if path and not args.no_dedup else NOWHERE


def cmd_data(args: argparse.Namespace) -> int:
    from leadgen.stores.exports import detect_format
    from leadgen.synthetic.crm import generate_crm, write_crm
    from leadgen.synthetic.export_styles import crm_export, write_csv

    if not 1 <= args.rows <= 1_000_000:
        raise ConfigError(f"--rows must be between 1 and 1000000, got {args.rows}")
    table = generate_crm(
        rows=args.rows,
        seed=args.seed,
        noise_cols=args.noise_cols,
        label_noise=args.label_noise,
        high_value_rate=args.high_value_rate,
    )
    if args.style != "plain":
        table = crm_export(table, args.style, seed=args.seed)
    fmt = detect_format(args.out, args.format)
    if fmt == "csv":
        write_csv(table, args.out, args.dialect)
    elif args.dialect != "csv":
        raise ConfigError(f"--dialect {args.dialect} is for a CSV output, not {fmt}")
    else:
        write_crm(table, args.out)
    print(f"wrote {table.num_rows} rows ({args.rows} current customers) to {args.out}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from leadgen.builder.pipeline import build
    from leadgen.stores.secrets import with_hash_key

    cfg = with_hash_key(build_config(args))
    result = build(cfg, progress=not args.quiet)
    dup_path = _dup_store_path(cfg.artifacts_uri, args.dup_store)
    if dup_path:
        _sync_local_store(dup_path, result)
    q = result.report["quality"]["headline"]
    print(
        f"published {result.version} to {cfg.artifacts_uri}: headline {q['score']} "
        f"AUC={q['auc']} lift@10%={q['lift@10%']}"
    )
    print(result.report["summary"]["how_well"]["sentence"])  # the report's first words
    return 0


def _sync_local_store(path: str, result: Any) -> None:
    """The customers' email hashes and fuzzy-match entries into the local SQLite store."""
    from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
    from leadgen.duplicates.store import sync_customer_hashes, sync_customer_identities

    store = SqliteDuplicateStore(path)
    sync = sync_customer_hashes(store, result.customer_pairs)
    if sync["status"] == "ok":
        print(f"duplicate store {path}: upserted {sync['upserted']}, removed {sync['removed']}")
    else:
        print(f"warning: duplicate store {path} not synced: {sync['reason']}")
    fuzzy = sync_customer_identities(store, result.customer_blocks.blocks)
    if fuzzy["status"] == "ok":
        print(f"fuzzy entries {path}: {fuzzy['entries']} customers in {fuzzy['blocks']} blocks")
    else:
        print(f"warning: fuzzy entries of {path} not synced: {fuzzy['reason']}")


def _service(args: argparse.Namespace) -> Any:
    """A started scoring service; a version that cannot be loaded is an error here (a CLI has
    no later request to retry on)."""
    from leadgen.serve.assemble import assemble, started

    cfg = service_config(args)
    svc = started(assemble(cfg, "request", _duplicates(cfg.artifacts_uri, args)))
    if svc.lifecycle.fallback_from is not None:
        print(
            f"warning: LATEST's version {svc.lifecycle.fallback_from} was refused; serving the "
            f"older verified version {svc.scorer().version}",
            file=sys.stderr,
        )
    return svc


def _read_leads(path: str) -> tuple[list[dict[str, Any]], bool]:
    """The leads of a JSON file ('-' = stdin): one object or a list; (leads, was_a_list). Read
    with the API's body limits (UTF-8, nesting depth, no NaN), so a file fails like a request."""
    from leadgen.serve.body import BodyError, decode_utf8, parse_json

    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = parse_json(decode_utf8(raw))
    except BodyError as exc:
        raise InputError(f"{path}: {exc.reason}") from None
    leads = data if isinstance(data, list) else [data]
    if not all(isinstance(x, dict) for x in leads):
        raise InputError(f"{path}: expected a JSON object (a lead) or a list of them")
    return leads, isinstance(data, list)


def cmd_score(args: argparse.Namespace) -> int:
    """A lead (an object) as /score_lead answers it; a list as /score_leads does: a bad lead is
    its own error in its place, the others are scored."""
    from leadgen.serve.schemas import CleanLead, clean_batch

    leads, many = _read_leads(args.lead)
    svc = _service(args)
    scorer = svc.scorer()
    checked = clean_batch(leads, scorer.spec, scorer.manifest.formats)
    if not many and not isinstance(checked[0], CleanLead):
        field = (checked[0].field or "lead").removeprefix("leads[0].")
        raise InputError(f"{args.lead}: {field}: {checked[0].reason}")
    clean = [c for c in checked if isinstance(c, CleanLead)]
    scored = iter(svc.score_leads(clean, scorer=scorer))
    results = [
        (next(scored) if isinstance(c, CleanLead) else c).model_dump(mode="json") for c in checked
    ]
    print(json.dumps(results if many else results[0], indent=2))
    return 0


def cmd_score_file(args: argparse.Namespace) -> int:
    from leadgen.serve.assemble import assemble, started
    from leadgen.serve.bulk import score_file

    cfg = service_config(args)
    summary = score_file(
        started(assemble(cfg, "bulk", _duplicates(cfg.artifacts_uri, args))),
        args.leads,
        args.out,
        rejects=args.rejects,
        fmt=args.format,
        out_format=args.out_format,
        email_col=args.email_col,
        id_col=args.id_col,
        batch_rows=args.batch_rows,
        neighbours=args.neighbours,
        progress=not args.quiet,
        reading=read_settings(args),
    )
    print("\n".join(summary.lines()))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from leadgen.serve.api import create_app
    from leadgen.serve.server import serve

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {args.port}")
    svc = _service(args)
    app = create_app(lambda: svc, max_batch=svc.config.max_batch)
    try:
        httpd = serve(app, args.host, args.port, tick=svc.lifecycle.tick)
    except (OSError, ValueError) as exc:
        reason = "address in use" if getattr(exc, "errno", None) == errno.EADDRINUSE else exc
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {reason}") from None
    print(  # the bound port: --port 0 lets the OS pick a free one
        f"leadgen serving {svc.scorer().version} on http://{args.host}:{httpd.port} "
        "(POST /score_lead, POST /score_leads, GET /health)",
        flush=True,
    )
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from leadgen.builder.inspect import inspect_export

    if args.rows is not None and args.rows < 1:
        raise ConfigError(f"--rows must be at least 1, got {args.rows}")
    print(inspect_export(args.export, args.format, args.rows, read_settings(args)).render())
    return 0


def cmd_export_model(args: argparse.Namespace) -> int:
    from leadgen.model.export import ensure_onnx_model, export_onnx, quantize_int8, resolve_source

    settings = embedder_settings(EmbedderSettings.from_env(), args)
    quantize = settings.precision == "int8"
    if args.out:
        if quantize:
            base = ensure_onnx_model(args.model, args.text_prefix, cache=settings.cache)
            path = quantize_int8(base, Path(args.out))
        else:
            name, source = resolve_source(args.model)
            path = export_onnx(source, Path(args.out), name=name, prefix=args.text_prefix)
    else:
        path = ensure_onnx_model(args.model, args.text_prefix, quantize, settings.cache)
    print(path)
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from leadgen.serve.api import create_app, openapi_document

    def no_service() -> Any:
        raise RuntimeError("openapi generation does not serve")

    doc = openapi_document(create_app(no_service, max_batch=100))
    print(json.dumps(doc, indent=2, sort_keys=True))
    return 0


def cmd_client(args: argparse.Namespace) -> int:
    from leadgen.serve.client import score_remote

    return score_remote(args)


def cmd_report(args: argparse.Namespace) -> int:
    """Print (and with --open, show) where a version's report.html is on this machine."""
    from leadgen.stores.artifacts import report_path
    from leadgen.stores.blob import open_store

    uri = args.artifacts or artifacts_from_env()
    if not uri.startswith("s3://") and not Path(uri).is_dir():
        raise ConfigError(f"{uri}: no such artifact folder")
    path = report_path(open_store(uri), args.version, LOCAL_CACHE.parent / "reports")
    print(path)
    if args.open:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    return 0


def _report_parser(sub: Any) -> None:
    r = sub.add_parser("report", help="print the local path of a version's report.html")
    r.add_argument(
        "artifacts", nargs="?", help=f"folder or s3:// (ARTIFACTS_URI, {DEFAULT_ARTIFACTS})"
    )
    r.add_argument("--version", help="a version name (default: LATEST's)")
    r.add_argument("--open", action="store_true", help="open it in the web browser")
    r.set_defaults(func=cmd_report)


def _data_parser(sub: Any) -> None:
    d = sub.add_parser("data", help="generate a synthetic CRM (parquet, or a CRM-like CSV)")
    d.add_argument("--out", default="data/crm.parquet", help="a .parquet, .csv or .csv.gz path")
    d.add_argument("--format", choices=INPUT_FORMATS, default="auto", help="by extension")
    d.add_argument(
        "--style",
        choices=("plain", "salesforce", "hubspot"),  # leadgen.synthetic.export_styles.STYLES
        default="plain",
        help="plain: the generated table; salesforce/hubspot: current rows as that CRM exports "
        "them (its column names, text ids, a stage label, '1,234', empty cells)",
    )
    d.add_argument(
        "--dialect",
        choices=("csv", "excel-eu"),  # leadgen.synthetic.export_styles.DIALECTS
        default="csv",
        help="excel-eu: a CSV as Excel in Europe saves it (';', decimal commas, dd.mm.yyyy, "
        "UTF-8 with BOM, CRLF)",
    )
    d.add_argument("--rows", type=int, default=20_000, help="current customers (<= 1,000,000)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--noise-cols", type=int, default=0, help="irrelevant numeric+categorical cols")
    d.add_argument("--label-noise", type=float, default=0.0, help="fraction of flipped labels")
    d.add_argument("--high-value-rate", type=float, default=0.10, help="0.02 .. 0.30")
    d.set_defaults(func=cmd_data)


def _embedder_flags(p: argparse.ArgumentParser, kind: bool = True) -> None:
    if kind:
        p.add_argument("--embedder", choices=EMBEDDERS, help="LEADGEN_EMBEDDER (onnx)")
    p.add_argument("--model", help="sentence-transformers name/path (default all-MiniLM-L6-v2)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="ONNX model weights: int8 (default) or fp32 (LEADGEN_PRECISION)",
    )


def _build_parser(sub: Any) -> None:
    b = sub.add_parser("build", help="build and publish an artifact version")
    b.add_argument(
        "--input", "--input-path", dest="input", help="parquet file/folder or CSV(.gz), or s3://"
    )
    b.add_argument(
        "--out", help=f"artifact folder or s3://bucket/prefix ($ARTIFACTS_URI, {DEFAULT_ARTIFACTS})"
    )
    _export_flags(b)
    b.add_argument("--text-cols", help="comma-separated (LEADGEN_TEXT_COLS)")
    b.add_argument("--cat-cols", help="comma-separated (LEADGEN_CAT_COLS)")
    b.add_argument("--num-cols", help="comma-separated, parsed as numbers (LEADGEN_NUM_COLS)")
    b.add_argument(
        "--date-cols",
        help="comma-separated dates, each a feature: days before the snapshot (--as-of) for "
        "customers, before the scoring time for leads (LEADGEN_DATE_COLS)",
    )
    b.add_argument(
        "--as-of",
        help="the export's snapshot time, an ISO date or date-time (LEADGEN_AS_OF; default: "
        "its newest date)",
    )
    b.add_argument(
        "--high-value-col", help="flag or stage column (LEADGEN_HIGH_VALUE_COL, is_high_value)"
    )
    b.add_argument(
        "--high-value-values",
        help='values meaning high value, any case, e.g. "Closed Won,customer" '
        "(LEADGEN_HIGH_VALUE_VALUES; default: a true/false flag)",
    )
    b.add_argument("--value-col", help="numeric value column (LEADGEN_VALUE_COL)")
    b.add_argument("--value-quantile", type=float, help="top share above it is high-value (0.9)")
    b.add_argument(
        "--max-non-numeric",
        type=float,
        help="share of non-numbers in a numeric column that fails the build "
        "(LEADGEN_MAX_NON_NUMERIC, 0.05)",
    )
    _embedder_flags(b)
    b.add_argument("--k", type=int)
    b.add_argument("--w-text", type=float, help="weight of the text block (0..1, 0.7)")
    b.add_argument("--index-type", choices=INDEX_TYPES)
    b.add_argument(
        "--index-compression",
        choices=INDEX_COMPRESSIONS,
        help="HNSW storage: compact, chosen per build (auto) or float32 (none) "
        "(LEADGEN_INDEX_COMPRESSION, auto)",
    )
    b.add_argument("--ann-threshold", type=int, help="ANN at or above this size (50000)")
    b.add_argument(
        "--ann-recall",
        type=float,
        help="ANN recall@k target against exact search over the uncompressed vectors: storage "
        "and efSearch are the smallest meeting it (LEADGEN_ANN_RECALL, 0.96)",
    )
    b.add_argument("--min-auc", type=float, help="quality gate floor (LEADGEN_MIN_AUC, 0.6)")
    b.add_argument("--min-lift", type=float, help="gate floor, lift@10%% (LEADGEN_MIN_LIFT, 1.2)")
    b.add_argument(
        "--max-psi",
        type=float,
        help="gate: refuse a version whose column PSI vs the previous exceeds it (LEADGEN_MAX_PSI)",
    )
    b.add_argument("--grade-bands", help="e.g. A=90,B=70,C=40 (LEADGEN_GRADE_BANDS)")
    _leak_flags(b)
    b.add_argument("--dup-store", help="SQLite duplicate store (default <out>/duplicates.sqlite)")
    b.add_argument("--keep-versions", type=int, help="versions kept (LEADGEN_KEEP_VERSIONS, 5)")
    b.add_argument("--no-learn-weights", action="store_true", help="plain, unweighted kNN")
    b.add_argument(
        "--text-mode",
        choices=TEXT_MODES,
        help="embed text columns apart and average (default) or joined (LEADGEN_TEXT_MODE)",
    )
    b.add_argument("--seed", type=int)
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=cmd_build)


def _leak_flags(b: argparse.ArgumentParser) -> None:
    """What the user allows although the leak checks refuse it (leadgen.builder.leaks)."""
    b.add_argument(
        "--allow-column",
        action="append",
        metavar="COL",
        help="build on COL although the leak checks say it looks like the outcome (repeatable; "
        "LEADGEN_ALLOW_COLUMNS, comma-separated); the report warns about it",
    )
    b.add_argument(
        "--allow-high-auc",
        action="store_true",
        help="publish although the holdout AUC is above the ceiling (LEADGEN_ALLOW_HIGH_AUC=yes)",
    )


def _reading_flags(p: argparse.ArgumentParser) -> None:
    """How to read a file where its own bytes and values do not say (default: detected)."""
    p.add_argument("--delimiter", help="comma, semicolon, tab or pipe (LEADGEN_DELIMITER)")
    p.add_argument("--encoding", help="e.g. utf-8, utf-16, cp1252 (LEADGEN_ENCODING)")
    p.add_argument("--sheet", help="the .xlsx sheet (LEADGEN_SHEET; default: the first)")
    p.add_argument(
        "--decimal", choices=(".", ","), help="the decimal mark of the numbers (LEADGEN_DECIMAL)"
    )
    p.add_argument(
        "--dayfirst",
        help="yes: 05/03/2024 is 5 March; no: 3 May (LEADGEN_DAYFIRST)",
    )
    p.add_argument(
        "--date-format", help="a strptime format for every date column, e.g. %%d/%%m/%%Y"
    )


def _export_flags(p: argparse.ArgumentParser) -> None:
    """How to read an export: its format and the columns that are not features."""
    p.add_argument(
        "--format", choices=INPUT_FORMATS, help="input format (LEADGEN_INPUT_FORMAT; by extension)"
    )
    _reading_flags(p)
    p.add_argument("--id-col", help="customer id column, text or integer (LEADGEN_ID_COL)")
    p.add_argument("--email-col", help="email column (LEADGEN_EMAIL_COL; 'email' if present)")
    p.add_argument(
        "--current-col", help="SCD2 current-row flag (LEADGEN_CURRENT_COL; 'is_current' if present)"
    )


def _serving_parsers(sub: Any) -> None:
    for name, func, helptext in (
        ("score", cmd_score, "score a lead JSON file ('-' = stdin)"),
        ("serve", cmd_serve, "serve the API locally"),
    ):
        s = sub.add_parser(name, help=helptext)
        if name == "score":
            s.add_argument("lead")
        else:
            s.add_argument("--host", default="127.0.0.1")
            s.add_argument("--port", type=int, default=8000)
        s.add_argument("--artifacts", help=f"folder or s3:// (ARTIFACTS_URI, {DEFAULT_ARTIFACTS})")
        _embedder_flags(s)
        s.add_argument("--dup-store")
        s.add_argument("--no-dedup", action="store_true")
        s.add_argument("--refresh-seconds", type=float, default=60.0)
        s.set_defaults(func=func)


def _score_file_parser(sub: Any) -> None:
    f = sub.add_parser(
        "score-file", help="score a lead file (CSV or parquet, local or s3://) in bulk"
    )
    f.add_argument("leads", help="CSV/TSV/text(.gz), .xlsx or parquet lead file, local or s3://")
    f.add_argument(
        "--out", required=True, help="scored file: .csv(.gz), .tsv, .xlsx or .parquet, or s3://"
    )
    f.add_argument("--rejects", help="rows that fail validation (default: OUT with .rejects)")
    f.add_argument("--artifacts", help=f"folder or s3:// (ARTIFACTS_URI, {DEFAULT_ARTIFACTS})")
    f.add_argument("--format", choices=INPUT_FORMATS, default="auto", help="of LEADS")
    f.add_argument(
        "--out-format",
        choices=OUT_FORMATS,
        default="auto",
        help="auto: as the input was written (a CSV's delimiter, decimal mark, BOM, line "
        "endings; .xlsx for .xlsx) unless OUT's ending says another format; csv: comma, '.', "
        "UTF-8; csv-eu: semicolon, ',', UTF-8 with BOM, CRLF (Excel in Europe); tsv; xlsx; "
        "parquet",
    )
    _reading_flags(f)
    f.add_argument("--email-col", help="default: the build's email column, or 'email'")
    f.add_argument("--id-col", help="the lead's own id (default: the build's id column)")
    f.add_argument("--batch-rows", type=int, default=2_000, help="leads per batch (memory)")
    f.add_argument("--neighbours", type=int, default=3, help="top neighbour ids per lead")
    _embedder_flags(f)
    f.add_argument("--dup-store", help="SQLite duplicate store (default <artifacts>/...)")
    f.add_argument("--no-dedup", action="store_true")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=cmd_score_file, refresh_seconds=None)


def _tool_parsers(sub: Any) -> None:
    i = sub.add_parser(
        "inspect", help="profile a CRM export and suggest the build command that fits it"
    )
    i.add_argument("export", help="parquet file/folder, CSV/TSV/text(.gz) or .xlsx, or s3://")
    i.add_argument("--format", choices=INPUT_FORMATS, default="auto", help="by extension")
    _reading_flags(i)
    i.add_argument("--rows", type=int, default=200_000, help="inspect the first N rows (200,000)")
    i.set_defaults(func=cmd_inspect)

    e = sub.add_parser("export-model", help="export a sentence-transformers model to ONNX")
    e.add_argument("--out", help="target directory (default: the cache)")
    e.add_argument("--text-prefix", default="", help="e.g. 'query: ' for E5 models")
    _embedder_flags(e, kind=False)
    e.set_defaults(func=cmd_export_model, embedder=None)

    o = sub.add_parser("openapi", help="print the OpenAPI document of the API")
    o.set_defaults(func=cmd_openapi)

    c = sub.add_parser("client", help="call the deployed API (SigV4)")
    csub = c.add_subparsers(dest="client_command", required=True)
    cs = csub.add_parser("score", help="POST a lead JSON file to URL/score_lead")
    cs.add_argument("--url", required=True, help="the API URL (stack output ApiUrl)")
    cs.add_argument("--region", help="default: from the URL or AWS_REGION")
    cs.add_argument("lead")
    c.set_defaults(func=cmd_client)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="leadgen", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    _data_parser(sub)
    _build_parser(sub)
    _report_parser(sub)
    _serving_parsers(sub)
    _score_file_parser(sub)
    _tool_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except LeadgenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
