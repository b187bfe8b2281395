"""What serving a version needs (memory, /tmp, cold start), from its own sizes.

A scoring environment holds one version: in AWS a refresh is a new function version whose fresh
environments load the new artifacts while the old ones keep serving (leadgen.rollout), so
no environment ever holds two. It downloads the version's files to /tmp, loads them while a
second thread checks their sha256, then deletes them (everything is in memory). So:

- memory = the process without artifacts + the loaded artifacts + the load's transient peak +
  headroom for requests;
- /tmp = the version's files;
- cold start = init without artifacts + download, load and verification at a measured rate.

The constants are measured by `python -m bench.refresh_bench` (bench/REFRESH.md says how, and
shows the model against measured runs); re-measure them when the runtime's dependencies change.
The build job refuses a version that does not fit the deployed function, before LATEST moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from leadgen.errors import CapacityError

MB = 1024 * 1024
# The handler's resident memory after init, before any artifact: Python, numpy, faiss,
# onnxruntime with the int8 MiniLM, boto3, Powertools + pydantic (bench/REFRESH.md).
BASE_MEMORY_MB = 420.0
# Resident bytes per byte of artifact files once loaded (FAISS and numpy hold what they read).
RESIDENT_PER_BYTE = 1.02
# The load's transient peak beyond the steady state, per byte of artifact files.
LOAD_PEAK_PER_BYTE = 0.10
# Kept free for request batches and allocator slack, as a share of the function's need.
HEADROOM = 0.15
# /tmp beyond the files themselves (manifest, staging of a download).
TMP_EXTRA_MB = 8.0
# Cold start: init without artifacts, then artifacts downloaded from S3, loaded and verified.
COLD_BASE_S = 0.9
COLD_MB_PER_S = 180.0


@dataclass(frozen=True)
class ServingRequirements:
    """What one scoring environment needs to serve a version of `artifact_bytes`."""

    artifact_bytes: int
    memory_mb: int
    tmp_mb: int
    cold_start_s: float

    @classmethod
    def of(cls, artifact_bytes: int) -> ServingRequirements:
        mb = artifact_bytes / MB
        steady = BASE_MEMORY_MB + RESIDENT_PER_BYTE * mb
        peak = steady + LOAD_PEAK_PER_BYTE * mb
        return cls(
            artifact_bytes=artifact_bytes,
            memory_mb=math.ceil(peak * (1.0 + HEADROOM)),
            tmp_mb=math.ceil(mb + TMP_EXTRA_MB),
            cold_start_s=round(COLD_BASE_S + mb / COLD_MB_PER_S, 2),
        )

    def check(self, memory_mb: int | None, tmp_mb: int | None) -> None:
        """CapacityError naming what is short, if the function (its memory and /tmp in MB; None
        = not known) is smaller than this version needs."""
        short = []
        if memory_mb is not None and self.memory_mb > memory_mb:
            short.append(f"memory {self.memory_mb} MB (the function has {memory_mb} MB)")
        if tmp_mb is not None and self.tmp_mb > tmp_mb:
            short.append(f"/tmp {self.tmp_mb} MB (the function has {tmp_mb} MB)")
        if short:
            raise CapacityError(
                f"the version ({self.artifact_bytes / MB:,.0f} MB of artifacts) needs "
                + " and ".join(short)
                + "; not publishing: raise memory_mb / ephemeral_storage_mib in stacks/config.py "
                "and deploy, or see docs/scale.md"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "artifact_mb": round(self.artifact_bytes / MB, 1),
            "memory_mb": self.memory_mb,
            "tmp_mb": self.tmp_mb,
            "expected_cold_start_s": self.cold_start_s,
            "model": "leadgen.builder.capacity (constants measured by bench/refresh_bench.py)",
        }
