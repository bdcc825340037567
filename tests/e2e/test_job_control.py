"""A user's own queue: pause, resume, cancel, retry, reorder, skip what is already transcribed,
and events that a reconnecting client can replay."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.daemon import WAV_HEADER, DaemonProcess, make_fake_audio, wait_for_job


def test_pause_resume_cancel_and_every_file_accounted_for(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory(FAIRSCRIBE_WORKERS="2", FAIRSCRIBE_SIMULATED_SECONDS="0.05")
    folder = tmp_path / "audio"
    make_fake_audio(folder, 200)
    with daemon.client() as client:
        job_id = client.submit(str(folder))["id"]
        while client.job(job_id)["done"] < 10:
            time.sleep(0.02)
        assert client.control("pause", job_id)["state"] == "paused"
        time.sleep(0.5)  # running files finish; nothing new starts
        paused = client.job(job_id)
        assert paused["running"] == 0
        time.sleep(0.5)
        assert client.job(job_id)["done"] == paused["done"]
        assert client.control("resume", job_id)["state"] == "active"
        while client.job(job_id)["done"] < paused["done"] + 10:
            time.sleep(0.02)
        client.control("cancel", job_id)
        job = wait_for_job(client, job_id)
    assert job["state"] == "cancelled"
    assert job["cancelled"] > 0 and job["done"] + job["failed"] + job["cancelled"] == job["total"] == 200


def test_retry_requeues_failed_files_with_one_action(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory()
    folder = tmp_path / "audio"
    make_fake_audio(folder, 5)
    flaky = folder / "flaky.wav"
    flaky.write_bytes(WAV_HEADER + b"sim:raise")
    with daemon.client() as client:
        job = wait_for_job(client, client.submit(str(folder))["id"])
        assert (job["state"], job["failed"]) == ("failed", 1)
        flaky.write_bytes(WAV_HEADER)  # the user fixes the file
        client.control("retry", job["id"])
        job = wait_for_job(client, job["id"])
    assert (job["state"], job["done"], job["failed"]) == ("done", 6, 0)


def test_resubmitting_a_folder_skips_what_is_transcribed_unless_forced(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory()
    folder = tmp_path / "audio"
    make_fake_audio(folder, 10)
    with daemon.client() as client:
        wait_for_job(client, client.submit(str(folder))["id"])
        make_fake_audio(folder, 12)  # two new recordings arrive
        again = wait_for_job(client, client.submit(str(folder))["id"])
        assert (again["total"], again["skipped"], again["done"]) == (2, 10, 2)
        forced = wait_for_job(client, client.submit(str(folder), force=True)["id"])
        assert (forced["total"], forced["skipped"], forced["done"]) == (12, 0, 12)


def test_move_to_top_runs_that_job_first(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory(FAIRSCRIBE_WORKERS="1", FAIRSCRIBE_SIMULATED_SECONDS="0.05")
    first, second = tmp_path / "first", tmp_path / "second"
    make_fake_audio(first, 40)
    make_fake_audio(second, 5)
    with daemon.client() as client:
        a = client.submit(str(first))["id"]
        b = client.submit(str(second))["id"]
        client.move(b, "top")
        wait_for_job(client, b)
        assert client.job(a)["state"] == "active"
        wait_for_job(client, a)


def test_events_replay_from_a_cursor_after_reconnecting(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory()
    folder = tmp_path / "audio"
    make_fake_audio(folder, 3)
    with daemon.client() as client:
        cursor = client.subscribe()["cursor"]
    with daemon.client() as client:  # meanwhile, disconnected
        job_id = wait_for_job(client, client.submit(str(folder))["id"])["id"]
    with daemon.client() as client:
        replay = client.subscribe(since=cursor)
    kinds = [(e["kind"], e["job"]) for e in replay["events"]]
    assert ("job.submitted", job_id) in kinds and ("job.finished", job_id) in kinds
    ids = [e["id"] for e in replay["events"]]
    assert ids == sorted(ids) and all(i > cursor for i in ids)
    assert replay["refetch"] is False


def test_pushes_arrive_for_a_subscriber(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory()
    folder = tmp_path / "audio"
    make_fake_audio(folder, 3)
    with daemon.client() as watcher, daemon.client() as submitter:
        watcher.call("subscribe", {"meters": True})
        job_id = submitter.submit(str(folder))["id"]
        seen: list[dict] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(e["kind"] == "job.finished" for e in seen):
            seen.extend(watcher.next_events(timeout=1.0))
    assert any(e["kind"] == "job.finished" and e["job"] == job_id for e in seen)
