"""`fairscribed`: start the daemon, or upgrade a store's schema in place (`fairscribed migrate`)."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import signal
import sys
import threading

from fairscribe.daemon.db import Database
from fairscribe.daemon.settings import Settings
from fairscribe.shared.errors import ConfigError
from fairscribe.shared.protocol import VERSION


class RedactSecrets(logging.Filter):
    """Defence in depth: whatever a library logs, a configured key never reaches a log line."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "[redacted]")
                record.msg, record.args = message, None
        return True


def setup_logging(settings: Settings, level: str) -> None:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    redact = RedactSecrets([settings.assemblyai_api_key or ""])
    handlers: list[logging.Handler] = [
        logging.StreamHandler(sys.stderr),
        logging.handlers.RotatingFileHandler(logs / "fairscribed.log", maxBytes=10_000_000, backupCount=5),
    ]
    root = logging.getLogger()
    root.setLevel(level)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redact)
        root.addHandler(handler)
    # Libraries that log every request or every job run would drown the lines about users' work.
    for noisy in ("apscheduler", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fairscribed", description="The fairscribe daemon.")
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["run", "migrate"],
        help="run the daemon (default) or upgrade the store's schema and exit",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--version", action="version", version=f"fairscribed {VERSION}")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"fairscribed: {exc}")
    setup_logging(settings, args.log_level)
    if args.command == "migrate":
        db = Database(settings.database_url)
        before = db.revision()
        db.migrate()
        print(f"store {db.describe()}: schema {before or 'empty'} -> {db.revision()}")
        return
    from fairscribe.daemon.app import Daemon

    daemon = Daemon(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        daemon.start()
    except RuntimeError as exc:
        sys.exit(f"fairscribed: {exc}")
    stop.wait()
    daemon.stop()


if __name__ == "__main__":
    main()
