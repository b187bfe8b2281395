"""One JSON object per line on stdout: the log format of the build job.

CodeBuild ships stdout to CloudWatch Logs line by line; a JSON line is one event that Logs Insights
(`filter event = "build_step"`) and metric filters (`{ $.event = "build_failed" }`) can query, where
a multi-line traceback or a progress bar would be split into meaningless fragments.
"""

from __future__ import annotations

import json
import logging
import math
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become null (json.dumps would write invalid `NaN`), numpy scalars
    and arrays become Python numbers and lists, anything else unknown becomes its str()."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _clean(value.tolist())
    return str(value)


def one_line(text: str, limit: int = 2000) -> str:
    """Collapse whitespace and newlines: every message we print must stay a single log event."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class JsonLog:
    """Writes events as {"ts", "level", "event", ...fields}; flushes each line so a job killed
    mid-step still has its last lines in CloudWatch."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def event(self, event: str, level: str = "INFO", **fields: Any) -> None:
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "event": event,
            **_clean(fields),
        }
        self._stream.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
        self._stream.flush()

    def say(self, message: str) -> None:
        """The core's free-text progress lines (`say=` of leadgen.builder.build)."""
        level = "WARNING" if message.lower().startswith("warning") else "INFO"
        self.event("build_log", level=level, message=one_line(message))


class JsonLogHandler(logging.Handler):
    """Routes library logging and Python warnings (sklearn convergence, botocore retries) into
    the same one-line JSON format instead of multi-line stderr text."""

    def __init__(self, log: JsonLog) -> None:
        super().__init__()
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._log.event(
                "log",
                level=record.levelname,
                logger=record.name,
                message=one_line(record.getMessage()),
            )
        except Exception:  # a log line must never take the build down
            self.handleError(record)


def install_logging(log: JsonLog, level: int = logging.WARNING) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(JsonLogHandler(log))
    root.setLevel(level)
    logging.captureWarnings(True)


def report_failure(
    log: JsonLog,
    err: TextIO,
    event: str,
    exc: BaseException,
    *,
    code: int,
    message: str,
    suffix: str,
    expected: bool,
    **fields: Any,
) -> int:
    """A job's failure: one ERROR event (with the traceback only when unexpected) and one line
    `error: MESSAGE (SUFFIX)` on stderr, what CodeBuild's console shows; returns `code`."""
    record: dict[str, Any] = {
        "exit_code": code,
        "error": type(exc).__name__,
        **fields,
        "message": message,
    }
    if not expected:
        record["traceback"] = "".join(traceback.format_exception(exc))
    log.event(event, level="ERROR", **record)
    err.write(f"error: {message} ({suffix})\n")
    err.flush()
    return code
