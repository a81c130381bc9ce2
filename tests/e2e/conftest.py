"""The service as a newcomer starts it: the Makefile's `make run` recipe, no settings at
all, in a directory of its own (its ./.pulse store, Ray's defaults for this machine).

Runs on its own (`pytest -m e2e`), never beside the integration session's Ray: it takes
the default ports (8000, Ray's dashboard 8265) as `make run` does.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).parents[2]
URL = "http://127.0.0.1:8000"


@dataclass
class Newcomer:
    """Where the newcomer stands: the directory `make run` ran in, their environment,
    and how long the service took to answer."""

    home: Path
    env: dict[str, str]
    ready_after_s: float

    def run(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", command], cwd=self.home, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)


def make_run_recipe() -> list[str]:
    """The commands of the Makefile's `run` target, as make would run them here."""
    lines = (REPO / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("run:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip().replace("$(BIN)", ".venv/bin"))
    return recipe


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Newcomer]:
    if _port_taken(8000):
        pytest.fail("port 8000 is taken (a `make run` of yours?): the walk-through needs "
                    "the defaults")
    home = tmp_path_factory.mktemp("newcomer")
    (home / ".venv").symlink_to(Path(sys.executable).parents[1])  # the venv make built
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PULSE_", "RAY_"))}
    env["PULSE_CONFIG_DIR"] = str(home / "config")  # not the developer's saved login
    *setup, serve = make_run_recipe()
    for command in setup:
        subprocess.run(["bash", "-c", command], cwd=home, env=env, check=True, timeout=300)
    log = (home / "serve.log").open("w")
    started = time.monotonic()
    process = subprocess.Popen(["bash", "-c", f"exec {serve}"], cwd=home, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while not _ready():
            if process.poll() is not None or time.monotonic() - started > 400:
                pytest.fail("`make run` did not come up:\n"
                            + (home / "serve.log").read_text()[-4000:])
            time.sleep(1)
        yield Newcomer(home=home, env=env, ready_after_s=time.monotonic() - started)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C, as the newcomer stops it
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _ready() -> bool:
    try:
        return httpx.get(f"{URL}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def key_secret(printed: str) -> str:
    """The secret `pulse keys create` printed once."""
    found = re.search(r"pulse_sk_\S+", printed)
    assert found, printed
    return found.group(0)
