"""Issue 3's benchmark, baseline half: what two people get without fairscribe.

Each user runs the SDK's `transcribe_group` on their own folder at the same moment, on one
AssemblyAI account (one key each), against the fake AssemblyAI service with the account's
concurrency limit, a fixed processing time per file, and injected 429s and 500s. Printed per user:
completion time, files that came back transcribed and files lost (missing from the result, with no
error raised); overall: the worst user's time ÷ ideal (all the work ÷ the account's concurrency),
duplicate transcripts, 429s sent.

    .venv/bin/python bench/assemblyai_baseline.py --files 200

The fairscribe half reuses `Workload` (server settings and files), `AssemblyAIServer`,
`outputs_matched` and `RunFigures`, so both halves meet the same service under the same faults.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import assemblyai as aai  # noqa: E402
import httpx  # noqa: E402

from tests.support.assemblyai_model import ServerStats  # noqa: E402
from tests.support.assemblyai_server import (  # noqa: E402
    AccountConfig,
    AssemblyAIServer,
    Faults,
    ServerConfig,
    text_for,
)
from tests.support.audio_files import noise_wavs  # noqa: E402

ACCOUNT = "shared"


@dataclass(frozen=True)
class Workload:
    """The two-user workload and the service it runs against, the same for both halves."""

    users: tuple[str, ...] = ("alice", "bob")
    files_per_user: int = 200
    audio_seconds: float = 0.5
    processing_seconds: float = 0.5  # service time per transcript
    account_concurrency: int = 5  # a free account
    p429: float = 0.03
    p500: float = 0.01
    retry_after: float = 1.0
    seed: int = 0

    def key(self, user: str) -> str:
        return f"key-{user}"

    def server_config(self) -> ServerConfig:
        keys = tuple(self.key(u) for u in self.users)
        return ServerConfig(
            accounts=(AccountConfig(ACCOUNT, keys, concurrency=self.account_concurrency),),
            processing_seconds=self.processing_seconds,
            faults=Faults(p429=self.p429, p500=self.p500, retry_after=self.retry_after),
            seed=self.seed,
        )

    def make_folders(self, root: Path) -> dict[str, list[Path]]:
        """Each user's folder of distinct WAVs (no two files anywhere share content)."""
        return {
            user: noise_wavs(root / user, self.files_per_user, self.audio_seconds, f"{self.seed}/{user}")
            for user in self.users
        }

    @property
    def ideal_seconds(self) -> float:
        work = len(self.users) * self.files_per_user * self.processing_seconds
        return work / self.account_concurrency


@dataclass(frozen=True)
class UserFigures:
    user: str
    files: int
    seconds: float  # from the common start to the moment the user had their results
    transcribed: int  # files with a completed transcript of their own content in the result
    crashed: str | None = None  # what ended the user's run early, if anything

    @property
    def lost(self) -> int:
        return self.files - self.transcribed


@dataclass(frozen=True)
class RunFigures:
    label: str
    users: tuple[UserFigures, ...]
    ideal_seconds: float
    created: int  # transcripts created on the account
    duplicates: int  # transcripts created beyond the first for the same file content
    sent_429: int
    requests: int
    max_in_flight: int  # the account's most transcripts queued or processing at once

    @property
    def worst_ratio(self) -> float:
        """Worst user's time ÷ ideal. Below 1 only when files were lost: less work was done."""
        return max(u.seconds for u in self.users) / self.ideal_seconds

    def report(self) -> str:
        lines = [f"== {self.label}"]
        for u in self.users:
            crashed = f"  (ended by {u.crashed})" if u.crashed else ""
            lines.append(
                f"  {u.user:<8} {u.seconds:7.1f} s  {u.transcribed:>5}/{u.files} transcribed"
                f"  {u.lost:>5} lost or missing{crashed}"
            )
        lines += [
            f"  worst ÷ ideal       {self.worst_ratio:.2f}  (ideal {self.ideal_seconds:.1f} s)",
            f"  transcripts created   {self.created} for {sum(u.files for u in self.users)} files",
            f"  duplicate transcripts {self.duplicates}",
            f"  429s sent             {self.sent_429}",
            f"  requests              {self.requests}",
            f"  most in flight        {self.max_in_flight}",
        ]
        return "\n".join(lines)


def outputs_matched(files: Sequence[Path], texts: Iterable[str]) -> int:
    """How many of `files` have their own transcript among `texts` (the fake service's text of
    a file is derived from its bytes, so a transcript belongs to exactly one file)."""
    wanted = {text_for(hashlib.sha256(p.read_bytes()).hexdigest()) for p in files}
    return len(wanted & set(texts))


def run_figures(label: str, workload: Workload, stats: ServerStats, users: Sequence[UserFigures]) -> RunFigures:
    return RunFigures(
        label=label,
        users=tuple(users),
        ideal_seconds=workload.ideal_seconds,
        created=stats.transcripts_created.get(ACCOUNT, 0),
        duplicates=sum(n - 1 for n in stats.transcripts_by_digest.values()),
        sent_429=stats.sent_429,
        requests=stats.requests_total,
        max_in_flight=stats.max_in_flight.get(ACCOUNT, 0),
    )


def _sdk_user(
    server: AssemblyAIServer, key: str, files: list[Path], start: threading.Barrier
) -> tuple[float, list[str], str | None]:
    """What a user writes with the SDK alone: one group call over the folder, default polling."""
    client = aai.Client(settings=aai.Settings(api_key=key, base_url=server.base_url))
    transcriber = aai.Transcriber(client=client, config=aai.TranscriptionConfig(speech_models=["universal"]))
    start.wait()
    began = time.monotonic()
    texts: list[str] = []
    crashed = None
    try:
        group = transcriber.transcribe_group([str(p) for p in files])
        assert isinstance(group, aai.TranscriptGroup)
        texts = [t.text for t in group if t.status == aai.TranscriptStatus.completed and t.text]
    except (aai.AssemblyAIError, httpx.HTTPError) as exc:
        # Failures the SDK lets escape the group call (a dropped connection) end the user's run.
        crashed = f"{type(exc).__name__}: {exc}"
    return time.monotonic() - began, texts, crashed


def run_baseline(workload: Workload) -> RunFigures:
    """Both users' `transcribe_group` at once on one account; the figures of that run."""
    with tempfile.TemporaryDirectory(prefix="fairscribe-baseline-") as root:
        folders = workload.make_folders(Path(root))
        results: dict[str, tuple[float, list[str], str | None]] = {}
        start = threading.Barrier(len(workload.users))
        with AssemblyAIServer(workload.server_config()) as server:

            def run(user: str) -> None:
                results[user] = _sdk_user(server, workload.key(user), folders[user], start)

            threads = [threading.Thread(target=run, args=(u,)) for u in workload.users]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stats = server.stats()
        users = [
            UserFigures(
                user=u,
                files=len(folders[u]),
                seconds=results[u][0],
                transcribed=outputs_matched(folders[u], results[u][1]),
                crashed=results[u][2],
            )
            for u in workload.users
        ]
    return run_figures("SDK transcribe_group per user (baseline)", workload, stats, users)


def workload_parser(description: str) -> argparse.ArgumentParser:
    """The command-line options that describe a `Workload`, shared by both halves of the benchmark."""
    parser = argparse.ArgumentParser(description=description)
    defaults = Workload()
    parser.add_argument("--files", type=int, default=defaults.files_per_user, help="per user")
    parser.add_argument("--processing", type=float, default=defaults.processing_seconds)
    parser.add_argument("--concurrency", type=int, default=defaults.account_concurrency)
    parser.add_argument("--p429", type=float, default=defaults.p429)
    parser.add_argument("--p500", type=float, default=defaults.p500)
    parser.add_argument("--retry-after", type=float, default=defaults.retry_after)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    return parser


def workload_from(args: argparse.Namespace) -> Workload:
    return Workload(
        files_per_user=args.files,
        processing_seconds=args.processing,
        account_concurrency=args.concurrency,
        p429=args.p429,
        p500=args.p500,
        retry_after=args.retry_after,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    workload = workload_from(workload_parser(__doc__.split("\n\n")[0]).parse_args(argv))
    print(f"workload: {workload}")
    print(run_baseline(workload).report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
