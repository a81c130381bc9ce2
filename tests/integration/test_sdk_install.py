"""`pip install pulse-ray` as an API user runs it: the plain package (no extra) in a
fresh virtual environment has neither Ray nor torch nor the store, and from there the
SDK and the client commands talk to the running service, while `pulse serve` says
which extra it needs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deployments.service import RunningService
from pulse_ray.cli.server_extra import INSTALL
from tests.fresh_python import ROOT, server_only_modules

from .conftest import MakeKey

# What the package is built from: the Dockerfile's COPY lines.
_SOURCES = ("pyproject.toml", "README.md", "pulse_ray", "deployments")


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the plain package (no extra) installed from a wheel
    of this checkout, as `pip install pulse-ray` installs it from PyPI.

    The wheel is built from a copy (the build leaves nothing in the working tree) with
    this environment's setuptools, not in an isolated build environment (8 s more on 2
    cores); the new environment is made without a pip of its own, and this pip installs
    into it (``--python``). pip's cache serves the dependencies' wheels.
    """
    root = tmp_path_factory.mktemp("plain")
    source, wheels, venv = root / "src", root / "wheels", root / "venv"
    for name in _SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _succeeds(*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation",
              "--wheel-dir", str(wheels), str(source))
    (wheel,) = wheels.glob("pulse_ray-*.whl")
    _succeeds(sys.executable, "-m", "venv", "--without-pip", str(venv))
    _succeeds(*pip, "--python", str(venv / "bin" / "python"), "install", "--quiet", str(wheel))
    return venv


def _succeeds(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"


@pytest.fixture(scope="module")
def user_env(service: RunningService, make_key_module: MakeKey,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An API user's environment: a key and the service's URL, nothing of this checkout
    on the path and no saved login."""
    key = make_key_module("read", "write", name="plain-sdk", plan="enterprise")["key"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PULSE_", "PYTHON", "VIRTUAL_ENV"))}
    env |= {"PULSE_API_KEY": key, "PULSE_BASE_URL": service.url,
            "PULSE_CONFIG_DIR": str(tmp_path_factory.mktemp("config"))}
    return env


def _run(venv: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # From a directory without this checkout in it, so only the installed copy imports.
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], env=env,
                          cwd=venv.parent, capture_output=True, text=True, timeout=120,
                          check=False)


def test_the_plain_package_brings_neither_ray_nor_torch_nor_the_store(
    plain_venv: Path, user_env: dict[str, str],
) -> None:
    server_only = server_only_modules()
    assert {"ray", "torch", "sqlmodel"} <= server_only
    found = _run(plain_venv, user_env, "python", "-c", textwrap.dedent(f"""
        import importlib.util, json
        import pulse_ray
        print(json.dumps({{"pulse_ray": pulse_ray.__file__, "found": [
            m for m in {sorted(server_only)!r} if importlib.util.find_spec(m)]}}))
    """))
    assert found.returncode == 0, found.stderr
    seen = json.loads(found.stdout)
    assert seen["found"] == []
    assert seen["pulse_ray"].startswith(str(plain_venv))  # the installed copy


def test_the_sdk_calls_the_running_service(plain_venv: Path, user_env: dict[str, str]) -> None:
    called = _run(plain_venv, user_env, "python", "-c", textwrap.dedent("""
        import asyncio, json
        from pulse_ray.sdk import AsyncPulse, NotFoundError, Pulse

        async def whoami_async():
            async with AsyncPulse() as pulse:
                return (await pulse.whoami()).name

        with Pulse() as pulse:
            me = pulse.whoami()
            models = pulse.list_models(limit=5)
            try:
                pulse.get_model("no-such-model")
                missing = None
            except NotFoundError as error:
                missing = error.code
        print(json.dumps({"name": me.name, "scopes": sorted(me.scopes),
                          "listed": len(models.data), "has_more": models.has_more,
                          "missing": missing,
                          "async": asyncio.run(whoami_async())}))
    """))
    assert called.returncode == 0, called.stderr
    answered = json.loads(called.stdout)
    # The session's other tests make models in this account: a page of at most 5, full
    # when there are more.
    listed, has_more = answered.pop("listed"), answered.pop("has_more")
    assert listed == 5 if has_more else listed <= 5
    assert answered == {"name": "plain-sdk", "scopes": ["read", "write"],
                        "missing": "NOT_FOUND", "async": "plain-sdk"}


def test_client_commands_work_and_server_commands_name_the_extra(
    plain_venv: Path, user_env: dict[str, str],
) -> None:
    whoami = _run(plain_venv, user_env, "pulse", "auth", "whoami", "--json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["name"] == "plain-sdk"
    listed = _run(plain_venv, user_env, "pulse", "models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout), list)
    for args in (["serve"], ["keys", "create", "--name", "me"]):
        refused = _run(plain_venv, user_env, "pulse", *args)
        (line,) = refused.stderr.splitlines()  # one line, no traceback
        assert refused.returncode == 1
        assert line.startswith(f"`pulse {args[0]}` needs the server extra")
        assert line.endswith(INSTALL)
