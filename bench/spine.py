"""Benchmark of the daemon's spine (issue 2): fair-share dispatch, late users, throughput, memory.

Runs the real `fairscribed` (simulated engine) as a subprocess and measures, in one run:

1. fair   — two users x N files submitted at the same moment: makespan / ideal, Jain's fairness
            index while both have queued work, and that both end N/N;
2. late   — a user who arrives while another's N files run: first-dispatch wait in task durations;
3. static — the static split this replaces (each user gets capacity / MAX_CONCURRENT_USERS workers),
            computed here, not by the daemon, for the same 2 x N workload;
4. zero   — end-to-end throughput with a zero-time engine (files/s, U users x F files);
5. rss    — the daemon's peak RSS (VmHWM) with 100,000 queued files.

    .venv/bin/python bench/spine.py            # the issue's sizes (6-8 minutes on 2 cores)
    .venv/bin/python bench/spine.py --quick    # smaller variant (under a minute)

See bench/README.md, section "Scheduler (spine)", for what each figure measures exactly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spine_common import (
    BenchUser,
    LoadMeter,
    MeterSampler,
    RssWatcher,
    StoreReader,
    Workspace,
    best_integer_jain,
    daemon_running,
    fmt_check,
    jain,
    machine,
    make_users,
    mib,
    parse_time,
    py_spy,
    submit_together,
    wait_jobs,
)

TARGET_MAKESPAN = 1.05
TARGET_JAIN = 0.99
TARGET_LATE = 1.0
TARGET_FILES_PER_S = 1000.0
TARGET_RSS_MB = 150.0


def out(text: str = "") -> None:
    print(text, flush=True)


def line(label: str, value: str, target: str = "", verdict: str = "") -> None:
    out(f"  {label:<58} {value:>14}  {target:<14} {verdict}".rstrip())


def base_env(args: argparse.Namespace, **extra: Any) -> dict[str, str]:
    env = {
        "FAIRSCRIBE_ENGINE": "simulated",
        "FAIRSCRIBE_SIMULATED_SECONDS": str(args.seconds),
        "FAIRSCRIBE_WORKERS": str(args.workers),
        "MAX_CONCURRENT_USERS": str(args.max_concurrent_users),
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# 1. Two users at the same moment ---------------------------------------------------------------------


def scenario_fair(args: argparse.Namespace, ws: Workspace) -> dict[str, Any]:
    n, s, w = args.files_per_user, args.seconds, args.workers
    out(
        f"[1] fair share: 2 users x {n} files submitted at the same moment, {s * 1000:g} ms per file, "
        f"{w} workers, meters sampled every {args.sample_interval * 1000:g} ms"
    )
    with daemon_running(ws, "home-fair", **base_env(args)) as daemon:
        users = make_users(daemon, ws, ["alice", "bob"], n, tag="-fair")
        store = StoreReader(daemon)
        load = LoadMeter(daemon.process.pid)
        with py_spy(daemon, args.py_spy, "fair"), MeterSampler(daemon, args.sample_interval, store) as sampler:
            _, jobs = submit_together(daemon, users)
            _, final = wait_jobs(daemon, users, jobs, timeout=max(120.0, 20 * 2 * n * s / w))
        cpu = load.describe()
        tasks = {u.name: store.task_times(jobs[u.name]) for u in users}
        store.close()

    for user in users:
        job = final[user.name]
        assert job["state"] == "done" and job["done"] == n and job["total"] == n and job["failed"] == 0, job
    created = min(parse_time(final[u.name]["created_at"]) for u in users)
    finished = {u.name: parse_time(final[u.name]["finished_at"]) for u in users}
    makespan = max(finished.values()) - created
    ideal = 2 * n * s / w
    ratio = makespan / ideal

    # "Both active": both users still have queued work (the only time a fair split is possible).
    both = [x for x in sampler.samples if all(x.users.get(u.name, {}).get("queued", 0) > 0 for u in users)]
    names = [u.name for u in users]
    met_running = [[x.users[name]["running"] for name in names] for x in both]
    true_running = [[(x.truth or {}).get(name, 0) for name in names] for x in both]

    def summary(rows: list[list[int]]) -> dict[str, float]:
        if not rows:
            return {
                "avg_jain": float("nan"),
                "inst_jain": float("nan"),
                "within_one": float("nan"),
                "mean_total": float("nan"),
                "means": [float("nan")] * len(names),
            }
        means = [statistics.fmean(r[i] for r in rows) for i in range(len(names))]
        return {
            "avg_jain": jain(means),
            "inst_jain": statistics.fmean(jain(r) for r in rows),
            "within_one": sum(1 for r in rows if max(r) - min(r) <= 1) / len(rows),
            "mean_total": statistics.fmean(sum(r) for r in rows),
            "means": means,
        }

    met = summary(met_running)
    true = summary(true_running)

    # Throughput fairness from the store's per-task finish times over the time both had work left:
    # from the first submit to the moment the first user's last file finished.
    both_end = min(finished.values())
    window = args.window
    windows = max(1, int((both_end - created) // window))
    per_window = []
    for k in range(windows):
        lo, hi = created + k * window, created + (k + 1) * window
        per_window.append([sum(1 for _, f in tasks[name] if f is not None and lo <= f < hi) for name in names])
    busy_windows = [row for row in per_window if sum(row) > 0]
    window_jain = statistics.fmean(jain(row) for row in busy_windows) if busy_windows else float("nan")
    total_both = [sum(1 for _, f in tasks[name] if f is not None and f < both_end) for name in names]
    throughput_jain = jain(total_both)

    out(
        f"  submitted at t=0; jobs ended at t={finished['alice'] - created:.2f}s (alice), "
        f"t={finished['bob'] - created:.2f}s (bob); both ended {n}/{n} done, 0 failed: OK"
    )
    out(
        f"  ideal = 2*{n}*{s:g}s/{w} = {ideal:.2f}s; meters call p50 "
        f"{1000 * percentile(sampler.latencies, 0.5):.1f} ms, p99 {1000 * percentile(sampler.latencies, 0.99):.1f} ms"
    )
    out(f"  {cpu}")
    out(f"  samples while both had queued work: {len(both)} of {len(sampler.samples)}")
    out(
        f"  mean running (meters)  alice {met['means'][0]:.2f}  bob {met['means'][1]:.2f}  "
        f"total {met['mean_total']:.2f} of {w}"
    )
    out(
        f"  mean running (store)   alice {true['means'][0]:.2f}  bob {true['means'][1]:.2f}  "
        f"total {true['mean_total']:.2f} of {w}"
    )
    out(
        f"  files done before the first job ended: alice {total_both[0]}, bob {total_both[1]} "
        f"({both_end - created:.2f}s, {windows} windows of {window:g}s)"
    )
    line("makespan", f"{makespan:.2f} s")
    line("makespan / ideal", f"{ratio:.3f}", f"<= {TARGET_MAKESPAN}", fmt_check(ratio, TARGET_MAKESPAN, at_most=True))
    line(
        "Jain, time-averaged running (meters)",
        f"{met['avg_jain']:.4f}",
        f">= {TARGET_JAIN}",
        fmt_check(met["avg_jain"], TARGET_JAIN, at_most=False),
    )
    line(
        "Jain, time-averaged running (store)",
        f"{true['avg_jain']:.4f}",
        f">= {TARGET_JAIN}",
        fmt_check(true["avg_jain"], TARGET_JAIN, at_most=False),
    )
    line(
        "Jain, throughput while both active",
        f"{throughput_jain:.4f}",
        f">= {TARGET_JAIN}",
        fmt_check(throughput_jain, TARGET_JAIN, at_most=False),
    )
    line(f"Jain, throughput per {window:g}s window (mean)", f"{window_jain:.4f}", "(info)")
    ceiling = best_integer_jain(w, 2)
    line("Jain, instantaneous running (mean, meters)", f"{met['inst_jain']:.4f}", f"(ceiling {ceiling:.4f})")
    line("Jain, instantaneous running (mean, store)", f"{true['inst_jain']:.4f}", f"(ceiling {ceiling:.4f})")
    line("samples with running counts within 1 (meters)", f"{100 * met['within_one']:.1f} %", "(info)")
    line("samples with running counts within 1 (store)", f"{100 * true['within_one']:.1f} %", "(info)")
    return {
        "makespan": makespan,
        "ideal": ideal,
        "ratio": ratio,
        "jain": met["avg_jain"],
        "jain_store": true["avg_jain"],
        "jain_throughput": throughput_jain,
    }


# 2. A late user ---------------------------------------------------------------------------------------


def scenario_late(args: argparse.Namespace, ws: Workspace) -> dict[str, Any]:
    n, s, w = args.files_per_user, args.seconds, args.workers
    points = (
        [0.3 + 0.4 * i / max(1, args.late_trials - 1) for i in range(args.late_trials)]
        if args.late_trials > 1
        else [0.5]
    )
    out(
        f"[2] late user: user A's {n} files run ({s * 1000:g} ms each, {w} workers); a new user submits "
        f"{args.late_files} files when A is {', '.join(f'{100 * p:.0f}%' for p in points)} done"
    )
    trials = []
    with daemon_running(ws, "home-late", **base_env(args)) as daemon:
        names = ["early"] + [f"late{i + 1}" for i in range(len(points))]
        users = make_users(daemon, ws, names[:1], n, tag="-late")
        lates = make_users(daemon, ws, names[1:], args.late_files, tag="-late")
        store = StoreReader(daemon)
        load = LoadMeter(daemon.process.pid)
        early: BenchUser = users[0]
        _, jobs = submit_together(daemon, users)
        watch = early.client(daemon)
        for point, late in zip(points, lates, strict=True):
            while watch.job(jobs[early.name])["done"] < point * n:
                time.sleep(0.02)
            client = late.client(daemon)
            before = time.monotonic()
            job = client.submit(str(late.source), out=str(late.out))
            returned = time.monotonic()
            # Two observers, polled alternately every --late-poll seconds: the late user's own job status
            # (what a client can see; the call itself takes time) and the store read directly (the moment
            # the claim's transaction is committed).
            first_seen = first_committed = None
            polls = 0
            while time.monotonic() - returned < 60 and (first_seen is None or first_committed is None):
                if first_committed is None and store.started(job["id"]):
                    first_committed = time.monotonic()
                if first_seen is None:
                    state = client.job(job["id"])
                    if state["running"] + state["done"] + state["failed"] > 0:
                        first_seen = time.monotonic()
                polls += 1
                time.sleep(args.late_poll)
            held = watch.job(jobs[early.name])
            done_late = _wait_one(client, job["id"], 60)
            client.close()
            starts = [a for a, _ in store.task_times(job["id"]) if a is not None]
            ends = [f for _, f in store.task_times(job["id"]) if f is not None]
            created = parse_time(done_late["created_at"])
            trials.append(
                {
                    "point": point,
                    "client_wait": (first_seen - returned) if first_seen else float("inf"),
                    "store_wait": (first_committed - returned) if first_committed else float("inf"),
                    "submit_rpc": returned - before,
                    "daemon_wait": min(starts) - created if starts else float("inf"),
                    "first_done": min(ends) - created if ends else float("inf"),
                    "all_done": parse_time(done_late["finished_at"]) - created,
                    "polls": polls,
                    "early_running_tasks": held["running"],
                    "ok": done_late["done"] == args.late_files,
                }
            )
        final = _wait_one(watch, jobs[early.name], max(120.0, 20 * n * s / w))
        watch.close()
        store.close()
        cpu = load.describe()
    assert final["done"] == n, final
    assert all(t["ok"] for t in trials), trials
    out(
        "  when   submit rpc   seen in job status      committed in store     pass began, daemon clock "
        "first done  all done"
    )
    for t in trials:
        out(
            f"  {100 * t['point']:3.0f}%   {1000 * t['submit_rpc']:6.1f} ms   "
            f"{1000 * t['client_wait']:6.1f} ms = {t['client_wait'] / s:4.2f} T   "
            f"{1000 * t['store_wait']:6.1f} ms = {t['store_wait'] / s:4.2f} T   "
            f"{1000 * t['daemon_wait']:6.1f} ms = {t['daemon_wait'] / s:4.2f} T   "
            f"{1000 * t['first_done']:6.1f} ms  {1000 * t['all_done']:6.1f} ms"
        )
    out(
        f"  (T = one task duration = {s * 1000:g} ms; A ended {n}/{n}, every late user "
        f"{args.late_files}/{args.late_files})"
    )
    out(f"  {cpu}")
    client_waits = [t["client_wait"] / s for t in trials]
    store_waits = [t["store_wait"] / s for t in trials]
    for label, waits in (("seen in job status", client_waits), ("committed in store", store_waits)):
        line(
            f"late user's first dispatch, {label}, median",
            f"{statistics.median(waits):.2f} T",
            f"<= {TARGET_LATE:g} T",
            fmt_check(statistics.median(waits), TARGET_LATE, at_most=True),
        )
        line(
            f"late user's first dispatch, {label}, worst",
            f"{max(waits):.2f} T",
            f"<= {TARGET_LATE:g} T",
            fmt_check(max(waits), TARGET_LATE, at_most=True),
        )
    return {"late_median": statistics.median(client_waits), "late_worst": max(client_waits)}


def _wait_one(client: Any, job_id: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} did not end within {timeout:.0f}s")


# 3. The static split ----------------------------------------------------------------------------------


def static_makespan(files: list[int], capacity: int, max_users: int, seconds: float, rounding: str) -> float:
    """Each user owns capacity / MAX_CONCURRENT_USERS workers for good, whoever else has work."""
    per_user = capacity / max_users
    workers = {"floor": math.floor(per_user), "ceil": math.ceil(per_user)}.get(rounding, per_user)
    if workers <= 0:
        return float("inf")
    if rounding in ("floor", "ceil"):
        return max(math.ceil(f / workers) * seconds for f in files)
    return max(f * seconds / workers for f in files)  # fractional workers (a fluid bound)


def scenario_static(args: argparse.Namespace, fair: dict[str, Any] | None) -> dict[str, Any]:
    n, s, w, m = args.files_per_user, args.seconds, args.workers, args.max_concurrent_users
    out(f"[3] static split (computed here): each user owns {w}/{m} = {w / m:g} workers; same 2 x {n} files")
    floor_ = static_makespan([n, n], w, m, s, "floor")
    ceil_ = static_makespan([n, n], w, m, s, "ceil")
    fluid = static_makespan([n, n], w, m, s, "fluid")
    ideal = 2 * n * s / w
    line(
        f"static, floor -> {math.floor(w / m)} worker(s) per user (the split)",
        f"{floor_:.2f} s",
        f"{floor_ / ideal:.2f} x ideal",
    )
    line(
        f"static, ceil -> {math.ceil(w / m)} workers per user (oversubscribes)",
        f"{ceil_:.2f} s",
        f"{ceil_ / ideal:.2f} x ideal",
    )
    line(f"static, fluid {w / m:g} workers per user", f"{fluid:.2f} s", f"{fluid / ideal:.2f} x ideal")
    if fair:
        line("fairscribe (measured in [1])", f"{fair['makespan']:.2f} s", f"{fair['ratio']:.2f} x ideal")
        line("fairscribe speed-up over the static split", f"{floor_ / fair['makespan']:.2f} x", "(floor split)")
    line("late user under the static split", "0 T", "(own idle worker)")
    return {"static": floor_}


# 4. Zero-time throughput ------------------------------------------------------------------------------


def scenario_zero(
    args: argparse.Namespace, ws: Workspace, users_n: int, files: int, label: str, budget: float
) -> dict[str, Any]:
    total = users_n * files
    cap = f", stopped after {budget:.0f}s if not done" if budget else ""
    out(
        f"[4{label}] zero-time engine: {users_n} users x {files} files = {total} files, {args.workers} workers, "
        f"SQLite, submitted at the same moment{cap}"
    )
    env = base_env(args, FAIRSCRIBE_SIMULATED_SECONDS=0)
    with daemon_running(ws, f"home-zero{label}", **env) as daemon:
        made = time.monotonic()
        users = make_users(daemon, ws, [f"user{i:02d}" for i in range(users_n)], files, tag=f"-zero{label}")
        out(f"  (made {total} fake files in {time.monotonic() - made:.1f}s)")
        rss = RssWatcher(daemon.process.pid)
        load = LoadMeter(daemon.process.pid)
        latencies: dict[str, list[float]] = {"ping": [], "status": [], "meters": []}
        stop = threading.Event()
        with py_spy(daemon, args.py_spy, f"zero{label}"), rss:
            released, jobs = submit_together(daemon, users)
            prober = threading.Thread(
                target=_probe, args=(daemon, users[0], jobs[users[0].name], latencies, stop), daemon=True
            )
            prober.start()
            try:
                seen, final = wait_jobs(daemon, users, jobs, timeout=budget or args.zero_timeout, poll=0.5)
                complete = True
            except TimeoutError:
                seen, final, complete = time.monotonic(), {}, False
            stop.set()
            prober.join()
            memory = rss.status()
        cpu = load.report()
        store = StoreReader(daemon)
        finishes = sorted(f for (f,) in store.conn.execute("SELECT finished_at FROM tasks WHERE state='done'"))
        created = min(parse_time(t) for (t,) in store.conn.execute("SELECT created_at FROM jobs"))
        store.close()
    done = len(finishes)
    ends = [parse_time(f) for f in finishes]
    if complete:
        for user in users:
            job = final[user.name]
            assert job["done"] == files and job["total"] == files, job
        elapsed = max(parse_time(j["finished_at"]) for j in final.values()) - created
        out(
            f"  first submit -> last job done: {elapsed:.1f}s (client saw it after {seen - released:.1f}s); "
            f"every job {files}/{files} done"
        )
    else:
        elapsed = seen - released
        out(
            f"  NOT COMPLETE after {elapsed:.0f}s: {done} of {total} files done; at that rate the whole run "
            f"would take about {total / (done / elapsed):.0f}s"
        )
    rate = done / elapsed
    quarter = elapsed / 4
    per_quarter = [
        sum(1 for e in ends if created + k * quarter <= e < created + (k + 1) * quarter) / quarter for k in range(4)
    ]
    out(f"  files/s in each quarter of the run: {', '.join(f'{r:.0f}' for r in per_quarter)}")
    out(
        f"  daemon CPU {cpu['daemon']:.1f}s = {100 * cpu['daemon'] / cpu['wall']:.0f}% of one core "
        f"({1000 * cpu['daemon'] / max(done, 1):.2f} ms CPU per file); other processes used "
        f"{100 * cpu['others'] / (cpu['wall'] * cpu['cpus']):.0f}% of the machine"
    )
    out(
        "  another client meanwhile: "
        + ", ".join(
            f"{name} p50 {1000 * percentile(v, 0.5):.0f} ms / p99 {1000 * percentile(v, 0.99):.0f} ms"
            for name, v in latencies.items()
            if v
        )
    )
    line(
        "daemon peak RSS (VmHWM) during this run",
        f"{memory['VmHWM'] / 1e6:.0f} MB",
        f"(info; {TARGET_RSS_MB:g} MB target is [5])",
    )
    what = "" if complete else " (incomplete)"
    line(
        f"throughput, {users_n} x {files} zero-time{what}",
        f"{rate:.0f} files/s",
        f">= {TARGET_FILES_PER_S:g}",
        fmt_check(rate, TARGET_FILES_PER_S, at_most=False),
    )
    return {"rate": rate, "elapsed": elapsed, "total": total, "complete": complete}


def _probe(daemon: Any, user: BenchUser, job_id: int, latencies: dict[str, list[float]], stop: threading.Event) -> None:
    """A GUI's view while the daemon is busy: ping and its user's job status 4 times a second, the meters
    once a second (the server's own meter push rate)."""
    with daemon.client(timeout=120.0) as admin, user.client(daemon) as own:
        calls = {"ping": admin.ping, "status": lambda: own.job(job_id), "meters": admin.meters}
        tick = 0
        while not stop.is_set():
            for name, call in calls.items():
                if name == "meters" and tick % 4:
                    continue
                t = time.monotonic()
                call()
                latencies[name].append(time.monotonic() - t)
            tick += 1
            stop.wait(0.25)


# 5. Peak RSS with 100,000 queued files ----------------------------------------------------------------


def scenario_rss(args: argparse.Namespace, ws: Workspace) -> dict[str, Any]:
    count = args.rss_files
    out(f"[5] memory: one user submits a folder of {count} files; 1 worker, 1 s per file, so they stay queued")
    env = base_env(args, FAIRSCRIBE_SIMULATED_SECONDS=1, FAIRSCRIBE_WORKERS=1)
    with daemon_running(ws, "home-rss", **env) as daemon:
        made = time.monotonic()
        (user,) = make_users(daemon, ws, ["hoarder"], count, tag="-rss")
        out(f"  (made {count} fake files in {time.monotonic() - made:.1f}s)")
        rss = RssWatcher(daemon.process.pid, interval=0.2)
        idle = rss.status()
        pings: list[float] = []
        stop = threading.Event()

        def probe() -> None:  # another client's experience while the folder is scanned
            with daemon.client(timeout=60.0) as other:
                while not stop.is_set():
                    t = time.monotonic()
                    other.ping()
                    pings.append(time.monotonic() - t)
                    stop.wait(0.05)

        prober = threading.Thread(target=probe, daemon=True)
        with rss:
            prober.start()
            client = user.client(daemon)
            t0 = time.monotonic()
            job = client.submit(str(user.source), out=str(user.out))
            submit_rpc = time.monotonic() - t0
            while True:
                state = client.job(job["id"])
                if not state["scanning"]:
                    break
                time.sleep(0.1)
            scanned = time.monotonic() - t0
            stop.set()
            prober.join()
            assert state["total"] == count, state
            timings = {}
            with daemon.client(timeout=120.0) as admin:
                for name, call in (
                    ("meters", admin.meters),
                    ("status", lambda: client.job(job["id"])),
                    ("ping", admin.ping),
                ):
                    spent = []
                    for _ in range(5):
                        t = time.monotonic()
                        call()
                        spent.append(time.monotonic() - t)
                    timings[name] = statistics.median(spent)
                meters = admin.meters()
            time.sleep(1.0)
            memory = rss.status()
            client.close()
    queued = sum(u["queued"] for u in meters["users"])
    out(
        f"  submit answered in {1000 * submit_rpc:.0f} ms; scan of {count} files done after {scanned:.1f}s "
        f"({count / scanned:.0f} files/s); {queued} queued at the end"
    )
    out(
        f"  another client's ping during the scan: p50 {1000 * percentile(pings, 0.5):.1f} ms, "
        f"max {1000 * max(pings):.0f} ms ({len(pings)} pings)"
    )
    out(
        f"  with {count} queued: meters {1000 * timings['meters']:.0f} ms, job status "
        f"{1000 * timings['status']:.0f} ms, ping {1000 * timings['ping']:.1f} ms (median of 5)"
    )
    out(
        f"  daemon RSS idle before submit {idle['VmRSS'] / 1e6:.0f} MB; now {memory['VmRSS'] / 1e6:.0f} MB; "
        f"peak {memory['VmHWM'] / 1e6:.0f} MB = {mib(memory['VmHWM']):.0f} MiB"
    )
    line(
        f"daemon peak RSS (VmHWM), {count} queued",
        f"{memory['VmHWM'] / 1e6:.0f} MB",
        f"<= {TARGET_RSS_MB:g} MB",
        fmt_check(memory["VmHWM"] / 1e6, TARGET_RSS_MB, at_most=True),
    )
    return {"hwm": memory["VmHWM"]}


# ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--files-per-user", type=int, default=1000, help="N of scenarios 1-3")
    parser.add_argument("--seconds", type=float, default=0.05, help="simulated seconds per file (scenarios 1-3)")
    parser.add_argument("--workers", type=int, default=5, help="FAIRSCRIBE_WORKERS")
    parser.add_argument(
        "--max-concurrent-users",
        type=int,
        default=int(os.environ.get("MAX_CONCURRENT_USERS", "4")),
        help="MAX_CONCURRENT_USERS",
    )
    parser.add_argument("--sample-interval", type=float, default=0.05, help="meters sampling period (s)")
    parser.add_argument("--window", type=float, default=1.0, help="throughput-fairness window (s)")
    parser.add_argument("--late-files", type=int, default=5, help="files each late user submits")
    parser.add_argument("--late-trials", type=int, default=5, help="late users, arriving at 30%%..70%% of A")
    parser.add_argument("--late-poll", type=float, default=0.002, help="late user's job-status polling period (s)")
    parser.add_argument("--zero-users", type=int, default=10)
    parser.add_argument("--zero-files", type=int, default=10_000, help="files per user of the full zero-time run")
    parser.add_argument(
        "--zero-small-files", type=int, default=1000, help="files per user of the smaller zero-time run (0 = skip)"
    )
    parser.add_argument("--zero-timeout", type=float, default=1800.0, help="give up on a zero-time run after this")
    parser.add_argument(
        "--zero-budget",
        type=float,
        default=240.0,
        help="stop the full zero-time run after this many seconds and report the rate so far (0 = run it to the end)",
    )
    parser.add_argument("--py-spy", metavar="DIR", help="record each daemon with py-spy into DIR")
    parser.add_argument("--rss-files", type=int, default=100_000)
    parser.add_argument(
        "--only",
        default="fair,late,static,zero,rss",
        help="comma-separated scenarios to run: fair, late, static, zero, rss",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller variant: 300 files per user, zero-time 10 x 500 only, 20,000 queued",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.files_per_user = min(args.files_per_user, 300)
        args.zero_files, args.zero_small_files = 500, 0
        args.rss_files = min(args.rss_files, 20_000)
        args.late_trials = min(args.late_trials, 3)
    only = set(args.only.split(","))

    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out(f"fairscribe spine benchmark, {stamp}; {machine()}")
    out(
        f"args: files/user {args.files_per_user}, {args.seconds:g} s/file, {args.workers} workers, "
        f"MAX_CONCURRENT_USERS {args.max_concurrent_users}, zero-time {args.zero_users} x {args.zero_files}"
        f"{f' and {args.zero_users} x {args.zero_small_files}' if args.zero_small_files else ''}, "
        f"{args.rss_files} queued{' (--quick)' if args.quick else ''}"
    )
    ws = Workspace()
    results: dict[str, Any] = {}
    started = time.monotonic()
    try:
        if "fair" in only:
            results["fair"] = scenario_fair(args, ws)
            out()
        if "late" in only:
            results["late"] = scenario_late(args, ws)
            out()
        if "static" in only:
            results["static"] = scenario_static(args, results.get("fair"))
            out()
        if "zero" in only:
            if args.zero_small_files:
                results["zero_small"] = scenario_zero(args, ws, args.zero_users, args.zero_small_files, "a", 0.0)
                out()
            results["zero"] = scenario_zero(
                args, ws, args.zero_users, args.zero_files, "b" if args.zero_small_files else "", args.zero_budget
            )
            out()
        if "rss" in only:
            results["rss"] = scenario_rss(args, ws)
            out()
    finally:
        ws.cleanup()
    out(f"total benchmark time {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
