"""What the container runs, run outside it: the Dockerfile's ENTRYPOINT with the container's
environment, probed by the Dockerfile's HEALTHCHECK command, both parsed from the Dockerfile rather
than copied; and the wheel its build stage makes from the files it copies.

No Docker engine is needed. The differences from the container are the ones that cannot be
avoided: /data becomes a temporary folder, the TCP port a free one on loopback, and the console
scripts come from this interpreter's environment instead of the image's /usr/local/bin.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaging import files
from tests.packaging.files import REPO

BIN = Path(sys.executable).parent
CONTAINER_HOME = "/data"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Container:
    """The runtime stage's process and environment, with /data and the port moved."""

    home: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        path = self.home / "entrypoint.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, timeout: float) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise AssertionError(f"fairscribed did not stop within {timeout}s of SIGTERM:\n{self.log}") from None
        return self.process.returncode


def container_environment(home: Path, port: int) -> dict[str, str]:
    """The image's ENV, overlaid by docker-compose.yml's `environment` with its defaults, the way
    `docker compose up` starts the container; then /data moved to `home` and the port to `port`."""
    runtime = files.parse_dockerfile(files.DOCKERFILE.read_text())[-1]
    env = runtime.env()
    env.update(files.service_environment(files.daemon_services(files.compose())["fairscribed"]))
    for name, value in env.items():
        if value == CONTAINER_HOME or value.startswith(CONTAINER_HOME + "/"):
            env[name] = str(home) + value[len(CONTAINER_HOME) :]
    host, _, _ = env["FAIRSCRIBE_LISTEN"].rpartition(":")
    assert host == "0.0.0.0"
    env["FAIRSCRIBE_LISTEN"] = f"127.0.0.1:{port}"
    read = files.daemon_env_vars()
    base = {k: v for k, v in os.environ.items() if k not in read}
    base["PATH"] = os.pathsep.join([str(BIN), base.get("PATH", "")])
    return {**base, **env}


def command_path(words: list[str]) -> list[str]:
    found = shutil.which(words[0], path=str(BIN)) or shutil.which(words[0])
    assert found, f"{words[0]} is not installed (pip install -e .)"
    return [found, *words[1:]]


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    runtime = files.parse_dockerfile(files.DOCKERFILE.read_text())[-1]
    [entrypoint] = runtime.all("ENTRYPOINT")
    words, _ = entrypoint.json_or_words()
    for cmd in runtime.all("CMD")[-1:]:
        words += cmd.json_or_words()[0]
    home = tmp_path / "data"
    home.mkdir()
    port = free_port()
    box = Container(home, port, container_environment(home, port))
    with open(home / "entrypoint.log", "wb") as log:
        box.process = subprocess.Popen(command_path(words), env=box.env, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield box
    finally:
        if box.process.poll() is None:
            box.process.kill()
            box.process.wait(10)


def wait_until_listening(box: Container, timeout: float = 60.0) -> None:
    """Until the Unix socket and the TCP port both accept connections (nothing of the daemon's
    own client is used, so the health check's first run is a real test)."""
    socket_path = Path(box.env.get("FAIRSCRIBE_SOCKET") or box.home / "fairscribed.sock")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert box.process is not None
        if box.process.poll() is not None:
            raise AssertionError(f"fairscribed exited with {box.process.returncode}:\n{box.log}")
        try:
            with socket.socket(socket.AF_UNIX) as unix, socket.create_connection(("127.0.0.1", box.port), timeout=1):
                unix.connect(str(socket_path))
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"fairscribed did not listen within {timeout}s:\n{box.log}")


def run_health_check(env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    check = files.health_check(files.parse_dockerfile(files.DOCKERFILE.read_text())[-1])
    return subprocess.run(check.command, env=env, capture_output=True, text=True, check=False, timeout=timeout)


@pytest.mark.timeout(180)
def test_health_check_passes_against_the_entrypoint_and_fails_once_it_stops(container: Container) -> None:
    runtime = files.parse_dockerfile(files.DOCKERFILE.read_text())[-1]
    options = files.health_check(runtime).options
    timeout = files.parse_duration(options.get("timeout", "30s"))
    wait_until_listening(container)

    started = time.monotonic()
    healthy = run_health_check(container.env, timeout)
    assert healthy.returncode == 0, f"{healthy.stdout}\n{healthy.stderr}\n{container.log}"
    assert time.monotonic() - started < timeout
    assert "pools" in json.loads(healthy.stdout), healthy.stdout

    # A token somebody left in the environment does not change the answer: the check drops it.
    assert run_health_check({**container.env, "FAIRSCRIBE_TOKEN": "not-a-token"}, timeout).returncode == 0

    grace = 30.0  # docker-compose.yml's stop_grace_period; Docker's default is 10 s
    assert container.stop(grace) == 0, container.log
    unhealthy = run_health_check(container.env, timeout)
    assert unhealthy.returncode == 1, f"{unhealthy.returncode}: {unhealthy.stdout}{unhealthy.stderr}"
    assert json.loads(unhealthy.stdout)["error"]["kind"] == "daemon_not_running"
    # ... and it must not have started a daemon of its own (as `fairscribe submit` does).
    with socket.socket(socket.AF_UNIX) as probe, pytest.raises((FileNotFoundError, ConnectionRefusedError)):
        probe.connect(container.env.get("FAIRSCRIBE_SOCKET") or str(container.home / "fairscribed.sock"))


@pytest.mark.timeout(180)
def test_token_clients_reach_the_published_port_as_the_readme_says(container: Container, tmp_path: Path) -> None:
    """The admin steps of packaging/README.md (run inside the container, over the Unix socket), then
    a client on the host over TCP with the token: what a user of the compose file does."""
    wait_until_listening(container)
    audio = tmp_path / "audio" / "alice"
    audio.mkdir(parents=True)
    admin_env = {k: v for k, v in container.env.items() if k not in ("FAIRSCRIBE_LISTEN", "FAIRSCRIBE_TOKEN")}
    fairscribe = command_path(["fairscribe"])[0]

    def admin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [fairscribe, *args], env=admin_env, capture_output=True, text=True, check=False, timeout=60
        )

    added = admin("user", "add", "alice", "--root", str(audio), "--json")
    assert added.returncode == 0, added.stdout + added.stderr
    created = admin("token", "create", "alice", "--json")
    assert created.returncode == 0, created.stdout + created.stderr
    token = json.loads(created.stdout)["token"]

    read = files.daemon_env_vars()
    host_env = {k: v for k, v in os.environ.items() if k not in read}
    host_env.update(
        FAIRSCRIBE_LISTEN=f"127.0.0.1:{container.port}",
        FAIRSCRIBE_TOKEN=token,
        FAIRSCRIBE_HOME=str(tmp_path / "host-home"),
    )
    answer = subprocess.run(
        [fairscribe, "status", "--json"], env=host_env, capture_output=True, text=True, check=False, timeout=60
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert json.loads(answer.stdout) == {"jobs": []}
    # Without the token the TCP port refuses: nobody reaches the daemon by the port alone.
    del host_env["FAIRSCRIBE_TOKEN"]
    refused = subprocess.run(
        [fairscribe, "status", "--json"], env=host_env, capture_output=True, text=True, check=False, timeout=60
    )
    assert refused.returncode != 0


@pytest.mark.timeout(300)
def test_the_build_stage_makes_a_complete_wheel_from_what_it_copies(tmp_path: Path) -> None:
    """`pip wheel` on exactly the files the build stage COPYs (after .dockerignore), without deps."""
    stages = files.parse_dockerfile(files.DOCKERFILE.read_text())
    ignore = files.DockerIgnore.parse(files.DOCKERIGNORE.read_text())
    context = tmp_path / "context"
    for stage in stages[:-1]:
        for instruction in stage.all("COPY"):
            flags, rest = instruction.flags_and_rest
            if "from" in flags:
                continue
            sources, _ = instruction.json_or_words(rest)
            for word in sources[:-1]:
                source = word.rstrip("/")
                for relative in files.context_files():
                    if (relative == source or relative.startswith(source + "/")) and not ignore.excluded(relative):
                        (context / relative).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(REPO / relative, context / relative)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "wheels"), "."],
        cwd=context,
        check=False,
        capture_output=True,
        text=True,
        timeout=280,
    )
    if (
        result.returncode != 0
        and "setuptools" in result.stdout + result.stderr
        and (
            "No matching distribution" in result.stdout + result.stderr
            or "Could not find a version" in result.stdout + result.stderr
        )
    ):
        pytest.skip("pip cannot fetch the build backend here (no package index)")
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = (tmp_path / "wheels").glob("fairscribe-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    expected = {
        f"fairscribe/{p.relative_to(REPO).as_posix()}"
        for folder in ("daemon", "shared")
        for p in (REPO / folder).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert expected <= names, f"the wheel lacks {sorted(expected - names)[:10]}"
    assert "fairscribe/daemon/migrations/alembic.ini" in names
    for name, target in files.console_scripts().items():
        if name in ("fairscribed", "fairscribe"):
            assert f"{name} = {target}" in scripts
