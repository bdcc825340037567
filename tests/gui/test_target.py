"""Which daemon the GUI talks to is remembered between runs, and a bad saved value falls back."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from fairscribe.gui.target import load_target, save_target
from fairscribe.shared.config import ClientSettings


def test_a_container_daemon_is_remembered_with_its_token(store: QSettings, tmp_path: Path) -> None:
    remote = ClientSettings(socket=tmp_path / "s.sock", address=("127.0.0.1", 8765), token="tok-123")
    save_target(store, remote)
    assert load_target(QSettings(store.fileName(), QSettings.Format.IniFormat)) == remote
    local = ClientSettings(socket=tmp_path / "other.sock", address=None, token=None)
    save_target(store, local)
    assert load_target(store) == local
    assert store.value("connection/token") is None  # a token is not kept once it is not used


def test_nothing_saved_or_garbage_saved_means_the_environment(
    store: QSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIRSCRIBE_SOCKET", str(tmp_path / "env.sock"))
    monkeypatch.delenv("FAIRSCRIBE_LISTEN", raising=False)
    monkeypatch.delenv("FAIRSCRIBE_TOKEN", raising=False)
    from_env = ClientSettings(socket=tmp_path / "env.sock", address=None, token=None)
    assert load_target(store) == from_env
    store.setValue("connection/mode", "tcp")
    store.setValue("connection/address", "not an address")
    assert load_target(store) == from_env


def test_the_connection_dialog_checks_the_address_and_asks_for_a_token(qtbot, tmp_path: Path, shoot) -> None:
    from fairscribe.gui.dialogs import ConnectionDialog

    current = ClientSettings(socket=tmp_path / "s.sock", address=None, token=None)
    dialog = ConnectionDialog(current)
    qtbot.addWidget(dialog)
    dialog.remote.setChecked(True)
    dialog.address.setText("localhost")
    dialog._check()
    assert "HOST:PORT" in dialog.error.text() and dialog.result() != ConnectionDialog.DialogCode.Accepted
    dialog.address.setText("127.0.0.1:8765")
    dialog._check()
    assert "token" in dialog.error.text()
    dialog.token.setText("tok-123")
    shoot(dialog, "connection-dialog")
    dialog._check()
    assert dialog.result() == ConnectionDialog.DialogCode.Accepted
    assert dialog.target == ClientSettings(socket=tmp_path / "s.sock", address=("127.0.0.1", 8765), token="tok-123")
