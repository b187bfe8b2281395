"""Render the refresh benchmark (bench/refresh_bench.py) as bench/REFRESH.md.

`python -m bench.refresh_report RESULTS_JSON [OUT_MD]` re-renders a saved run.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

MB = 1024 * 1024

METHOD = """
## How it is measured

- Builds: `leadgen.builder.build` in a child process on the generated CRM (`bench/build_child.py`,
  texts from a 20k-row pool above 20k rows, as in bench/RESULTS.md), once with
  `index_compression=auto` (what ships: the compact HNSW chosen per build,
  `leadgen/model/faiss_index.py`) and once with `none` (float32 HNSW, M=32, as before).
- Recall: 300 generated leads (`example_lead`) vectorised by the served model, searched in each
  build's indices, against exact search over the uncompressed vectors (the `none` build's float32
  indices reconstruct them exactly). AUC: the build's holdout (2,000 customers held out of the
  fit) scored through the published indices and through exact search over the uncompressed vectors
  (`quality.serving_path` of the manifest, `leadgen/builder/serving_path.py`).
- Refresh, the AWS way: a new environment is a fresh process importing the Lambda handler with the
  artifact version pinned (`LEADGEN_ARTIFACT_PIN`), i.e. Lambda's init phase: download from moto's
  server (a separate process), checksum verification beside the load, files deleted once loaded.
  "base" is the same init pinned to a version that does not exist (nothing loaded); one loaded
  version = RSS after init minus base. Peak = the larger of VmHWM after init and the watchdog's
  peak RSS while the environment then answered requests; /tmp = bytes under the cache
  directory, sampled every 10 ms.
- Memory limit: every child runs under a watchdog that kills it when its resident memory passes the
  limit (the prod function's 3,008 MB), as Lambda ends an environment that exceeds its memory;
  RLIMIT_AS is not used because virtual size is several times RSS here (per-thread malloc arenas),
  which Lambda does not count.
- Old environment during an alias shift: a process serving `/score_lead` back to back while a new
  environment initialises beside it on the same 2 cores (in AWS the new environments run on other
  hosts, so this is pessimistic); latency split by whether the new one was initialising.
- In-process refresh (`leadgen serve`, unpinned environments): LATEST moves to a renamed copy of
  the loaded version; requests go on while it loads in the background (`leadgen/serve/refresh.py`);
  p99 before, during (until the first answer from the new version) and after.
"""


def _mb(x: Any) -> str:
    return "-" if x is None else f"{x / MB:,.0f}"


def _f(x: Any, nd: int = 2) -> str:
    if x is None:
        return "-"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def _storage(info: dict[str, Any]) -> str:
    p = info.get("params", {})
    if info.get("kind") != "hnsw":
        return str(info.get("kind"))
    dims = p.get("text_dims")
    text = f", text dims {dims}" if dims else ""
    return f"hnsw {p.get('storage', 'float32')} M={p.get('M')}{text}, ef {p.get('efSearch')}"


def _size_table(res: dict[str, Any]) -> list[str]:
    rows = [
        "| customers | build | artifact MB | bytes / customer | index `all` | lead recall@20 "
        "all / high | ANN p50 ms all / high | holdout AUC: served / exact / delta |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, entry in sorted(res["sizes"].items(), key=lambda kv: int(kv[0])):
        for label, b in entry.get("builds", {}).items():
            srch = entry.get("search", {}).get(label, {}).get("indices", {})
            sp = b.get("serving_path") or {}
            recall = " / ".join(
                _f(srch.get(i, {}).get("recall_at_k_leads"), 4) for i in ("all", "high")
            )
            ms = " / ".join(_f(srch.get(i, {}).get("ms_p50"), 3) for i in ("all", "high"))
            auc = " / ".join(_f(sp.get(k), 4) for k in ("auc_served", "auc_exact", "auc_delta"))
            rows.append(
                f"| {int(n):,} | {label} | {_mb(b['artifact_bytes'])} | "
                f"{b['bytes_per_customer']:,.0f} | {_storage(b['indices']['all'])} | "
                f"{recall} | {ms} | {auc} |"
            )
    return rows


def _auc_vs_uncompressed(res: dict[str, Any]) -> list[str]:
    out = []
    for n, entry in sorted(res["sizes"].items(), key=lambda kv: int(kv[0])):
        b = entry.get("builds", {})
        if "compact" in b and "uncompressed" in b:
            c = (b["compact"].get("serving_path") or {}).get("auc_served")
            u = (b["uncompressed"].get("serving_path") or {}).get("auc_served")
            if c is not None and u is not None:
                out.append(
                    f"- {int(n):,}: holdout AUC through the published indices, compact {c:.4f} vs "
                    f"uncompressed {u:.4f}: delta {c - u:+.4f}."
                )
    return out


def _build_table(res: dict[str, Any]) -> list[str]:
    """What each build cost (one child process on the shared 2 cores; the three slowest steps)."""
    rows = [
        "| customers | build | wall s (sum of steps) | slowest steps s | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for n, entry in sorted(res["sizes"].items(), key=lambda kv: int(kv[0])):
        for label, b in entry.get("builds", {}).items():
            steps: dict[str, float] = b.get("steps_seconds") or {}
            top = sorted(steps.items(), key=lambda kv: -kv[1])[:3]
            rows.append(
                f"| {int(n):,} | {label} | {sum(steps.values()):,.0f} | "
                + ", ".join(f"{k} {v:,.0f}" for k, v in top)
                + f" | {_mb(b.get('peak_rss_bytes'))} |"
            )
    return rows


def _refresh_table(res: dict[str, Any]) -> list[str]:
    rows = [
        f"| customers | build | path | peak RSS MB | RSS loaded MB | base MB | one version MB | "
        f"peak / one loaded (process) | peak above base / one version | peak /tmp MB | "
        f"/tmp / version | within {res.get('limit_mb')} MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, entry in sorted(res["sizes"].items(), key=lambda kv: int(kv[0])):
        for label, r in entry.get("refresh", {}).items():
            base = r.get("base", {}).get("rss_after_init_bytes")
            version = r.get("version_bytes")
            new = [x for x in r.get("new_environment", []) if not x.get("killed")]
            killed_new = len(r.get("new_environment", [])) - len(new)
            if new:
                peak = max(_env_peak(x) for x in new)
                loaded = statistics.median(x["rss_after_init_bytes"] for x in new)
                tmp = max(x["peak_tmp_bytes"] for x in new)
                rows.append(_refresh_row(n, label, "new environment (AWS)", peak, loaded, base,
                                         tmp, version, killed_new == 0))  # fmt: skip
            ip = r.get("in_process", {})
            if ip.get("killed"):
                rows.append(f"| {int(n):,} | {label} | in-process | killed at "
                            f"{_mb(ip['rss_at_kill_bytes'])} | | | | | | | | no |")  # fmt: skip
            elif ip:
                rows.append(_refresh_row(n, label, "in-process", ip["peak_rss_bytes"],
                                         ip["rss_before_bytes"], base, ip["peak_tmp_bytes"],
                                         version, True))  # fmt: skip
    return rows


def _env_peak(run: dict[str, Any]) -> float:
    """A new environment's peak over its whole life: the high-water mark of its init, or the
    watchdog's peak once it has answered requests (their buffers and caches come after init)."""
    return float(max(run["peak_rss_bytes"], run.get("watchdog_peak_bytes") or 0))


def _refresh_row(
    n: str,
    label: str,
    path: str,
    peak: float,
    loaded: float,
    base: float | None,
    tmp: float,
    version: float | None,
    within: bool,
) -> str:
    one = loaded - base if base is not None else None
    above = (peak - base) / one if base is not None and one else None
    return (
        f"| {int(n):,} | {label} | {path} | {_mb(peak)} | {_mb(loaded)} | {_mb(base)} | "
        f"{_mb(one)} | {_f(peak / loaded)} | {_f(above)} | {_mb(tmp)} | "
        f"{_f(tmp / version if version else None)} | {'yes' if within else 'no (killed)'} |"
    )


def _latency_table(res: dict[str, Any]) -> list[str]:
    rows = [
        "| customers | build | path | steady p50 / p99 ms | during refresh p50 / p99 / max ms "
        "(n) | after p50 / p99 ms | refresh s |",
        "|---|---|---|---|---|---|---|",
    ]

    def pp(s: dict[str, Any] | None, with_max: bool = False) -> str:
        if not s or not s.get("n"):
            return "-"
        tail = f" / {s['max']:.1f} ({s['n']})" if with_max else ""
        return f"{s['p50']:.2f} / {s['p99']:.2f}{tail}"

    for n, entry in sorted(res["sizes"].items(), key=lambda kv: int(kv[0])):
        for label, r in entry.get("refresh", {}).items():
            a = r.get("alias_shift", {})
            if a:
                rows.append(f"| {int(n):,} | {label} | old environment, new one initialising | "
                            f"{pp(a.get('steady_ms'))} | {pp(a.get('during_ms'), True)} | - | "
                            f"{_f(a.get('new_init_seconds'))} |")  # fmt: skip
            ip = r.get("in_process", {})
            if ip and not ip.get("killed"):
                rows.append(
                    f"| {int(n):,} | {label} | in-process (background load) | "
                    f"{pp(ip.get('steady_ms'))} | {pp(ip.get('during_ms'), True)} | "
                    f"{pp(ip.get('after_ms'))} | {_f(ip.get('swap_seconds'))} |"
                )
    return rows


def _capacity_table(res: dict[str, Any]) -> list[str]:
    from leadgen.builder.capacity import ServingRequirements

    rows = [
        "| customers | build | version MB | memory MB: measured peak / model (with headroom) | "
        "/tmp MB: measured / model | cold start s: measured / model |",
        "|---|---|---|---|---|---|",
    ]
    for n, entry in sorted(res["sizes"].items(), key=lambda kv: int(kv[0])):
        for label, r in entry.get("refresh", {}).items():
            new = [x for x in r.get("new_environment", []) if not x.get("killed")]
            if not new:
                continue
            model = ServingRequirements.of(int(r["version_bytes"]))
            cold = statistics.median(x["first_scored_at"] - x["spawned_at"] for x in new)
            rows.append(
                f"| {int(n):,} | {label} | {_mb(r['version_bytes'])} | "
                f"{_mb(max(_env_peak(x) for x in new))} / {model.memory_mb:,} | "
                f"{_mb(max(x['peak_tmp_bytes'] for x in new))} / {model.tmp_mb:,} | "
                f"{_f(cold)} / {model.cold_start_s:.2f} |"
            )
    return rows


def render(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        "# leadgen refresh and size benchmark",
        "",
        f"Command: `{res['command']}`  ",
        f"Date: {res['started_at']} (last update {res.get('updated_at', '-')})  ",
        f"Machine: {m['nproc']} cores, {m['ram_gb']} GB RAM, {m['cpu']}, Python {m['python']}  ",
        f"Load average at start {m['loadavg']}, at last update {m.get('loadavg_now')}: other "
        "engineers' jobs shared the 2 cores; latencies are pessimistic, compare within a table.  ",
        f"Memory limit: {res['limit_mb']} MB (the prod function). Versions: "
        + ", ".join(f"{k} {v}" for k, v in res["versions"].items()),
        "",
        "## Size, recall and quality: compact (what ships) vs uncompressed (before)",
        "",
        *[
            f"{int(n):,} customers: kept from an earlier run in this workdir, {e['measured_by']}."
            for n, e in res["sizes"].items()
            if e.get("measured_by")
        ],
        "",
        *_size_table(res),
        "",
        *_auc_vs_uncompressed(res),
        "",
        "## Builds",
        "",
        *_build_table(res),
        "",
        "## Refresh memory and /tmp",
        "",
        *_refresh_table(res),
        "",
        "## Latency during a refresh",
        "",
        *_latency_table(res),
        "",
        "## Capacity model (leadgen/builder/capacity.py) against these runs",
        "",
        *_capacity_table(res),
        "",
        *[f"- {n}: {e['error'][:300]}" for n, e in res["sizes"].items() if e.get("error")],
        *[
            f"- {int(n):,} {label}: {part} failed: {msg[-300:]}"
            for n, e in res["sizes"].items()
            for label, r in e.get("refresh", {}).items()
            for part, msg in r.get("errors", {}).items()
        ],
        METHOD,
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    res = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent / "REFRESH.md"
    out.write_text(render(res))


if __name__ == "__main__":
    main()
