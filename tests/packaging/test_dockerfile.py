"""packaging/Dockerfile and .dockerignore, checked without a Docker engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.packaging import files
from tests.packaging.files import REPO, Stage


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return files.parse_dockerfile(files.DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def ignore() -> files.DockerIgnore:
    return files.DockerIgnore.parse(files.DOCKERIGNORE.read_text())


def test_every_stage_starts_from_python_3_11_slim(stages: list[Stage]) -> None:
    names = {s.name for s in stages if s.name}
    external = [s.base for s in stages if s.base not in names]
    assert external, "no FROM names an image"
    for base in external:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base


def test_multi_stage_builds_a_wheel_and_installs_it_in_the_runtime_stage(stages: list[Stage], runtime: Stage) -> None:
    assert len(stages) >= 2, "a build stage and a runtime stage"
    builders = [s for s in stages[:-1] if any(re.search(r"\bpip wheel\b", r.args) for r in s.all("RUN"))]
    assert builders, "no stage before the runtime one builds wheels (`pip wheel`)"
    # The runtime stage gets the wheels from a build stage (COPY --from or RUN --mount ... from=) and
    # installs them from there only, and it never builds anything itself.
    sources = set()
    for instruction in runtime.all("COPY"):
        flags, _ = instruction.flags_and_rest
        if "from" in flags:
            sources.add(flags["from"])
    for instruction in runtime.all("RUN"):
        sources.update(re.findall(r"--mount=\S*\bfrom=([\w.-]+)", instruction.args))
    assert {b.name for b in builders} & sources, f"the runtime stage takes nothing from {[b.name for b in builders]}"
    installs = [r.args for r in runtime.all("RUN") if re.search(r"\bpip install\b", r.args)]
    assert installs and all("--no-index" in i for i in installs), (
        "the runtime stage installs from the built wheels only"
    )
    assert not any(re.search(r"\bpip wheel\b|\bapt-get\b", r.args) for r in runtime.all("RUN"))


def test_no_apt_packages_are_needed(stages: list[Stage]) -> None:
    """The local engine's model ships in the pocketsphinx wheel and PyAV's wheels bundle FFmpeg."""
    for stage in stages:
        for run in stage.all("RUN"):
            assert "apt-get install" not in run.args, f"line {run.line}: {run.args}"


def test_local_engine_needs_nothing_outside_its_wheels() -> None:
    """What makes the apt-free image work: the installed wheels carry the model and FFmpeg."""
    import av
    import pocketsphinx

    model = Path(pocketsphinx.get_model_path())
    assert (model / "en-us" / "en-us").is_dir() and (model / "en-us" / "en-us.lm.bin").is_file()
    assert "mp3" in av.formats_available and "wav" in av.formats_available


def test_the_build_stage_copies_what_the_build_backend_reads(stages: list[Stage], ignore: files.DockerIgnore) -> None:
    copied: set[str] = set()
    for stage in stages[:-1]:
        for instruction in stage.all("COPY"):
            flags, rest = instruction.flags_and_rest
            if "from" in flags:
                continue
            words, _ = instruction.json_or_words(rest)
            copied.update(Path(word).as_posix().rstrip("/") for word in words[:-1])
    tool = files.pyproject().get("tool", {}).get("setuptools", {})
    needed = {"pyproject.toml", *(Path(d).as_posix() for d in tool.get("package-dir", {}).values())}
    readme = files.pyproject()["project"].get("readme")
    if isinstance(readme, str) and (REPO / readme).exists():
        needed.add(readme)
    assert needed <= copied, f"the build stage does not COPY {sorted(needed - copied)}"
    for source in copied:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
        assert not ignore.excluded(source), f"COPY {source}, but .dockerignore leaves it out of the context"


def test_dockerignore_sends_the_sources_and_nothing_else(ignore: files.DockerIgnore) -> None:
    for unwanted in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "tests/artifacts/x.log",
        "daemon/__pycache__/app.cpython-311.pyc",
        "fairscribe.egg-info/PKG-INFO",
        ".mypy_cache/x",
        ".pytest_cache/v",
        ".hypothesis/examples/x",
        "samples/a.wav",
        "bench/out/x.csv",
        "build/lib/x.py",
        "dist/fairscribe-0.1.0.whl",
        ".coverage",
        "htmlcov/index.html",
    ):
        assert ignore.excluded(unwanted), f".dockerignore lets {unwanted} into the build context"
    sources = [
        p
        for p in files.context_files()
        if p.startswith(("daemon/", "shared/")) and "__pycache__" not in p and not p.endswith((".pyc", ".pyo"))
    ]
    assert sources
    for path in [*sources, "pyproject.toml"]:
        assert not ignore.excluded(path), f".dockerignore leaves {path} out of the build context"


def test_runtime_runs_as_a_non_root_user_created_in_the_image(runtime: Stage) -> None:
    keywords = [i.keyword for i in runtime.instructions]
    users = runtime.all("USER")
    assert users, "the runtime stage never switches away from root"
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    assert (
        any(re.search(rf"\buseradd\b.*\b{re.escape(user)}\s*($|&&|\\)", r.args) for r in runtime.all("RUN"))
        or user.isdigit()
    ), f"USER {user} is not created in the runtime stage"


def test_entrypoint_is_the_daemons_console_script(runtime: Stage) -> None:
    [entrypoint] = runtime.all("ENTRYPOINT")
    words, exec_form = entrypoint.json_or_words()
    assert exec_form, "exec form, so that fairscribed gets SIGTERM itself"
    scripts = files.console_scripts()
    assert words[0] == "fairscribed" and words[0] in scripts
    assert callable(files.resolve_entry_point(scripts[words[0]]))
    for cmd in runtime.all("CMD"):
        args, cmd_exec = cmd.json_or_words()
        assert cmd_exec
        assert not args or args[0] in ("run", "migrate"), f"CMD {args}: fairscribed takes run or migrate"


def test_data_volume_and_home(runtime: Stage) -> None:
    env = runtime.env()
    assert env["FAIRSCRIBE_HOME"] == "/data"
    volumes: list[str] = []
    for instruction in runtime.all("VOLUME"):
        words, _ = instruction.json_or_words()
        volumes += words
    assert "/data" in volumes
    workdirs = runtime.all("WORKDIR")
    assert workdirs and workdirs[-1].args == "/data"


def test_listen_address_matches_expose(runtime: Stage) -> None:
    from fairscribe.shared.config import parse_host_port

    host, port = parse_host_port(runtime.env()["FAIRSCRIBE_LISTEN"], "FAIRSCRIBE_LISTEN")
    assert host == "0.0.0.0", "in a container the daemon must bind all interfaces to be reachable"
    exposed = {int(word.split("/")[0]) for e in runtime.all("EXPOSE") for word in e.args.split()}
    assert exposed == {port}


def test_every_env_setting_is_one_the_daemon_reads(runtime: Stage) -> None:
    read = files.daemon_env_vars()
    for name in runtime.env():
        if name.startswith(("PYTHON", "PIP_")):
            continue
        assert name in read, f"ENV {name}: the daemon never reads it"


def test_healthcheck_asks_the_daemon_through_the_cli_over_the_unix_socket(runtime: Stage) -> None:
    check = files.health_check(runtime)
    words = files.shell_command_words(check.shell_text) if check.shell_text else check.command
    command, unset, values = files.strip_env_wrapper(words)
    scripts = files.console_scripts()
    assert command[0] in scripts, f"the health check runs {command[0]!r}, which is no console script"
    assert callable(files.resolve_entry_point(scripts[command[0]]))
    # A client with FAIRSCRIBE_LISTEN set goes over TCP and needs a token; the check must not.
    assert "FAIRSCRIBE_LISTEN" in unset and "FAIRSCRIBE_LISTEN" not in values
    assert "FAIRSCRIBE_TOKEN" in unset
    # The command parses: the CLI knows it (typer's usage errors exit 2, the same as a refusal,
    # so this is checked on its own here; the run against a live daemon is in test_container_run).
    from typer.testing import CliRunner

    from fairscribe.shared import cli

    result = CliRunner().invoke(cli.app, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output
    timeout = files.parse_duration(check.options.get("timeout", "30s"))
    interval = files.parse_duration(check.options.get("interval", "30s"))
    assert 0 < timeout < interval
    assert int(check.options.get("retries", "3")) >= 1


def test_healthcheck_exit_code_is_one_docker_accepts(runtime: Stage) -> None:
    """Docker reserves exit code 2 for health checks, and the CLI exits 2 on a refusal."""
    check = files.health_check(runtime)
    assert check.shell_text is not None and re.search(r"\|\|\s*exit 1\s*$", check.shell_text), (
        "map the CLI's exit codes (2, 3) to 1"
    )
