"""A pool of worker processes that survives its workers.

Each worker builds its state once (e.g. one synth instance) and then runs tasks. A worker that dies
(a plugin that crashes the process, the OOM killer) is replaced and its task retried, so a crash
costs one task's work, not the job. Workers are spawned, not forked: a synth plugin or torch's
thread pools in the parent must never be copied half-initialised into a child.

Nothing a worker can die holding is shared: each worker reports on a pipe of its own, written
synchronously (a shared ``multiprocessing.Queue`` has one write lock for all writers, and a worker
killed while its feeder thread held it hung every other worker and the job). A worker dies with
its parent (Linux: ``PR_SET_PDEATHSIG``; elsewhere it notices the parent is gone).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import queue
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import SoundmatchError
from .exiting import exit_now

POLL_SECONDS = 0.2
PROGRESS_HZ = 20
PR_SET_PDEATHSIG = 1
MAX_CRASHES_PER_TASK = 100


@dataclass
class PoolResult:
    done: dict[Any, Any] = field(default_factory=dict)      # task id -> result
    failed: dict[Any, str] = field(default_factory=dict)    # task id -> why
    worker_deaths: int = 0


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (a kill -9 of the job included)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass  # then the idle loop's parent check is what ends an orphan


def _worker_main(wid, init, init_args, run, tasks, events, slot):
    # Ctrl-C reaches the whole process group: the parent alone decides, and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    parent = os.getppid()
    if parent == 1:
        return  # the parent died before the death signal was armed
    try:
        state = init(*init_args)
    except SoundmatchError as exc:
        events.send(("error", wid, None, str(exc)))
        return
    except Exception:
        events.send(("bug", wid, None, traceback.format_exc()))
        return
    events.send(("ready", wid, None, None))
    while True:
        try:
            item = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                return  # the job was killed: do not linger as an orphan
            continue
        if item is None:
            exit_now()
        tid, task = item
        slot[0] = 0.0  # nothing reported yet for this task
        last_sent = 0.0

        def progress(report, tid=tid):
            nonlocal last_sent
            # Shared memory first, every time: it is what pins a crash to the patch being
            # rendered, and the parent sees it at once, even if the process is then killed.
            in_slot = isinstance(report, tuple) and len(report) <= len(slot) - 1
            if in_slot:
                slot[1:len(report) + 1] = [float(x) for x in report]
                slot[0] = float(len(report))
            # A message that only moves progress bars goes at most PROGRESS_HZ times a second,
            # so the parent is not woken for every render; one that alone carries the report
            # always goes.
            now = time.monotonic()
            if not in_slot or now - last_sent >= 1.0 / PROGRESS_HZ:
                last_sent = now
                events.send(("progress", wid, tid, report))

        try:
            result = run(state, task, progress)
        except SoundmatchError as exc:
            events.send(("error", wid, tid, str(exc)))
        except Exception:
            events.send(("bug", wid, tid, traceback.format_exc()))
        else:
            events.send(("done", wid, tid, result))


class WorkerPool:
    """Run ``run(state, task, progress)`` for each task in ``workers`` processes, where ``state =
    init(*init_args)`` is built once per process. ``init`` and ``run`` must be importable
    module-level functions."""

    def __init__(self, workers: int, init: Callable, init_args: tuple, run: Callable,
                 retries: int = 2):
        self.workers = max(1, int(workers))
        self.init, self.init_args, self.run_fn = init, init_args, run
        self.retries = retries
        self._ctx = mp.get_context("spawn")

    def _start(self, wid: int):
        tasks = self._ctx.Queue()
        slot = self._ctx.Array("d", 4, lock=False)  # the last tuple the task reported
        reader, writer = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_worker_main, name=f"soundmatch-worker-{wid}", daemon=True,
            args=(wid, self.init, self.init_args, self.run_fn, tasks, writer, slot),
        )
        proc.start()
        writer.close()  # the worker holds the only write end: its death reads as end-of-file
        return proc, tasks, slot, reader

    def _next_event(self, workers: dict, closed: set):
        """The next message from any worker, or None after ``POLL_SECONDS``."""
        readers = {w[3]: wid for wid, w in workers.items() if wid not in closed}
        for conn in mp_connection.wait(list(readers), timeout=POLL_SECONDS):
            try:
                return conn.recv()
            except (EOFError, OSError):
                closed.add(readers[conn])  # died, maybe mid-message: its exit code tells
        return None

    def run(self, tasks: Iterable[tuple[Any, Any]],
            on_progress: Callable[[Any, Any], None] | None = None,
            on_done: Callable[[Any, Any], None] | None = None,
            on_crash: Callable[[Any, Any, Any], Any] | None = None) -> PoolResult:
        """Run (task_id, task) pairs; returns results by task id. Raises ``SoundmatchError`` when a
        worker cannot start (the synth does not load) or a task fails with a user error.

        When a worker dies holding a task, ``on_crash(task_id, task, last_progress)`` may return
        the task to run instead (e.g. one that skips what crashed); otherwise it is retried as it
        was, up to ``retries`` times."""
        pending = list(tasks)[::-1]
        result = PoolResult()
        if not pending:
            return result
        attempts: dict[Any, int] = {}
        n = min(self.workers, len(pending))
        workers = {wid: self._start(wid) for wid in range(n)}
        closed: set[int] = set()  # workers whose pipe reached end-of-file
        busy: dict[int, tuple[Any, Any]] = {}
        last_progress: dict[Any, Any] = {}  # from the queue, for tasks reporting non-tuples
        idle: list[int] = []
        started: set[int] = set()  # workers that got through init
        deaths_at_start = 0
        next_wid = n
        try:
            while pending or busy:
                while idle and pending:
                    wid = idle.pop()
                    tid, task = pending.pop()
                    busy[wid] = (tid, task)
                    workers[wid][1].put((tid, task))
                event = self._next_event(workers, closed)
                kind, wid, tid, payload = event if event is not None else (None,) * 4
                if kind == "ready":
                    idle.append(wid)
                    started.add(wid)
                elif kind == "progress":
                    last_progress[tid] = payload
                    if on_progress:
                        on_progress(tid, payload)
                elif kind == "done":
                    busy.pop(wid, None)
                    idle.append(wid)
                    result.done[tid] = payload
                    if on_done:
                        on_done(tid, payload)
                elif kind == "error":
                    raise SoundmatchError(payload)
                elif kind == "bug":
                    raise RuntimeError(f"a worker failed:\n{payload}")
                # Replace dead workers; requeue what they held.
                for wid, (proc, _, slot, reader) in list(workers.items()):
                    # Dead, and everything it sent is read (its pipe is at end-of-file), so a
                    # task it finished just before dying counts as done.
                    if wid not in closed or proc.is_alive() or proc.exitcode is None:
                        continue
                    del workers[wid]
                    closed.discard(wid)
                    reader.close()
                    if wid in idle:
                        idle.remove(wid)
                    result.worker_deaths += 1
                    if wid not in started:
                        deaths_at_start += 1
                        if deaths_at_start > self.workers * (self.retries + 2):
                            raise SoundmatchError(
                                f"worker processes keep dying while they start ("
                                f"{deaths_at_start} so far, last exit code {proc.exitcode}); "
                                "the synth crashes on load")
                    held = busy.pop(wid, None)
                    if held is not None:
                        tid, task = held
                        attempts[tid] = attempts.get(tid, 0) + 1
                        reported = (tuple(int(x) for x in slot[1:1 + int(slot[0])])
                                    if slot[0] else last_progress.get(tid))
                        last_progress.pop(tid, None)
                        replacement = on_crash(tid, task, reported) if on_crash else None
                        if replacement is not None and attempts[tid] <= MAX_CRASHES_PER_TASK:
                            pending.append((tid, replacement))
                        elif attempts[tid] > self.retries:
                            result.failed[tid] = (f"worker died {attempts[tid]} times "
                                                  f"(exit code {proc.exitcode})")
                        else:
                            pending.append(held)
                    if (result.worker_deaths > self.workers * (self.retries + 2)
                            and not result.done and not on_crash):
                        raise SoundmatchError(
                            f"worker processes keep dying ({result.worker_deaths} so far, last "
                            f"exit code {proc.exitcode}) before finishing any task; the synth "
                            "may crash on load"
                        )
                    if pending or busy:
                        workers[next_wid] = self._start(next_wid)
                        next_wid += 1
        finally:
            for proc, q, _, _ in workers.values():
                if proc.is_alive():
                    q.put(None)
            for proc, _, _, reader in workers.values():
                proc.join(timeout=2)
                if proc.is_alive():
                    proc.terminate()
                    proc.join(timeout=2)
                if proc.is_alive():
                    proc.kill()
                reader.close()
        return result
