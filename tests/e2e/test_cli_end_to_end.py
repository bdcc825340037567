"""The `fairscribe` command against a real daemon, as a person or a script runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.daemon import WAV_HEADER, DaemonProcess, make_fake_audio


def _cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FAIRSCRIBE_")}
    environment.update({"FAIRSCRIBE_HOME": str(home), "FAIRSCRIBE_ENGINE": "simulated", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "fairscribe.shared.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_submit_wait_status_and_exit_codes(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory()
    good, mixed = tmp_path / "good", tmp_path / "mixed"
    make_fake_audio(good, 12)
    make_fake_audio(mixed, 3)
    (mixed / "bad.wav").write_bytes(WAV_HEADER + b"sim:raise")

    done = _cli(daemon.home, "submit", str(good), "--wait")
    assert done.returncode == 0, done.stderr
    assert "12 done, 0 failed, 0 cancelled of 12" in done.stdout
    assert f"transcripts: {good / 'transcripts'}" in done.stdout

    failed = _cli(daemon.home, "submit", str(mixed), "--wait", "--json")
    assert failed.returncode == 1
    answer = json.loads(failed.stdout)
    assert answer["job"]["failed"] == 1 and answer["failed_files"][0]["path"] == "bad.wav"

    status = json.loads(_cli(daemon.home, "status", "--json").stdout)
    assert [(j["state"], j["total"]) for j in status["jobs"]] == [("done", 12), ("failed", 4)]
    files = _cli(daemon.home, "status", str(answer["job"]["id"]), "--files")
    assert "bad.wav" in files.stdout and "told to fail" in files.stdout

    refused = _cli(daemon.home, "submit", str(tmp_path / "nowhere"))
    assert refused.returncode == 2 and str(tmp_path / "nowhere") in refused.stderr


def test_no_daemon_gives_a_hint_and_exit_3(tmp_path: Path) -> None:
    result = _cli(tmp_path / "empty-home", "status")
    assert result.returncode == 3
    assert "fairscribed" in result.stderr


def test_submit_starts_a_local_daemon_when_none_answers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = tmp_path / "audio"
    make_fake_audio(folder, 4)
    try:
        result = _cli(home, "submit", str(folder), "--wait")
        assert result.returncode == 0, result.stderr
        assert "started a local fairscribed" in result.stderr
        assert "4 done" in result.stdout
    finally:
        _stop_daemons_of(home)


def _stop_daemons_of(home: Path) -> None:
    """The started daemon is detached from us; find it by its FAIRSCRIBE_HOME and stop it."""
    import psutil

    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            if (process.info["environ"] or {}).get("FAIRSCRIBE_HOME") == str(home):
                process.terminate()
                process.wait(10)
        except (psutil.Error, OSError):
            continue
