"""Two users at once on a real daemon: both finish, and the workers are shared fairly throughout."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from tests.support.daemon import DaemonProcess, make_fake_audio, wait_for_job

WORKERS = 5


def test_two_users_with_1000_files_each_both_finish_and_share_evenly(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory(FAIRSCRIBE_WORKERS=str(WORKERS), FAIRSCRIBE_SIMULATED_SECONDS="0.02")
    folders = {name: tmp_path / name for name in ("alice", "bob")}
    tokens = {}
    for name, folder in folders.items():
        make_fake_audio(folder, 1000)
        tokens[name] = daemon.add_token_user(name, roots=[str(folder)])
    jobs: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def submit(name: str) -> None:
        with daemon.client(token=tokens[name]) as client:
            barrier.wait()
            jobs[name] = client.submit(str(folders[name]))["id"]

    threads = [threading.Thread(target=submit, args=(name,)) for name in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    both_queued_samples = 0
    handed_over = False
    with daemon.client() as admin:
        while True:
            meters = {row["user"]: row for row in admin.meters()["users"]}
            alice, bob = meters.get("alice"), meters.get("bob")
            if alice and bob and alice["queued"] > 0 and bob["queued"] > 0:
                # Both folders are scanned at once; whichever lands first takes the idle workers,
                # and slots change hands at file boundaries (no file is ever interrupted). From the
                # first moment both hold workers, the split must stay even.
                handed_over = handed_over or (alice["running"] > 0 and bob["running"] > 0)
                if handed_over:
                    both_queued_samples += 1
                    assert abs(alice["running"] - bob["running"]) <= 1, meters
                assert alice["running"] + bob["running"] <= WORKERS, meters
            if all(admin.job(job_id)["state"] in ("done", "failed", "cancelled") for job_id in jobs.values()):
                break
            time.sleep(0.05)
    assert both_queued_samples >= 20, "the two batches should have overlapped for most of the run"
    for name, job_id in jobs.items():
        with daemon.client(token=tokens[name]) as client:
            job = wait_for_job(client, job_id)
        assert (job["state"], job["done"], job["total"]) == ("done", 1000, 1000), job
        assert len(list((folders[name] / "transcripts").glob("*.txt"))) == 1000


def test_a_late_user_gets_a_worker_as_soon_as_one_frees(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory(FAIRSCRIBE_WORKERS=str(WORKERS), FAIRSCRIBE_SIMULATED_SECONDS="0.05")
    early, late = tmp_path / "early", tmp_path / "late"
    make_fake_audio(early, 1000)
    make_fake_audio(late, 3)
    early_token = daemon.add_token_user("early", roots=[str(early)])
    late_token = daemon.add_token_user("late", roots=[str(late)])
    with daemon.client(token=early_token) as client:
        early_job = client.submit(str(early))["id"]
        while client.job(early_job)["done"] < 100:  # the claim sizer has learnt that files are fast
            time.sleep(0.05)
    with daemon.client(token=late_token) as client:
        late_job = client.submit(str(late))["id"]
        wait_for_job(client, late_job)

    db = sqlite3.connect(daemon.home / "fairscribe.db")
    first_late_start = db.execute("SELECT min(started_at) FROM tasks WHERE job_id = ?", (late_job,)).fetchone()[0]
    submitted = db.execute("SELECT created_at FROM jobs WHERE id = ?", (late_job,)).fetchone()[0]
    early_done_meanwhile = db.execute(
        "SELECT count(*) FROM tasks WHERE job_id = ? AND finished_at > ? AND finished_at < ?",
        (early_job, submitted, first_late_start),
    ).fetchone()[0]
    # One file per worker may finish while the newcomer's folder is scanned and a worker frees;
    # claims of many fast files must not make the newcomer wait for whole batches.
    assert early_done_meanwhile <= 2 * WORKERS, (early_done_meanwhile, submitted, first_late_start)


def test_files_slower_than_the_estimate_are_spread_over_idle_workers(tmp_path: Path, daemon_factory) -> None:
    daemon: DaemonProcess = daemon_factory(FAIRSCRIBE_WORKERS="4", FAIRSCRIBE_SIMULATED_SECONDS="0")
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    make_fake_audio(fast, 300)
    make_fake_audio(slow, 20, directive=b"sim:seconds=0.4")
    with daemon.client() as client:
        wait_for_job(client, client.submit(str(fast))["id"])  # the estimate now says: files take no time
        job_id = client.submit(str(slow))["id"]
        most_busy = 0
        while client.job(job_id)["state"] == "active":
            pools = {p["name"]: p for p in client.meters()["pools"]}
            most_busy = max(most_busy, pools["local"]["running"])
            time.sleep(0.05)
    # One claim took many of the slow files on the old estimate; it must hand them back to the idle
    # workers instead of running them one after another.
    assert most_busy >= 3
