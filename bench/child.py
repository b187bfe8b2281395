"""Entry point of a measured child process: `python -m bench.child TASK ARGS_JSON OUT_JSON`.

Imports are deferred to the task so a cold-start child pays exactly what the task imports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def main() -> None:
    task, raw, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    args: dict[str, Any] = json.loads(raw)
    if task in ("build", "embed"):
        from bench import build_child

        result = build_child.task_build(args) if task == "build" else build_child.task_embed(args)
    elif task in ("env_init", "serve_loop", "inprocess_refresh"):
        from bench import refresh_child

        fn = {
            "env_init": refresh_child.task_env_init,
            "serve_loop": refresh_child.task_serve_loop,
            "inprocess_refresh": refresh_child.task_inprocess_refresh,
        }[task]
        result = fn(args)
    elif task in ("cold", "warm", "search"):
        from bench import serving_bench

        fn = {
            "cold": serving_bench.task_cold,
            "warm": serving_bench.task_warm,
            "search": serving_bench.task_search,
        }[task]
        result = fn(args)
    else:
        raise SystemExit(f"unknown bench task {task!r}")
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
