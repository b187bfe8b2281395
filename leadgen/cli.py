"""`python -m leadgen COMMAND`: data, build, export-model, score, serve, openapi, client.

A thin adapter: parse flags (falling back to the seed's LEADGEN_* env vars), call the core, print.
Every LeadgenError becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from leadgen.config import (
    DEFAULT_CAT_COLS,
    DEFAULT_HIGH_VALUE_COL,
    DEFAULT_NUM_COLS,
    DEFAULT_TEXT_COLS,
    PRECISIONS,
    BuildConfig,
    ColumnSpec,
    GradeBands,
    HighValueRule,
    env,
    env_float,
    env_int,
    split_cols,
)
from leadgen.errors import ConfigError, InputError, LeadgenError

DEFAULT_ARTIFACTS = "artifacts"


def _bands(text: str | None) -> GradeBands:
    if not text:
        return GradeBands()
    parts: dict[str, Any] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        parts[key.strip().upper()] = value.strip()
    return GradeBands.from_json(parts)


def _dup_store_path(artifacts: str, explicit: str | None) -> str | None:
    if explicit:
        return explicit
    if artifacts.startswith("s3://"):
        return None
    return str(Path(artifacts) / "duplicates.sqlite")


def cmd_data(args: argparse.Namespace) -> int:
    from leadgen.synthetic.crm import generate_crm, write_crm

    if not 1 <= args.rows <= 1_000_000:
        raise ConfigError(f"--rows must be between 1 and 1000000, got {args.rows}")
    table = generate_crm(
        rows=args.rows,
        seed=args.seed,
        noise_cols=args.noise_cols,
        label_noise=args.label_noise,
        high_value_rate=args.high_value_rate,
    )
    write_crm(table, args.out)
    print(f"wrote {table.num_rows} rows ({args.rows} current customers) to {args.out}")
    return 0


def build_config(args: argparse.Namespace) -> BuildConfig:
    spec = ColumnSpec(
        text_cols=_cols(args.text_cols, "LEADGEN_TEXT_COLS", DEFAULT_TEXT_COLS),
        cat_cols=_cols(args.cat_cols, "LEADGEN_CAT_COLS", DEFAULT_CAT_COLS),
        num_cols=_cols(args.num_cols, "LEADGEN_NUM_COLS", DEFAULT_NUM_COLS),
    )
    value_col = args.value_col or env("LEADGEN_VALUE_COL")
    if value_col:
        quantile = (
            args.value_quantile
            if args.value_quantile is not None
            else env_float("LEADGEN_VALUE_QUANTILE", 0.9)
        )
        rule = HighValueRule(column=value_col, quantile=quantile)
    else:
        rule = HighValueRule(
            column=args.high_value_col or env("LEADGEN_HIGH_VALUE_COL") or DEFAULT_HIGH_VALUE_COL
        )
    return BuildConfig(
        columns=spec,
        high_value=rule,
        embedder=args.embedder or env("LEADGEN_EMBEDDER") or "onnx",
        model=args.model or env("LEADGEN_MODEL"),
        k=args.k,
        w_text=args.w_text,
        index_type=args.index_type,
        ann_threshold=args.ann_threshold,
        ann_recall=(
            args.ann_recall
            if args.ann_recall is not None
            else env_float("LEADGEN_ANN_RECALL", 0.99)
        ),
        min_auc=args.min_auc if args.min_auc is not None else env_float("LEADGEN_MIN_AUC", 0.6),
        min_lift=args.min_lift if args.min_lift is not None else env_float("LEADGEN_MIN_LIFT", 1.2),
        grade_bands=_bands(args.grade_bands or env("LEADGEN_GRADE_BANDS")),
        seed=args.seed,
        learn_weights=not args.no_learn_weights,
        text_mode=args.text_mode or env("LEADGEN_TEXT_MODE") or "columns",
    )


def _cols(flag: str | None, var: str, default: tuple[str, ...]) -> tuple[str, ...]:
    for source in (flag, env(var)):
        cols = split_cols(source)
        if cols is not None:
            return cols
    return default


def cmd_build(args: argparse.Namespace) -> int:
    from leadgen.build.pipeline import build
    from leadgen.stores.duplicates import SqliteDuplicateStore, sync_customer_hashes

    input_path = args.input or env("LEADGEN_INPUT_PATH")
    if not input_path:
        raise InputError("no input: pass --input PATH (or set LEADGEN_INPUT_PATH)")
    out = args.out or env("ARTIFACTS_URI") or DEFAULT_ARTIFACTS
    cfg = build_config(args)
    result = build(
        input_path,
        out,
        cfg,
        progress=not args.quiet,
        keep_versions=args.keep_versions or env_int("LEADGEN_KEEP_VERSIONS", 5),
    )
    dup_path = _dup_store_path(out, args.dup_store)
    if dup_path:
        sync = sync_customer_hashes(SqliteDuplicateStore(dup_path), result.customer_pairs)
        if sync["status"] == "ok":
            print(f"duplicate store {dup_path}: upserted {sync['upserted']}, "
                  f"removed {sync['removed']}")  # fmt: skip
        else:
            print(f"warning: duplicate store {dup_path} not synced: {sync['reason']}")
    q = result.report["quality"]["headline"]
    print(
        f"published {result.version} to {out}: headline {q['score']} AUC={q['auc']} "
        f"lift@10%={q['lift@10%']}"
    )
    return 0


def _service(args: argparse.Namespace) -> Any:
    from leadgen.model.embedders import make_embedder
    from leadgen.serve.service import ScoringService, ServiceConfig
    from leadgen.stores.duplicates import SqliteDuplicateStore

    uri = args.artifacts or env("ARTIFACTS_URI") or DEFAULT_ARTIFACTS
    cfg = ServiceConfig(
        artifacts_uri=uri,
        cache_dir=Path(
            env("LEADGEN_CACHE_DIR") or Path.home() / ".cache" / "leadgen" / "artifacts"
        ),
        refresh_seconds=args.refresh_seconds,
        embedder=args.embedder or env("LEADGEN_EMBEDDER") or "onnx",
    )
    dup_path = _dup_store_path(uri, args.dup_store)
    dups = SqliteDuplicateStore(dup_path) if dup_path and not args.no_dedup else None
    svc = ScoringService(cfg, make_embedder(cfg.embedder, args.model or env("LEADGEN_MODEL")), dups)
    svc.holder.load_initial()
    return svc


def cmd_score(args: argparse.Namespace) -> int:
    from leadgen.errors import LeadValidationError

    try:
        raw = sys.stdin.read() if args.lead == "-" else Path(args.lead).read_text()
    except OSError as exc:
        raise InputError(f"{args.lead}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InputError(f"{args.lead}: not valid JSON ({exc})") from None
    leads = data if isinstance(data, list) else [data]
    if not all(isinstance(x, dict) for x in leads):
        raise InputError(f"{args.lead}: expected a JSON object (a lead) or a list of them")
    svc = _service(args)
    try:
        results = svc.score_leads(leads)
    except LeadValidationError as exc:
        raise InputError(f"{args.lead}: {exc}") from None
    print(json.dumps(results[0] if isinstance(data, dict) else results, indent=2))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from leadgen.serve.api import create_app
    from leadgen.serve.server import serve

    svc = _service(args)
    app = create_app(lambda: svc)
    httpd = serve(app, args.host, args.port)
    print(
        f"leadgen serving {svc.model.version} on http://{args.host}:{args.port} "
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


def cmd_export_model(args: argparse.Namespace) -> int:
    from leadgen.model.embedders import default_precision
    from leadgen.model.export import ensure_onnx_model, export_onnx, resolve_source

    quantize = default_precision() == "int8"
    if args.out:
        name, source = resolve_source(args.model)
        if quantize:
            from leadgen.model.export import quantize_int8

            base = ensure_onnx_model(args.model, prefix=args.text_prefix)
            path = quantize_int8(base, Path(args.out))
        else:
            path = export_onnx(source, Path(args.out), name=name, prefix=args.text_prefix)
    else:
        path = ensure_onnx_model(args.model, prefix=args.text_prefix, quantize=quantize)
    print(path)
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from leadgen.serve.api import create_app, openapi_document

    def no_service() -> Any:
        raise RuntimeError("openapi generation does not serve")

    print(
        json.dumps(
            openapi_document(create_app(no_service, max_batch=100)), indent=2, sort_keys=True
        )
    )
    return 0


def cmd_client(args: argparse.Namespace) -> int:
    from leadgen.serve.client import score_remote

    return score_remote(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m leadgen", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="generate a synthetic CRM parquet")
    d.add_argument("--out", default="data/crm.parquet")
    d.add_argument("--rows", type=int, default=20_000, help="current customers (<= 1,000,000)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--noise-cols", type=int, default=0, help="irrelevant numeric+categorical cols")
    d.add_argument("--label-noise", type=float, default=0.0, help="fraction of flipped labels")
    d.add_argument("--high-value-rate", type=float, default=0.10, help="0.02 .. 0.30")
    d.set_defaults(func=cmd_data)

    b = sub.add_parser("build", help="build and publish an artifact version")
    b.add_argument("--input", "--input-path", dest="input", help="parquet file/folder, or s3://")
    b.add_argument(
        "--out",
        help=f"artifact folder or s3://bucket/prefix (default "
        f"$ARTIFACTS_URI or {DEFAULT_ARTIFACTS})",
    )
    b.add_argument("--text-cols", help="comma-separated (LEADGEN_TEXT_COLS)")
    b.add_argument("--cat-cols", help="comma-separated (LEADGEN_CAT_COLS)")
    b.add_argument("--num-cols", help="comma-separated (LEADGEN_NUM_COLS)")
    b.add_argument("--high-value-col", help="boolean column (LEADGEN_HIGH_VALUE_COL)")
    b.add_argument("--value-col", help="numeric value column (LEADGEN_VALUE_COL)")
    b.add_argument("--value-quantile", type=float, help="top share above it is high-value (0.9)")
    b.add_argument("--embedder", choices=["onnx", "hashing"])
    b.add_argument("--model", help="sentence-transformers name/path (default all-MiniLM-L6-v2)")
    b.add_argument("--k", type=int, default=20)
    b.add_argument("--w-text", type=float, default=0.7, help="weight of the text block (0..1)")
    b.add_argument("--index-type", choices=["auto", "flat", "hnsw", "ivf"], default="auto")
    b.add_argument("--ann-threshold", type=int, default=50_000, help="ANN at or above this size")
    b.add_argument(
        "--ann-recall",
        type=float,
        help="HNSW recall@k target: efSearch is the smallest meeting it (LEADGEN_ANN_RECALL, 0.99)",
    )
    b.add_argument("--min-auc", type=float, help="quality gate floor (LEADGEN_MIN_AUC, 0.6)")
    b.add_argument("--min-lift", type=float, help="gate floor, lift@10%% (LEADGEN_MIN_LIFT, 1.2)")
    b.add_argument("--grade-bands", help="e.g. A=90,B=70,C=40")
    b.add_argument("--dup-store", help="SQLite duplicate store (default <out>/duplicates.sqlite)")
    b.add_argument("--keep-versions", type=int, help="versions kept (LEADGEN_KEEP_VERSIONS, 5)")
    b.add_argument("--no-learn-weights", action="store_true", help="plain, unweighted kNN")
    b.add_argument(
        "--text-mode",
        choices=["columns", "joint"],
        help="embed text columns apart and average (default) or joined (LEADGEN_TEXT_MODE)",
    )
    b.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="ONNX model weights: int8 (default, ~2x faster) or fp32 (LEADGEN_PRECISION)",
    )
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=cmd_build)

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
        s.add_argument("--embedder", choices=["onnx", "hashing"])
        s.add_argument("--model")
        s.add_argument("--dup-store")
        s.add_argument("--no-dedup", action="store_true")
        s.add_argument("--refresh-seconds", type=float, default=60.0)
        s.add_argument("--precision", choices=PRECISIONS, help="as built (LEADGEN_PRECISION)")
        s.set_defaults(func=func)

    e = sub.add_parser("export-model", help="export a sentence-transformers model to ONNX")
    e.add_argument("--model")
    e.add_argument("--out", help="target directory (default: the cache)")
    e.add_argument("--text-prefix", default="", help="e.g. 'query: ' for E5 models")
    e.add_argument(
        "--precision", choices=PRECISIONS, help="int8 (default) or fp32 (LEADGEN_PRECISION)"
    )
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if getattr(args, "precision", None):
        os.environ["LEADGEN_PRECISION"] = args.precision
    try:
        return int(args.func(args))
    except LeadgenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
