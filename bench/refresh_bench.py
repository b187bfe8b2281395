"""`python -m bench.refresh_bench`: what a version costs to hold and to refresh, the compact
indices that ship side by side with the float32 ones of before. Writes bench/REFRESH.md.

    python -m bench.refresh_bench                    # 100k and 1M (~1 h on 2 cores)
    python -m bench.refresh_bench --sizes 3000 --quick

Per size, the same generated CRM is built twice (`index_compression` auto and none), each version
is uploaded to moto's server (its own process: S3 over HTTP) and then, each part in a fresh child
process:
- size: bytes per customer; lead recall@20 against exact search over the UNCOMPRESSED vectors (the
  uncompressed build's float32 indices hold them exactly); the holdout AUC through the published
  indices and through exact search (the build records both), and against the uncompressed build;
- refresh, as AWS does it (leadgen/rollout.py): a NEW environment initialising with the
  version pinned, i.e. the handler imported as Lambda's init does; its peak resident memory and
  /tmp; its base (the same init pinned to a version that does not exist) makes "one loaded
  version"; cold start; meanwhile an OLD environment keeps serving and its p99 is split by
  whether the new one was initialising (they share this machine's 2 cores, not so in AWS);
- refresh in process, the path not taken in AWS and the one `leadgen serve` takes: one
  environment loads the new version beside the old in the background; peak memory and /tmp, and
  p99 before, during and after.

Every child runs under a watchdog that kills it when its resident memory passes the prod
function's size (`--limit-mb`, 3008): Lambda's limit is on the environment's memory in use, which
for one process is its RSS (page cache of /tmp files is reclaimable there). RLIMIT_AS would not be
faithful: virtual size is several times RSS here (each thread reserves a malloc arena), so it
would refuse runs Lambda accepts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, child_env, machine, onnx_model_dir, run_child, versions
from bench.refresh_child import split_by_window

HERE = Path(__file__).resolve().parent
MB = 1024 * 1024
BUCKET = "leadgen-refresh-bench"
LABELS = ("compact", "uncompressed")  # index_compression auto / none


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.refresh_bench", description=__doc__)
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--limit-mb", type=int, default=3008, help="the prod function's memory")
    p.add_argument("--steady", type=int, default=300, help="requests per latency phase")
    p.add_argument("--pool-rows", type=int, default=20_000)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "leadgen-bench"))
    p.add_argument("--out", default=str(HERE / "REFRESH.md"))
    args = p.parse_args(argv)
    if args.quick:
        args.steady = 40
    return args


# ---- processes -------------------------------------------------------------------------------
def _rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_limited(
    task: str, args: dict[str, Any], extra_env: dict[str, str], limit_mb: int
) -> dict[str, Any]:
    """`bench.child TASK` in a fresh interpreter, killed (as Lambda would) when its RSS passes
    `limit_mb`; returns its result, or {"killed": ...} with the RSS that crossed the line."""
    with tempfile.TemporaryDirectory(prefix="leadgen-refresh-") as tmp:
        out, err = Path(tmp) / "result.json", Path(tmp) / "stderr"
        cmd = [sys.executable, "-m", "bench.child", task, json.dumps(args), str(out)]
        spawned = time.time()
        with err.open("wb") as err_fh:
            proc = subprocess.Popen(
                cmd, env=child_env(extra_env), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err_fh
            )
            peak, killed = 0, False
            while proc.poll() is None:
                rss = _rss_of(proc.pid)
                peak = max(peak, rss)
                if rss > limit_mb * MB:
                    proc.kill()
                    killed = True
                    break
                time.sleep(0.005)
            proc.wait()
        if killed:
            return {"killed": True, "rss_at_kill_bytes": peak, "limit_mb": limit_mb}
        if proc.returncode != 0 or not out.exists():
            tail = err.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"refresh child {task} failed (rc={proc.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(out.read_text())
    result.update({"killed": False, "watchdog_peak_bytes": peak, "spawned_at": spawned})
    return result


@contextmanager
def moto_server() -> Iterator[dict[str, str]]:
    """moto's server in its own process (so serving in a child competes with it for cores, not
    for a GIL); yields the AWS environment pointing at it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_S3": endpoint,
    }  # fmt: skip
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        _wait_for_port(port)
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"moto's server did not start on port {port}")


# ---- versions in moto's S3 --------------------------------------------------------------------
def upload(local_uri: str, prefix: str) -> tuple[str, str]:
    """Upload LATEST's version of a local artifact folder to s3://BUCKET/prefix; returns
    (version, pin)."""
    import boto3

    from leadgen.stores.artifacts import read_pointer, set_latest, upload_version
    from leadgen.stores.blob import S3Store, open_store

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    pointer = read_pointer(open_store(local_uri))
    store = S3Store(BUCKET, prefix)
    upload_version(store, Path(local_uri) / pointer.version, pointer.version)
    set_latest(store, pointer.version, pointer.manifest_sha256)
    return pointer.version, f"{pointer.version}@{pointer.manifest_sha256}"


def renamed_copy(prefix: str, version: str) -> tuple[str, str, bytes]:
    """The same files under a new version name (server-side copies, manifest re-sealed with the
    new name): what the next build publishes, as far as a refresh can tell. Returns (version,
    pin, LATEST body); LATEST itself is not moved."""
    import dataclasses

    import boto3

    from leadgen.model.bundle import MANIFEST, Manifest
    from leadgen.model.checksums import sha256_bytes
    from leadgen.stores.artifacts import Pointer, new_version_name

    s3 = boto3.client("s3")
    new = new_version_name(salt="refresh-bench")
    raw = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/{version}/{MANIFEST}")["Body"].read()
    manifest = dataclasses.replace(Manifest.from_bytes(raw, MANIFEST), version=new)
    for name in manifest.files:
        s3.copy_object(
            Bucket=BUCKET,
            Key=f"{prefix}/{new}/{name}",
            CopySource={"Bucket": BUCKET, "Key": f"{prefix}/{version}/{name}"},
        )
    body = manifest.to_bytes()
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{new}/{MANIFEST}", Body=body)
    sha = sha256_bytes(body)
    return new, f"{new}@{sha}", Pointer(new, sha).to_bytes()


# ---- the parts -----------------------------------------------------------------------------
def serving_env(model_dir: str, prefix: str, cache: Path, **extra: str) -> dict[str, str]:
    return {
        "ARTIFACTS_URI": f"s3://{BUCKET}/{prefix}",
        "LEADGEN_EMBEDDER": "onnx",
        "LEADGEN_MODEL_DIR": model_dir,
        "LEADGEN_CACHE_DIR": str(cache),
        "REFRESH_SECONDS": "0",
        **extra,
    }


def new_environment(
    model_dir: str, prefix: str, pin: str, cache: Path, limit_mb: int, requests: int = 30
) -> dict[str, Any]:
    """The AWS refresh: a fresh environment's init with the new version pinned."""
    shutil.rmtree(cache, ignore_errors=True)
    env = serving_env(model_dir, prefix, cache, LEADGEN_ARTIFACT_PIN=pin)
    result = run_limited("env_init", {"requests": requests}, env, limit_mb)
    shutil.rmtree(cache, ignore_errors=True)
    return result


def old_serves_while_new_inits(
    model_dir: str, prefix: str, old_pin: str, new_pin: str, work: Path, limit_mb: int
) -> dict[str, Any]:
    """An old environment serving back to back while a new one initialises next to it."""
    import threading

    old_env = serving_env(model_dir, prefix, work / "cache-old", LEADGEN_ARTIFACT_PIN=old_pin)
    box: dict[str, Any] = {}
    loop = threading.Thread(
        target=lambda: box.update(run_limited("serve_loop", {"seconds": 40}, old_env, limit_mb))
    )
    loop.start()
    time.sleep(15)  # the old environment's own init and some steady requests first
    new = new_environment(model_dir, prefix, new_pin, work / "cache-new", limit_mb)
    loop.join()
    start = new["spawned_at"]
    end = start + (new.get("init_seconds") or 0) + (new["main_started_at"] - start)
    calls = [tuple(c) for c in box["calls"]]
    return {"new_init_seconds": new.get("init_seconds"), **split_by_window(calls, start, end)}


def in_process(
    model_dir: str, prefix: str, version: str, work: Path, limit_mb: int, steady: int
) -> dict[str, Any]:
    """One environment refreshing to a renamed copy of its version in the background."""
    import boto3

    from leadgen.stores.artifacts import Pointer

    new, _, latest_body = renamed_copy(prefix, version)
    old_body = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{prefix}/LATEST")["Body"].read()
    assert Pointer.parse(old_body, "LATEST").version == version
    cache = work / "cache-inproc"
    shutil.rmtree(cache, ignore_errors=True)
    args = {"steady": steady, "bucket": BUCKET, "latest_key": f"{prefix}/LATEST",
            "new_pointer": latest_body.decode(), "new_version": new, "timeout": 600}  # fmt: skip
    try:
        env = serving_env(model_dir, prefix, cache)
        return run_limited("inprocess_refresh", args, env, limit_mb)
    finally:
        boto3.client("s3").put_object(Bucket=BUCKET, Key=f"{prefix}/LATEST", Body=old_body)
        shutil.rmtree(cache, ignore_errors=True)


def build(rows: int, label: str, args: argparse.Namespace, model_dir: str) -> dict[str, Any]:
    """The CRM of `rows` built with index compression auto ("compact") or none, reused from a
    previous run of this bench when its artifacts are still there."""
    work = Path(args.workdir) / f"refresh-n{rows}-{label}"
    saved = work / "build.json"
    if saved.exists() and Path(json.loads(saved.read_text())["artifacts_uri"]).exists():
        return dict(json.loads(saved.read_text()))
    shutil.rmtree(work, ignore_errors=True)
    pooled = rows > args.pool_rows
    memo = Path(args.workdir) / "pool_embeddings.npz"
    build_args: dict[str, Any] = {
        "rows": rows, "workdir": str(work), "model_dir": model_dir,
        "pool_rows": args.pool_rows if pooled else None,
        "index_compression": "auto" if label == "compact" else "none",
    }  # fmt: skip
    if pooled:
        build_args["memo" if memo.exists() else "save_memo"] = str(memo)
    say(f"[{rows}] build {label}")
    result = run_child("build", build_args)
    saved.write_text(json.dumps(result))
    return result


def say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def run_size(rows: int, args: argparse.Namespace, model_dir: str, res: dict[str, Any]) -> None:
    """Both builds of one size, then every part on each (results saved as they come)."""
    entry: dict[str, Any] = res["sizes"].setdefault(str(rows), {})
    builds = {label: build(rows, label, args, model_dir) for label in LABELS}
    entry["builds"] = {label: _build_summary(b, rows) for label, b in builds.items()}
    save(res, args)
    work = Path(args.workdir) / f"refresh-n{rows}"
    for label in LABELS:
        say(f"[{rows}] search {label}")
        entry.setdefault("search", {})[label] = run_child(
            "search",
            {"artifacts_uri": builds[label]["artifacts_uri"], "model_dir": model_dir,
             "cache_dir": str(work / "cache-search"),
             "reference_uri": builds["uncompressed"]["artifacts_uri"],
             "queries": 300 if not args.quick else 50},
        )  # fmt: skip
        save(res, args)
    with moto_server():
        for label in LABELS:
            out: dict[str, Any] = {}
            entry.setdefault("refresh", {})[label] = out  # parts appear as they are measured
            _refresh_parts(rows, label, builds[label], args, model_dir, work, out, res)
            save(res, args)


def _refresh_parts(
    rows: int,
    label: str,
    built: dict[str, Any],
    args: argparse.Namespace,
    model_dir: str,
    work: Path,
    out: dict[str, Any],
    res: dict[str, Any],
) -> None:
    """Every refresh measurement of one build into `out`, saved after each; a part that fails
    is recorded under `errors` and the others still run."""
    prefix = f"n{rows}-{label}"
    version, pin = upload(built["artifacts_uri"], prefix)
    out["version_bytes"] = built["artifact_bytes"]
    parts: list[tuple[str, str, Any]] = [
        ("base", "base environment (nothing loaded)",
         lambda: new_environment(model_dir, prefix, f"missing@{'0' * 64}", work / "cache-base",
                                 args.limit_mb, requests=0)),
        ("new_environment", "new environment (the AWS refresh), x3",
         lambda: [new_environment(model_dir, prefix, pin, work / "cache-new", args.limit_mb)
                  for _ in range(3)]),
        ("alias_shift", "old environment serving while a new one initialises",
         lambda: old_serves_while_new_inits(model_dir, prefix, pin,
                                            renamed_copy(prefix, version)[1], work,
                                            args.limit_mb)),
        ("in_process", "in-process refresh",
         lambda: in_process(model_dir, prefix, version, work, args.limit_mb, args.steady)),
    ]  # fmt: skip
    for key, what, measure in parts:
        say(f"[{rows}] {label}: {what}")
        try:
            out[key] = measure()
        except Exception as exc:  # keep the other parts; say what failed
            out.setdefault("errors", {})[key] = str(exc)[-2000:]
            say(f"[{rows}] {label}: {key} FAILED: {str(exc)[-300:]}")
        save(res, args)


def _build_summary(b: dict[str, Any], rows: int) -> dict[str, Any]:
    return {
        "artifacts_uri": b["artifacts_uri"],
        "artifact_bytes": b["artifact_bytes"],
        "bytes_per_customer": round(b["artifact_bytes"] / rows, 1),
        "artifact_files": b["artifact_files"],
        "indices": b["indices"],
        "headline": b["headline"],
        "serving_path": b.get("serving_path"),
        "serving_requirements": b.get("serving_requirements"),
        "steps_seconds": b["steps_seconds"],
        "peak_rss_bytes": b["peak_rss_bytes"],
    }


def save(res: dict[str, Any], args: argparse.Namespace) -> None:
    from bench.refresh_report import render

    res["machine"]["loadavg_now"] = machine()["loadavg"]
    res["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    (Path(args.workdir) / "refresh_results.json").write_text(json.dumps(res, indent=1))
    Path(args.out).write_text(render(res))


def _other_sizes(args: argparse.Namespace) -> dict[str, Any]:
    """The previous run's results in this workdir for sizes this run does not measure, so
    `--sizes 1000000` after `--sizes 100000` renders both (each row says what it is)."""
    saved = Path(args.workdir) / "refresh_results.json"
    if not saved.exists():
        return {}
    run = {str(int(s)) for s in args.sizes.split(",") if s.strip()}
    prev = json.loads(saved.read_text())
    sizes: dict[str, Any] = prev.get("sizes", {})
    origin = f"`{prev.get('command')}` started {prev.get('started_at')}"
    return {n: {"measured_by": origin, **e} for n, e in sizes.items() if n not in run}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {
        "command": "python -m bench.refresh_bench " + " ".join(argv or sys.argv[1:]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "limit_mb": args.limit_mb,
        "sizes": _other_sizes(args),
    }
    model_dir = onnx_model_dir()
    for rows in (int(s) for s in args.sizes.split(",") if s.strip()):
        try:
            run_size(rows, args, model_dir, res)
        except Exception as exc:  # keep what was measured; say what failed
            res["sizes"].setdefault(str(rows), {})["error"] = str(exc)[-2000:]
            say(f"[{rows}] FAILED: {exc}")
        save(res, args)
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
