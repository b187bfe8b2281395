"""The Powertools Tracer, without X-Ray's SDK when tracing is off.

Powertools imports `aws_xray_sdk.core` even for a disabled Tracer, and that import is a visible
share of every cold start (bench/RESULTS.md). Off Lambda, under the emulator / SAM, or with
POWERTOOLS_TRACE_DISABLED, the Tracer gets a provider that records nothing, so no SDK is
imported. On Lambda with tracing on, the SDK patches botocore
only (the S3 and DynamoDB calls), not every library it knows (sqlite3, requests, httplib...).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, Generator, Sequence
from numbers import Number
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

PATCHED_MODULES = ("botocore",)


def tracing_enabled() -> bool:
    """Powertools' own rule: on Lambda, not under SAM/Chalice, not disabled by env."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
    ):
        return False
    if os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE"):
        return False
    return bool(os.environ.get("LAMBDA_TASK_ROOT"))


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: str | Number | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        return None


class NoTraceProvider(BaseProvider):
    """A provider that records nothing and imports nothing."""

    @contextlib.contextmanager
    def in_subsegment(self, name: str = "", **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _NoSegment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(
        self, name: str = "", **kwargs: Any
    ) -> AsyncGenerator[BaseSegment, None]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: str | Number | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None


def make_tracer(service: str) -> Tracer:
    if tracing_enabled():
        return Tracer(service=service, patch_modules=PATCHED_MODULES)
    return Tracer(service=service, disabled=True, auto_patch=False, provider=NoTraceProvider())
