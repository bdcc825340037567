"""The two small forms: what to submit, and which daemon to talk to."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from fairscribe.shared.config import ClientSettings, parse_host_port, socket_path
from fairscribe.shared.errors import ConfigError

FORMATS = ("txt", "srt", "vtt", "json")
"""The transcript formats the daemon writes (DESIGN.md, `fairscribe submit --formats`)."""


def _folder_field(parent: QWidget, caption: str, placeholder: str) -> tuple[QLineEdit, QWidget]:
    """A line edit with a Browse… button that fills it from a folder chooser."""
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setMinimumWidth(360)
    browse = QPushButton("Browse…")

    def choose() -> None:
        chosen = QFileDialog.getExistingDirectory(parent, caption, edit.text() or str(Path.home()))
        if chosen:
            edit.setText(chosen)

    browse.clicked.connect(choose)
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    layout.addWidget(browse)
    return edit, row


def _error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet("color: #b3261e;")
    label.hide()
    return label


class SubmitDialog(QDialog):
    """A folder of audio, where its transcripts go, and in which formats."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Submit a folder")
        form = QFormLayout()
        self.folder, folder_row = _folder_field(self, "Folder of audio", "every audio file below it is transcribed")
        form.addRow("Folder:", folder_row)
        self.out, out_row = _folder_field(self, "Where transcripts go", "optional: a “transcripts” folder inside it")
        form.addRow("Transcripts to:", out_row)
        formats_row = QWidget()
        formats_layout = QHBoxLayout(formats_row)
        formats_layout.setContentsMargins(0, 0, 0, 0)
        self.formats = {name: QCheckBox(name) for name in FORMATS}
        for box in self.formats.values():
            box.setChecked(True)
            formats_layout.addWidget(box)
        formats_layout.addStretch(1)
        form.addRow("Formats:", formats_row)
        self.error = _error_label()
        self.folder.textChanged.connect(self.error.hide)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Submit")
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def chosen_formats(self) -> list[str]:
        return [name for name, box in self.formats.items() if box.isChecked()]

    def _check(self) -> None:
        # Whether the daemon can read the folder is the daemon's to say (it may sit in a container);
        # here only what is wrong whatever the daemon: nothing chosen.
        if not self.folder.text().strip():
            self.error.setText("Choose the folder of audio to transcribe.")
        elif not self.chosen_formats():
            self.error.setText("Choose at least one transcript format.")
        else:
            self.accept()
            return
        self.error.show()


class ConnectionDialog(QDialog):
    """This computer's daemon (its Unix socket), or one at a TCP address with a token."""

    def __init__(self, current: ClientSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connection")
        self.local = QRadioButton("A daemon on this computer")
        self.remote = QRadioButton("A daemon at an address (in a container, or on another machine)")
        self.socket = QLineEdit(str(current.socket))
        self.socket.setMinimumWidth(360)
        self.address = QLineEdit(f"{current.address[0]}:{current.address[1]}" if current.address else "")
        self.address.setPlaceholderText("127.0.0.1:8765")
        self.token = QLineEdit(current.token or "")
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("from `fairscribe token create NAME`")
        (self.remote if current.address else self.local).setChecked(True)
        form = QFormLayout()
        form.addRow(self.local)
        form.addRow("Socket:", self.socket)
        form.addRow(self.remote)
        form.addRow("Address:", self.address)
        form.addRow("Token:", self.token)
        self.error = _error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.local.toggled.connect(self._follow_choice)
        for edit in (self.socket, self.address, self.token):
            edit.textChanged.connect(self.error.hide)  # an old complaint must not outlive its fix
        self._follow_choice()
        self._target = current

    @property
    def target(self) -> ClientSettings:
        """The chosen target, once the dialog was accepted."""
        return self._target

    def _follow_choice(self) -> None:
        local = self.local.isChecked()
        self.socket.setEnabled(local)
        self.address.setEnabled(not local)
        self.token.setEnabled(not local)

    def _check(self) -> None:
        socket = Path(self.socket.text().strip() or socket_path()).expanduser()
        if self.local.isChecked():
            self._target = ClientSettings(socket=socket, address=None, token=None)
            self.accept()
            return
        try:
            address = parse_host_port(self.address.text().strip(), "the address")
        except ConfigError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        if not self.token.text().strip():
            self.error.setText("A daemon at an address needs a token (its admin makes one: `fairscribe token create`).")
            self.error.show()
            return
        self._target = ClientSettings(socket=socket, address=address, token=self.token.text().strip())
        self.accept()
