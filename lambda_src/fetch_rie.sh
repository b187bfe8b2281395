#!/usr/bin/env bash
# Fetch the AWS Lambda Runtime Interface Emulator (RIE) for tests/functional/test_runtime.py.
#
# The RIE binary ships inside the aws-sam-cli wheel. Installing aws-sam-cli into the project venv
# would drag in conflicting pins, so only the wheel is downloaded (no dependencies) and only the
# binary for this machine is unzipped. Idempotent: does nothing when the binary is already there.
#
# Usage: lambda_src/fetch_rie.sh [PYTHON]     (PYTHON defaults to .venv/bin/python)
# Result: .cache/rie/aws-lambda-rie (executable)
set -euo pipefail

SAM_VERSION="1.170.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${1:-$ROOT/.venv/bin/python}"
TARGET="$ROOT/.cache/rie/aws-lambda-rie"
STAMP="$TARGET.version"
WHEEL_DIR="$ROOT/.cache/sam"

case "$(uname -m)" in
    x86_64 | amd64) ARCH="x86_64" ;;
    aarch64 | arm64) ARCH="arm64" ;;
    *) echo "fetch_rie: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

# Already there, from this SAM version: only refresh its mtime (make compares it with this
# script's). A changed SAM_VERSION above fetches again.
if [[ -x "$TARGET" && "$(cat "$STAMP" 2>/dev/null)" == "${SAM_VERSION}-${ARCH}" ]]; then
    touch "$TARGET"
    exit 0
fi

mkdir -p "$WHEEL_DIR" "$(dirname "$TARGET")"
WHEEL="$WHEEL_DIR/aws_sam_cli-${SAM_VERSION}-py3-none-any.whl"
if [[ ! -f "$WHEEL" ]]; then
    "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps \
        "aws-sam-cli==${SAM_VERSION}" -d "$WHEEL_DIR"
fi

# A wheel is a zip; extract with Python so `unzip` is not a requirement. Written to a temp name
# and renamed, so an interrupted run never leaves a half binary that looks installed.
"$PYTHON" - "$WHEEL" "samcli/local/rapid/aws-lambda-rie-${ARCH}" "$TARGET" <<'PY'
import os, shutil, sys, zipfile

wheel, member, target = sys.argv[1:4]
tmp = target + ".part"
with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(tmp, "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(tmp, 0o755)
os.replace(tmp, target)
PY
echo "${SAM_VERSION}-${ARCH}" > "$STAMP"
echo "fetch_rie: $TARGET (from aws-sam-cli ${SAM_VERSION}, ${ARCH})"
