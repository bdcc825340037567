"""The `fairscribe` command line against a fake client: parsing, output, JSON shapes, exit codes.

The fake answers with the dicts `protocol.py` documents; `cli.make_client` is the one seam replaced.
End-to-end runs against a real daemon live with the daemon's tests.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from fairscribe.shared import cli, cli_render
from fairscribe.shared.errors import ConfigError, DaemonNotRunning, RemoteError

runner = CliRunner()


def make_job(job_id: int = 7, **counts: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": job_id,
        "user": "alice",
        "state": "active",
        "dir": "/audio/in",
        "out": "/audio/out",
        "engine": "simulated",
        "formats": ["txt", "srt"],
        "language": None,
        "total": 1000,
        "queued": 1000,
        "running": 0,
        "done": 0,
        "failed": 0,
        "cancelled": 0,
        "scanning": False,
        "error": None,
        "eta_seconds": 120.0,
        "position": 1.0,
        "created_at": "2025-01-01T00:00:00",
        "finished_at": None,
    }
    job.update(counts)
    return job


RUNNING = make_job(queued=500, running=5, done=495)
DONE = make_job(state="done", queued=0, done=1000, eta_seconds=None)
SOME_FAILED = make_job(state="done", queued=0, done=998, failed=2, eta_seconds=None)


def failed_files(count: int) -> list[dict[str, Any]]:
    return [
        {
            "path": f"/audio/in/bad{i:03d}.wav",
            "state": "failed",
            "attempts": 3,
            "error": f"not audio ({i})",
            "progress": 0.0,
            "audio_seconds": None,
        }
        for i in range(count)
    ]


class FakeClient:
    """The methods of `Client` the CLI uses, answering like the daemon and recording each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.job_answers: list[dict[str, Any]] = [DONE]
        self.pushes: list[list[dict[str, Any]]] = []
        self.file_list: list[dict[str, Any]] = [
            {
                "path": "/audio/in/a.wav",
                "state": "done",
                "attempts": 1,
                "error": None,
                "progress": 1.0,
                "audio_seconds": 3.5,
            },
            {
                "path": "/audio/in/sub/b.mp3",
                "state": "failed",
                "attempts": 3,
                "error": "file is empty",
                "progress": 0.0,
                "audio_seconds": None,
            },
        ]
        self.error: Exception | None = None
        self.closed = False

    def _record(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((name, args, kwargs))
        if self.error is not None:
            raise self.error

    def called(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(args, kwargs) for call, args, kwargs in self.calls if call == name]

    def close(self) -> None:
        self.closed = True

    def submit(self, directory: str, **options: Any) -> dict[str, Any]:
        self._record("submit", directory, **options)
        return make_job(dir=directory, out=options.get("out") or directory + ".out", total=3, queued=3)

    def jobs(self, *, all_users: bool = False) -> list[dict[str, Any]]:
        self._record("jobs", all_users=all_users)
        return [RUNNING, make_job(8, user="bob", state="paused", scanning=True, total=40, queued=40)]

    def job(self, job_id: int) -> dict[str, Any]:
        self._record("job", job_id)
        # Each read moves the scripted job one step on, then it stays at the last step.
        answer = self.job_answers.pop(0) if len(self.job_answers) > 1 else self.job_answers[0]
        return dict(answer, id=job_id)

    def files(self, job_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        self._record("files", job_id)
        return dict(self.job_answers[-1], id=job_id), self.file_list

    def control(self, action: str, job_id: int) -> dict[str, Any]:
        self._record("control", action, job_id)
        return make_job(job_id, state={"cancel": "cancelled", "pause": "paused"}.get(action, "active"))

    def move(self, job_id: int, to: str) -> dict[str, Any]:
        self._record("move", job_id, to)
        return make_job(job_id)

    def meters(self) -> dict[str, Any]:
        self._record("meters")
        return {
            "users": [
                {
                    "user": "alice",
                    "running": 3,
                    "share": 2.5,
                    "cap": None,
                    "queued": 900,
                    "done": 95,
                    "failed": 5,
                    "total": 1000,
                    "eta_seconds": 3700,
                },
                {
                    "user": "bob",
                    "running": 2,
                    "share": 2.5,
                    "cap": 2,
                    "queued": 10,
                    "done": 0,
                    "failed": 0,
                    "total": 12,
                    "eta_seconds": 45,
                },
                {
                    "user": "carol",
                    "running": 0,
                    "share": 0.0,
                    "cap": None,
                    "queued": 50,
                    "done": 0,
                    "failed": 0,
                    "total": 50,
                    "eta_seconds": None,
                },
            ],
            "pools": [{"name": "simulated", "capacity": 5, "running": 5}],
            "workers": 5,
            "waiting": ["carol"],
        }

    def subscribe(self, since: int | None = None) -> dict[str, Any]:
        self._record("subscribe", since)
        return {"cursor": 41, "events": [], "refetch": False}

    def next_events(self, timeout: float | None = None) -> list[dict[str, Any]]:
        self._record("next_events", timeout)
        if self.pushes:
            return self.pushes.pop(0)
        return [{"id": 42, "kind": "task", "job": 7, "user": "alice", "at": "", "data": {}}]

    def add_user(self, name: str, **options: Any) -> dict[str, Any]:
        self._record("add_user", name, **options)
        return {
            "name": name,
            "weight": options["weight"] or 1.0,
            "max_workers": options["max_workers"],
            "roots": options["roots"] or [],
        }

    def set_user_key(self, name: str, key: str, **options: Any) -> dict[str, Any]:
        self._record("set_user_key", name, key, **options)
        return {"name": name, "weight": 1.0, "max_workers": None, "roots": [], "has_key": True}

    def create_token(self, name: str) -> str:
        self._record("create_token", name)
        return "fs_tok_0123456789abcdef"

    def add_schedule(self, directory: str, **options: Any) -> dict[str, Any]:
        self._record("add_schedule", directory, **options)
        return {"id": "s1", "dir": directory, **{k: v for k, v in options.items() if v is not None}}

    def schedules(self) -> list[dict[str, Any]]:
        self._record("schedules")
        return [
            {
                "id": "s1",
                "dir": "/audio/in",
                "out": None,
                "every": 600,
                "cron": None,
                "next_run_at": "2025-01-01T00:10:00",
            },
            {
                "id": "s2",
                "dir": "/audio/night",
                "out": "/audio/t",
                "every": None,
                "cron": "0 2 * * *",
                "next_run_at": None,
            },
        ]

    def remove_schedule(self, schedule_id: str) -> None:
        self._record("remove_schedule", schedule_id)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    client.as_users = []  # type: ignore[attr-defined]

    def make_client(as_user: str | None) -> FakeClient:
        client.as_users.append(as_user)  # type: ignore[attr-defined]
        return client

    monkeypatch.setattr(cli, "make_client", make_client)
    return client


@pytest.fixture
def audio_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    return folder


def run(*args: str, input: str | None = None) -> Any:
    return runner.invoke(cli.app, list(args), input=input, env={"COLUMNS": "200"})


def one_line(text: str) -> str:
    """Usage errors come in a box that may wrap; compare their words, not their layout."""
    return " ".join(text.replace("│", " ").split())


# submit


def test_submit_sends_absolute_paths_and_parsed_options(fake: FakeClient, audio_dir: Path) -> None:
    result = run(
        "submit",
        "in",
        "--out",
        "transcripts",
        "--formats",
        "srt, TXT,srt",
        "--language",
        "de",
        "--engine",
        "assemblyai",
        "--force",
        "--speech-model",
        "universal",
        "--no-punctuate",
    )

    assert result.exit_code == 0, result.output
    ((args, kwargs),) = fake.called("submit")
    assert args == (str(audio_dir),)
    assert kwargs == {
        "out": str(audio_dir.parent / "transcripts"),
        "formats": ["srt", "txt"],
        "language": "de",
        "engine": "assemblyai",
        "force": True,
        "options": {"speech_models": ["universal"], "punctuate": False, "format_text": False},
    }
    assert "job 7 submitted" in result.stdout
    assert "fairscribe wait 7" in result.stdout
    assert fake.closed


def test_submit_defaults_leave_choices_to_the_daemon(fake: FakeClient, audio_dir: Path) -> None:
    assert run("submit", str(audio_dir)).exit_code == 0
    ((_, kwargs),) = fake.called("submit")
    assert kwargs == {"out": None, "formats": None, "language": None, "engine": None, "force": False, "options": None}


def test_submit_json_prints_only_the_job(fake: FakeClient, audio_dir: Path) -> None:
    result = run("submit", "in", "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["job"]["id"] == 7
    assert result.stderr == ""


def test_submit_missing_folder_is_refused_before_connecting(fake: FakeClient, audio_dir: Path) -> None:
    result = run("submit", "no-such-folder")

    assert result.exit_code == 2
    assert "no-such-folder" in one_line(result.stderr)
    assert "does not exist" in one_line(result.stderr)
    assert fake.as_users == []  # type: ignore[attr-defined]


def test_submit_a_file_instead_of_a_folder_is_refused(fake: FakeClient, audio_dir: Path) -> None:
    (audio_dir / "a.wav").write_bytes(b"RIFF")
    result = run("submit", "in/a.wav")

    assert result.exit_code == 2
    assert "a.wav" in one_line(result.stderr)
    assert fake.calls == []


def test_submit_unknown_format_names_it(fake: FakeClient, audio_dir: Path) -> None:
    result = run("submit", "in", "--formats", "txt,mp3")

    assert result.exit_code == 2
    assert "mp3" in one_line(result.stderr) and "--formats" in one_line(result.stderr)
    assert fake.calls == []


def test_submit_wait_follows_the_job_and_exits_zero_when_all_done(fake: FakeClient, audio_dir: Path) -> None:
    fake.job_answers = [RUNNING, RUNNING, DONE]
    result = run("submit", "in", "--wait")

    assert result.exit_code == 0, result.output
    submitted, summary, where = result.stdout.splitlines()
    assert submitted.startswith("job 7 submitted: ")
    assert summary == "job 7: 1000 done, 0 failed, 0 cancelled of 1000"
    assert where.startswith("transcripts: ")
    assert len(fake.called("job")) == 3
    assert fake.called("subscribe")


def test_submit_wait_json_prints_the_final_job_and_exits_one_on_failures(fake: FakeClient, audio_dir: Path) -> None:
    fake.job_answers = [RUNNING, SOME_FAILED]
    fake.file_list = failed_files(2)
    result = run("submit", "in", "--wait", "--json")

    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert answer["job"]["state"] == "done" and answer["job"]["failed"] == 2
    assert [file["path"] for file in answer["failed_files"]] == ["/audio/in/bad000.wav", "/audio/in/bad001.wav"]


# wait


def test_wait_exits_zero_when_every_file_is_done(fake: FakeClient) -> None:
    result = run("wait", "7")

    assert result.exit_code == 0
    assert result.stdout.strip() == "job 7: 1000 done, 0 failed, 0 cancelled of 1000"
    assert fake.called("files") == []


def test_wait_exits_one_and_lists_failed_files_with_reasons(fake: FakeClient) -> None:
    fake.job_answers = [SOME_FAILED]
    fake.file_list = [*failed_files(2), {"path": "/audio/in/ok.wav", "state": "done", "attempts": 1, "error": None}]
    result = run("wait", "7")

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "job 7: 998 done, 2 failed, 0 cancelled of 1000"
    assert lines[1:] == ["  bad000.wav: not audio (0)", "  bad001.wav: not audio (1)"]


def test_wait_shows_twenty_failures_then_points_at_status_files(fake: FakeClient) -> None:
    fake.job_answers = [make_job(state="done", queued=0, done=975, failed=25)]
    fake.file_list = failed_files(25)
    result = run("--as", "bob", "wait", "7")

    assert result.exit_code == 1
    listed = [line for line in result.stdout.splitlines() if ": not audio" in line]
    assert len(listed) == 20
    assert "… and 5 more; see `fairscribe --as bob status 7 --files`" in result.stdout


@pytest.mark.parametrize("state", ["cancelled", "done"])
def test_wait_exits_one_when_files_were_cancelled(fake: FakeClient, state: str) -> None:
    # Whatever the job's own state, a cancelled file means not every file is done.
    fake.job_answers = [make_job(state=state, queued=0, done=10, cancelled=990)]
    result = run("wait", "7")

    assert result.exit_code == 1
    assert "job 7: 10 done, 0 failed, 990 cancelled of 1000" in result.stdout


def test_wait_shows_a_job_level_error(fake: FakeClient) -> None:
    fake.job_answers = [make_job(state="failed", queued=0, failed=1000, error="AssemblyAI rejected the key")]
    fake.file_list = []
    result = run("wait", "7")

    assert result.exit_code == 1
    assert "job error: AssemblyAI rejected the key" in result.stdout


def test_wait_interrupted_says_the_job_keeps_running(fake: FakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.job_answers = [RUNNING]

    def interrupted(timeout: float | None = None) -> list[dict[str, Any]]:
        raise KeyboardInterrupt

    monkeypatch.setattr(fake, "next_events", interrupted)
    result = run("wait", "7")

    assert result.exit_code == 130
    assert "job 7 keeps running" in result.stderr


def test_follow_refetches_only_for_pushes_about_its_job(fake: FakeClient) -> None:
    fake.job_answers = [RUNNING, DONE]
    other = {"id": 1, "kind": "task", "job": 8, "user": "bob", "at": "", "data": {}}
    fake.pushes = [[other], [other], [dict(other, job=7)]]
    seen: list[str] = []

    final = cli.follow(fake, 7, lambda job: seen.append(job["state"]))  # type: ignore[arg-type]

    assert final["state"] == "done"
    assert seen == ["active", "done"]
    assert len(fake.called("next_events")) == 3


def test_follow_rereads_the_job_without_pushes(fake: FakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pushes are hints: with none arriving at all, the periodic re-read still reaches the end.
    monkeypatch.setattr(cli, "SAFETY_REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(fake, "next_events", lambda timeout=None: [])
    fake.job_answers = [RUNNING, RUNNING, DONE]

    assert cli.follow(fake, 7, lambda job: None)["state"] == "done"  # type: ignore[arg-type]
    assert len(fake.called("job")) == 3


# errors


def test_daemon_not_running_gives_the_hint_and_exit_three(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_daemon(as_user: str | None) -> FakeClient:
        raise DaemonNotRunning("no fairscribe daemon answers at /run/fs.sock: start one with `fairscribed`")

    monkeypatch.setattr(cli, "make_client", no_daemon)
    result = run("status")

    assert result.exit_code == 3
    assert result.stdout == ""
    assert "error: no fairscribe daemon answers at /run/fs.sock: start one with `fairscribed`" in result.stderr
    assert "Traceback" not in result.output


def test_daemon_not_running_in_json_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_daemon(as_user: str | None) -> FakeClient:
        raise DaemonNotRunning("no fairscribe daemon answers")

    monkeypatch.setattr(cli, "make_client", no_daemon)
    result = run("meters", "--json")

    assert result.exit_code == 3
    assert json.loads(result.stdout) == {
        "error": {"kind": "daemon_not_running", "message": "no fairscribe daemon answers"}
    }


def test_the_real_factory_reports_a_missing_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRSCRIBE_SOCKET", str(tmp_path / "nobody.sock"))
    monkeypatch.delenv("FAIRSCRIBE_LISTEN", raising=False)
    result = run("status")

    assert result.exit_code == 3
    assert "nobody.sock" in result.stderr and "fairscribed" in result.stderr


def test_remote_error_exits_two_with_its_message(fake: FakeClient) -> None:
    fake.error = RemoteError(1003, "job 99 not found", {"job": 99})
    result = run("cancel", "99")

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: job 99 not found"
    assert result.stdout == ""
    assert fake.closed


def test_remote_error_in_json_mode(fake: FakeClient, audio_dir: Path) -> None:
    fake.error = RemoteError(1004, f"{audio_dir} is empty", {"field": "dir"})
    result = run("submit", "in", "--json")

    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "error": {"kind": "remote", "message": f"{audio_dir} is empty", "code": 1004, "data": {"field": "dir"}}
    }


def test_a_malformed_setting_exits_two_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def bad_setting(as_user: str | None) -> FakeClient:
        raise ConfigError("FAIRSCRIBE_LISTEN='nowhere' is not HOST:PORT")

    monkeypatch.setattr(cli, "make_client", bad_setting)
    result = run("status")

    assert result.exit_code == 2
    assert "FAIRSCRIBE_LISTEN" in result.stderr


def test_as_refused_by_the_daemon_is_an_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_admin(as_user: str | None) -> FakeClient:
        raise RemoteError(1002, f"only an admin may act as {as_user}")

    monkeypatch.setattr(cli, "make_client", not_admin)
    result = run("--as", "bob", "meters")

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: only an admin may act as bob"


def test_as_user_reaches_the_client(fake: FakeClient) -> None:
    assert run("--as", "bob", "status").exit_code == 0
    assert run("status").exit_code == 0
    assert fake.as_users == ["bob", None]  # type: ignore[attr-defined]


# status and meters


def test_status_table_has_every_count(fake: FakeClient) -> None:
    result = run("status")

    assert result.exit_code == 0
    header, first, second, caption = result.stdout.splitlines()
    assert header.split() == ["id", "user", "state", "total", "queued", "running", "done", "failed", "cancelled", "eta"]
    assert first.split() == ["7", "alice", "active", "1000", "500", "5", "495", "0", "0", "2m", "00s"]
    # A paused job has no ETA, and the total of a folder still being scanned is marked as growing.
    assert second.split() == ["8", "bob", "paused", "40+", "40", "0", "0", "0", "0", "—"]
    assert "still scanning" in caption
    assert fake.called("jobs") == [((), {"all_users": False})]


def test_status_numbers_are_right_aligned(fake: FakeClient) -> None:
    header, *rows = run("status").stdout.splitlines()[:3]
    # Each count (total … cancelled) ends in the column where its header ends.
    for line in rows:
        ends = [match.end() for match in re.finditer(r"\S+", line)][3:9]
        assert ends == [match.end() for match in re.finditer(r"\S+", header)][3:9]


def test_status_all_asks_for_every_users_jobs(fake: FakeClient) -> None:
    result = run("status", "--all", "--json")

    assert fake.called("jobs") == [((), {"all_users": True})]
    assert [job["user"] for job in json.loads(result.stdout)["jobs"]] == ["alice", "bob"]


def test_status_of_one_job(fake: FakeClient) -> None:
    fake.job_answers = [make_job(9, error="stall repaired")]
    result = run("status", "9")

    assert result.exit_code == 0
    assert "from: /audio/in" in result.stdout and "to: /audio/out" in result.stdout
    assert "error: stall repaired" in result.stdout
    assert json.loads(run("status", "9", "--json").stdout)["job"]["id"] == 9


def test_status_files_lists_state_attempts_and_reason(fake: FakeClient) -> None:
    result = run("status", "7", "--files")

    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if "b.mp3" in line)
    assert row.split() == ["sub/b.mp3", "failed", "3", "file", "is", "empty"]
    answer = json.loads(run("status", "7", "--files", "--json").stdout)
    assert set(answer) == {"job", "files"} and len(answer["files"]) == 2


def test_status_files_needs_a_job(fake: FakeClient) -> None:
    result = run("status", "--files")

    assert result.exit_code == 2
    assert "--files" in one_line(result.stderr) and "give a JOB" in one_line(result.stderr)
    assert fake.calls == []


def test_meters_shows_waiting_users_and_fractional_shares(fake: FakeClient) -> None:
    result = run("meters")

    assert result.exit_code == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:] if line.strip()}
    assert rows["alice"][:5] == ["alice", "running", "3", "2.5", "—"]
    assert rows["bob"][4] == "2"
    assert rows["carol"][1] == "waiting"
    assert "simulated 5/5 busy" in result.stdout


def test_meters_json_is_the_daemons_answer(fake: FakeClient) -> None:
    assert json.loads(run("meters", "--json").stdout) == fake.meters()


# job control


@pytest.mark.parametrize("action", ["cancel", "pause", "resume", "retry"])
def test_job_actions(fake: FakeClient, action: str) -> None:
    result = run(action, "7")

    assert result.exit_code == 0
    assert fake.called("control") == [((action, 7), {})]
    assert result.stdout.startswith("job 7: ")
    assert json.loads(run(action, "7", "--json").stdout)["job"]["id"] == 7


def test_move(fake: FakeClient) -> None:
    result = run("move", "7", "top")

    assert result.exit_code == 0
    assert fake.called("move") == [((7, "top"), {})]
    assert "moved to the top of alice's queue" in result.stdout


def test_move_refuses_an_unknown_place(fake: FakeClient) -> None:
    result = run("move", "7", "sideways")

    assert result.exit_code == 2
    assert "sideways" in one_line(result.stderr)
    assert fake.calls == []


def test_job_id_must_be_a_number(fake: FakeClient) -> None:
    assert run("wait", "seven").exit_code == 2
    assert fake.calls == []


# admin


def test_user_add_sends_absolute_roots(fake: FakeClient, audio_dir: Path) -> None:
    result = run("user", "add", "carol", "--weight", "2", "--max-workers", "3", "--root", "in", "--root", "/srv/x")

    assert result.exit_code == 0
    assert fake.called("add_user") == [
        (("carol",), {"weight": 2.0, "max_workers": 3, "roots": [str(audio_dir), "/srv/x"]})
    ]
    assert "user carol: weight 2, max workers 3" in result.stdout


@pytest.mark.parametrize(("option", "value"), [("--weight", "0"), ("--weight", "-1"), ("--max-workers", "0")])
def test_user_add_refuses_nonpositive_limits(fake: FakeClient, option: str, value: str) -> None:
    result = run("user", "add", "carol", option, value)

    assert result.exit_code == 2
    assert option in one_line(result.stderr)
    assert fake.calls == []


def test_user_key_is_read_from_stdin_and_never_printed(fake: FakeClient) -> None:
    result = run("user", "key", "carol", "--max-workers", "2", input="aai-secret-key\n")

    assert result.exit_code == 0, result.output
    assert fake.called("set_user_key") == [(("carol", "aai-secret-key"), {"max_workers": 2})]
    assert "aai-secret-key" not in result.output


@pytest.mark.parametrize("stdin", ["", "\n", "two words\n"])
def test_user_key_refuses_anything_but_one_key(fake: FakeClient, stdin: str) -> None:
    result = run("user", "key", "carol", input=stdin)

    assert result.exit_code == 2
    assert "key" in one_line(result.stderr)
    assert fake.calls == []


def test_token_create_prints_only_the_token_on_stdout(fake: FakeClient) -> None:
    result = run("token", "create", "dave")

    assert result.exit_code == 0
    assert result.stdout == "fs_tok_0123456789abcdef\n"
    assert "shown once" in result.stderr
    assert json.loads(run("token", "create", "dave", "--json").stdout) == {
        "user": "dave",
        "token": "fs_tok_0123456789abcdef",
    }


# schedules


def test_schedule_add_every_sends_seconds(fake: FakeClient, audio_dir: Path) -> None:
    result = run("schedule", "add", "in", "--every", "10m", "--out", "t", "--formats", "vtt")

    assert result.exit_code == 0, result.output
    ((args, kwargs),) = fake.called("add_schedule")
    assert args == (str(audio_dir),)
    assert kwargs == {
        "every": 600,
        "out": str(audio_dir.parent / "t"),
        "formats": ["vtt"],
        "language": None,
        "engine": None,
    }
    assert "every 10m" in result.stdout


def test_schedule_add_cron(fake: FakeClient, audio_dir: Path) -> None:
    result = run("schedule", "add", "in", "--cron", "0 2 * * *", "--json")

    assert result.exit_code == 0
    assert fake.called("add_schedule")[0][1]["cron"] == "0 2 * * *"
    assert json.loads(result.stdout)["schedule"]["cron"] == "0 2 * * *"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ([], "--every / --cron"),
        (["--every", "10m", "--cron", "0 2 * * *"], "--every / --cron"),
        (["--every", "10 minutes"], "--every"),
        (["--every", "0s"], "--every"),
        (["--cron", "0 2 * *"], "--cron"),
    ],
)
def test_schedule_add_refuses_bad_timing(fake: FakeClient, audio_dir: Path, options: list[str], named: str) -> None:
    result = run("schedule", "add", "in", *options)

    assert result.exit_code == 2
    assert named in one_line(result.stderr)
    assert fake.calls == []


def test_schedule_list_and_remove(fake: FakeClient) -> None:
    listing = run("schedule", "list")
    assert listing.exit_code == 0
    assert "every 10m" in listing.stdout and "cron 0 2 * * *" in listing.stdout

    removed = run("schedule", "remove", "s1", "--json")
    assert removed.exit_code == 0
    assert fake.called("remove_schedule") == [(("s1",), {})]
    assert json.loads(removed.stdout) == {"removed": "s1"}


# every command's --json answer is one JSON document on stdout


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "7"],
        ["status", "7", "--files"],
        ["wait", "7"],
        ["meters"],
        ["cancel", "7"],
        ["move", "7", "up"],
        ["user", "add", "carol"],
        ["token", "create", "carol"],
        ["schedule", "list"],
        ["schedule", "remove", "s1"],
    ],
)
def test_json_answers_parse(fake: FakeClient, args: list[str]) -> None:
    result = run(*args, "--json")

    assert result.exit_code == 0
    assert isinstance(json.loads(result.stdout), dict)


# durations


UNITS = st.sampled_from(sorted(cli.DURATION_UNITS))


@given(st.integers(min_value=1, max_value=10**9))
def test_format_every_round_trips(seconds: int) -> None:
    assert cli.parse_duration(cli_render.format_every(seconds)) == seconds


@given(st.integers(min_value=1, max_value=10**6), UNITS)
def test_parse_duration_multiplies_by_its_unit(count: int, unit: str) -> None:
    assert cli.parse_duration(f"{count}{unit}") == count * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


@pytest.mark.parametrize("text", ["", "10", "m", "10x", "1.5h", "-5m", "0m", "10m5s", "ten minutes"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        cli.parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "—"), (0, "0s"), (45.4, "45s"), (125, "2m 05s"), (3700, "1h 01m"), (90000, "1d 01h")],
)
def test_format_eta(seconds: float | None, shown: str) -> None:
    assert cli_render.format_eta(seconds) == shown


def test_relative_path_keeps_paths_outside_the_job_folder() -> None:
    assert cli_render.relative_path("/audio/in/x/a.wav", "/audio/in") == os.path.join("x", "a.wav")
    assert cli_render.relative_path("/elsewhere/a.wav", "/audio/in") == "/elsewhere/a.wav"
