"""The daemon with the `local` engine, end to end: the LibriVox samples transcribed with no key and
no network, every output format written, and bad files failing alone with their reasons."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support.daemon import DaemonProcess, wait_for_job
from tests.support.media import encode, pcm_of, write_wav
from tests.support.wer import corpus_wer, read_references, wer

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "librivox"


def test_samples_transcribed_by_the_daemon(tmp_path: Path, daemon_factory) -> None:
    references = read_references(SAMPLES.parent / "references.tsv")
    folder, out = tmp_path / "audio", tmp_path / "out"
    folder.mkdir()
    for name in references:
        shutil.copyfile(SAMPLES / name, folder / name)
    first = next(iter(references))
    (folder / "as-mp3").mkdir()
    encode(pcm_of(SAMPLES / first), folder / "as-mp3" / "clip.mp3")
    write_wav(folder / "silence.wav", bytes(32000 * 5))
    (folder / "notes.txt").write_text("not audio\n")

    daemon: DaemonProcess = daemon_factory(FAIRSCRIBE_ENGINE="local", FAIRSCRIBE_WORKERS="2")
    with daemon.client() as client:
        job_id = client.submit(str(folder), out=str(out), formats=["txt", "srt", "vtt", "json"])["id"]
        job = wait_for_job(client, job_id, timeout=180)
        _, files = client.files(job_id)
    assert (job["done"], job["failed"], job["total"]) == (6, 2, 8), job
    reasons = {f["path"]: f.get("error") or "" for f in files if f["state"] == "failed"}
    assert "no speech found" in reasons["silence.wav"] and "silence.wav" in reasons["silence.wav"]
    assert "not an audio or video file" in reasons["notes.txt"]

    pairs = []
    for name, reference in references.items():
        base = out / Path(name).stem
        text = (base.with_name(base.name + ".txt")).read_text().strip()
        print(f"{name}: WER {wer(reference, text):.0%}: {text}")
        pairs.append((reference, text))
        assert base.with_name(base.name + ".srt").read_text().startswith("1\n00:00:0")
        assert base.with_name(base.name + ".vtt").read_text().startswith("WEBVTT\n\n00:00:0")
        document = json.loads(base.with_name(base.name + ".json").read_text())
        assert document["engine"] == "local" and document["words"][0]["confidence"] is not None
    total = corpus_wer(pairs)
    print(f"corpus WER through the daemon: {total:.1%}")
    assert total < 0.40
    mp3_text = (out / "as-mp3" / "clip.txt").read_text()
    assert wer(references[first], mp3_text) < 0.5
