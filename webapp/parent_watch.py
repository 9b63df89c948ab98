"""Processes that ``bin/run`` starts (the Celery worker, the demo LLM server) end when ``bin/run`` does.

Pure Python, no Django. ``bin/run`` exports ``SKINFLOW_PARENT_PID`` (its own pid, which becomes the web
server's when it ``exec``s it); a child started with it watches that process and stops itself once it is
gone, however it went: Ctrl-C, a closed terminal (SIGHUP), SIGTERM or even SIGKILL, which no trap sees.
A signal handler in ``bin/run`` could catch only the first three.

The check is ``os.getppid()``: a child whose parent dies is re-parented (to init or a subreaper), so its
parent pid changes, and a recycled pid cannot fool it. A process that was not started directly by the
watched one (its parent differs from the start) falls back to asking whether that pid still exists.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

__all__ = ["ENV", "parent_pid", "watch_parent"]

ENV = "SKINFLOW_PARENT_PID"
log = logging.getLogger(__name__)


def parent_pid() -> int | None:
    """The pid to watch, from ``SKINFLOW_PARENT_PID`` (None when unset or not a positive number)."""
    raw = os.environ.get(ENV, "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) > 1 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def watch_parent(on_gone: Callable[[], None], *, pid: int | None = None, interval_s: float = 0.5) -> threading.Thread | None:
    """Call ``on_gone`` (once, from a daemon thread) when the watched process ends. Returns the thread, or None
    when there is nothing to watch (``SKINFLOW_PARENT_PID`` unset: started by hand, by a test, by compose)."""
    pid = parent_pid() if pid is None else pid
    if pid is None:
        return None
    direct = os.getppid() == pid

    def gone() -> bool:
        return os.getppid() != pid if direct else not _alive(pid)

    def loop() -> None:
        while not gone():
            time.sleep(interval_s)
        log.warning("the process that started this one (pid %s) has ended; stopping", pid)
        on_gone()

    thread = threading.Thread(target=loop, name="skinflow-parent-watch", daemon=True)
    thread.start()
    return thread
