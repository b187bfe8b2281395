"""The README's capacity table: what serving N customers needs and costs, 10k to 5M.

    python -m bench.capacity_table [REFRESH_RESULTS_JSON]   # prints the markdown table

Artifact bytes per customer are the ones bench/refresh_bench.py measured (the compact build) at
the nearest measured size (state which in the output); memory, /tmp and cold start come from
leadgen/builder/capacity.py, whose constants the same benchmark measured; cold start is the model's
download + load + verification rate through moto's server, scaled by size. Monthly cost is the
fixed part at the dev and prod settings of stacks/config.py (provisioned concurrency, ephemeral
storage, S3 storage of the kept versions, the daily build), at the list prices below; requests are
extra (per million: HTTP API $1.00, Lambda $0.20 + duration).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from leadgen.builder.capacity import MB, ServingRequirements

# us-east-1 list prices assumed (check current pricing): Lambda arm64 provisioned concurrency per
# GB-second, ephemeral storage above 512 MB per GB-second, S3 Standard per GB-month, CodeBuild
# arm1.small and arm1.large per build minute.
PC_GB_S = 0.0000033334
EPHEMERAL_GB_S = 0.0000000309
S3_GB_MONTH = 0.023
BUILD_MINUTE = {"SMALL": 0.0034, "LARGE": 0.015}
SECONDS_PER_MONTH = 730 * 3600
SIZES = (10_000, 100_000, 500_000, 1_000_000, 2_000_000, 5_000_000)
# Build minutes per million customers on each CodeBuild size (bench/build_results.md measured
# 2 cores; LARGE has 8 vCPUs, assumed 3x faster, not measured).
BUILD_MIN_PER_M = {"SMALL": 14.0, "LARGE": 5.0}


def settings() -> dict[str, dict[str, Any]]:
    from stacks.config import ENVIRONMENTS

    return {
        name: {
            "memory_mb": c.memory_mb,
            "tmp_mb": c.ephemeral_storage_mib,
            "provisioned": max(c.provisioned_min, 1),
            "kept_versions": c.keep_versions + c.noncurrent_version_days,
            "build": c.build_compute,
        }
        for name, c in ENVIRONMENTS.items()
    }


def monthly_cost(env: dict[str, Any], artifact_bytes: int, customers: int) -> float:
    gb = env["memory_mb"] / 1024
    pc = env["provisioned"] * gb * SECONDS_PER_MONTH * PC_GB_S
    tmp = env["provisioned"] * max(0, env["tmp_mb"] - 512) / 1024 * SECONDS_PER_MONTH
    s3 = env["kept_versions"] * artifact_bytes / 1024**3 * S3_GB_MONTH
    build = 30 * max(1.0, BUILD_MIN_PER_M[env["build"]] * customers / 1e6)
    return pc + tmp * EPHEMERAL_GB_S + s3 + build * BUILD_MINUTE[env["build"]]


def per_customer(res: dict[str, Any]) -> dict[int, float]:
    """Measured artifact bytes per customer of the compact build, by size."""
    out = {}
    for n, entry in res.get("sizes", {}).items():
        b = entry.get("builds", {}).get("compact")
        if b:
            out[int(n)] = b["artifact_bytes"] / int(n)
    return out


def table(res: dict[str, Any], flat_bytes_per_customer: float) -> str:
    measured = per_customer(res)
    envs = settings()
    lines = [
        "| customers | artifacts MB | bytes / customer | memory MB | /tmp MB | cold start s | "
        "fits dev / prod | $ / month dev | $ / month prod |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in SIZES:
        if n < 50_000:
            bpc, source = flat_bytes_per_customer, "exact indices"
        else:
            nearest = min(measured, key=lambda m: abs(m - n)) if measured else None
            if nearest is None:
                continue
            bpc = measured[nearest]
            source = "measured" if nearest == n else f"as at {nearest:,}"
        need = ServingRequirements.of(int(bpc * n))
        fits = [
            "yes" if need.memory_mb <= e["memory_mb"] and need.tmp_mb <= e["tmp_mb"] else "no"
            for e in (envs["dev"], envs["prod"])
        ]
        cost = [
            f"{monthly_cost(e, int(bpc * n), n):,.0f}" if f == "yes" else "-"
            for e, f in zip((envs["dev"], envs["prod"]), fits, strict=True)
        ]
        lines.append(
            f"| {n:,} | {bpc * n / MB:,.0f} | {bpc:,.0f} ({source}) | {need.memory_mb:,} | "
            f"{need.tmp_mb:,} | {need.cold_start_s:.1f} | {' / '.join(fits)} | "
            f"{cost[0]} | {cost[1]} |"
        )
    return "\n".join(lines)


def main() -> None:
    path = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/leadgen-bench/refresh_results.json")
    )
    res = json.loads(path.read_text())
    # Below the ANN threshold both indices are exact float32: 389 dims x 4 bytes, x1.1 with the
    # high-value copy, plus ids and attributes (bench/RESULTS.md, 10k: 16.6 MB).
    print(table(res, flat_bytes_per_customer=1_740.0))


if __name__ == "__main__":
    main()
