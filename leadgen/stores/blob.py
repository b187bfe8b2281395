"""Where artifact versions live: a local folder or an S3 prefix, behind one small interface.

Publishing and loading are written once (stores.artifacts) against this interface, so the laptop,
the Lambda and the CodeBuild job share the exact same LATEST/checksum logic.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlparse

from leadgen.errors import ArtifactError, InputError, StoreUnavailable


class Store(Protocol):
    uri: str

    def read_bytes(self, key: str) -> bytes: ...

    def write_bytes(self, key: str, data: bytes) -> None: ...

    def upload_file(self, local: Path, key: str) -> None: ...

    def download_file(self, key: str, local: Path) -> None: ...

    def exists(self, key: str) -> bool: ...

    def list_dirs(self) -> list[str]: ...

    def delete_prefix(self, prefix: str) -> None: ...


class LocalStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ArtifactError(f"{self._path(key)}: not found") from None

    def write_bytes(self, key: str, data: bytes) -> None:
        """Atomic: write a temp file then rename, so a reader never sees half a file."""
        _write_atomic(self._path(key), lambda fh: fh.write(data))

    def upload_file(self, local: Path, key: str) -> None:
        """Atomic like write_bytes, but streamed: an index file is GBs at 1M customers and
        reading it whole made the upload step the build's memory peak."""
        path = self._path(key)
        if path.resolve() == local.resolve():
            return

        def copy(fh: BinaryIO) -> None:
            with local.open("rb") as src:
                shutil.copyfileobj(src, fh, 1 << 20)

        _write_atomic(path, copy)

    def download_file(self, key: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(self.read_bytes(key))

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def list_dirs(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)


class S3Store:
    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read_bytes(self, key: str) -> bytes:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return obj["Body"].read()  # type: ignore[no-any-return]
        except Exception as exc:
            raise _s3_error(exc, f"s3://{self.bucket}/{self._key(key)}") from None

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def upload_file(self, local: Path, key: str) -> None:
        self.client.upload_file(str(local), self.bucket, self._key(key))

    def download_file(self, key: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, self._key(key), str(local))
        except Exception as exc:
            raise _s3_error(exc, f"s3://{self.bucket}/{self._key(key)}") from None

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception as exc:
            error = _s3_error(exc, f"s3://{self.bucket}/{self._key(key)}")
            if isinstance(error, StoreUnavailable):
                raise error from None
            return False

    def list_dirs(self) -> list[str]:
        """The "folders" under the prefix (the scoring role's s3:ListBucket, for the start-up
        fallback; the build's, for pruning)."""
        base = f"{self.prefix}/" if self.prefix else ""
        out: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, Delimiter="/"
            ):
                for cp in page.get("CommonPrefixes", []):
                    out.append(cp["Prefix"][len(base) :].rstrip("/"))
        except Exception as exc:
            raise _s3_error(exc, f"s3://{self.bucket}/{base}") from None
        return sorted(out)

    def delete_prefix(self, prefix: str) -> None:
        base = self._key(prefix).rstrip("/") + "/"
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=base
        ):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})


_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


def _s3_error(exc: Exception, where: str) -> ArtifactError:
    """An S3 failure as a missing object (ArtifactError: the artifact is wrong) or as the store
    being unavailable (StoreUnavailable: network, timeout, throttling, access; retry later)."""
    if isinstance(exc, ArtifactError):
        return exc
    code = ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
    if code in _MISSING:
        return ArtifactError(f"{where}: not found")
    return StoreUnavailable(f"{where}: {type(exc).__name__}: {exc}")


def _write_atomic(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Fill a temp file beside `path`, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def s3_client() -> Any:
    """boto3 S3 client; botocore reads AWS_ENDPOINT_URL(_S3) itself (moto in tests)."""
    import boto3

    return boto3.client("s3")


def parse_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InputError(f"{uri}: not an s3://bucket/prefix URI")
    return parsed.netloc, parsed.path.lstrip("/")


def open_store(uri: str) -> Store:
    if uri.startswith("s3://"):
        bucket, prefix = parse_s3(uri)
        return S3Store(bucket, prefix)
    return LocalStore(uri)
