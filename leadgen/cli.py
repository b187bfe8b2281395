"""`leadgen COMMAND` (or `python -m leadgen COMMAND`): data, inspect, build, report, score,
score-file, serve, export-model, openapi, client, rollback, forget.

A thin adapter: read the runtime's configuration from the environment (BuildConfig.from_env,
ServiceConfig.from_env), overlay the flags given, call the core, print. Every LeadgenError
becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from leadgen.config import (
    DEFAULT_ARTIFACTS,
    EMBEDDERS,
    IDENTITY_ENV,
    IDENTITY_FIELDS,
    INDEX_COMPRESSIONS,
    INDEX_TYPES,
    PRECISIONS,
    SHORT_CIRCUITS,
    TEXT_MODES,
    BuildConfig,
    ColumnSpec,
    CustomerRule,
    EmbedderSettings,
    GradeBands,
    IdentityColumns,
    KeyColumns,
    ReadSettings,
    ServiceConfig,
    artifacts_from_env,
    cli_score_log,
    high_value_rule,
    score_log_location,
    split_cols,
)
from leadgen.errors import ConfigError, InputError, LeadgenError
from leadgen.names import INPUT_FORMATS, OUT_FORMATS

# The exit code when our stdout's reader closed it: a shell's for a death by SIGPIPE (128 + 13).
PIPE_CLOSED = 141
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
    identity: IdentityColumns = _overlay(base.identity, **identity_flags(args))
    customers = base.customers
    if args.customer_col is not None:
        customers = CustomerRule(args.customer_col, split_cols(args.customer_values) or ())
    elif args.customer_values is not None:
        customers = CustomerRule(base.customers.column, split_cols(args.customer_values) or ())
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
        maturity_days=args.maturity_days,
        max_realized_auc_drop=args.max_realized_auc_drop,
        allow_columns=tuple(args.allow_column) if args.allow_column else None,
        allow_high_auc=True if args.allow_high_auc else None,
    )
    return replace(
        cfg,
        columns=columns,
        high_value=rule,
        keys=keys,
        identity=identity,
        customers=customers,
        embedder=embedder_settings(cfg.embedder, args),
        score_log=(
            score_log_location(args.score_log)
            if args.score_log
            else cli_score_log(cfg.artifacts_uri, environ)
        ),
    )


def read_settings(args: argparse.Namespace, base: ReadSettings | None = None) -> ReadSettings:
    """The reading flags given (--delimiter, --encoding, --sheet, --decimal, --dayfirst,
    --date-format) over `base` (the environment's, for a build)."""
    given = ReadSettings.parse(
        args.delimiter, args.encoding, args.sheet, args.decimal, args.dayfirst, args.date_format
    )
    return _overlay(base or ReadSettings(), **vars(given))  # type: ignore[no-any-return]


def identity_flags(args: argparse.Namespace) -> dict[str, str | None]:
    """--first-name-col ... --dob-col as IdentityColumns fields (None: not given)."""
    return {f: getattr(args, f"{f}_col", None) for f in IDENTITY_FIELDS}


def _cols(flag: str | None, current: tuple[str, ...]) -> tuple[str, ...]:
    cols = split_cols(flag)
    return current if cols is None else cols


def service_config(args: argparse.Namespace) -> ServiceConfig:
    """ServiceConfig.from_env with the `score`/`serve` flags on top; ./artifacts by default, and
    remote versions cached under ~/.cache (not Lambda's /tmp)."""
    base = ServiceConfig.from_env(default_artifacts=DEFAULT_ARTIFACTS, default_cache=LOCAL_CACHE)
    cfg: ServiceConfig = _overlay(
        base,
        artifacts_uri=args.artifacts,
        refresh_seconds=args.refresh_seconds,
        short_circuit=args.short_circuit,
    )
    return replace(
        cfg, embedder=embedder_settings(cfg.embedder, args), score_log=_score_log(args, cfg)
    )


def _score_log(args: argparse.Namespace, cfg: ServiceConfig) -> str | None:
    """--no-log, else --score-log, else LEADGEN_SCORE_LOG, else beside local artifacts."""
    if args.no_log:
        return None
    if args.score_log:
        return score_log_location(args.score_log)
    return cli_score_log(cfg.artifacts_uri)


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
    from leadgen.builder.summary import published_line
    from leadgen.stores.secrets import with_hash_key
    from leadgen.stores.writable import check_build_outputs

    cfg = with_hash_key(build_config(args))
    check_build_outputs(cfg.artifacts_uri)
    dup_path = _dup_store_path(cfg.artifacts_uri, args.dup_store)
    store = _usable_store(dup_path, bool(args.dup_store)) if dup_path else None
    result = build(cfg, progress=not args.quiet)
    if store is not None:
        _sync_local_store(store(), result)
    q = result.report["quality"]["headline"]
    print(published_line(result.version, cfg.artifacts_uri, q))
    print(result.report["summary"]["how_well"]["sentence"])  # the report's first words
    return 0


def _usable_store(path: str, explicit: bool) -> Any:
    """How to open the SQLite store at `path` once the build is done, checked before any work:
    one line naming the file and the cause when it cannot be used, an error when the user named
    it (--dup-store) and a warning otherwise (None: not synced). A store that does not exist yet
    is not made here (a refused build leaves the folder as it was): its folder must be
    writable."""
    from leadgen.duplicates.sqlite_store import SYNC_TIMEOUT, SqliteDuplicateStore
    from leadgen.stores.writable import check_writable

    if not Path(path).exists():
        check_writable(Path(path).resolve().parent, "duplicate store")
        return lambda: SqliteDuplicateStore(path, SYNC_TIMEOUT)
    store = SqliteDuplicateStore(path, SYNC_TIMEOUT)
    why = store.unusable()
    _refuse_or_warn(why, explicit, "not synced")
    return None if why else (lambda: store)


def _refuse_or_warn(why: str | None, explicit: bool, consequence: str) -> None:
    if why is not None and explicit:
        raise InputError(why)
    if why is not None:
        print(f"warning: {why}; {consequence}", file=sys.stderr)


def _sync_local_store(store: Any, result: Any) -> None:
    """The customers' email hashes and fuzzy-match entries into the local SQLite store."""
    from leadgen.duplicates.store import sync_customer_hashes, sync_customer_identities

    path = store.path
    sync = sync_customer_hashes(store, result.customer_pairs, result.customer_blocks.records)
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
    from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
    from leadgen.serve.assemble import assemble, started

    cfg = service_config(args)
    source = "cli" if args.command == "score" else "api"
    svc = started(assemble(cfg, "request", _duplicates(cfg.artifacts_uri, args), log_source=source))
    dup = svc.duplicates
    why = dup.unusable() if isinstance(dup, SqliteDuplicateStore) else None
    _refuse_or_warn(why, bool(args.dup_store), "the duplicate check is skipped")
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
    checked = clean_batch(
        leads, scorer.spec, scorer.manifest.formats, identity=scorer.manifest.identity_columns
    )
    if not many and not isinstance(checked[0], CleanLead):
        field = (checked[0].field or "lead").removeprefix("leads[0].")
        raise InputError(f"{args.lead}: {field}: {checked[0].reason}")
    clean = [c for c in checked if isinstance(c, CleanLead)]
    from leadgen.serve.assemble import closed

    try:
        scored = iter(svc.score_leads(clean, scorer=scorer))
    finally:
        closed(svc)
    results = [
        (next(scored) if isinstance(c, CleanLead) else c).model_dump(mode="json") for c in checked
    ]
    print(json.dumps(results if many else results[0], indent=2))
    return 0


def cmd_score_file(args: argparse.Namespace) -> int:
    from leadgen.serve.assemble import assemble, closed, started
    from leadgen.serve.bulk import score_file

    cfg = service_config(args)
    service = started(assemble(cfg, "bulk", _duplicates(cfg.artifacts_uri, args)))
    try:
        summary = score_file(
            service,
            args.leads,
            args.out,
            rejects=args.rejects,
            fmt=args.format,
            out_format=args.out_format,
            email_col=args.email_col,
            id_col=args.id_col,
            identity=IdentityColumns(**identity_flags(args)),
            batch_rows=args.batch_rows,
            neighbours=args.neighbours,
            progress=not args.quiet,
            reading=read_settings(args),
        )
    finally:
        closed(service)
    print("\n".join([*summary.lines(), log_line(service)]))
    return 0


def log_line(service: Any) -> str:
    """What the score log took of a run (leadgen.serve.score_record)."""
    logger = service.score_log
    if logger is None:
        return "  score log: off"
    failed = f"; {logger.failures:,} could not be logged" if logger.failures else ""
    where = service.config.score_log
    return f"  score log: {logger.logged:,} scored leads logged to {where}{failed}"


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
    from leadgen.serve.assemble import closed

    previous = signal.signal(signal.SIGTERM, _stop)  # `kill`, `docker stop`: a clean shutdown
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        httpd.server_close()
        closed(svc)  # the buffered score-log records, written on a clean shutdown
    return 0


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


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
    if settings.kind == "static":
        from leadgen.model.export import distill_static, ensure_static_model

        if args.out:
            name, source = resolve_source(args.model)
            path = distill_static(source, Path(args.out), name=name)
        else:
            path = ensure_static_model(args.model, cache=settings.cache)
    elif settings.kind == "hashing":
        raise ConfigError("the hashing embedder has no model to export")
    elif args.out:
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


def cmd_rollback(args: argparse.Namespace) -> int:
    """Point LATEST at an earlier complete version, verified first; roll the function out."""
    from leadgen.rollback import rollback
    from leadgen.stores.blob import open_store

    uri = args.artifacts or artifacts_from_env()
    if not uri.startswith("s3://") and not Path(uri).is_dir():
        raise ConfigError(f"{uri}: no such artifact folder")
    function = args.function or BuildConfig.from_env().function_name
    done = rollback(open_store(uri), args.version, function=function)
    print(
        f"LATEST of {uri}: {done.previous} -> {done.version} (every checksum verified)",
        flush=True,
    )
    if done.rollout is not None:
        r = done.rollout
        state = "traffic shifted" if r.shifted else "still shifting"
        print(
            f"function {r.function}: version {r.function_version} pinned to it, "
            f"live moved ({state})"
        )
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Remove a person from the score log and the duplicate stores; prints counts only."""
    from leadgen.forget import forget
    from leadgen.stores.secrets import with_hash_key

    cfg = with_hash_key(
        ServiceConfig.from_env(default_artifacts=DEFAULT_ARTIFACTS, default_cache=LOCAL_CACHE)
    )
    uri = args.artifacts or cfg.artifacts_uri
    log = score_log_location(args.score_log) if args.score_log else cli_score_log(uri)
    sqlite = args.dup_store or _dup_store_path(uri, None)
    if sqlite is not None and not Path(sqlite).is_file():
        sqlite = None
    dynamo = _dynamo(args.dup_table or cfg.dup_table, args.identity_table or cfg.identity_table)
    if log is None and sqlite is None and dynamo is None:
        raise ConfigError("forget: no score log, duplicate store or table to erase from")
    done = forget(
        args.who, hash_key=cfg.email_hash_key, score_log=log, sqlite_path=sqlite, dynamo=dynamo
    )
    print(json.dumps(done.to_json(), indent=2))
    return 0


def _dynamo(table: str | None, identity: str | None) -> Any:
    if table is None:
        return None
    from leadgen.duplicates.dynamo_store import DynamoDuplicateStore

    return DynamoDuplicateStore(table, identity)


def _admin_parsers(sub: Any) -> None:
    r = sub.add_parser(
        "rollback", help="point LATEST at an earlier complete version (verified first)"
    )
    r.add_argument("version", nargs="?", help="default: the newest complete one before LATEST's")
    r.add_argument("--artifacts", help=f"folder or s3:// (ARTIFACTS_URI, {DEFAULT_ARTIFACTS})")
    r.add_argument(
        "--function",
        help="also roll this scoring function out to it (LEADGEN_FUNCTION_NAME), as a build does",
    )
    r.set_defaults(func=cmd_rollback)
    f = sub.add_parser(
        "forget", help="remove a person (EMAIL or ID) from the score log and duplicate stores"
    )
    f.add_argument("who", help="an email address, or a lead id / lead_ref")
    f.add_argument("--artifacts", help=f"folder or s3:// (ARTIFACTS_URI, {DEFAULT_ARTIFACTS})")
    f.add_argument("--score-log", help="LEADGEN_SCORE_LOG; default <artifacts>/score_log")
    f.add_argument("--dup-store", help="SQLite store (default <artifacts>/duplicates.sqlite)")
    f.add_argument("--dup-table", help="DynamoDB duplicate table (DUP_TABLE_NAME)")
    f.add_argument("--identity-table", help="DynamoDB identity table (IDENTITY_TABLE_NAME)")
    f.set_defaults(func=cmd_forget)


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


def _customer_flags(b: argparse.ArgumentParser) -> None:
    """Which rows the duplicate check treats as customers (the others are known people)."""
    b.add_argument(
        "--customer-col",
        help="stage or flag column saying who is a customer (LEADGEN_CUSTOMER_COL; default: the "
        "label when it is a stage, else every row): only customers are not scored",
    )
    b.add_argument(
        "--customer-values",
        help='values of --customer-col meaning customer, e.g. "customer,evangelist" '
        "(LEADGEN_CUSTOMER_VALUES; default: a true/false flag)",
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
    _identity_flags(b)
    _customer_flags(b)
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
    _outcome_flags(b)
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


def _outcome_flags(b: argparse.ArgumentParser) -> None:
    b.add_argument(
        "--score-log",
        help="the score log outcomes are measured on: a folder or s3:// (LEADGEN_SCORE_LOG; "
        "default <out>/score_log for a local --out; 'off' for none)",
    )
    b.add_argument(
        "--maturity-days",
        type=float,
        help="a logged lead counts once scored this many days before the build "
        "(LEADGEN_MATURITY_DAYS, 90)",
    )
    b.add_argument(
        "--max-realized-auc-drop",
        type=float,
        help="challenger gate: refuse a candidate whose realised AUC on matured leads is below "
        "the serving version's by more (LEADGEN_MAX_REALIZED_AUC_DROP, 0.02)",
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


_IDENTITY_HELP = {
    "first_name": "first name",
    "last_name": "last name",
    "full_name": "full name, split into first and last when those are not given",
    "company": "company or account name",
    "phone": "phone number",
    "country": "country",
    "street": "street address (house number and street)",
    "city": "city",
    "postcode": "postal or ZIP code",
    "dob": "date of birth",
}


def _identity_flags(p: argparse.ArgumentParser, build: bool = True) -> None:
    """The columns that say who a person is, for the duplicate check (default: a column named
    like the field, first_name ...; `leadgen inspect` suggests a CRM's own names)."""
    for f in IDENTITY_FIELDS:
        env_name = IDENTITY_ENV[f] if build else "default: the build's column"
        p.add_argument(f"--{f.replace('_', '-')}-col", help=f"{_IDENTITY_HELP[f]} ({env_name})")


def _short_circuit_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--short-circuit",
        choices=SHORT_CIRCUITS,
        help="known people answered without a score: customers only (default), or every known "
        "person as well (LEADGEN_SHORT_CIRCUIT)",
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
        _log_flags(s)
        s.add_argument("--refresh-seconds", type=float, default=60.0)
        _short_circuit_flag(s)
        s.set_defaults(func=func)


def _log_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--score-log",
        help="where scored leads are logged: a folder or s3:// (LEADGEN_SCORE_LOG; default "
        "<artifacts>/score_log for local artifacts)",
    )
    p.add_argument("--no-log", action="store_true", help="do not log the scored leads")


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
    _identity_flags(f, build=False)
    _short_circuit_flag(f)
    f.add_argument("--batch-rows", type=int, default=2_000, help="leads per batch (memory)")
    f.add_argument("--neighbours", type=int, default=3, help="top neighbour ids per lead")
    _embedder_flags(f)
    f.add_argument("--dup-store", help="SQLite duplicate store (default <artifacts>/...)")
    f.add_argument("--no-dedup", action="store_true")
    _log_flags(f)
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

    e = sub.add_parser(
        "export-model", help="export a sentence-transformers model to ONNX (or distill it: static)"
    )
    e.add_argument("--out", help="target directory (default: the cache)")
    e.add_argument("--text-prefix", default="", help="e.g. 'query: ' for E5 models (onnx)")
    _embedder_flags(e)
    e.set_defaults(func=cmd_export_model)

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
    _admin_parsers(sub)
    return p


def closed_pipe() -> int:
    """The reader of our output went away (`leadgen score ... | head -c1`): nothing to say to
    anyone; stdout is pointed at /dev/null so the interpreter's final flush fails no more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return PIPE_CLOSED


def os_error_line(exc: OSError) -> str:
    """An OSError as one line naming the file when known: `path: No space left on device`."""
    cause = exc.strerror or str(exc).splitlines()[0]
    return f"{exc.filename}: {cause}" if exc.filename else cause


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # here, where a closed pipe is caught, not at interpreter exit
        return code
    except LeadgenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return closed_pipe()
    except OSError as exc:  # a full disk, a file-size limit, ...: one line, never a traceback
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 1
