"""The image's import rules, for every Python process of the image-shaped test environment.

tests/functional/image_env.py runs the image's commands with the project's own interpreter,
whose site-packages holds every package the project uses (torch, pytest, moto, ...), and puts
this directory first on PYTHONPATH so Python imports this module at start-up. It makes that
interpreter see only what the image has: a top-level module from site-packages is importable
only if a distribution the Dockerfile installs into a directory that is on this process's
sys.path provides it (requirements.txt into the task root; requirements-build.txt into
/opt/build-python, on the path only where the buildspec puts it; the base image's Lambda runtime
in /var/runtime, on the function's path only). Anything else is absent, exactly as in the image:
`import torch` raises ModuleNotFoundError and importlib.util.find_spec("torch") is None. The
modules of the Python version the image has not got (the image runs 3.12) are absent too.

Refused names are appended to the log named in image_shape.json, for failure messages.
"""

import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_HERE, "image_shape.json")) as _fh:
    _CONFIG = json.load(_fh)


def _on_path():
    return {os.path.realpath(p or os.getcwd()) for p in sys.path}


_cache = {}


def _allowed(name):
    """Whether one of the image's directories on this process's path provides `name`. Read at
    each import, not at start-up: Python puts the script's directory (or the working directory)
    on sys.path only after this module ran, and a process may change its path."""
    key = (tuple(sys.path), os.getcwd())
    if key not in _cache:
        on_path = _on_path()
        allowed = set()
        for directory, names in _CONFIG["installed"].items():
            if os.path.realpath(directory) in on_path:
                allowed.update(names)
        _cache.clear()
        _cache[key] = allowed
    return name in _cache[key]


def _log(name):
    try:
        with open(_CONFIG["log"], "a") as fh:
            fh.write(f"{os.getpid()} {name}\n")
    except OSError:
        pass


class _ImageFinder:
    """A path entry's own finder, blind to the top-level names `visible` says are not there."""

    def __init__(self, finder, visible):
        self._finder = finder
        self._visible = visible

    def find_spec(self, fullname, target=None):
        if "." not in fullname and not self._visible(fullname):
            _log(fullname)
            return None
        return self._finder.find_spec(fullname, target)

    def invalidate_caches(self):
        self._finder.invalidate_caches()

    def __getattr__(self, name):
        return getattr(self._finder, name)


def _finder_for(entry):
    for hook in sys.path_hooks:
        try:
            return hook(entry)
        except ImportError:
            continue
    return None


def _install():
    absent = set(_CONFIG["stdlib_absent"])
    site = {os.path.realpath(p) for p in _CONFIG["site_packages"]}
    stdlib = {os.path.realpath(p) for p in _CONFIG["stdlib"]}
    for entry in list(sys.path):
        real = os.path.realpath(entry or os.getcwd())
        if real in site:
            visible = _allowed
        elif real in stdlib:
            visible = lambda name: name not in absent  # noqa: E731
        else:
            continue
        finder = _finder_for(entry)
        if finder is not None:
            sys.path_importer_cache[entry] = _ImageFinder(finder, visible)
    if _HERE in sys.path:
        sys.path.remove(_HERE)  # this directory is the test's, not the image's


_install()
