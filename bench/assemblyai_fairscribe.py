"""Issue 3's benchmark: two users on one AssemblyAI account, fairscribe against the SDK alone.

One run, three halves in turn, each against a fresh fake AssemblyAI service built from the same
`Workload` (same files, account concurrency, processing time per transcript, 429 and 500 rates,
Retry-After and RNG seed):

1. the baseline (`bench/assemblyai_baseline.py`): each user runs the SDK's `transcribe_group` on
   their folder at the same moment, one key each on the one account;
2. fairscribe as shipped: a real `fairscribed` (AssemblyAI engine, `ASSEMBLYAI_MAX_WORKERS` = the
   account's concurrency, the daemon's own key on the same account, the default 1 s first poll);
   both users are token users who submit their folder at the same moment;
3. the same daemon with `ASSEMBLYAI_POLL_SECONDS` matched to the fake service's sub-second latency
   (real transcripts take seconds to minutes, for which the default poll is made).

Printed for each: every user's completion time (from the common start until they had their
results), the worst user's time ÷ ideal (all the work ÷ the account's concurrency), files lost or
missing from the result, duplicate transcripts (transcripts created beyond one per file content),
and 429s the service sent.

    .venv/bin/python bench/assemblyai_fairscribe.py --files 200
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for entry in (str(REPO), str(REPO / "bench")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from assemblyai_baseline import (  # noqa: E402
    ACCOUNT,
    RunFigures,
    UserFigures,
    Workload,
    outputs_matched,
    run_baseline,
    run_figures,
    workload_from,
    workload_parser,
)

from tests.support.assemblyai_fixtures import (  # noqa: E402
    Answers,
    assert_no_secret,
    daemon_env,
    run_users_at_once,
    transcript_texts,
)
from tests.support.assemblyai_server import AssemblyAIServer, ServerConfig  # noqa: E402
from tests.support.daemon import DaemonProcess  # noqa: E402

DAEMON_KEY = "aai-bench-4c1d8e2f9a7b3605"


def fairscribe_server_config(workload: Workload) -> ServerConfig:
    """The baseline's service, with the daemon's key added to the same account."""
    config = workload.server_config()
    accounts = tuple(
        dataclasses.replace(a, keys=(*a.keys, DAEMON_KEY)) if a.name == ACCOUNT else a for a in config.accounts
    )
    assert any(a.name == ACCOUNT for a in accounts)
    return dataclasses.replace(config, accounts=accounts)


def run_fairscribe(workload: Workload, poll_seconds: float | None, rate_limit: int | None) -> RunFigures:
    """Both users submit their folder to one fairscribed at the same moment; the figures."""
    with tempfile.TemporaryDirectory(prefix="fairscribe-bench-") as root:
        folders = workload.make_folders(Path(root))
        dirs = {user: Path(root) / user for user in workload.users}
        extra: dict[str, str] = {}
        if rate_limit is not None:
            extra["ASSEMBLYAI_RATE_LIMIT"] = str(rate_limit)
        env = daemon_env("", DAEMON_KEY, workload.account_concurrency, **extra)
        if poll_seconds is None:
            del env["ASSEMBLYAI_POLL_SECONDS"]  # the daemon's default
        else:
            env["ASSEMBLYAI_POLL_SECONDS"] = str(poll_seconds)
        answers = Answers()
        with AssemblyAIServer(fairscribe_server_config(workload)) as server:
            env["ASSEMBLYAI_BASE_URL"] = server.base_url
            daemon = DaemonProcess(Path(root) / "home", env=env).start()
            try:
                runs = run_users_at_once(daemon, dirs, answers, timeout=3600)
            finally:
                daemon.stop()
            stats = server.stats()
        assert_no_secret([daemon.log(), *answers.texts], [DAEMON_KEY])
        users = [
            UserFigures(
                user=user,
                files=len(folders[user]),
                seconds=runs[user].seconds,
                transcribed=outputs_matched(folders[user], transcript_texts(dirs[user] / "transcripts")),
                crashed=None
                if runs[user].job["failed"] == 0
                else f"{runs[user].job['failed']} files failed, each with its reason",
            )
            for user in workload.users
        ]
    poll = "default 1 s" if poll_seconds is None else f"{poll_seconds:g} s"
    return run_figures(f"fairscribe, one daemon (first poll {poll})", workload, stats, users)


def main(argv: list[str] | None = None) -> int:
    parser = workload_parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fast-poll", type=float, default=0.1, help="ASSEMBLYAI_POLL_SECONDS of the third half (0 to skip it)"
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        help="ASSEMBLYAI_RATE_LIMIT of the daemon (default: AssemblyAI's 20,000 per 5 min)",
    )
    args = parser.parse_args(argv)
    workload = workload_from(args)
    print(f"workload: {workload}", flush=True)
    print(run_baseline(workload).report(), flush=True)
    print(run_fairscribe(workload, None, args.rate_limit).report(), flush=True)
    if args.fast_poll > 0:
        print(run_fairscribe(workload, args.fast_poll, args.rate_limit).report(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
