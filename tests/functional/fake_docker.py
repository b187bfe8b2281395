"""`docker`, for lambda_src/local_aws.sh under test: its commands run in the image-shaped
environment (tests/functional/image_env.py) instead of a container.

    python -m tests.functional.fake_docker CONFIG.json build|run ARGS...

`build` checks its arguments and succeeds (the environment was built from the CDK-staged context
already). `run` takes the options local_aws.sh passes (--rm, --platform, --user, -e, -v, -p,
--entrypoint, --read-only, --tmpfs) and runs the container's process: with --entrypoint, that
program with the arguments, image paths (/var/task, /opt, /tmp, the -v targets) mapped to this
machine; without, the base image's own entrypoint, the function under the Runtime Interface
Emulator, bound to the host port -p maps to the container's 8080. Any other option fails, so a
new flag in the script has to be given a meaning here. Each invocation is appended to the
config's log, for the test to read what the script asked for.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.functional.image_env import Image

_FLAGS = {"--rm", "--read-only", "-i", "-t", "-it"}
_VALUED = {"--platform", "--user", "-e", "--env", "-v", "--volume", "-p", "--publish",
           "--entrypoint", "--tmpfs", "-f", "--file", "-t", "--tag"}  # fmt: skip


def _options(args: list[str], command: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(option, value) pairs up to the first positional argument, and the rest."""
    opts: list[tuple[str, str]] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, eq, value = args[i].partition("=")
        if name in _VALUED and (command == "build" or name != "-t"):
            if not eq:
                i += 1
                value = args[i]
            opts.append((name, value))
        elif name in _FLAGS:
            opts.append((name, ""))
        else:
            sys.exit(f"fake docker: {command} {args[i]} is not emulated (fake_docker.py)")
        i += 1
    return opts, args[i:]


def _build(args: list[str]) -> int:
    opts, rest = _options(args, "build")
    given = dict(opts)
    dockerfile = Path(given.get("-f") or given.get("--file") or "Dockerfile")
    if len(rest) != 1 or not dockerfile.is_file() or not Path(rest[0]).is_dir():
        sys.exit(f"fake docker: build needs -f DOCKERFILE and a context, got {args}")
    return 0


def _run(config: dict[str, Any], args: list[str]) -> None:
    image = Image(**{k: (Path(v) if k in ("root", "site_dir", "bin_dir") else v)
                     for k, v in config["image"].items()})  # fmt: skip
    opts, rest = _options(args, "run")
    if not rest or rest[0] != config["tag"]:
        sys.exit(f"fake docker: no image {rest[:1]} (built: {config['tag']})")
    command = rest[1:]
    mounts: dict[str, str] = {}
    variables: dict[str, str] = {}
    entrypoint, port = None, None
    for name, value in opts:
        if name in ("-v", "--volume"):
            source, target = value.split(":")[:2]
            mounts[target] = source
        elif name in ("-e", "--env"):
            key, eq, val = value.partition("=")
            variables[key] = val if eq else os.environ.get(key, "")
        elif name == "--tmpfs":
            mounts[value.split(":")[0]] = tempfile.mkdtemp(prefix="tmpfs-", dir=image.root)
        elif name == "--entrypoint":
            entrypoint = value
        elif name in ("-p", "--publish"):
            host_port, container_port = value.rsplit(":", 2)[-2:]
            assert container_port == "8080", value  # the base image's emulator listens there
            port = int(host_port)
    if entrypoint is not None:
        argv = [entrypoint, *(image.translate(a, mounts) for a in command)]
        env = image.environment(variables, mounts)
        os.chdir(image.host(image.workdir, mounts))
        os.execve(entrypoint, argv, env)
    handler = command[0] if command else None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        api_port = int(s.getsockname()[1])
    argv = image.function_command(port or 8080, api_port, handler)
    os.chdir(image.host(image.workdir, mounts))
    os.execve(argv[0], argv, image.function_environment(variables, mounts))


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    with open(config["log"], "a") as log:
        log.write(json.dumps(argv[1:]) + "\n")
    if argv[1] == "build":
        return _build(argv[2:])
    if argv[1] == "run":
        _run(config, argv[2:])
    sys.exit(f"fake docker: `docker {argv[1]}` is not emulated")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
