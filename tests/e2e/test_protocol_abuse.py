"""Malformed, oversized, idle and unauthorised traffic: each gets an error or a closed connection,
and the daemon goes on serving everyone else."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from fairscribe.shared.errors import RemoteError
from fairscribe.shared.protocol import ErrorCode
from tests.support.daemon import DaemonProcess, make_fake_audio, wait_for_job


def _raw(daemon: DaemonProcess) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(daemon.socket))
    return sock


def _answer(sock: socket.socket) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data.splitlines()[0])


def test_abuse_gets_errors_and_the_daemon_keeps_serving(daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory()
    idle = [_raw(daemon) for _ in range(50)]

    garbage = _raw(daemon)
    garbage.sendall(b"\x00\xff\xfe garbage \x01\n")
    assert _answer(garbage)["error"]["code"] == ErrorCode.PARSE_ERROR

    invalid = _raw(daemon)
    invalid.sendall(b'{"jsonrpc": "2.0", "method": "ping", "params": {}\n')
    assert _answer(invalid)["error"]["code"] == ErrorCode.PARSE_ERROR
    invalid.sendall(b"[1, 2, 3]\n")
    assert _answer(invalid)["error"]["code"] == ErrorCode.PARSE_ERROR
    invalid.sendall(b'{"jsonrpc": "2.0", "method": 7, "id": 1}\n')
    assert _answer(invalid)["error"]["code"] == ErrorCode.INVALID_REQUEST
    invalid.sendall(b'{"jsonrpc": "2.0", "method": "no.such.method", "params": {}, "id": 2}\n')
    assert _answer(invalid)["error"]["code"] == ErrorCode.METHOD_NOT_FOUND
    invalid.sendall(b'{"jsonrpc": "2.0", "method": "status", "params": {"job": "seven"}, "id": 3}\n')
    answer = _answer(invalid)
    assert answer["error"]["code"] == ErrorCode.INVALID_PARAMS and "job" in answer["error"]["message"]

    oversized = _raw(daemon)
    try:
        oversized.sendall(
            b'{"jsonrpc": "2.0", "method": "ping", "params": {"x": "' + b"a" * (5 * 1024 * 1024) + b'"}}\n'
        )
    except OSError:
        pass  # the daemon may close before reading it all
    answer = _answer(oversized)
    assert answer["error"]["code"] == ErrorCode.INVALID_REQUEST and "exceeds" in answer["error"]["message"]
    try:
        assert oversized.recv(1) == b""  # and the connection is closed
    except ConnectionResetError:
        pass

    with daemon.client() as client:
        assert client.ping()["version"]
    for sock in [*idle, garbage, invalid, oversized]:
        sock.close()


def test_a_user_never_sees_or_touches_another_users_job(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory()
    folder = tmp_path / "private"
    make_fake_audio(folder, 3)
    alice = daemon.add_token_user("alice", roots=[str(folder)])
    bob = daemon.add_token_user("bob", roots=[str(tmp_path / "bob")])
    with daemon.client(token=alice) as client:
        job_id = client.submit(str(folder))["id"]
        wait_for_job(client, job_id)
    with daemon.client(token=bob) as client:
        for call in (
            lambda: client.job(job_id),
            lambda: client.files(job_id),
            lambda: client.control("cancel", job_id),
        ):
            with pytest.raises(RemoteError) as refused:
                call()
            assert refused.value.code == ErrorCode.NOT_FOUND
        assert client.jobs() == []
        with pytest.raises(RemoteError) as refused:
            client.jobs(all_users=True)
        assert refused.value.code == ErrorCode.FORBIDDEN
        with pytest.raises(RemoteError):
            client.create_token("bob-again")
        meters = client.meters()
        assert "private" not in json.dumps(meters)
        assert client.ping()


def test_as_user_is_for_admins_only_and_tokens_are_checked(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory()
    token = daemon.add_token_user("dave", roots=[str(tmp_path)])
    with pytest.raises(RemoteError) as refused:
        daemon.client(token=token, as_user="root")
    assert refused.value.code == ErrorCode.FORBIDDEN
    with pytest.raises(RemoteError) as refused:
        daemon.client(token="fst_not-a-real-token")
    assert refused.value.code == ErrorCode.UNAUTHORIZED
    with daemon.client(as_user="dave") as admin_as_dave:
        assert admin_as_dave.user == "dave"
    assert oct(daemon.socket.stat().st_mode & 0o777) == oct(0o660)
