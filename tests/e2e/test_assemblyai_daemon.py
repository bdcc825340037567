"""Real daemons on the AssemblyAI engine against the fake AssemblyAI service on loopback.

Every test ends by searching what it saw — the daemon's log, every protocol answer its clients got
(`status --json` included) — for the keys it used: no key may appear anywhere.

The daemon polls every `ASSEMBLYAI_POLL_SECONDS` (0.05 s here; 1 s by default) because the fake
service takes 0.05–1.5 s per transcript, and the two-users test raises the account's request limit
(`ASSEMBLYAI_RATE_LIMIT`, on the daemon and the service alike) so that 2,000 files fit in about a
minute: at AssemblyAI's real 20,000 requests per 5 minutes the engine paces itself to ~33 requests
a second, about 10 files a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fairscribe.shared.errors import RemoteError
from fairscribe.shared.protocol import ErrorCode
from tests.support.assemblyai_fixtures import (
    Answers,
    MeterSamples,
    assert_no_secret,
    closed_port_url,
    daemon_env,
    recording_client,
    run_users_at_once,
)
from tests.support.assemblyai_server import (
    AUTH_ERROR,
    AccountConfig,
    AssemblyAIServer,
    Faults,
    ServerConfig,
    text_for,
)
from tests.support.audio_files import noise_wavs
from tests.support.daemon import DaemonProcess, wait_for_job

SHARED_KEY = "aai-shared-7f3e9c2b5d1a4e8f6a0b"
OWN_KEY = "aai-carol-own-0b6d2e9f4c7a13585e"
WRONG_KEY = "aai-wrong-9e1f5a3c7b2d40681c2e"
ALL_KEYS = (SHARED_KEY, OWN_KEY, WRONG_KEY)
FAST_LIMIT = 200_000  # requests per 5 minutes, on both sides


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_outputs_match(folder: Path, files: list[Path]) -> None:
    """Every file has its own transcript (the fake service's text is derived from the bytes)."""
    out = folder / "transcripts"
    for path in files:
        text = (out / path.with_suffix(".txt").name).read_text()
        assert text.strip() == text_for(digest(path)), path
        for suffix in (".srt", ".vtt", ".json"):
            assert (out / path.with_suffix(suffix).name).stat().st_size > 0


def contended(meters: MeterSamples, users: list[str], even: list[str]) -> list[dict[str, dict[str, Any]]]:
    """The meters' per-user rows while every one of `users` had files waiting, from the first
    moment the `even` users (those sharing one pool) all ran with at most one worker between
    them. Before that, the first folder scanned takes the whole pool, and a newcomer gets its
    workers as the first user's files end, one file boundary at a time."""
    rows, settled = [], False
    for sample in meters.samples:
        by_user = meters.users(sample)
        if not all(by_user.get(u, {}).get("queued", 0) > 0 for u in users):
            continue
        running = [by_user[u]["running"] for u in even]
        settled = settled or (min(running) > 0 and max(running) - min(running) <= 1)
        if settled:
            rows.append(by_user)
    return rows


def cli_json(daemon: DaemonProcess, token: str, *args: str) -> str:
    """`fairscribe ARGS --json` as the token's user; its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAIRSCRIBE_", "ASSEMBLYAI_"))}
    env.update({"FAIRSCRIBE_SOCKET": str(daemon.socket), "FAIRSCRIBE_TOKEN": token})
    done = subprocess.run(
        [sys.executable, "-m", "fairscribe.shared.cli", *args, "--json"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)
    return done.stdout + done.stderr


def test_two_users_1000_files_each_with_429s_and_500s(tmp_path: Path) -> None:
    """Two users × 1,000 files at once, 3 % 429s and 1 % 500s: both end 1000/1000 done, every
    file content has exactly one transcript, and the account never has more than
    ASSEMBLYAI_MAX_WORKERS transcripts in flight. 1,000 per user fits: about 65 s on a 2-core
    machine (80 s with the coverage the test run now measures)."""
    files_per_user, workers = 1000, 10
    folders = {u: tmp_path / u for u in ("alice", "bob")}
    files = {u: noise_wavs(f, files_per_user, seconds=0.2, seed=u) for u, f in folders.items()}
    account = AccountConfig("shared", (SHARED_KEY,), concurrency=workers, requests_per_window=FAST_LIMIT)
    config = ServerConfig(
        accounts=(account,), processing_seconds=0.05, faults=Faults(p429=0.03, p500=0.01, retry_after=0.05)
    )
    answers, meters = Answers(), MeterSamples()
    with AssemblyAIServer(config) as server:
        env = daemon_env(server, SHARED_KEY, workers, ASSEMBLYAI_RATE_LIMIT=str(FAST_LIMIT))
        daemon = DaemonProcess(tmp_path / "home", env=env).start()
        try:
            runs = run_users_at_once(daemon, folders, answers, meters=meters, timeout=240)
            stats = server.stats()
            cli_outputs = [
                cli_json(daemon, runs["alice"].token, "status"),
                cli_json(daemon, runs["bob"].token, "status", str(runs["bob"].job_id), "--files"),
            ]
            with recording_client(daemon, answers, token=runs["alice"].token) as alice:
                alice.files(runs["alice"].job_id)
                alice.jobs()
        finally:
            daemon.stop()

    for user, run in runs.items():
        job = run.job
        assert (job["state"], job["done"], job["total"]) == ("done", files_per_user, files_per_user), job
        assert_outputs_match(folders[user], files[user])
    # The faults really happened, and were absorbed.
    assert stats.sent_429 >= 50 and stats.replies_by_status.get(500, 0) >= 10, stats.replies_by_status
    # Exactly one transcript per file content: nothing paid twice, nothing skipped.
    every = {digest(p) for paths in files.values() for p in paths}
    assert stats.transcripts_by_digest == dict.fromkeys(every, 1)
    assert stats.max_in_flight["shared"] <= workers, stats.max_in_flight
    # The daemon's own view agrees, and the two users shared the pool.
    for sample in meters.samples:
        pool = meters.pools(sample)["assemblyai"]
        assert pool["capacity"] == workers and pool["running"] <= workers, sample
    both_queued = contended(meters, list(folders), list(folders))
    assert len(both_queued) >= 20
    for users in both_queued:
        assert abs(users["alice"]["running"] - users["bob"]["running"]) <= 1, users
    times = sorted(run.seconds for run in runs.values())
    assert times[0] >= 0.8 * times[1], times  # neither finished long before the other
    assert_no_secret([daemon.log(), *answers.texts, *cli_outputs], ALL_KEYS)


def _db_tasks(daemon: DaemonProcess) -> dict[str, tuple[str, str | None, str | None]]:
    db = sqlite3.connect(daemon.home / "fairscribe.db")
    try:
        rows = db.execute("SELECT path, state, remote_intent, remote_id FROM tasks").fetchall()
    finally:
        db.close()
    return {path: (state, intent, remote_id) for path, state, intent, remote_id in rows}


def _upload_url(intent: str) -> str:
    return intent.partition("#")[0]


def test_kill_9_with_transcripts_in_flight_pays_for_none_twice(tmp_path: Path) -> None:
    """kill -9 while transcripts are in flight — some with their id stored, some created by the
    service while the daemon still waited for the reply (creates answer 0.5 s late, and a
    transcript takes 1.5 s) — then restart: every file ends done, stored ids are polled again,
    unstored ones are found through the list, and no content gets a second transcript."""
    count, workers = 30, 5
    folder = tmp_path / "audio"
    paths = noise_wavs(folder, count, seconds=0.2)
    slow_create = Faults(
        p_slow=1.0, slow_seconds=0.5, applies_to=lambda method, path: (method, path) == ("POST", "/v2/transcript")
    )
    config = ServerConfig(
        accounts=(AccountConfig("shared", (SHARED_KEY,), concurrency=workers),),
        processing_seconds=1.5,
        faults=slow_create,
    )
    answers = Answers()
    with AssemblyAIServer(config) as server:
        daemon = DaemonProcess(tmp_path / "home", env=daemon_env(server, SHARED_KEY, workers)).start()
        try:
            with recording_client(daemon, answers) as client:
                job_id = client.submit(str(folder))["id"]
                deadline = time.monotonic() + 30
                while True:
                    assert time.monotonic() < deadline, "never saw both kinds of in-flight transcript"
                    now = time.monotonic()
                    in_flight = {
                        t.id for t in server.transcripts("shared") if t.status(now) in ("queued", "processing")
                    }
                    tasks = _db_tasks(daemon)
                    stored = {rid for _, _, rid in tasks.values() if rid}
                    done = sum(state == "done" for state, _, _ in tasks.values())
                    if done >= 10 and in_flight & stored and in_flight - stored:
                        break
                    time.sleep(0.02)
            daemon.kill9()
            at_kill = _db_tasks(daemon)
            made = {t.id: t.upload.url for t in server.transcripts("shared")}
            uploads_at_kill = server.stats().uploads_by_digest
            stored = {rid for _, _, rid in at_kill.values() if rid}
            had_id = {p: rid for p, (state, _, rid) in at_kill.items() if rid and state != "done"}
            unstored = {tid: url for tid, url in made.items() if tid not in stored}
            assert had_id, "some unfinished file should have had its transcript id stored"
            assert unstored, "the kill should fall between a create and the storing of its id"

            daemon.start()
            with recording_client(daemon, answers) as client:
                job = wait_for_job(client, job_id, timeout=120)
                client.files(job_id)
                client.jobs()
            after = _db_tasks(daemon)
            stats = server.stats()
        finally:
            daemon.stop()

    assert (job["state"], job["done"], job["total"]) == ("done", count, count), job
    assert_outputs_match(folder, paths)
    assert stats.transcripts_by_digest == {digest(p): 1 for p in paths}
    # A stored id is resumed as it is; an unstored one is found by its upload URL.
    for path, rid in had_id.items():
        assert after[path][2] == rid, path
    by_url = {_upload_url(intent): rid for _, intent, rid in after.values() if intent}
    for tid, url in unstored.items():
        assert by_url[url] == tid
    # Whatever had got as far as an intent (an upload URL) was not uploaded again.
    for path in paths:
        if at_kill[path.name][1]:
            assert stats.uploads_by_digest[digest(path)] == uploads_at_kill[digest(path)] == 1
    log = daemon.log()
    assert "resuming AssemblyAI transcript" in log and "made before a restart" in log
    assert_no_secret([log, *answers.texts], ALL_KEYS)


def test_own_key_user_beside_two_shared_pool_users(tmp_path: Path) -> None:
    """carol has her own key (her own account, capacity 3) while alice and bob use the shared
    account (capacity 4): the shared pool's 4 go to alice and bob, carol's transcripts all go to
    her account, and neither account ever has more in flight than its capacity."""
    shared_cap, own_cap, per_user = 4, 3, 80
    folders = {u: tmp_path / u for u in ("alice", "bob", "carol")}
    files = {u: noise_wavs(f, per_user, seconds=0.2, seed=u) for u, f in folders.items()}
    config = ServerConfig(
        accounts=(
            AccountConfig("shared", (SHARED_KEY,), concurrency=shared_cap),
            AccountConfig("carol", (OWN_KEY,), concurrency=own_cap),
        ),
        processing_seconds=0.15,
        faults=Faults(p429=0.02, p500=0.01, retry_after=0.05),
    )
    answers, meters = Answers(), MeterSamples()
    with AssemblyAIServer(config) as server:
        daemon = DaemonProcess(tmp_path / "home", env=daemon_env(server, SHARED_KEY, shared_cap)).start()
        try:
            runs = run_users_at_once(
                daemon, folders, answers, own_keys={"carol": (OWN_KEY, own_cap)}, meters=meters, poll=0.05, timeout=120
            )
            stats = server.stats()
            carol_made = {t.upload.digest for t in server.transcripts("carol")}
            shared_made = {t.upload.digest for t in server.transcripts("shared")}
        finally:
            daemon.stop()

    for user, run in runs.items():
        assert (run.job["state"], run.job["done"]) == ("done", per_user), run.job
        assert_outputs_match(folders[user], files[user])
    assert carol_made == {digest(p) for p in files["carol"]}
    assert shared_made == {digest(p) for u in ("alice", "bob") for p in files[u]}
    assert stats.transcripts_created == {"shared": 2 * per_user, "carol": per_user}
    assert stats.max_in_flight["shared"] <= shared_cap and stats.max_in_flight["carol"] <= own_cap

    for sample in meters.samples:
        pools = meters.pools(sample)
        for name, own_pool in pools.items():  # once the dispatcher has seen carol's key
            if name.startswith("assemblyai:key:"):
                assert own_pool["capacity"] == own_cap and own_pool["running"] <= own_cap, sample
        assert pools["assemblyai"]["running"] <= shared_cap, sample
    all_busy = contended(meters, list(folders), ["alice", "bob"])
    assert len(all_busy) >= 10
    shared_full = carol_full = 0
    for users in all_busy:
        alice, bob, carol = (users[u]["running"] for u in ("alice", "bob", "carol"))
        assert alice + bob <= shared_cap and carol <= own_cap, users
        assert abs(alice - bob) <= 1, users  # the shared pool is split between alice and bob
        shared_full += alice + bob == shared_cap
        carol_full += carol == own_cap
    # carol never took a shared slot: the whole shared capacity went to the other two, while
    # carol used her whole key's (a pool's slot is briefly free between two files).
    assert shared_full >= len(all_busy) // 2, (shared_full, len(all_busy))
    assert carol_full >= len(all_busy) // 2, (carol_full, len(all_busy))
    assert "own_key" in " ".join(answers.texts)  # the answer says a key is set, not which
    assert_no_secret([daemon.log(), *answers.texts], ALL_KEYS)


def test_wrong_shared_key_is_refused_at_submit(tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    noise_wavs(folder, 5, seconds=0.2)
    answers = Answers()
    with AssemblyAIServer(ServerConfig(accounts=(AccountConfig("shared", (SHARED_KEY,)),))) as server:
        daemon = DaemonProcess(tmp_path / "home", env=daemon_env(server, WRONG_KEY, 5)).start()
        try:
            with recording_client(daemon, answers) as client:
                started = time.monotonic()
                with pytest.raises(RemoteError) as refused:
                    client.submit(str(folder))
                assert time.monotonic() - started < 5
                assert client.jobs() == []  # no job, so no pile of identical failures either
        finally:
            daemon.stop()
        stats = server.stats()
    assert refused.value.code == ErrorCode.ENGINE_UNAVAILABLE
    message = refused.value.message
    assert "AssemblyAI rejected the API key (401" in message and "ASSEMBLYAI_API_KEY" in message
    assert AUTH_ERROR in message
    assert stats.uploads_by_digest == {} and stats.transcripts_created == {"shared": 0}
    assert_no_secret([daemon.log(), *answers.texts], ALL_KEYS)


def test_unreachable_service_is_refused_at_submit(tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    noise_wavs(folder, 5, seconds=0.2)
    url, answers = closed_port_url(), Answers()
    daemon = DaemonProcess(tmp_path / "home", env=daemon_env(url, SHARED_KEY, 5)).start()
    try:
        with recording_client(daemon, answers) as client:
            started = time.monotonic()
            with pytest.raises(RemoteError) as refused:
                client.submit(str(folder))
            assert time.monotonic() - started < 10
            assert client.jobs() == []
    finally:
        daemon.stop()
    assert refused.value.code == ErrorCode.ENGINE_UNAVAILABLE
    assert f"cannot reach AssemblyAI at {url}" in refused.value.message
    assert_no_secret([daemon.log(), *answers.texts], ALL_KEYS)


def test_rejected_speech_model_and_transcript_error_fail_their_files(tmp_path: Path) -> None:
    """The service validates `speech_models`: a job naming a model it does not know fails each
    file with AssemblyAI's message. A transcript that ends in `error` fails its file with the
    service's reason while the rest of the job is transcribed."""
    models_folder, mixed = tmp_path / "models", tmp_path / "mixed"
    model_files = noise_wavs(models_folder, 4, seconds=0.2, seed="models")
    mixed_files = noise_wavs(mixed, 8, seconds=0.2, seed="mixed")
    broken = mixed_files[3]
    reason = "Transcoding failed. File does not appear to contain audio."
    bad_bytes = broken.read_bytes()
    config = ServerConfig(
        accounts=(AccountConfig("shared", (SHARED_KEY,)),),
        processing_seconds=0.05,
        faults=Faults(error_for=lambda data: reason if data == bad_bytes else None),
    )
    answers = Answers()
    with AssemblyAIServer(config) as server:
        daemon = DaemonProcess(tmp_path / "home", env=daemon_env(server, SHARED_KEY, 5)).start()
        try:
            with recording_client(daemon, answers) as client:
                bad_model = client.submit(str(models_folder), options={"speech_models": ["no-such-model"]})["id"]
                mixed_job = client.submit(str(mixed))["id"]
                model_job = wait_for_job(client, bad_model, timeout=60)
                _, model_results = client.files(bad_model)
                job = wait_for_job(client, mixed_job, timeout=60)
                _, mixed_results = client.files(mixed_job)
                client.jobs()
        finally:
            daemon.stop()
        stats = server.stats()

    assert (model_job["state"], model_job["failed"]) == ("failed", len(model_files)), model_job
    for entry in model_results:
        assert entry["state"] == "failed"
        assert "Invalid speech_models: no-such-model" in entry["error"], entry
        assert entry["path"] in entry["error"]  # the reason names the file
    assert not any(digest(p) in stats.transcripts_by_digest for p in model_files)

    assert (job["done"], job["failed"], job["total"]) == (7, 1, 8), job
    by_path = {entry["path"]: entry for entry in mixed_results}
    assert by_path[broken.name]["state"] == "failed"
    assert reason in by_path[broken.name]["error"] and broken.name in by_path[broken.name]["error"]
    assert_outputs_match(mixed, [p for p in mixed_files if p != broken])
    assert stats.transcripts_by_digest[digest(broken)] == 1  # failed once, not retried for pay
    assert_no_secret([daemon.log(), *answers.texts], ALL_KEYS)
