"""The AssemblyAI engine against the fake service: outputs, resumes, retries, keys, limits."""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from fairscribe.daemon.engines.assemblyai import AssemblyAIEngine
from fairscribe.daemon.engines.base import (
    EngineRequest,
    PoolSpec,
    RemoteState,
    Transcript,
)
from fairscribe.shared.errors import (
    ConfigError,
    EngineRejected,
    EngineUnavailable,
    FileRejected,
    TransientError,
)
from tests.support.assemblyai_server import (
    AccountConfig,
    AssemblyAIServer,
    Faults,
    ServerConfig,
    text_for,
)
from tests.support.audio_files import long_silent_wav, noise_wavs

KEY = "test-key"
WRONG_KEY = "sk-wrong-0123456789abcdef"
BIG_ACCOUNT = AccountConfig("default", (KEY,), concurrency=200)
_task_ids = itertools.count(1)


@pytest.fixture
def server() -> Iterator[AssemblyAIServer]:
    config = ServerConfig(accounts=(BIG_ACCOUNT,), processing_seconds=0.1)
    with AssemblyAIServer(config) as running:
        yield running


def engine_for(server: AssemblyAIServer, **overrides: Any) -> AssemblyAIEngine:
    """Fast polls and backoff, and a budget far above what a test sends."""
    settings: dict[str, Any] = {
        "api_key": KEY,
        "base_url": server.base_url,
        "capacity": 5,
        "requests_per_window": 100_000,
        "window_seconds": 60.0,
        "poll_initial": 0.05,
        "poll_max": 0.2,
        "backoff_base": 0.02,
        "backoff_cap": 0.2,
        "list_page_size": 3,
        **overrides,
    }
    return AssemblyAIEngine(**settings)


class Remote:
    """The daemon's side of `remember`: what it has stored for one task."""

    def __init__(self, crash_on: str | None = None) -> None:
        self.states: list[RemoteState] = []
        self.crash_on = crash_on  # "intent" or "remote_id": die right after storing that

    def remember(self, state: RemoteState) -> None:
        self.states.append(state)  # stored: what a crash can no longer take back
        stage = "remote_id" if state.remote_id else "intent"
        if stage == self.crash_on:
            self.crash_on = None
            raise SystemExit(f"simulated crash after storing the {stage}")

    @property
    def last(self) -> RemoteState:
        return self.states[-1] if self.states else RemoteState()


def request(path: Path, store: Remote | None = None, **fields: Any) -> EngineRequest:
    """A task of alice's whose `remember` goes to `store`, resuming `remote=` if given."""
    store = store or Remote()
    fields.setdefault("remote", store.last)
    return EngineRequest(
        path=path,
        user="alice",
        job_id=7,
        task_id=next(_task_ids),
        remember=store.remember,
        **fields,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_matches(result: Transcript, path: Path) -> None:
    assert result.text == text_for(digest(path))
    assert result.engine == "assemblyai"


def test_happy_path_outputs_match_their_files(server: AssemblyAIServer, tmp_path: Path) -> None:
    engine = engine_for(server)
    for path in noise_wavs(tmp_path, 3, seconds=1.0):
        remote, progress = Remote(), list[float]()
        result = engine.transcribe(request(path, remote, language="en", report_progress=progress.append))
        assert_matches(result, path)
        assert [w.text for w in result.words] == result.text.split()
        assert result.words[0].start_ms == 0 and 0 < result.words[-1].end_ms <= 1000
        assert result.audio_seconds == 1.0 and result.language == "en"
        assert progress[0] == 0.1 and progress[-1] == 1.0 and progress == sorted(progress)
        intent, created = remote.states  # the intent is stored before the transcript exists
        assert intent.remote_id is None and intent.intent
        assert created.intent == intent.intent and created.remote_id
    stats = server.stats()
    assert set(stats.transcripts_by_digest.values()) == {1}
    assert set(stats.uploads_by_digest.values()) == {1}


def test_options_reach_the_service(server: AssemblyAIServer, tmp_path: Path) -> None:
    [path] = noise_wavs(tmp_path, 1)
    options = {"speech_models": ["universal-2"], "punctuate": False, "speaker_labels": True}
    result = engine_for(server).transcribe(request(path, language="de", options=options))
    [made] = server.transcripts("default")
    assert made.config == {
        "language_code": "de",
        "speech_models": ["universal-2"],
        "punctuate": False,
        "speaker_labels": True,
    }
    assert {w.speaker for w in result.words} == {"A"}


def test_resume_by_remote_id_creates_nothing_new(server: AssemblyAIServer, tmp_path: Path) -> None:
    [path] = noise_wavs(tmp_path, 1)
    engine, remote = engine_for(server), Remote()
    first = engine.transcribe(request(path, remote))
    again = engine.transcribe(request(path, Remote(), remote=remote.last))
    assert again == first
    assert server.stats().transcripts_by_digest == {digest(path): 1}
    assert server.stats().uploads_by_digest == {digest(path): 1}


def test_crash_after_create_resumes_through_the_list(server: AssemblyAIServer, tmp_path: Path) -> None:
    """The daemon dies after AssemblyAI created the transcript but before its id was stored;
    other transcripts are created meanwhile, so the search must page back to find it."""
    engine = engine_for(server)
    paths = noise_wavs(tmp_path, 8)
    remotes = [Remote(crash_on="remote_id") for _ in paths]
    for path, remote in zip(paths, remotes, strict=True):
        with pytest.raises(SystemExit):
            engine.transcribe(request(path, remote))
    for path, remote in zip(paths, remotes, strict=True):
        stored = RemoteState(intent=remote.states[0].intent)  # all the store had kept
        result = engine.transcribe(request(path, remote, remote=stored))
        assert_matches(result, path)
        assert remote.last.remote_id == remote.states[1].remote_id  # the same transcript
    assert set(server.stats().transcripts_by_digest.values()) == {1}
    assert set(server.stats().uploads_by_digest.values()) == {1}


def test_lost_create_reply_is_not_created_twice(server: AssemblyAIServer, tmp_path: Path) -> None:
    [path] = noise_wavs(tmp_path, 1)
    server.script("drop_after", "POST", "/v2/transcript")
    assert_matches(engine_for(server).transcribe(request(path)), path)
    assert server.stats().transcripts_by_digest == {digest(path): 1}


def test_expired_upload_is_uploaded_again(server: AssemblyAIServer, tmp_path: Path) -> None:
    [path] = noise_wavs(tmp_path, 1)
    engine, remote = engine_for(server), Remote(crash_on="intent")
    with pytest.raises(SystemExit):
        engine.transcribe(request(path, remote))
    server.expire_uploads()
    assert_matches(engine.transcribe(request(path, remote, remote=remote.last)), path)
    assert server.stats().uploads_by_digest == {digest(path): 2}
    assert server.stats().transcripts_by_digest == {digest(path): 1}


def test_429s_and_500s_across_200_files(
    server: AssemblyAIServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    server.faults = Faults(p429=0.03, p500=0.01, retry_after=0.05)
    engine, paths = engine_for(server), noise_wavs(tmp_path, 200, seconds=0.2)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: engine.transcribe(request(p)), paths))
    for path, result in zip(paths, results, strict=True):
        assert_matches(result, path)
    stats = server.stats()
    assert stats.sent_429 > 0 and stats.replies_by_status.get(500, 0) > 0
    assert set(stats.transcripts_by_digest.values()) == {1}
    assert len(stats.transcripts_by_digest) == 200
    assert "user=alice job=7 task=" in caplog.text


def test_retry_after_is_honoured_by_the_whole_account(server: AssemblyAIServer, tmp_path: Path) -> None:
    engine, paths = engine_for(server), noise_wavs(tmp_path, 8)
    server.script("429", "GET", "/v2/transcript/", retry_after=0.6)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: engine.transcribe(request(p)), paths))
    records = server.stats().requests
    [limited] = [r for r in records if r.status == 429]
    # Requests already on their way may land just after the 429; none is sent after it is read.
    quiet = [r for r in records if limited.at + 0.05 < r.at < limited.at + 0.6]
    assert quiet == []
    assert any(r.at >= limited.at + 0.6 for r in records)


def test_wrong_key_fails_at_preflight_and_transcribe_without_showing_it(
    server: AssemblyAIServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    [path] = noise_wavs(tmp_path, 1)
    engine = engine_for(server, api_key=WRONG_KEY)
    with pytest.raises(EngineUnavailable, match=r"rejected the API key \(401") as at_submit:
        engine.preflight({})
    with pytest.raises(EngineUnavailable, match="401") as at_file:
        engine.transcribe(request(path))
    own = engine_for(server).preflight
    with pytest.raises(EngineUnavailable, match="own key"):
        own({"assemblyai_api_key": WRONG_KEY})
    for text in (str(at_submit.value), str(at_file.value), caplog.text):
        assert WRONG_KEY not in text and WRONG_KEY[:12] not in text
    assert server.stats().transcripts_by_digest == {}


def test_unreachable_service(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens once closed
    engine = AssemblyAIEngine(KEY, url, 5, max_attempts=2, backoff_base=0.01)
    with pytest.raises(EngineUnavailable, match=f"cannot reach AssemblyAI at {url}"):
        engine.preflight({})
    [path] = noise_wavs(tmp_path, 1)
    with pytest.raises(TransientError, match=f"{path}: cannot reach AssemblyAI"):
        engine.transcribe(request(path))


def test_speech_models_rejected(server: AssemblyAIServer, tmp_path: Path) -> None:
    [path] = noise_wavs(tmp_path, 1)
    engine = engine_for(server, speech_models=("no-such-model",))
    with pytest.raises(EngineRejected, match="Invalid speech_models: no-such-model") as caught:
        engine.transcribe(request(path))
    assert str(path) in str(caught.value)
    assert server.stats().transcripts_by_digest == {}


def test_transcript_ending_in_error_fails_the_file(server: AssemblyAIServer, tmp_path: Path) -> None:
    [path] = noise_wavs(tmp_path, 1)
    server.faults = Faults(error_for=lambda data: "Transcoding failed: bad frames.")
    with pytest.raises(EngineRejected, match=re.escape("Transcoding failed: bad frames.")) as caught:
        engine_for(server).transcribe(request(path))
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("kind", ["too long", "too short", "not audio", "empty"])
def test_bad_files_fail_before_any_upload(server: AssemblyAIServer, tmp_path: Path, kind: str) -> None:
    path = {
        "too long": lambda: long_silent_wav(tmp_path / "long.wav", 10 * 3600 + 60),
        "too short": lambda: noise_wavs(tmp_path, 1, seconds=0.1)[0],
        "not audio": lambda: _write(tmp_path / "notes.wav", b"just some text\n" * 100),
        "empty": lambda: _write(tmp_path / "empty.wav", b""),
    }[kind]()
    with pytest.raises(FileRejected, match=str(path)):
        engine_for(server).transcribe(request(path))
    assert server.stats().uploads_by_digest == {}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_stop_hands_the_task_back_and_resume_is_free(tmp_path: Path) -> None:
    config = ServerConfig(accounts=(BIG_ACCOUNT,), processing_seconds=1.0)
    with AssemblyAIServer(config) as server:
        [path] = noise_wavs(tmp_path, 1)
        engine, remote, stop = engine_for(server), Remote(), threading.Event()
        threading.Timer(0.3, stop.set).start()
        with pytest.raises(TransientError, match="stopped"):
            engine.transcribe(request(path, remote, should_stop=stop.is_set))
        assert_matches(engine.transcribe(request(path, remote, remote=remote.last)), path)
        assert server.stats().transcripts_by_digest == {digest(path): 1}


def test_pools_per_key_never_name_the_key(server: AssemblyAIServer) -> None:
    engine = engine_for(server, capacity=20)
    assert engine.pool_for({}) == PoolSpec("assemblyai", 20)
    assert engine.pool_for({"assemblyai_api_key": KEY}) == PoolSpec("assemblyai", 20)
    own = engine.pool_for({"assemblyai_api_key": "user-key-123"})
    assert own.capacity == 5 and own.key.startswith("assemblyai:key:")
    assert "user-key-123" not in own.key
    assert own == engine.pool_for({"assemblyai_api_key": "user-key-123"})
    assert engine.pool_for({"assemblyai_api_key": "k", "assemblyai_max_workers": "2"}).capacity == 2
    with pytest.raises(ConfigError, match="assemblyai_max_workers"):
        engine.pool_for({"assemblyai_api_key": "k", "assemblyai_max_workers": "lots"})


def test_shared_and_own_keys_at_once_use_their_own_accounts(tmp_path: Path) -> None:
    accounts = (AccountConfig("shared", (KEY,)), AccountConfig("alice", ("alice-key",)))
    with AssemblyAIServer(ServerConfig(accounts=accounts, processing_seconds=0.05)) as server:
        engine, paths = engine_for(server), noise_wavs(tmp_path, 20)
        own = {"assemblyai_api_key": "alice-key"}
        with ThreadPoolExecutor(8) as pool:
            results = list(
                pool.map(
                    lambda ip: engine.transcribe(request(ip[1], credentials=own if ip[0] % 2 else {})),
                    enumerate(paths),
                )
            )
        for path, result in zip(paths, results, strict=True):
            assert_matches(result, path)
        assert server.stats().transcripts_created == {"shared": 10, "alice": 10}


def test_pacer_keeps_200_waits_inside_the_rate_limit(tmp_path: Path) -> None:
    # 200 req/s allowed by the service; the engine takes half: 100/s, bursts of 50.
    account = AccountConfig("default", (KEY,), 200, requests_per_window=200, window_seconds=1.0)
    with AssemblyAIServer(ServerConfig(accounts=(account,), processing_seconds=1.0)) as server:
        engine = engine_for(server, requests_per_window=200, window_seconds=1.0)
        paths = noise_wavs(tmp_path, 200, seconds=0.2)
        with ThreadPoolExecutor(200) as pool:
            results = list(pool.map(lambda p: engine.transcribe(request(p)), paths))
        for path, result in zip(paths, results, strict=True):
            assert_matches(result, path)
    stats = server.stats()
    assert stats.rate_limited == 0 and stats.sent_429 == 0
    # The rate plus one burst, plus a few sent in one second that a busy machine delivers in the next.
    assert max(stats.per_second()) <= 100 + 50 + 20
