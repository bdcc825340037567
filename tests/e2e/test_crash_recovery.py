"""kill -9 of the daemon mid-batch, then a restart: every file accounted for, none run twice."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.support.daemon import DaemonProcess, make_fake_audio, wait_for_job


def test_kill_9_mid_batch_then_restart_finishes_every_file_without_redoing_any(tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    make_fake_audio(folder, 300)
    daemon = DaemonProcess(tmp_path / "home", env={"FAIRSCRIBE_WORKERS": "5", "FAIRSCRIBE_SIMULATED_SECONDS": "0.05"})
    daemon.start()
    try:
        with daemon.client() as client:
            job_id = client.submit(str(folder))["id"]
            while True:
                job = client.job(job_id)
                if job["done"] >= 60 and job["running"] > 0:
                    break
                time.sleep(0.02)
        daemon.kill9()
        out = folder / "transcripts"
        db = sqlite3.connect(daemon.home / "fairscribe.db")
        done_at_kill = [row[0] for row in db.execute("SELECT path FROM tasks WHERE state = 'done'")]
        db.close()
        finished_before = {
            name: (out / name).stat().st_mtime_ns for name in (Path(p).with_suffix(".json").name for p in done_at_kill)
        }
        assert 60 <= len(finished_before) < 300

        daemon.start()
        with daemon.client() as client:
            job = wait_for_job(client, job_id, timeout=180)
            _, files = client.files(job_id)
        assert job["done"] + job["failed"] + job["cancelled"] == job["total"] == 300, job
        assert job["state"] == "done", job
        assert all(f["state"] == "done" for f in files)
        # A file recorded done before the crash is never transcribed again.
        rewritten = [name for name, mtime in finished_before.items() if (out / name).stat().st_mtime_ns != mtime]
        assert rewritten == []
        assert len(list(out.glob("*.json"))) == 300
        assert "re-queued" in daemon.log()
    finally:
        daemon.stop()
