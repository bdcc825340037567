"""Bad folders are refused at submit with the reason; bad files fail alone; a huge folder does not
make the daemon unresponsive."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from fairscribe.shared.errors import RemoteError
from fairscribe.shared.protocol import ErrorCode
from tests.support.daemon import WAV_HEADER, DaemonProcess, make_fake_audio, wait_for_job


@pytest.fixture
def daemon(daemon_factory) -> DaemonProcess:
    return daemon_factory(FAIRSCRIBE_WORKERS="3", FAIRSCRIBE_SIMULATED_SECONDS="0.01", FAIRSCRIBE_TASK_TIMEOUT="1")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "a-file.wav").write_bytes(WAV_HEADER) and p / "a-file.wav", "is not a folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "has no files"),
    ],
    ids=["missing", "not-a-folder", "empty"],
)
def test_unusable_folders_are_refused_at_submit_naming_the_folder(
    tmp_path: Path, daemon: DaemonProcess, make, expected
) -> None:
    target = make(tmp_path)
    with daemon.client() as client, pytest.raises(RemoteError) as refused:
        client.submit(str(target))
    assert refused.value.code == ErrorCode.BAD_INPUT
    assert expected in refused.value.message and str(target) in refused.value.message
    with daemon.client() as client:
        assert client.jobs() == []


def test_a_token_user_cannot_submit_outside_their_roots(tmp_path: Path, daemon: DaemonProcess) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    make_fake_audio(mine, 1)
    make_fake_audio(theirs, 1)
    token = daemon.add_token_user("carol", roots=[str(mine)])
    with daemon.client(token=token) as client, pytest.raises(RemoteError) as refused:
        client.submit(str(theirs))
    assert "outside the folders" in refused.value.message and str(theirs) in refused.value.message


def test_bad_files_fail_alone_with_a_reason_and_the_job_goes_on(tmp_path: Path, daemon: DaemonProcess) -> None:
    folder = tmp_path / "mixed"
    make_fake_audio(folder, 20)
    (folder / "notes.txt").write_text("not audio at all\n")
    (folder / "empty.wav").write_bytes(b"")
    (folder / "random.mp3").write_bytes(os.urandom(4096))
    (folder / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    (folder / "broken.wav").write_bytes(WAV_HEADER + b"sim:raise")
    (folder / "stuck.wav").write_bytes(WAV_HEADER + b"sim:hang")
    (folder / "transcripts").mkdir()
    (folder / "transcripts" / "unwritable.txt").mkdir()  # the transcript's own path is taken by a folder
    (folder / "unwritable.wav").write_bytes(WAV_HEADER)
    with daemon.client() as client:
        job = wait_for_job(client, client.submit(str(folder))["id"])
        _, files = client.files(job["id"])
        by_name = {f["path"]: f for f in files}
        assert job["state"] == "failed" and job["done"] == 20 and job["failed"] == 7, job
        reasons = {name: by_name[name]["error"] for name in by_name if by_name[name]["state"] == "failed"}
        assert "not an audio or video file" in reasons["notes.txt"]
        assert "empty" in reasons["empty.wav"]
        assert "not an audio or video file" in reasons["random.mp3"]
        assert "dangling.wav" in reasons["dangling.wav"]
        assert "told to fail" in reasons["broken.wav"]
        assert "did not finish within 1 s" in reasons["stuck.wav"]
        assert "cannot write the transcript" in reasons["unwritable.wav"]
        for name, reason in reasons.items():
            assert Path(name).name in reason or name in ("unwritable.wav",), (name, reason)

        # Every slot came back: a fresh batch runs on all three workers again.
        again = tmp_path / "again"
        make_fake_audio(again, 30, directive=b"sim:seconds=0.3")
        second = client.submit(str(again))["id"]
        most_running = 0
        while client.job(second)["state"] not in ("done", "failed"):
            pools = {p["name"]: p for p in client.meters()["pools"]}
            most_running = max(most_running, pools["local"]["running"])
            time.sleep(0.05)
        assert most_running == 3
        assert client.job(second)["done"] == 30


def test_a_100000_entry_folder_is_scanned_while_others_are_served(tmp_path: Path, daemon: DaemonProcess) -> None:
    folder = tmp_path / "huge"
    folder.mkdir()
    payload = WAV_HEADER + b"sim:seconds=5"
    for index in range(100_000):
        with open(folder / f"{index:06d}.wav", "wb") as handle:
            handle.write(payload)
    answered: list[float] = []
    with daemon.client() as client:
        job_id = client.submit(str(folder))["id"]
        scanning_seen = False

        def ping_meanwhile() -> None:
            with daemon.client(timeout=10) as other:
                for _ in range(20):
                    started = time.monotonic()
                    other.ping()
                    answered.append(time.monotonic() - started)
                    time.sleep(0.05)

        pinger = threading.Thread(target=ping_meanwhile)
        pinger.start()
        while client.job(job_id)["scanning"]:
            scanning_seen = True
            time.sleep(0.2)
        pinger.join()
        job = client.job(job_id)
        assert job["total"] == 100_000
        client.control("cancel", job_id)
        job = wait_for_job(client, job_id)
    assert scanning_seen and len(answered) == 20
    assert job["state"] == "cancelled" and job["done"] + job["failed"] + job["cancelled"] == 100_000
