"""Fault injection for tests, outside production code: an artifact store that fails on cue.

`FaultyStore` wraps a real store (local or S3) and breaks one step of the publish protocol:
"upload" raises while the version is being uploaded, "verify" flips one byte of an uploaded file
at the same size (so only the sha256 check can see it). The quality gate needs no injection: a
build with `min_auc` above what it reaches is refused for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leadgen.errors import LeadgenError
from leadgen.model.bundle import MANIFEST


def flip_byte(data: bytes) -> bytes:
    """The same bytes with one bit changed in the middle: same size, different sha256."""
    out = bytearray(data)
    out[len(out) // 2] ^= 0x01
    return bytes(out)


def corrupt_file(path: Path) -> None:
    path.write_bytes(flip_byte(path.read_bytes()))


class FaultyStore:
    def __init__(self, inner: Any, fail_at: str, victim: str = "ids_all.npy") -> None:
        if fail_at not in ("upload", "verify"):
            raise ValueError(f"unknown fault {fail_at!r}")
        self.inner = inner
        self.fail_at = fail_at
        self.victim = victim

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upload_file(self, local: Path, key: str) -> None:
        if self.fail_at == "upload" and key.endswith(MANIFEST):
            raise LeadgenError("injected failure during upload")
        self.inner.upload_file(local, key)
        if self.fail_at == "verify" and key.endswith("/" + self.victim):
            self.inner.write_bytes(key, flip_byte(self.inner.read_bytes(key)))
