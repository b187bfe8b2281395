"""Shared helpers: child processes, percentiles, memory, machine and library descriptions.

Each measured part runs in a fresh interpreter (`python -m bench.child TASK ARGS_JSON OUT_JSON`),
because peak RSS and cold start are per-process facts; results come back through a JSON file, as
stdout belongs to the handler's own logs and metrics (EMF) lines.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LIBS = (
    "numpy",
    "faiss-cpu",
    "onnxruntime",
    "tokenizers",
    "torch",
    "sentence-transformers",
    "pyarrow",
    "aws-lambda-powertools",
    "scikit-learn",
)


def child_env(
    extra: dict[str, str] | None = None, code: Path | None = None, clean: bool = False
) -> dict[str, str]:
    """The environment of a measured child: repo on the path, quiet Powertools, no X-Ray.
    `code`: another revision's tree, alone on the path (side-by-side runs); `clean`: without
    this shell's LEADGEN_* and AWS_* settings, so every revision gets the same ones."""
    env = dict(os.environ)
    if clean:
        env = {k: v for k, v in env.items() if not k.startswith(("LEADGEN_", "AWS_"))}
    env["PYTHONPATH"] = str(code) if code else str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon on a laptop
    env.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LeadgenBench")
    env["HF_HUB_OFFLINE"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    if extra:
        env.update(extra)
    return env


def run_child(
    task: str, args: dict[str, Any], extra_env: dict[str, str] | None = None, timeout: float = 7200
) -> dict[str, Any]:
    """Run one task in a fresh interpreter; returns its JSON result plus `spawned_at` (the parent's
    clock just before the spawn, for cold-start timing) and `wall_seconds`."""
    with tempfile.TemporaryDirectory(prefix="leadgen-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "bench.child", task, json.dumps(args), str(out)]
        spawned = time.time()
        proc = subprocess.run(
            cmd,
            env=child_env(extra_env),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
        wall = time.time() - spawned
        if proc.returncode != 0 or not out.exists():
            tail = proc.stderr.decode(errors="replace")[-3000:]
            raise RuntimeError(f"bench child {task} failed (rc={proc.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(out.read_text())
    result["spawned_at"] = spawned
    result["wall_seconds"] = wall
    return result


def pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def rss_bytes() -> int:
    """Current resident set size (Linux /proc), for 'memory after load' deltas."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "nproc": os.cpu_count(),
        "ram_gb": round(ram / 2**30, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": [round(x, 2) for x in load],
    }


def versions() -> dict[str, str]:
    out = {}
    for name in LIBS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def onnx_model_dir(precision: str | None = None) -> str:
    """The cached ONNX export of the bundled MiniLM at `precision` (default: the shipped one,
    LEADGEN_PRECISION or int8), exported once, with torch, if missing."""
    import os

    from leadgen.config import EmbedderSettings
    from leadgen.model.export import ensure_onnx_model

    precision = precision or EmbedderSettings.from_env(os.environ).precision
    return str(ensure_onnx_model(None, quantize=precision == "int8"))


def distinct_column_texts(current: Any) -> int:
    """What a column-mode build embeds for these current customers (a pyarrow table): the
    distinct non-empty values of each text column, summed over the columns."""
    from leadgen.config import ColumnSpec

    return sum(
        len({v for v in current.column(c).to_pylist() if v and str(v).strip()})
        for c in ColumnSpec().text_cols
    )


def md_table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A Markdown table's lines: the header, the rule, a line per row (cells as str)."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(str(c) for c in r) + " |" for r in rows)]  # fmt: skip
