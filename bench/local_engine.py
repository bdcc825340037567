"""The local engine's figures: speed per core, accuracy, and how it scales with workers.

1. Real-time factor per core: audio seconds recognised per CPU second, for the five LibriVox clips
   (recognised in this process, so the CPU time is exactly the recogniser's).
2. Word error rate of the clips against `samples/references.tsv`.
3. Throughput on a folder of 100 clips (the five, copied 20 times) with 1 and 2 workers:
   - `LocalEngine` called from 1 and 2 threads, as the daemon calls it (a worker process each);
   - `Recogniser` called from 1 and 2 threads in one (child) process, to show why the engine needs
     processes: PocketSphinx keeps the GIL while it decodes, and two decoders in two threads can
     crash it.

    .venv/bin/python bench/local_engine.py [--files 100]

Worker processes are started and warmed up before timing (start-up is reported on its own).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from fairscribe.daemon.audio import probe  # noqa: E402
from fairscribe.daemon.engines.base import EngineRequest  # noqa: E402
from fairscribe.daemon.engines.local import LocalEngine, Recogniser  # noqa: E402
from tests.support.wer import corpus_wer, read_references, wer  # noqa: E402

SAMPLES = REPO / "samples" / "librivox"


def _request(path: Path) -> EngineRequest:
    return EngineRequest(path=path, user="bench", job_id=1, task_id=1)


def _recognise_text(recogniser: Recogniser, path: Path) -> str:
    words: list[str] = []
    recogniser.run(path, probe(path).duration_seconds, lambda ws: words.extend(w.text for w in ws), lambda f: None)
    return " ".join(words)


def real_time_factor(clips: Sequence[Path]) -> None:
    recogniser = Recogniser()
    _recognise_text(recogniser, clips[0])  # first call pays for lazy set-up; not part of the figure
    audio = sum(probe(c).duration_seconds for c in clips)
    rounds = 3
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        for clip in clips:
            _recognise_text(recogniser, clip)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"real-time factor: {rounds * audio / cpu:.1f} audio s per CPU s "
        f"({cpu / (rounds * audio):.3f} CPU s per audio s; {rounds * audio:.0f} s of audio, {cpu:.1f} CPU s, "
        f"{wall:.1f} s wall)"
    )


def accuracy(engine: LocalEngine, references: dict[str, str]) -> None:
    pairs = []
    for name, reference in references.items():
        text = engine.transcribe(_request(SAMPLES / name)).text
        pairs.append((reference, text))
        print(f"  {name}: WER {wer(reference, text):.0%}: {text}")
    print(f"WER over the {len(pairs)} clips (weighted by words): {corpus_wer(pairs):.1%}")


def _timed(label: str, files: Sequence[Path], threads: int, call: Callable[[int, Path], object], audio: float) -> float:
    me = psutil.Process()

    def cpu() -> float:
        # This process and its workers: the engine's recognising happens in child processes.
        total = sum(me.cpu_times()[:2])
        for child in me.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                pass
        return total

    cpu0, start = cpu(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda item: call(item[0] % threads, item[1]), enumerate(files)))
    wall, used = time.perf_counter() - start, cpu() - cpu0
    print(
        f"{label:44s} {wall:6.1f} s  {len(files) / wall * 60:6.1f} files/min  "
        f"{audio / wall:5.1f} audio s per s  CPU {used / wall:.2f} cores busy"
    )
    return wall


def _engine_call(engine: LocalEngine, _: int, path: Path) -> object:
    return engine.transcribe(_request(path))


def _in_one_process(folder: Sequence[Path], threads: int) -> tuple[float, float]:
    """Recognise the folder with `threads` threads, a Recogniser each, in this process; return
    (wall seconds, CPU seconds). Run in a child process: PocketSphinx may crash doing this."""
    recognisers = [Recogniser() for _ in range(threads)]
    cpu, start = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda item: _recognise_text(recognisers[item[0] % threads], item[1]), enumerate(folder)))
    return time.perf_counter() - start, time.process_time() - cpu


def throughput(folder: Sequence[Path]) -> None:
    audio = sum(probe(f).duration_seconds for f in folder)
    print(f"folder: {len(folder)} clips, {audio:.0f} s of audio")
    walls: dict[str, float] = {}
    for workers in (1, 2):
        engine = LocalEngine(workers)
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:  # start and warm every worker process
            list(pool.map(partial(_engine_call, engine, 0), folder[:workers]))
        print(f"  {workers} worker process(es) started and warmed in {time.perf_counter() - started:.1f} s")
        walls[f"engine{workers}"] = _timed(
            f"LocalEngine, {workers} thread(s) -> processes", folder, workers, partial(_engine_call, engine), audio
        )
        engine.close()
    for threads in (1, 2):
        label = f"Recogniser in one process, {threads} thread(s)"
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
            try:
                wall, cpu = child.submit(_in_one_process, folder, threads).result()
            except BrokenProcessPool:
                print(f"{label:44s} CRASHED (the process died inside PocketSphinx)")
                continue
        walls[f"threads{threads}"] = wall
        print(
            f"{label:44s} {wall:6.1f} s  {len(folder) / wall * 60:6.1f} files/min  "
            f"{audio / wall:5.1f} audio s per s  CPU {cpu / wall:.2f} cores busy"
        )
    print(f"speed-up with 2 workers: LocalEngine (processes) x{walls['engine1'] / walls['engine2']:.2f}", end="")
    if "threads1" in walls and "threads2" in walls:
        print(f", threads in one process x{walls['threads1'] / walls['threads2']:.2f}", end="")
    print()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100, help="clips in the throughput folder")
    args = parser.parse_args(argv)
    print(
        f"machine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
        f"Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}"
    )
    references = read_references(SAMPLES.parent / "references.tsv")
    clips = [SAMPLES / name for name in references]
    real_time_factor(clips)
    engine = LocalEngine(1)
    accuracy(engine, references)
    engine.close()
    with tempfile.TemporaryDirectory(prefix="fairscribe-local-bench-") as tmp:
        folder = []
        for index in range(args.files):
            clip = clips[index % len(clips)]
            folder.append(Path(tmp) / f"{index:03d}-{clip.name}")
            shutil.copyfile(clip, folder[-1])
        throughput(folder)


if __name__ == "__main__":
    main()
