"""`soundmatch serve`'s JSON API against a running server: a match from upload to files, live
progress, a queue that loses nothing, cancelling, restarts, and the refusals (too large, not
audio, another origin, another host name) that leave the server serving."""

from __future__ import annotations

import http.client
import io
import json
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urlsplit

import pytest

from .conftest import REPO

SOUNDS = REPO / "examples" / "sounds"
MODEL = "model:builtin-rich"


def call(url: str, method: str = "GET", path: str = "/", body: bytes | None = None,
         headers: dict | None = None, **query) -> tuple[int, dict | bytes, dict]:
    """One request: (status, JSON body or bytes, headers)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    target = path + ("?" + urlencode(query) if query else "")
    conn.request(method, target, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    kind = response.getheader("content-type", "")
    return (response.status, json.loads(data) if kind.startswith("application/json") else data,
            dict(response.getheaders()))


def upload(url: str, sound=SOUNDS / "builtin-a.wav", name: str | None = None, **settings):
    settings = {"synth": MODEL, "budget": "20", **settings}
    return call(url, "POST", "/api/matches", sound.read_bytes() if hasattr(sound, "read_bytes")
                else sound, name=name or sound.name, **settings)


def wait(url: str, job_id: str, states=("done", "failed", "cancelled"), seconds=120) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, job, _ = call(url, path=f"/api/matches/{job_id}")
        assert status == 200
        if job["state"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"match {job_id} still {job['state']}")


def events(url: str, job_id: str) -> list[dict]:
    """Every server-sent event of a match, until it finishes."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    conn.request("GET", f"/api/matches/{job_id}/events")
    response = conn.getresponse()
    assert response.getheader("content-type").startswith("text/event-stream")
    seen = [json.loads(line[6:]) for line in response.read().decode().splitlines()
            if line.startswith("data: ")]
    conn.close()
    return seen


def test_a_match_from_upload_to_files_with_live_progress_kept_over_a_restart(serve, tmp_path):
    server = serve()
    status, job, _ = upload(server.url, budget="2s", candidates=2)
    assert status == 201, job
    assert job["state"] in ("queued", "running") and job["name"] == "builtin-a.wav"
    seen = events(server.url, job["id"])
    assert seen[-1]["state"] == "done"
    assert any(e["state"] == "running" and e["renders"] > 0 and e["best"] for e in seen)
    status, done, _ = call(server.url, path=f"/api/matches/{job['id']}")
    assert [c["rank"] for c in done["results"]] == [1, 2]
    best = done["results"][0]
    assert set(best["files"]) == {"audio", "parameters", "preset", "plot"}
    assert abs(best["note"] - 60) < 1 and best["parameters"][0]["name"] == "osc1_position"
    # every file downloads; the preset as an attachment
    status, preset, headers = call(server.url, path=f"/api/matches/{job['id']}/files/"
                                   f"{best['files']['preset']}", download="1")
    assert status == 200 and b"parameters" in preset
    assert headers["content-disposition"].startswith("attachment")
    status, data, _ = call(server.url, path=f"/api/matches/{job['id']}/all.zip")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "match.preset.yaml" in names and "match.2.match.wav" in names and "job.json" not in names
    # a path is never taken from the request
    for bad in ("..%2Fjob.json", "job.json", "..", "%2Fetc%2Fpasswd"):
        assert call(server.url, path=f"/api/matches/{job['id']}/files/{bad}")[0] == 404
    server.stop()
    again = serve(tmp_path / "served")
    status, listing, _ = call(again.url, path="/api/matches")
    assert [(j["id"], j["state"]) for j in listing["matches"]] == [(job["id"], "done")]


def test_five_uploads_at_once_all_finish_queued_none_lost(serve):
    server = serve()
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda k: upload(server.url, seed=k), range(5)))
    assert [status for status, _, _ in answers] == [201] * 5
    ids = [job["id"] for _, job, _ in answers]
    assert len(set(ids)) == 5
    assert max(job["position"] or 0 for _, job, _ in answers) >= 2  # they waited in turn
    assert all(wait(server.url, i)["state"] == "done" for i in ids)
    _, listing, _ = call(server.url, path="/api/matches")
    assert sorted(j["id"] for j in listing["matches"]) == sorted(ids)


def test_a_running_match_can_be_cancelled(serve):
    server = serve()
    _, job, _ = upload(server.url, budget="60s")
    wait(server.url, job["id"], states=("running",))
    status, _, _ = call(server.url, "POST", f"/api/matches/{job['id']}/cancel")
    assert status == 200
    assert wait(server.url, job["id"], seconds=30)["state"] == "cancelled"
    assert call(server.url, "DELETE", f"/api/matches/{job['id']}")[0] == 200
    assert call(server.url, path=f"/api/matches/{job['id']}")[0] == 404


def test_refusals_are_one_line_each_and_the_server_keeps_serving(serve, tmp_path):
    server = serve()
    # a 100 MB upload: refused from its size, before it is read
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.putrequest("POST", "/api/matches?" + urlencode({"name": "big.wav", "synth": MODEL}))
    conn.putheader("Content-Length", str(100_000_000))
    conn.endheaders()
    conn.send(b"RIFF" + bytes(1 << 16))
    response = conn.getresponse()
    assert response.status == 413
    assert "over the upload limit of 50 MB" in json.loads(response.read())["error"]
    conn.close()
    # a PNG named .wav
    png = tmp_path / "picture.wav"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    status, body, _ = upload(server.url, png)
    assert status == 400 and body["error"].startswith("picture.wav: cannot read audio")
    assert "\n" not in body["error"] and str(tmp_path) not in body["error"]
    status, body, _ = upload(server.url, name="notes.txt")
    assert status == 400 and "expected wav, flac, mp3, ogg or aiff" in body["error"]
    status, body, _ = upload(server.url, synth="nope")
    assert status == 400 and body["error"].startswith("synth: found 'nope'")
    status, body, _ = upload(server.url, budget="100000")
    assert status == 400 and body["error"].startswith("budget:")
    # another web page posting to it, and a rebound host name
    status, body, _ = call(server.url, "POST", "/api/matches", (SOUNDS / "hat.wav").read_bytes(),
                           {"Origin": "http://evil.example"}, name="hat.wav", synth=MODEL)
    assert status == 403 and "refused" in body["error"]
    status, body, _ = call(server.url, path="/api/matches",
                           headers={"Host": f"evil.example:{parts.port}"})
    assert status == 403 and "DNS rebinding" in body["error"]
    status, body, _ = call(server.url, path="/api/synths",
                           headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    # none of it stopped the server or left a match behind
    status, listing, _ = call(server.url, path="/api/matches")
    assert status == 200 and listing["matches"] == []
    assert [p.name for p in (tmp_path / "served").iterdir()] == []


def test_the_page_and_its_files_ship_in_the_package(serve):
    server = serve()
    status, page, headers = call(server.url)
    assert status == 200 and b'<script src="/static/app.js"' in page
    assert "default-src 'self'" in headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert call(server.url, path=f"/static/{name}")[0] == 200
    assert call(server.url, path="/static/../jobs.py")[0] == 404
    status, synths, _ = call(server.url, path="/api/synths")
    keys = {s["key"]: s for s in synths["synths"]}
    assert keys[MODEL]["available"] and keys["synth:builtin"]["available"]
    assert not keys["synth:massive"]["available"] and keys["synth:massive"]["reason"]


@pytest.mark.parametrize("args", [("--port", "70000"), ("--jobs", "0")])
def test_bad_options_are_one_line(args, tmp_path):
    from .conftest import run_soundmatch

    result = run_soundmatch("serve", "--folder", tmp_path, *args)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_the_users_own_presets_are_starts(serve, tmp_path):
    from .conftest import run_soundmatch

    preset = REPO / "specs" / "presets" / "builtin" / "bass-acid.yaml"
    sound = tmp_path / "acid.wav"
    assert run_soundmatch("play", preset, "--note", 45, "--out", sound).returncode == 0
    server = serve()
    status, uploaded, _ = call(server.url, "POST", "/api/presets", preset.read_bytes(),
                               name="bass-acid.yaml")
    assert status == 201 and uploaded["name"] == "bass-acid.yaml"
    _, job, _ = upload(server.url, sound, synth="synth:builtin", presets="0",
                       preset_files=uploaded["id"], budget="30")
    done = wait(server.url, job["id"])
    assert done["state"] == "done", done["error"]
    assert done["results"][0]["start"] == "preset bass-acid.yaml"  # named as uploaded
    # a file no synth reads is refused; one the synth cannot read fails its match, saying why
    status, body, _ = call(server.url, "POST", "/api/presets", b"x", name="notes.txt")
    assert status == 400 and "expected a preset" in body["error"]
    _, junk, _ = call(server.url, "POST", "/api/presets", b"\x89PNG" + bytes(100),
                      name="junk.yaml")
    _, job, _ = upload(server.url, sound, synth="synth:builtin", preset_files=junk["id"])
    failed = wait(server.url, job["id"])
    assert failed["state"] == "failed" and failed["error"].startswith("junk.yaml:")
    status, body, _ = upload(server.url, sound, synth="synth:builtin", preset_files="0" * 12)
    assert status == 400 and "no uploaded preset" in body["error"]
