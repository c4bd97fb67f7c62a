"""The web app of ``soundmatch serve``: the page, its static files and the JSON API (documented in
docs/serve.md), on Starlette.

A local server that runs searches for whoever asks must not be driven by a web page the user
happens to visit: every request naming another host than this server's (DNS rebinding) or coming
from another origin is refused (``Guard``). Uploads are bounded in size and checked to be audio
before they are queued; an uploaded name is only ever shown, never a path.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import tempfile
import zipfile
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import SoundmatchError, first_line
from ..search import Budget
from .jobs import FINISHED, ID, JobStore, Settings, display_name, preset_suffix, upload_suffix

STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
MAX_SECONDS, MAX_RENDERS, MAX_CANDIDATES, MAX_PRESET_FILES = 120.0, 20000, 5, 20
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# The page loads nothing from elsewhere; recorded audio plays from blob: URLs.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "media-src 'self' blob:; connect-src 'self'; "
                               "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _hostname(host: str) -> str:
    """``host`` of a Host header or URL netloc, without the port (IPv6 without brackets)."""
    return urlsplit(f"//{host}").hostname or ""


class Guard:
    """Refuses requests for another host name (DNS rebinding: a page at evil.example whose name
    now resolves to 127.0.0.1) and requests from another origin (a page the user visits posting
    to this server), in one line each; adds the security headers to every response."""

    def __init__(self, app, hosts: set[str]):
        self.app, self.hosts = app, {h.lower() for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        host = headers.get("host", "")
        refusal = None
        if _hostname(host).lower() not in self.hosts:
            refusal = (f"host {host[:100]!r} is not this server's name; open it as "
                       f"{' or '.join(sorted(self.hosts))} (requests for other names are "
                       "refused: DNS rebinding)")
        elif "origin" in headers and urlsplit(headers["origin"]).netloc.lower() != host.lower():
            refusal = (f"a request from {headers['origin'][:100]!r} is refused: only this "
                       "server's own page may use it")
        elif headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            refusal = "a request from another site is refused: only this server's page may use it"
        if refusal is not None:
            return await error(refusal, 403)(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def parse_settings(params, synths: dict) -> Settings:
    """The match settings from the query string, each refused in one line naming the field."""
    key = params.get("synth", "")
    synth = synths.get(key)
    if synth is None or not synth.available:
        raise SoundmatchError(f"synth: found {key[:60]!r}, expected one of "
                              + ", ".join(k for k, s in synths.items() if s.available))
    budget_text = params.get("budget", "6s")
    try:
        budget = Budget(budget_text)
    except ValueError as exc:
        raise SoundmatchError(f"budget: {exc}") from None
    if not budget or (budget.seconds or 0) > MAX_SECONDS or (budget.renders or 0) > MAX_RENDERS:
        raise SoundmatchError(f"budget: found {budget_text[:20]!r}, expected 1..{MAX_RENDERS} "
                              f"renders or up to {MAX_SECONDS:g} seconds (e.g. 6s)")
    try:
        candidates, seed = int(params.get("candidates", "1")), int(params.get("seed", "0"))
    except ValueError:
        raise SoundmatchError("candidates and seed: expected whole numbers") from None
    if not 1 <= candidates <= MAX_CANDIDATES:
        raise SoundmatchError(f"candidates: found {candidates}, expected 1..{MAX_CANDIDATES}")
    files = tuple(sorted({f for f in params.get("preset_files", "").split(",") if f}))
    bad = [f for f in files if not ID.match(f)]
    if bad or len(files) > MAX_PRESET_FILES:
        raise SoundmatchError(f"preset_files: found {(bad or [len(files)])[0]!r}, expected up to "
                              f"{MAX_PRESET_FILES} ids that POST /api/presets gave")
    return Settings(key, str(budget), candidates, params.get("presets", "1") != "0", seed, files)


def create_app(store: JobStore, synths: list, hosts: set[str], max_upload: int) -> Guard:
    by_key = {s.key: s for s in synths}

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in STATIC:
            return error(f"{name[:60]}: no such file", 404)
        text = (resources.files("soundmatch.serve") / "static" / name).read_text("utf-8")
        return Response(text, media_type=STATIC[name], headers={"cache-control": "no-cache"})

    async def list_synths(request: Request) -> Response:
        return JSONResponse({"synths": [s.public() for s in synths],
                             "max_upload_bytes": max_upload, "max_candidates": MAX_CANDIDATES})

    async def list_matches(request: Request) -> Response:
        return JSONResponse({"matches": store.listing()})

    async def receive(request: Request, suffix: str, shown: str):
        """The request's body in a file of its own (bounded), or the response refusing it."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_upload:
            return None, error(_too_big(shown, int(length), max_upload), 413)
        fd, name = tempfile.mkstemp(dir=store.folder, prefix=".upload-", suffix=suffix)
        tmp, size = Path(name), 0
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_upload:
                        tmp.unlink()
                        return None, error(_too_big(shown, size, max_upload), 413)
                    f.write(chunk)
        except BaseException:  # a client gone mid-upload leaves no file behind
            tmp.unlink(missing_ok=True)
            raise
        if size == 0:
            tmp.unlink()
            return None, error(f"{shown}: the upload is empty")
        return tmp, None

    async def create(request: Request) -> Response:
        name = request.query_params.get("name", "")
        shown = display_name(name)
        try:
            suffix = upload_suffix(name)
            settings = parse_settings(request.query_params, by_key)
            missing = [f for f in settings.preset_files if store.preset(f) is None]
            if missing:
                raise SoundmatchError(f"preset_files: no uploaded preset {missing[0]!r}")
        except SoundmatchError as exc:
            return error(str(exc))
        tmp, refused = await receive(request, suffix, shown)
        if refused is not None:
            return refused
        try:
            try:
                await run_in_threadpool(_check_audio, tmp, shown)
            except SoundmatchError as exc:
                return error(str(exc))
            job = store.add(name, tmp, settings)
        finally:
            tmp.unlink(missing_ok=True)
        return JSONResponse({**job.public(), "position": store.position(job.id)}, 201)

    async def add_preset(request: Request) -> Response:
        name = request.query_params.get("name", "")
        try:
            suffix = preset_suffix(name)
        except SoundmatchError as exc:
            return error(str(exc))
        tmp, refused = await receive(request, suffix, display_name(name))
        if refused is not None:
            return refused
        try:
            return JSONResponse(store.add_preset(name, tmp), 201)
        finally:
            tmp.unlink(missing_ok=True)

    def found(request: Request):
        return store.get(request.path_params["id"])

    async def show(request: Request) -> Response:
        job = found(request)
        if job is None:
            return error("no such match", 404)
        return JSONResponse({**job.public(), "position": store.position(job.id)})

    async def events(request: Request) -> Response:
        job = found(request)
        if job is None:
            return error("no such match", 404)

        async def stream():
            last = None
            while True:
                now = {"state": job.state, "renders": job.renders, "best": job.best,
                       "position": store.position(job.id), "error": job.error}
                if now != last:
                    yield f"data: {json.dumps(now)}\n\n"
                    last = now
                if job.state in FINISHED or await request.is_disconnected():
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    async def cancel(request: Request) -> Response:
        job = store.cancel(request.path_params["id"])
        if job is None:
            return error("no such match", 404)
        return JSONResponse(job.public())

    async def delete(request: Request) -> Response:
        job_id = request.path_params["id"]
        if store.get(job_id) is None:
            return error("no such match", 404)
        if not store.delete(job_id):
            return error("the match is still queued or running: cancel it first", 409)
        return JSONResponse({"deleted": job_id})

    async def file(request: Request) -> Response:
        job = found(request)
        path = store.path(request.path_params["id"], request.path_params["name"])
        if job is None or path is None:
            return error("no such file", 404)
        download = request.query_params.get("download") == "1"
        return FileResponse(path, filename=path.name if download else None,
                            content_disposition_type="attachment" if download else "inline")

    async def everything(request: Request) -> Response:
        job = found(request)
        if job is None:
            return error("no such match", 404)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for path in store.files(job.id):
                z.write(path, path.name)
        return Response(buffer.getvalue(), media_type="application/zip", headers={
            "content-disposition": f'attachment; filename="soundmatch-{job.id}.zip"'})

    routes = [
        Route("/", page), Route("/static/{name}", page),
        Route("/api/synths", list_synths),
        Route("/api/matches", list_matches), Route("/api/matches", create, methods=["POST"]),
        Route("/api/presets", add_preset, methods=["POST"]),
        Route("/api/matches/{id}", show), Route("/api/matches/{id}", delete, methods=["DELETE"]),
        Route("/api/matches/{id}/events", events),
        Route("/api/matches/{id}/cancel", cancel, methods=["POST"]),
        Route("/api/matches/{id}/files/{name}", file),
        Route("/api/matches/{id}/all.zip", everything),
    ]
    return Guard(Starlette(routes=routes), hosts)


def _too_big(name: str, size: int, limit: int) -> str:
    return (f"{name}: over the upload limit of {limit / 1e6:g} MB ({size / 1e6:.1f} MB sent); "
            "a match uses the first seconds of a sound")


def _check_audio(path: Path, name: str) -> None:
    """One line naming the upload (not where it was stored) if it is not audio we can read."""
    from ..audio import read_audio

    try:
        audio, _ = read_audio(path)
    except SoundmatchError as exc:
        raise SoundmatchError(first_line(exc).replace(str(path), name)) from None
    if audio.size == 0:
        raise SoundmatchError(f"{name}: holds no samples")
