"""docker-compose.yml, checked without a Docker engine: parsed, interpolated the way Compose does it,
and compared with the Dockerfile and with what the daemon actually reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.packaging import files
from tests.packaging.files import REPO


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return files.compose()


@pytest.fixture(scope="module")
def daemons(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = files.daemon_services(document)
    assert "fairscribed" in found, "no service `fairscribed` built from packaging/Dockerfile"
    return found


@pytest.fixture(scope="module")
def main(daemons: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return daemons["fairscribed"]


@pytest.fixture(scope="module")
def runtime() -> files.Stage:
    return files.parse_dockerfile(files.DOCKERFILE.read_text())[-1]


def test_the_main_service_runs_without_a_profile(main: dict[str, Any]) -> None:
    assert not main.get("profiles"), "`docker compose up` must start fairscribed"
    build = main["build"]
    assert (REPO / build["context"]).resolve() == REPO
    assert build.get("target") in (None, files.parse_dockerfile(files.DOCKERFILE.read_text())[-1].name)


def test_build_args_are_ones_the_dockerfile_declares(daemons: dict[str, dict[str, Any]]) -> None:
    declared = {
        i.args.split("=")[0] for stage in files.parse_dockerfile(files.DOCKERFILE.read_text()) for i in stage.all("ARG")
    }
    for name, service in daemons.items():
        args = service["build"].get("args") or {}
        assert set(args) <= declared, (
            f"{name}: build args {sorted(set(args) - declared)} are not ARGs of the Dockerfile"
        )


def test_healthcheck_is_the_dockerfiles(daemons: dict[str, dict[str, Any]], runtime: files.Stage) -> None:
    image_check = files.health_check(runtime)
    for name, service in daemons.items():
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no health check"
        test = check["test"]
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        if test[0] == "CMD-SHELL":
            assert ["/bin/sh", "-c", test[1]] == image_check.command, (
                f"{name}: {test[1]!r} differs from the Dockerfile's"
            )
        else:
            assert test[0] == "CMD" and test[1:] == image_check.command, f"{name}: {test} differs from the Dockerfile's"
        for option in ("interval", "timeout", "start_period"):
            if option in check:
                files.parse_duration(str(check[option]))
        assert files.parse_duration(str(check.get("timeout", "30s"))) < files.parse_duration(
            str(check.get("interval", "30s"))
        )


def test_resource_limits(daemons: dict[str, dict[str, Any]]) -> None:
    for name, service in daemons.items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        cpus = limits.get("cpus", service.get("cpus"))
        memory = limits.get("memory", service.get("mem_limit"))
        assert cpus is not None and float(cpus) > 0, f"{name}: no CPU limit"
        assert memory is not None and files.parse_bytes(memory) >= 256 * 1024**2, f"{name}: no (or a tiny) memory limit"
        if "mem_limit" in service and "memory" in limits:
            assert files.parse_bytes(service["mem_limit"]) == files.parse_bytes(limits["memory"]), (
                "Compose refuses two different limits"
            )


def test_workers_default_matches_the_cpu_limit(main: dict[str, Any]) -> None:
    """The daemon counts the host's cores, not the container's limit, so the default is set here."""
    workers = int(files.service_environment(main)["FAIRSCRIBE_WORKERS"])
    cpus = float(main["deploy"]["resources"]["limits"]["cpus"])
    assert 1 <= workers <= max(1, round(cpus))


def test_restart_policy(daemons: dict[str, dict[str, Any]]) -> None:
    for name, service in daemons.items():
        policy = service.get("restart") or service.get("deploy", {}).get("restart_policy", {}).get("condition")
        assert policy in ("always", "unless-stopped", "on-failure", "any"), f"{name}: restart {policy!r}"


def test_data_is_a_named_volume_at_fairscribe_home(
    document: dict[str, Any], daemons: dict[str, dict[str, Any]], runtime: files.Stage
) -> None:
    volumes_used = []
    for name, service in daemons.items():
        home = files.service_environment(service).get("FAIRSCRIBE_HOME") or runtime.env()["FAIRSCRIBE_HOME"]
        [data] = [m for m in files.mounts(service) if m.target == home]
        assert data.type == "volume" and data.source in (document.get("volumes") or {}), f"{name}: {data}"
        volumes_used.append(data.source)
    assert len(set(volumes_used)) == len(volumes_used), "each daemon needs its own socket and logs"


def test_audio_is_bind_mounted_at_the_same_path_as_on_the_host(
    daemons: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """A client on the host sends the absolute path it sees; the daemon must find the folder there."""
    for env in ({}, {"FAIRSCRIBE_AUDIO_DIR": str(tmp_path / "audio")}):
        for name, service in files.daemon_services(files.compose(env)).items():
            binds = [m for m in files.mounts(service) if m.type == "bind"]
            assert binds, f"{name}: no bind mount for audio"
            for mount in binds:
                assert Path(mount.target).is_absolute() and mount.source == mount.target, f"{name}: {mount}"
            if env:
                assert any(m.source == env["FAIRSCRIBE_AUDIO_DIR"] for m in binds)


def test_ports_are_published_on_loopback_only(
    document: dict[str, Any], daemons: dict[str, dict[str, Any]], runtime: files.Stage
) -> None:
    from fairscribe.shared.config import parse_host_port

    exposed = {int(word.split("/")[0]) for e in runtime.all("EXPOSE") for word in e.args.split()}
    for name, service in document["services"].items():
        for binding in files.ports(service):
            assert binding.host_ip == "127.0.0.1", f"{name}: {binding} is reachable from other machines"
    for name, service in daemons.items():
        listen = files.service_environment(service).get("FAIRSCRIBE_LISTEN") or runtime.env()["FAIRSCRIBE_LISTEN"]
        _, port = parse_host_port(listen, "FAIRSCRIBE_LISTEN")
        bindings = files.ports(service)
        assert bindings and {b.container_port for b in bindings} == {port} and port in exposed, f"{name}: {bindings}"
    published = [b.host_port for s in document["services"].values() for b in files.ports(s)]
    assert len(set(published)) == len(published), f"two services publish the same host port: {published}"


def test_every_variable_set_is_one_the_daemon_reads(daemons: dict[str, dict[str, Any]]) -> None:
    read = files.daemon_env_vars()
    assert "FAIRSCRIBE_HOME" in read and "ASSEMBLYAI_API_KEY" in read, "the scan of the daemon's sources found nothing"
    for name, service in daemons.items():
        unknown = set(files.service_environment(service)) - read
        assert not unknown, f"{name} sets {sorted(unknown)}, which the daemon never reads"


def test_every_daemon_variable_of_the_design_is_set(main: dict[str, Any]) -> None:
    doc = files.design_doc()
    if doc is None:
        pytest.skip("DESIGN.md is neither in the repository nor in ../shared/")
    table = files.design_env_table(doc.read_text())
    assert len(table) >= 5, f"DESIGN.md's environment table was not found in {doc}"
    wanted = {row.name for row in table if not row.client_only}
    missing = wanted - set(files.service_environment(main))
    assert not missing, f"docker-compose.yml does not set {sorted(missing)} (DESIGN.md's table)"


def test_secrets_come_from_the_host_and_default_to_nothing() -> None:
    raw = files.compose_raw()
    environment = raw["x-environment"] if "x-environment" in raw else raw["services"]["fairscribed"]["environment"]
    assert environment["ASSEMBLYAI_API_KEY"] == "${ASSEMBLYAI_API_KEY:-}"
    with_key = files.daemon_services(files.compose({"ASSEMBLYAI_API_KEY": "k" * 32}))["fairscribed"]
    assert files.service_environment(with_key)["ASSEMBLYAI_API_KEY"] == "k" * 32


@pytest.mark.parametrize(
    "host_env",
    [{}, {"ASSEMBLYAI_API_KEY": "0123456789abcdef", "ASSEMBLYAI_ACCOUNT_TYPE": "paid"}],
    ids=["defaults", "with-key"],
)
def test_the_daemon_accepts_the_composed_environment(
    host_env: dict[str, str], runtime: files.Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every service's environment, as Compose would pass it, is valid for Settings.from_env."""
    from fairscribe.daemon.settings import Settings

    for name, service in files.daemon_services(files.compose(host_env)).items():
        env = {**runtime.env(), **files.service_environment(service)}
        for variable in files.daemon_env_vars():
            monkeypatch.delenv(variable, raising=False)
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        settings = Settings.from_env()
        assert settings.home == Path("/data") and settings.socket.parent == Path("/data"), name
        assert settings.listen == ("0.0.0.0", 8765), name
        assert settings.workers >= 1 and settings.max_concurrent_users >= 0
        if host_env:
            assert settings.engine == "assemblyai" and settings.assemblyai_max_workers == 20
        else:
            assert settings.engine == "local", f"{name}: {settings.engine_reason}"
            assert settings.assemblyai_api_key is None and settings.assemblyai_base_url is None
        if name == "fairscribed":
            assert settings.database_url.startswith("sqlite:////data/")


def test_scale_out_profile_shares_one_postgresql_store(
    document: dict[str, Any], daemons: dict[str, dict[str, Any]]
) -> None:
    nodes = {name: s for name, s in daemons.items() if s.get("profiles")}
    if not nodes:
        pytest.skip("no scale-out profile in docker-compose.yml")
    from sqlalchemy.engine import make_url

    assert len(nodes) >= 2, "scale-out means at least two daemons"
    urls = {files.service_environment(s)["FAIRSCRIBE_DATABASE_URL"] for s in nodes.values()}
    assert len(urls) == 1, "the nodes must share one store"
    url = make_url(urls.pop())
    assert url.get_backend_name() == "postgresql"
    url.get_dialect()  # the driver named in the URL is importable (psycopg, not the absent psycopg2)
    database = document["services"][url.host]
    node_ids = [files.service_environment(s).get("FAIRSCRIBE_NODE_ID") for s in nodes.values()]
    assert None not in node_ids and len(set(node_ids)) == len(node_ids)
    for name, node in nodes.items():
        assert set(node["profiles"]) <= set(database.get("profiles", [])) or not database.get("profiles"), name
        depends = node.get("depends_on") or {}
        assert url.host in depends, f"{name} does not wait for {url.host}"
        if isinstance(depends, dict):
            assert depends[url.host].get("condition") == "service_healthy"
    assert database.get("healthcheck"), f"{url.host} needs a health check for service_healthy"
