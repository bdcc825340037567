"""The fake AssemblyAI service, checked against the official SDK and raw HTTP."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import assemblyai as aai
import httpx
import pytest

from tests.support.assemblyai_server import (
    AUTH_ERROR,
    AccountConfig,
    AssemblyAIServer,
    Faults,
    ServerConfig,
    text_for,
)
from tests.support.audio_files import noise_wavs

KEY = "test-key"


@pytest.fixture
def server() -> Iterator[AssemblyAIServer]:
    with AssemblyAIServer(ServerConfig(processing_seconds=0.05)) as running:
        yield running


def client(server: AssemblyAIServer, key: str = KEY) -> aai.Client:
    return aai.Client(settings=aai.Settings(api_key=key, base_url=server.base_url, polling_interval=0.02))


def transcriber(server: AssemblyAIServer, key: str = KEY) -> aai.Transcriber:
    return aai.Transcriber(client=client(server, key), config=aai.TranscriptionConfig(speech_models=["universal"]))


def test_plain_sdk_transcribes_through_the_global_settings(
    server: AssemblyAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an SDK user does with ASSEMBLYAI_BASE_URL / ASSEMBLYAI_API_KEY in the environment.
    monkeypatch.setenv("ASSEMBLYAI_BASE_URL", server.base_url)
    monkeypatch.setenv("ASSEMBLYAI_API_KEY", KEY)
    monkeypatch.setenv("ASSEMBLYAI_POLLING_INTERVAL", "0.02")
    monkeypatch.setattr(aai, "settings", aai.Settings())
    [path] = noise_wavs(tmp_path, 1, seconds=1.0)

    done = aai.Transcriber().transcribe(str(path), aai.TranscriptionConfig(speech_models=["universal"]))

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert done.status == aai.TranscriptStatus.completed
    assert done.text == text_for(digest)
    assert done.audio_duration == 1
    assert done.words and [w.text for w in done.words] == done.text.split()
    assert done.words[-1].end <= 1000 and done.words[0].confidence > 0
    assert done.export_subtitles_srt().startswith("1\n00:00:00,000 --> ")
    assert done.export_subtitles_vtt().startswith("WEBVTT\n\n00:00:00.000 --> ")
    stats = server.stats()
    assert stats.uploads_by_digest == {digest: 1} and stats.transcripts_by_digest == {digest: 1}


def test_missing_speech_models_is_a_400(server: AssemblyAIServer, tmp_path: Path) -> None:
    [path] = noise_wavs(tmp_path, 1)
    with pytest.raises(aai.TranscriptError) as caught:
        aai.Transcriber(client=client(server)).transcribe(str(path))
    assert caught.value.status_code == 400
    assert "speech_models" in str(caught.value)
    assert server.stats().transcripts_by_digest == {}


def test_wrong_or_missing_key_is_a_401_with_the_documented_body(server: AssemblyAIServer) -> None:
    for headers in ({"Authorization": "wrong"}, {}):
        reply = httpx.get(f"{server.base_url}/v2/transcript", headers=headers)
        assert reply.status_code == 401
        assert reply.json() == {"error": AUTH_ERROR}
    with pytest.raises(aai.AssemblyAIError) as caught:
        aai.Transcriber(client=client(server, "wrong")).list_transcripts()
    assert caught.value.status_code == 401


def test_upload_accepts_chunked_bodies(server: AssemblyAIServer) -> None:
    reply = httpx.post(
        f"{server.base_url}/v2/upload",
        headers={"Authorization": KEY},
        content=iter([b"RIFF", b"rest of a file"]),
    )
    assert reply.status_code == 200
    digest = hashlib.sha256(b"RIFFrest of a file").hexdigest()
    assert server.stats().uploads_by_digest == {digest: 1}


def test_audio_url_must_be_an_upload_of_the_same_account(tmp_path: Path) -> None:
    accounts = (AccountConfig("a", ("key-a",)), AccountConfig("b", ("key-b",)))
    with AssemblyAIServer(ServerConfig(accounts=accounts, upload_ttl_seconds=0.3)) as server:
        [path] = noise_wavs(tmp_path, 1)
        url = transcriber(server, "key-a").upload_file(str(path))
        for key, audio_url in (("key-b", url), ("key-a", "https://example.com/a.wav")):
            with pytest.raises(aai.TranscriptError) as caught:
                transcriber(server, key).submit(audio_url)
            assert caught.value.status_code == 400
        time.sleep(0.35)
        with pytest.raises(aai.TranscriptError, match="expired"):
            transcriber(server, "key-a").submit(url)


def test_queue_is_fifo_across_the_keys_of_an_account(tmp_path: Path) -> None:
    account = AccountConfig("shared", ("key-1", "key-2"), concurrency=2)
    config = ServerConfig(accounts=(account,), processing_seconds=0.3)
    with AssemblyAIServer(config) as server:
        sdks = [transcriber(server, "key-1"), transcriber(server, "key-2")]
        urls = [sdks[0].upload_file(str(p)) for p in noise_wavs(tmp_path, 6)]
        ids = [sdks[i % 2].submit(url).id for i, url in enumerate(urls)]
        group = [aai.Transcript(i, client=client(server, "key-1")) for i in ids if i]
        assert {t.wait_for_completion().status for t in group} == {aai.TranscriptStatus.completed}
        page = transcriber(server, "key-2").list_transcripts(aai.ListTranscriptParameters(limit=6))

    listed = list(reversed(page.transcripts))  # oldest first
    assert [t.id for t in listed] == ids
    finished = [t.completed or "" for t in listed]
    assert finished == sorted(finished)  # first in, first out
    stats = server.stats()
    assert stats.max_in_flight == {"shared": 6} and stats.transcripts_created == {"shared": 6}


def test_list_pages_newest_first_with_status_filter(server: AssemblyAIServer, tmp_path: Path) -> None:
    sdk = transcriber(server)
    ids = [sdk.submit(str(p)).id for p in noise_wavs(tmp_path, 5)]
    params = aai.ListTranscriptParameters(limit=2)
    seen: list[str] = []
    while True:
        page = sdk.list_transcripts(params)
        assert page.page_details.result_count == len(page.transcripts) <= 2
        seen += [t.id for t in page.transcripts]
        if page.page_details.before_id_of_prev_url is None:
            break
        params.before_id = page.page_details.before_id_of_prev_url
    assert seen == list(reversed(ids))
    time.sleep(0.1)
    done = sdk.list_transcripts(aai.ListTranscriptParameters(status=aai.TranscriptStatus.completed))
    assert {t.id for t in done.transcripts} == set(ids)
    assert all(t.audio_url.startswith(server.base_url) for t in done.transcripts)


def test_rate_limit_per_account_answers_429_with_retry_after() -> None:
    account = AccountConfig("tiny", ("k",), requests_per_window=3, window_seconds=2.0)
    with AssemblyAIServer(ServerConfig(accounts=(account,))) as server:
        replies = [httpx.get(f"{server.base_url}/v2/transcript", headers={"Authorization": "k"}) for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert replies[-1].headers["Retry-After"] == "2"
    assert server.stats().rate_limited == 1


def test_scripted_and_random_faults(server: AssemblyAIServer, tmp_path: Path) -> None:
    sdk = transcriber(server)
    [path] = noise_wavs(tmp_path, 1)
    server.script("503", "POST", "/v2/upload")
    with pytest.raises(aai.TranscriptError) as caught:
        sdk.upload_file(str(path))
    assert caught.value.status_code == 503
    server.script("drop", "POST", "/v2/upload")
    with pytest.raises(httpx.RemoteProtocolError):
        sdk.upload_file(str(path))
    url = sdk.upload_file(str(path))
    server.script("drop_after", "POST", "/v2/transcript")
    with pytest.raises(httpx.RemoteProtocolError):
        sdk.submit(url)
    # The reply was lost but the transcript exists, as after a real dropped connection.
    assert [t.audio_url for t in sdk.list_transcripts().transcripts] == [url]
    server.faults = Faults(p500=1.0, applies_to=lambda method, path: method == "GET")
    with pytest.raises(aai.AssemblyAIError) as listed:
        sdk.list_transcripts()
    assert listed.value.status_code == 500
    assert server.stats().replies_by_status[0] == 2  # the two dropped connections
    server.faults = Faults(p_slow=1.0, slow_seconds=0.3, p_transcript_error=1.0)
    began = time.monotonic()
    failed = sdk.transcribe(url)
    assert time.monotonic() - began >= 0.3 * 2  # create and at least one poll, each slow
    assert failed.status == aai.TranscriptStatus.error and failed.error == Faults.transcript_error


def test_transcripts_end_in_error_by_content(server: AssemblyAIServer, tmp_path: Path) -> None:
    bad, good = noise_wavs(tmp_path, 2)
    server.faults = Faults(error_for=lambda data: "Audio duration is too short." if data == bad.read_bytes() else None)
    sdk = transcriber(server)
    failed, done = (sdk.transcribe(str(p)) for p in (bad, good))
    assert failed.status == aai.TranscriptStatus.error
    assert failed.error == "Audio duration is too short." and failed.text is None
    assert done.status == aai.TranscriptStatus.completed
