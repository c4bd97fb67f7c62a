"""The matches ``soundmatch serve`` runs: each an uploaded sound, its settings and, once matched,
its files, kept in a folder of its own (``FOLDER/ID/``) so that the list survives a restart.

Searches are CPU-bound, so ``jobs`` of them run at a time (one worker thread each, every search
rendering on its share of the cores) and the rest wait in order; a queued or running match can be
cancelled. A job's record (``job.json``) is written whole or not at all; a server stopped while a
match ran finds it "interrupted" on the next start.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import SoundmatchError, first_line
from ..fileio import read_bounded, write_text_atomic
from .results import candidates

# What an upload may be: the reader sniffs the content, the suffix only names the type.
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".aif", ".aiff")
PRESET_FOLDER = "presets"
ID = re.compile(r"^[0-9a-f]{12}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
STEM = "match"
RECORD = "job.json"
DONE, FAILED, CANCELLED, QUEUED, RUNNING = "done", "failed", "cancelled", "queued", "running"
FINISHED = (DONE, FAILED, CANCELLED)


class Cancelled(Exception):
    """Raised inside a search whose match was cancelled: it stops at the next population."""


@dataclass(frozen=True)
class Settings:
    """What the page asks for: which synth (a key of the server's choices), the budget
    (``Budget`` text: ``6s`` or ``200``), how many answers, the installed presets or none, and
    preset files the user uploaded (their ids, ``JobStore.add_preset``)."""

    synth: str
    budget: str = "6s"
    candidates: int = 1
    presets: bool = True
    seed: int = 0
    preset_files: tuple[str, ...] = ()


@dataclass
class Job:
    id: str
    name: str                 # the uploaded file's name, shown only: it never becomes a path
    input: str                # the upload as stored: input + one of AUDIO_SUFFIXES
    settings: Settings
    created: float
    state: str = QUEUED
    error: str = ""
    renders: int = 0
    best: float | None = None  # the best distance so far
    started: float | None = None
    finished: float | None = None
    results: list[dict] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def public(self) -> dict:
        """The job as the API shows it."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "cancel"}
        data["settings"] = asdict(self.settings)
        return data


def upload_suffix(name: str) -> str:
    """The stored upload's suffix for an uploaded ``name``, or one line saying what is expected."""
    suffix = Path(name.replace("\\", "/")).suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        raise SoundmatchError(f"{display_name(name)}: found {suffix or 'no'} file type, expected "
                              "wav, flac, mp3, ogg or aiff")
    return suffix


def preset_suffix(name: str) -> str:
    """The stored preset's suffix for an uploaded ``name``: a type some installed adapter reads."""
    from .. import plugins
    from ..presets import readable_suffixes

    readable = set().union(*(readable_suffixes(entry.obj) for entry in plugins.adapters()))
    suffix = Path(name.replace("\\", "/")).suffix.lower()
    if suffix not in readable:
        raise SoundmatchError(f"{display_name(name)}: found {suffix or 'no'} file type, expected "
                              f"a preset: {', '.join(sorted(readable))}")
    return suffix


def display_name(name: str) -> str:
    """An uploaded name as text to show: printable, at most 100 characters."""
    shown = "".join(c for c in name.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())
    return shown[:100] or "upload"


class JobStore:
    """The jobs in ``folder``, the queue and the workers that match them. ``matcher_for(settings)``
    gives a ``Matcher`` for the settings' synth (called on a worker's own thread; one matcher is
    never used by two threads at once)."""

    def __init__(self, folder: Path, matcher_for: Callable, jobs: int = 1):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.matcher_for = matcher_for
        self.lock = threading.Condition()
        self.jobs: dict[str, Job] = {}
        self.queue: list[str] = []
        self._load()
        self.workers = [threading.Thread(target=self._work, name=f"match-{i}", daemon=True)
                        for i in range(jobs)]
        for worker in self.workers:
            worker.start()

    # ------------------------------------------------------------------ the records

    def _load(self) -> None:
        for upload in self.folder.glob(".upload-*"):  # a server stopped while receiving it
            upload.unlink(missing_ok=True)
        for record in sorted(self.folder.glob(f"*/{RECORD}")):
            if not ID.match(record.parent.name):
                continue
            try:
                data = json.loads(read_bounded(record, 1 << 20, "job record"))
                stored = data.pop("settings")
                settings = Settings(**{**stored,
                                       "preset_files": tuple(stored.get("preset_files", ()))})
                job = Job(settings=settings, **{k: v for k, v in data.items()
                                                if k in Job.__dataclass_fields__})
            except (SoundmatchError, ValueError, TypeError, KeyError):
                continue  # not a record this server wrote: left alone, not listed
            if job.state not in FINISHED:
                job.state, job.error = FAILED, "interrupted: the server stopped during the match"
                self._save(job)
            self.jobs[job.id] = job

    def _save(self, job: Job) -> None:
        write_text_atomic(self.folder / job.id / RECORD, json.dumps(job.public(), indent=1))

    def path(self, job_id: str, name: str) -> Path | None:
        """A file of a job, if ``name`` is one of its files (never a path the request built)."""
        if not ID.match(job_id) or not FILE_NAME.match(name) or name == RECORD:
            return None
        path = self.folder / job_id / name
        return path if path.is_file() and not path.is_symlink() else None

    def files(self, job_id: str) -> list[Path]:
        folder = self.folder / job_id
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink()
                      and FILE_NAME.match(p.name) and p.name != RECORD)

    # ------------------------------------------------------------------ the queue

    def add(self, name: str, data_path: Path, settings: Settings) -> Job:
        """A new job for the upload at ``data_path`` (moved into the job's folder), queued."""
        job_id = secrets.token_hex(6)
        folder = self.folder / job_id
        folder.mkdir()
        stored = "input" + upload_suffix(name)
        os.replace(data_path, folder / stored)
        job = Job(job_id, display_name(name), stored, settings, time.time())
        with self.lock:
            self.jobs[job_id] = job
            self._save(job)
            self.queue.append(job_id)
            self.lock.notify()
        return job

    def add_preset(self, name: str, data_path: Path) -> dict:
        """Keep an uploaded preset file (moved from ``data_path``); its id for the settings."""
        preset_id = secrets.token_hex(6)
        folder = self.folder / PRESET_FOLDER
        folder.mkdir(exist_ok=True)
        stored = folder / f"{preset_id}{preset_suffix(name)}"
        os.replace(data_path, stored)
        write_text_atomic(folder / f"{preset_id}.json", json.dumps({"name": display_name(name)}))
        return {"id": preset_id, "name": display_name(name)}

    def preset(self, preset_id: str) -> tuple[Path, str] | None:
        """An uploaded preset's file and name, or None."""
        if not ID.match(preset_id):
            return None
        folder = self.folder / PRESET_FOLDER
        files = [p for p in folder.glob(f"{preset_id}.*") if p.suffix != ".json"]
        try:
            meta = json.loads(read_bounded(folder / f"{preset_id}.json", 4096, "preset record"))
        except (SoundmatchError, ValueError):
            return None
        return (files[0], str(meta.get("name", preset_id))) if len(files) == 1 else None

    def position(self, job_id: str) -> int | None:
        """1 for the next to run; None where the job is not waiting."""
        with self.lock:
            return self.queue.index(job_id) + 1 if job_id in self.queue else None

    def listing(self) -> list[dict]:
        with self.lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)
            return [{**j.public(), "position": self.position(j.id)} for j in jobs]

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.state in FINISHED:
                return job
            job.cancel.set()
            if job_id in self.queue:  # not started: cancelled now
                self.queue.remove(job_id)
                self._finish(job, CANCELLED, "")
            return job

    def delete(self, job_id: str) -> bool:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.state not in FINISHED:
                return False
            del self.jobs[job_id]
        shutil.rmtree(self.folder / job_id, ignore_errors=True)
        return True

    def _finish(self, job: Job, state: str, error: str) -> None:
        job.state, job.error, job.finished = state, error, time.time()
        self._save(job)

    # ------------------------------------------------------------------ the workers

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.queue:
                    self.lock.wait()
                job = self.jobs[self.queue.pop(0)]
                job.state, job.started = RUNNING, time.time()
                self._save(job)
            try:
                job.results = self._match(job)
                state, error = DONE, ""
            except Cancelled:
                state, error = CANCELLED, ""
            except SoundmatchError as exc:
                state, error = FAILED, first_line(exc).replace(str(self.folder / job.id) + "/", "")
            except Exception as exc:  # a synth that crashes must not take the server with it
                state, error = FAILED, f"the match failed: {first_line(exc)}"
            with self.lock:
                self._finish(job, state, error)

    def _match(self, job: Job) -> list[dict]:
        matcher = self.matcher_for(job.settings, self.preset)
        folder = self.folder / job.id

        def on_render(renders: int, best: float) -> None:
            job.renders, job.best = renders, float(best)
            if job.cancel.is_set():
                raise Cancelled

        s = job.settings
        found = matcher.match(folder / job.input, refine=s.budget, seed=s.seed,
                              candidates=s.candidates, on_render=on_render)
        if job.cancel.is_set():
            raise Cancelled
        for match in (found, *found.others):  # the records and plots name the upload
            match.source = job.name
        matcher.save(found, folder, stem=STEM)
        return candidates(matcher, found, folder, STEM)
