"""The main window: the jobs table, the meters panel, notices, and the connection's status.

It turns what the session reports into what is shown, and what the person does into session
commands. Reports arrive several times a second while a batch runs; they only mark what is stale,
and one 200 ms single-shot timer repaints it (the last report of each kind wins), so a busy daemon
never makes the window busy.
"""

from __future__ import annotations

import enum
from typing import Any

from PySide6.QtCore import QPoint, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from fairscribe.gui.actions import Actions
from fairscribe.gui.dialogs import ConnectionDialog, SubmitDialog
from fairscribe.gui.failures import FailedFilesDialog
from fairscribe.gui.jobs_view import JobsView
from fairscribe.gui.meters import MetersPanel
from fairscribe.gui.models import JobTableModel, QueueOrder
from fairscribe.gui.notices import Kind, NoticeArea
from fairscribe.gui.session import Session
from fairscribe.gui.status import Link, LinkStatus
from fairscribe.gui.statusline import StatusLine
from fairscribe.gui.target import is_local, save_target

REFRESH_MS = 200


class Stale(enum.Flag):
    NOTHING = 0
    JOBS = enum.auto()
    METERS = enum.auto()
    STATUS = enum.auto()


class MainWindow(QMainWindow):
    target_changed = Signal()
    """The person chose another daemon."""

    def __init__(self, session: Session, icon: QIcon, store: QSettings) -> None:
        super().__init__()
        self.session = session
        self._store = store
        self.hide_on_close = False  # set when a tray icon remains to bring the window back
        self.setWindowTitle("fairscribe")
        self.setWindowIcon(icon)
        self.resize(1180, 600)
        self.commands = Actions(self)
        self.model = JobTableModel(self)
        self.table = JobsView(QueueOrder(self.model, self))
        self.meters = MetersPanel()
        self.notices = NoticeArea()
        self.status_line = StatusLine()
        self._layout()

        self._stale = Stale.NOTHING
        self._latest_jobs: list[dict[str, Any]] | None = None
        self._latest_meters: dict[str, Any] | None = None
        self._starting_daemon = False
        self._select_when_shown: int | None = None
        self._failures: FailedFilesDialog | None = None
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh)
        self._wire()
        self._apply_status(session.status)
        geometry = store.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    # Building --------------------------------------------------------------------------------

    def _layout(self) -> None:
        toolbar = QToolBar("Jobs")
        toolbar.setObjectName("jobs-toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addAction(self.commands.submit)
        toolbar.addSeparator()
        for action in self.commands.job_actions():
            toolbar.addAction(action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addAction(self.commands.connection)
        self.addToolBar(toolbar)
        self.addAction(self.commands.quit)  # the shortcut works without a menu entry

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.table)
        splitter.addWidget(self.meters)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([820, 340])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.notices)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.retry_now = QPushButton("Retry now")
        self.retry_now.setToolTip("Try to reach the daemon now instead of waiting")
        self.retry_now.hide()
        self.statusBar().addWidget(self.status_line, 1)
        self.statusBar().addPermanentWidget(self.retry_now)

        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)

    def _wire(self) -> None:
        session, commands = self.session, self.commands
        session.status_changed.connect(lambda _status: self._mark(Stale.STATUS))
        session.jobs_changed.connect(self._on_jobs)
        session.submitted.connect(self._on_submitted)
        session.meters_changed.connect(self._on_meters)
        session.command_failed.connect(self._on_command_failed)
        session.daemon_started.connect(self._on_daemon_started)
        session.failed_files_loaded.connect(self._on_failed_files)
        self.retry_now.clicked.connect(session.reconnect_now)

        commands.submit.triggered.connect(self.ask_submit)
        commands.pause.triggered.connect(lambda: self._control("pause"))
        commands.resume.triggered.connect(lambda: self._control("resume"))
        commands.cancel.triggered.connect(lambda: self._control("cancel"))
        commands.retry.triggered.connect(lambda: self._control("retry"))
        commands.move_up.triggered.connect(lambda: self._move("up"))
        commands.move_down.triggered.connect(lambda: self._move("down"))
        commands.failed_files.triggered.connect(self._show_selected_failures)
        commands.connection.triggered.connect(self.ask_connection)
        commands.show_window.triggered.connect(self.bring_to_front)
        commands.quit.triggered.connect(QApplication.quit)
        self.table.selectionModel().selectionChanged.connect(self._follow_selection)
        self.table.job_activated.connect(self.show_failed_files)

    # What the session reports: mark stale, repaint soon -------------------------------------

    def _mark(self, stale: Stale) -> None:
        self._stale |= stale
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_jobs(self, jobs: list[dict[str, Any]]) -> None:
        self._latest_jobs = jobs
        self._mark(Stale.JOBS)

    def _on_submitted(self, job: dict[str, Any]) -> None:
        # The new job is selected, ready for its actions, once the listener's list brings it (which
        # may already have happened: the two connections race).
        self.notices.dismiss("error")
        self._select_when_shown = int(job["id"])
        self._select_pending()

    def _select_pending(self) -> None:
        if self._select_when_shown is not None and self.model.job(self._select_when_shown) is not None:
            self.table.select_job(self._select_when_shown)
            self._select_when_shown = None

    def _on_meters(self, meters: dict[str, Any]) -> None:
        self._latest_meters = meters
        self._mark(Stale.METERS)

    def _refresh(self) -> None:
        stale, self._stale = self._stale, Stale.NOTHING
        if Stale.STATUS in stale:
            self._apply_status(self.session.status)
        if Stale.JOBS in stale and self._latest_jobs is not None:
            self.model.update(self._latest_jobs)
            self._select_pending()
        if Stale.METERS in stale and self._latest_meters is not None:
            self.meters.show_meters(self._latest_meters, self.session.user)
        self._follow_selection()

    def _apply_status(self, status: LinkStatus) -> None:
        self.status_line.show_status(status)
        responding = status.responding
        # Stale numbers are greyed rather than hidden: still useful, but visibly not live.
        self.table.setEnabled(responding)
        self.meters.setEnabled(responding)
        self.retry_now.setVisible(status.link is Link.NOT_RESPONDING)
        if responding:
            self._starting_daemon = False
            self.notices.dismiss("daemon")
        elif status.link is Link.NOT_RESPONDING and not self._starting_daemon:
            self._explain_absence(status)

    def _explain_absence(self, status: LinkStatus) -> None:
        """A banner for when waiting alone will not help: nothing ever answered, or it refused us."""
        change = ("Connection…", self.commands.connection.trigger)
        if status.refused:
            self.notices.show_notice(
                "daemon", f"The daemon at {status.where} refused the connection: {status.reason}", Kind.ERROR, [change]
            )
        elif not status.ever_connected and is_local(self.session.target):
            self.notices.show_notice(
                "daemon",
                f"No fairscribe daemon answers at {status.where}.",
                Kind.WARNING,
                [("Start a local daemon", self.start_local_daemon), change],
            )
        elif not status.ever_connected:
            self.notices.show_notice(
                "daemon", f"No fairscribe daemon answers at {status.where}: {status.reason}", Kind.WARNING, [change]
            )

    def _follow_selection(self) -> None:
        job = self.table.selected_job()
        if job is not None:
            job = self.model.job(int(job["id"])) or job
        self.commands.follow(job, responding=self.session.status.responding)

    # What the person does --------------------------------------------------------------------

    def ask_submit(self) -> None:
        dialog = SubmitDialog(self)
        if dialog.exec() == SubmitDialog.DialogCode.Accepted:
            self.submit_folder(
                dialog.folder.text().strip(), out=dialog.out.text().strip() or None, formats=dialog.chosen_formats()
            )

    def submit_folder(self, directory: str, *, out: str | None = None, formats: list[str] | None = None) -> None:
        self.session.submit(directory, out=out, formats=formats)

    def ask_connection(self) -> None:
        dialog = ConnectionDialog(self.session.target, self)
        if dialog.exec() != ConnectionDialog.DialogCode.Accepted or dialog.target == self.session.target:
            return
        save_target(self._store, dialog.target)
        self.session.set_target(dialog.target)
        self._latest_jobs, self._latest_meters = None, None
        self.model.update([])
        self.meters.clear()
        self.notices.dismiss("daemon")
        self.target_changed.emit()

    def start_local_daemon(self) -> None:
        self._starting_daemon = True
        self.notices.dismiss("daemon")
        self.notices.show_notice("daemon", "Starting a local fairscribe daemon…", Kind.INFO)
        self.session.start_local_daemon()

    def _on_daemon_started(self, message: str) -> None:
        # Its own key: the "daemon" notice goes as soon as the daemon answers; this one should stay.
        self.notices.dismiss("daemon")
        self.notices.show_notice("daemon-started", message[0].upper() + message[1:] + ".", Kind.INFO)

    def _on_command_failed(self, text: str) -> None:
        self._starting_daemon = False  # if that was the start that failed, the offer may show again
        self.notices.show_notice("error", text, Kind.ERROR)

    def _control(self, action: str) -> None:
        job = self.table.selected_job()
        if job is not None:
            self.session.control(action, int(job["id"]))

    def _move(self, to: str) -> None:
        job = self.table.selected_job()
        if job is not None:
            self.session.move(int(job["id"]), to)

    def _show_selected_failures(self) -> None:
        job = self.table.selected_job()
        if job is not None:
            self.show_failed_files(int(job["id"]))

    def show_failed_files(self, job_id: int) -> None:
        job = self.model.job(job_id)
        if job is None or not job.get("failed"):
            return
        self.bring_to_front()
        self.table.select_job(job_id)  # the dialog's Retry button is the window's, acting on the selection
        self._failures = FailedFilesDialog(job, self.commands.retry, self)
        self._failures.open()
        self.session.load_failed_files(job_id)

    def _on_failed_files(self, job_id: int, files: list[dict[str, Any]]) -> None:
        if self._failures is not None and self._failures.job_id == job_id:
            self._failures.show_files(files)

    def _context_menu(self, where: QPoint) -> None:
        if self.table.indexAt(where).isValid():
            menu = QMenu(self)
            menu.addActions(self.commands.job_actions())
            menu.exec(self.table.viewport().mapToGlobal(where))

    def bring_to_front(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._store.setValue("window/geometry", self.saveGeometry())
        if self.hide_on_close:
            self.hide()
            event.ignore()
        else:
            event.accept()
