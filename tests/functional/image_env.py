"""An image-shaped environment: what the container image would run, run on this machine without
Docker, so `make test` executes what otherwise only `docker build`, Lambda and CodeBuild execute.

`build_image` walks the runtime stage of lambda_src/Dockerfile instruction by instruction, on a
directory standing for the image's filesystem (`Image.root`: its /var/task, /opt, /tmp):
- COPY copies from the build context the CDK asset stages (the synthesised cloud assembly's
  image asset: ASSET_EXCLUDES and .dockerignore applied), `COPY --from=model` the ONNX export
  the session already made (tests/conftest.py: onnx_model_dir, what the model stage exports);
- ENV, ARG and WORKDIR are kept, with ${VAR} expanded as Docker does;
- every RUN that runs `python` is executed, in the environment built so far (paths mapped into
  the root); a RUN that installs packages (pip, dnf) is not executed but read: which requirement
  files pip installs into which directory decides what is importable there (below).
Processes of the environment (`Image.run`, `Image.start_function`) run the project's
interpreter through a `python` on PATH that adds image_site/ to PYTHONPATH: its sitecustomize
hides every site-packages module the image does not install into a directory on that process's
path, so an import of something the image lacks fails here as it would in the image. The
interpreter is 3.11 (the image's is 3.12), the filesystem is not read-only and the user is this
one: what the walk cannot reproduce.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "lambda_src" / "Dockerfile"
SITE_TEMPLATE = Path(__file__).with_name("image_site") / "sitecustomize.py"
RIE = Path(os.environ.get("LEADGEN_RIE") or REPO / ".cache" / "rie" / "aws-lambda-rie")
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# The base image's own environment (public.ecr.aws/lambda/python, `docker inspect`): what the
# Dockerfile's ${LAMBDA_TASK_ROOT} and the runtime rely on.
BASE_IMAGE_ENV = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "LANG": "en_US.UTF-8",
    "TZ": ":/etc/localtime",
}
# Directories of the image's filesystem that live under Image.root here.
IMAGE_DIRS = ("/var/task", "/var/runtime", "/opt", "/tmp", "/root")
# The base image's Lambda runtime (awslambdaric) sits in /var/runtime, on the function's path.
RUNTIME_PACKAGES = ("awslambdaric",)
# Standard-library modules Python 3.12 (the image's) no longer has.
STDLIB_ABSENT = ("distutils", "imp", "asynchat", "asyncore", "smtpd")


# ---- the Dockerfile ---------------------------------------------------------------------------
@dataclass
class Stage:
    base: str
    name: str | None
    platform: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]


def _logical_lines(text: str) -> list[str]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        out.append(current + line)
        current = ""
    if current:
        out.append(current)
    return out


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARGs, stages) of a Dockerfile."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            m = re.match(r"(?:--platform=(\S+)\s+)?(\S+)(?:\s+AS\s+(\S+))?$", rest, re.IGNORECASE)
            assert m, line
            stages.append(Stage(base=m.group(2), name=m.group(3), platform=m.group(1)))
        elif not stages and keyword == "ARG":
            name, _, default = rest.partition("=")
            global_args[name] = default
        else:
            assert stages, f"{line!r} before the first FROM"
            stages[-1].instructions.append((keyword, rest))
    return global_args, stages


def env_pairs(arg: str) -> list[tuple[str, str]]:
    """The KEY=value pairs of one ENV instruction."""
    return [(k, v.strip('"')) for k, v in re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", arg)]


def expand(text: str, env: Mapping[str, str]) -> str:
    """Docker's ${VAR}, ${VAR:-default} and $VAR in ENV, WORKDIR and COPY."""

    def one(m: re.Match[str]) -> str:
        name, default = m.group(1) or m.group(3), m.group(2)
        return env.get(name) or (default or "")

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", one, text)


# ---- the image's filesystem, mapped -------------------------------------------------------------
@dataclass
class RunStep:
    command: str
    executed: bool
    returncode: int | None = None
    output: str = ""
    reason: str = ""


@dataclass
class Image:
    """The runtime stage, built: where its filesystem is, its ENV, WORKDIR, CMD, and its RUNs."""

    root: Path
    env: dict[str, str]
    workdir: str
    cmd: list[str]
    site_dir: Path
    bin_dir: Path
    steps: list[RunStep] = field(default_factory=list)
    installed: dict[str, list[str]] = field(default_factory=dict)  # image dir -> requirements

    def host(self, path: str, mounts: Mapping[str, str] | None = None) -> str:
        """A path of the image as it is on this machine (volumes first, then the root)."""
        for container, host in sorted((mounts or {}).items(), key=lambda kv: -len(kv[0])):
            if path == container or path.startswith(container.rstrip("/") + "/"):
                return host + path[len(container.rstrip("/")) :]
        if any(path == d or path.startswith(d + "/") for d in IMAGE_DIRS):
            return str(self.root) + path
        return path

    def translate(self, text: str, mounts: Mapping[str, str] | None = None) -> str:
        """Every image path inside `text` (a command, a variable's value) mapped to this machine."""
        prefixes = sorted({*IMAGE_DIRS, *(mounts or {})}, key=len, reverse=True)
        pattern = "|".join(re.escape(p.rstrip("/")) for p in prefixes)
        root = str(self.root)

        def one(m: re.Match[str]) -> str:
            if text.startswith(root, m.start()):  # already this machine's (the root is in /tmp)
                return m.group(0)
            return self.host(m.group(0), mounts)

        return re.sub(rf"(?<![\w.$/-])(?:{pattern})(?=/|$|[^\w.-])", one, text)

    def environment(
        self, variables: Mapping[str, str] = {}, mounts: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """A process's environment: the image's ENV, then `variables` (image paths in them
        mapped: pass image paths, /tmp/x, not this machine's), and a PATH whose `python` is the
        image-shaped one. Nothing of this process's own environment."""
        env = {"HOME": "/tmp", **self.env, **variables}
        out = {k: self.translate(v, mounts) for k, v in env.items()}
        out["PATH"] = f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin"
        return out

    def run(
        self,
        command: str,
        variables: Mapping[str, str] = {},
        *,
        cwd: str | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """`command` through /bin/sh, in the image's WORKDIR (or `cwd`), as a RUN or a
        buildspec command runs."""
        return subprocess.run(
            ["/bin/sh", "-c", self.translate(command)],
            cwd=self.host(cwd or self.workdir),
            env=self.environment(variables),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def codebuild(
        self, buildspec: str, variables: Mapping[str, str], timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """A CodeBuild build of this image: the buildspec's variables under the project's
        (`variables`: the project's and what CodeBuild adds), then its phases' commands in one
        shell, stopping at the first that fails, as CodeBuild runs them."""
        import yaml

        spec = yaml.safe_load(buildspec)
        env = {**spec.get("env", {}).get("variables", {}), **variables}
        phases = ("install", "pre_build", "build", "post_build")
        commands = [c for p in phases for c in spec["phases"].get(p, {}).get("commands", [])]
        return self.run("set -e\n" + "\n".join(commands), env, cwd="/", timeout=timeout)

    def function_command(self, port: int, api_port: int, handler: str | None = None) -> list[str]:
        """The base image's entrypoint for the function: the Runtime Interface Emulator in
        front of awslambdaric and the image's CMD (or `handler`)."""
        return [
            str(RIE),
            *("--runtime-interface-emulator-address", f"127.0.0.1:{port}"),
            *("--runtime-api-address", f"127.0.0.1:{api_port}"),
            *(str(self.bin_dir / "python"), "-m", "awslambdaric", handler or self.cmd[0]),
        ]

    def function_environment(
        self, variables: Mapping[str, str], mounts: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The function's process environment: the image's, the function's variables, and the
        base image's runtime directory on the path (where Lambda's python finds awslambdaric)."""
        return self.environment({**variables, "PYTHONPATH": "/var/runtime"}, mounts)

    @contextlib.contextmanager
    def function(self, variables: Mapping[str, str], log: Path) -> Iterator[str]:
        """The function served under the emulator for the block; yields its invoke URL."""
        for attempt in range(3):
            port, api_port = _free_port(), _free_port()
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    self.function_command(port, api_port),
                    cwd=self.host(self.workdir),
                    env=self.function_environment(variables),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                if wait_for_port(port, proc, log, timeout=60, retry=attempt < 2):
                    yield f"http://127.0.0.1:{port}{INVOKE_PATH}"
                    return
            finally:
                stop(proc)
        raise AssertionError("the emulator could not bind its ports")

    def refused(self) -> list[str]:
        """Top-level names the environment's processes looked for and did not find."""
        log = self.root / "refused-imports.log"
        return log.read_text().split() if log.exists() else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float, retry: bool
) -> bool:
    """True once something listens on `port`; False if `proc` exited because a port was taken
    (and `retry`); a failure with the log's tail otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")
            if retry and "address already in use" in text:
                return False
            raise AssertionError(f"exited with {proc.returncode}:\n{text[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    raise AssertionError(
        f"nothing listened on {port} within {timeout}s:\n{log.read_text()[-3000:]}"
    )


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a process started in a session of its own, and its children (only ours)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def invoke(url: str, event: Mapping[str, Any], timeout: float = 120) -> dict[str, Any]:
    import urllib.request

    req = urllib.request.Request(
        url, data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        out: dict[str, Any] = json.loads(resp.read())
    return out


# ---- which modules the image has ---------------------------------------------------------------
def requirement_lines(path: Path) -> list[str]:
    """The requirement specifiers of a requirements file, following its `-r` includes."""
    out: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            out += requirement_lines(path.parent / line.split(maxsplit=1)[1])
        elif line and not line.startswith("-"):
            out.append(line)
    return out


def distribution_closure(requirements: list[str]) -> set[str]:
    """The distributions pip installs for `requirements` (their Requires-Dist, recursively,
    markers evaluated here), as this interpreter's installed metadata says."""
    import importlib.metadata as md

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = set(req.extras)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        for spec in md.distribution(name).requires or []:
            dep = Requirement(spec)
            if dep.marker is None or any(
                dep.marker.evaluate({"extra": e}) for e in seen[name] | {""}
            ):
                todo.append(Requirement(str(dep).split(";")[0]))
    return set(seen)


def top_level_modules(distributions: set[str]) -> list[str]:
    """The importable top-level names those distributions put into site-packages."""
    import importlib.metadata as md

    from packaging.utils import canonicalize_name

    return sorted(
        module
        for module, dists in md.packages_distributions().items()
        if any(canonicalize_name(d) in distributions for d in dists)
    )


# ---- building the runtime stage -----------------------------------------------------------------
class _Builder:
    """The runtime stage's instructions, applied in order (see the module doc)."""

    def __init__(self, image: Image, context: Path, model_dir: Path) -> None:
        self.image, self.context, self.model_dir = image, context, model_dir
        self.args: dict[str, str] = {}

    def apply(self, keyword: str, arg: str) -> None:
        image = self.image
        if keyword == "ARG":
            name, _, default = arg.partition("=")
            if default:
                self.args[name] = default
        elif keyword == "ENV":
            for key, value in env_pairs(arg):
                image.env[key] = expand(value, {**self.args, **image.env})
        elif keyword == "WORKDIR":
            image.workdir = expand(arg, image.env)
            Path(image.host(image.workdir)).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            self.copy(arg)
        elif keyword == "RUN":
            self.run(arg)
        elif keyword == "CMD":
            image.cmd = json.loads(arg)
        else:
            raise AssertionError(f"the image-shaped build does not know {keyword} {arg}")

    def copy(self, arg: str) -> None:
        words = shlex.split(arg)
        flags = [w for w in words if w.startswith("--")]
        *sources, dest = [w for w in words if not w.startswith("--")]
        dest = expand(dest, self.image.env)
        if flags:
            assert flags == ["--from=model"] and sources == ["/opt/model"], arg
            shutil.copytree(self.model_dir, self.image.host(dest), dirs_exist_ok=True)
            return
        target = Path(self.image.host(dest))
        for src in sources:
            path = self.context / src
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True)
            elif dest.endswith("/") or len(sources) > 1:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)

    def run(self, command: str) -> None:
        image = self.image
        if re.search(r"(^|&&|;|\|\|)\s*pip\s+install\b", command):
            self.record_install(command)
            image.steps.append(RunStep(command, False, reason="installs packages: read, not run"))
        elif re.search(r"(^|&&|;|\|\|)\s*python\b", command):
            write_site_config(image)
            proc = image.run(command, self.args)
            step = RunStep(command, True, proc.returncode, proc.stdout + proc.stderr)
            image.steps.append(step)
        else:
            image.steps.append(RunStep(command, False, reason="no python in it"))

    def record_install(self, command: str) -> None:
        """`pip install --target DIR -r FILE...`: FILE's packages are in DIR (constraints, -c,
        pin versions only)."""
        for part in command.split("&&"):
            words = shlex.split(expand(part, {**self.args, **self.image.env}))
            if words[:2] != ["pip", "install"]:
                continue
            target = words[words.index("--target") + 1]
            files = [words[i + 1] for i, w in enumerate(words) if w in ("-r", "--requirement")]
            self.image.installed.setdefault(target, []).extend(files)
            Path(self.image.host(target)).mkdir(parents=True, exist_ok=True)  # as pip does


def write_site_config(image: Image) -> None:
    """sitecustomize's view of the image: which top-level modules each of its directories has."""
    installed: dict[str, list[str]] = {}
    for directory, files in image.installed.items():
        lines = [line for f in files for line in requirement_lines(Path(image.host(f)))]
        installed[image.host(directory)] = top_level_modules(distribution_closure(lines))
    runtime = distribution_closure(list(RUNTIME_PACKAGES))
    installed[image.host("/var/runtime")] = top_level_modules(runtime)
    write_import_rules(image.site_dir, installed, image.root / "refused-imports.log")


def restricted_site(site_dir: Path, installed: Mapping[str, list[str]], log: Path) -> Path:
    """A directory that, first on PYTHONPATH, lets a process of this interpreter import from
    site-packages only the top-level modules `installed` names for the directories on its path
    (image_site/sitecustomize.py). Returns `site_dir`."""
    site_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(SITE_TEMPLATE, site_dir / "sitecustomize.py")
    write_import_rules(site_dir, installed, log)
    return site_dir


def write_import_rules(site_dir: Path, installed: Mapping[str, list[str]], log: Path) -> None:
    paths = sysconfig.get_paths()
    config = {
        "installed": dict(installed),
        "site_packages": sorted({paths["purelib"], paths["platlib"]}),
        "stdlib": sorted({paths["stdlib"], paths["platstdlib"]}),
        "stdlib_absent": list(STDLIB_ABSENT),
        "log": str(log),
    }
    (site_dir / "image_shape.json").write_text(json.dumps(config, indent=1))


def build_image(context: Path, root: Path, model_dir: Path, dockerfile: Path = DOCKERFILE) -> Image:
    """The Dockerfile's last stage, built on `root` from the build `context` (see module doc)."""
    _, stages = parse(dockerfile.read_text())
    site_dir, bin_dir = root / ".image-site", root / ".image-bin"
    restricted_site(site_dir, {}, root / "refused-imports.log")
    bin_dir.mkdir()
    for name in ("python", "python3"):
        shim = bin_dir / name
        shim.write_text(
            "#!/bin/sh\n"
            f'PYTHONPATH="{site_dir}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" "$@"\n'
        )
        shim.chmod(0o755)
    for directory in IMAGE_DIRS:
        (root / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    image = Image(root, dict(BASE_IMAGE_ENV), "/", [], site_dir, bin_dir)
    builder = _Builder(image, context, model_dir)
    for keyword, arg in stages[-1].instructions:
        builder.apply(keyword, arg)
    write_site_config(image)
    return image


def staged_context(cloud_assembly: Path, stack: str = "leadgen-dev") -> Path:
    """The image's build context as `cdk synth` staged it into the cloud assembly."""
    assets = json.loads((cloud_assembly / f"{stack}.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    return cloud_assembly / image["source"]["directory"]
