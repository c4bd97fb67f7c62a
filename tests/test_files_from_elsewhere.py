"""Files from elsewhere stay data, and what soundmatch writes appears whole: a checkpoint cannot
inflate past its size, a user's file is read only if it is a regular file of a sane size, every
mistake is one line, and the sets of files `match` writes are never mixed or half written."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from soundmatch.audio import write_wav
from soundmatch.errors import first_line
from soundmatch.fileio import FileSet
from soundmatch.shipped import pretrained_checkpoint

from .conftest import REPO, run_soundmatch, soundmatch_command

SOUND = REPO / "examples" / "sounds" / "builtin-a.wav"
OTHER_SOUND = REPO / "examples" / "sounds" / "builtin-c.wav"
MATCH_FILES = ("match.wav", "params.yaml", "preset.yaml", "compare.png")
# A folder one match (stem x) was written into: its set, the folder's lock, the scores table.
WHOLE_FOLDER = sorted([f"x.{kind}" for kind in MATCH_FILES] + [".soundmatch-lock", "scores.csv"])


def one_line(result: subprocess.CompletedProcess) -> str:
    """The one line a user's mistake gives: non-zero exit, no traceback."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ------------------------------------------------------------------------ a checkpoint zip bomb


def zip_bomb(path: Path, records: dict[str, bytes], bomb: str, chunks: int = 255) -> int:
    """A zip of ``records`` (stored, as torch.save writes them) in which the record ``bomb`` is
    ``chunks`` x 16 MiB of zeros, deflated. The deflate stream of zeros repeats after its first
    block, so it is built from three blocks in a second, not compressed for a minute."""
    chunk = bytes(1 << 24)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first, middle = deflate.compress(chunk), deflate.compress(chunk)
    assert deflate.compress(chunk) == middle
    stream = first + middle * (chunks - 1) + deflate.flush()
    crc = 0
    for _ in range(chunks):
        crc = zlib.crc32(chunk, crc)
    entries = [(name, data, 0, zlib.crc32(data), len(data))
               for name, data in records.items() if name != bomb]
    entries.append((bomb, stream, zipfile.ZIP_DEFLATED, crc, chunks * len(chunk)))
    body, central = bytearray(), bytearray()
    for name, data, method, crc32, size in entries:
        offset, raw = len(body), name.encode()
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc32, len(data),
                            size, len(raw), 0) + raw + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc32,
                               len(data), size, len(raw), 0, 0, 0, 0, 0, offset) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central),
                      len(body), 0)
    path.write_bytes(bytes(body + central + end))
    return chunks * len(chunk)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """The shipped builtin-16 checkpoint with its largest tensor record replaced by 4 GB of
    zeros that deflate to 4 MB (11 MB in all)."""
    path = tmp_path_factory.mktemp("bomb") / "model.pt"
    with zipfile.ZipFile(pretrained_checkpoint("builtin-16")) as z:
        records = {i.filename: z.read(i) for i in z.infolist()}
    largest = max(records, key=lambda name: len(records[name]))
    inflated = zip_bomb(path, records, largest)
    assert path.stat().st_size < 16 << 20 and inflated > 4_000_000_000
    return path


def limited_memory():
    """3 GB of data for the child process (RLIMIT_DATA: torch's mapped libraries do not count,
    what it allocates does)."""
    resource.setrlimit(resource.RLIMIT_DATA, (3 << 30, 3 << 30))


@pytest.mark.parametrize("command", ["match", "evaluate"])
def test_a_zip_bomb_checkpoint_is_refused_unpacked(command, bomb, tiny_data, tmp_path):
    args = (["match", SOUND, "--checkpoint", bomb, "--out", tmp_path / "out"]
            if command == "match" else ["evaluate", bomb, "--data", tiny_data])
    result = run_soundmatch(*args, preexec_fn=limited_memory, timeout=120)
    line = one_line(result)
    assert "model.pt" in line and "would inflate" in line and "MemoryError" not in line
    assert not (tmp_path / "out").exists() or not listing(tmp_path / "out")


# ------------------------------------------------------------------------ one line for each mistake


def float_wav(path: Path, samples: np.ndarray, rate: int = 44100) -> Path:
    """A 32-bit float WAV (format 3), which can hold any value."""
    data = samples.astype("<f4").tobytes()
    header = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, 3, 1, rate, rate * 4, 4, 32)
              + b"data" + struct.pack("<I", len(data)))
    path.write_bytes(header + data)
    return path


def test_a_note_of_nan_and_a_budget_of_nans_are_one_line(tmp_path):
    for option, value in (("--note", "nan"), ("--refine", "nans"), ("--refine", "infs")):
        out = tmp_path / value
        line = one_line(run_soundmatch("match", SOUND, option, value, "--out", out))
        assert f"'{option}'" in line and repr(value) in line
        assert not out.exists()


def test_a_float_wav_of_absurd_level_is_one_line(tmp_path):
    t = np.arange(44100) / 44100
    loud = float_wav(tmp_path / "loud.wav", 5e19 * np.sin(2 * np.pi * 220 * t))
    line = one_line(run_soundmatch("match", loud, "--out", tmp_path / "out"))
    assert "loud.wav" in line and "5e+19" in line
    assert listing(tmp_path / "out") == []


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_an_input_that_is_not_a_regular_file_is_refused_unread(kind, tmp_path):
    if kind == "fifo":
        path = tmp_path / "pipe.wav"
        os.mkfifo(path)  # nobody writes: reading it would wait forever
    else:
        path = Path("/dev/zero") if kind == "device" else tmp_path
    line = one_line(run_soundmatch("match", path, "--out", tmp_path / "out", timeout=60))
    assert str(path) in line
    assert {"fifo": "a FIFO", "device": "a device", "folder": "a folder"}[kind] in line


def test_the_reason_a_library_gives_is_quoted_whole(tmp_path):
    from pedalboard.io import AudioFile

    junk = tmp_path / "notes.wav"
    junk.write_text("this is not audio, " * 40)
    with pytest.raises(Exception) as raised:
        AudioFile(str(junk))
    line = one_line(run_soundmatch("match", junk, "--out", tmp_path / "out"))
    assert first_line(raised.value) in line


@pytest.mark.parametrize("edit, field", [
    ({"render": {"duration": 0.001}}, "render.duration"),
    ({"synth": {"adapter": "builtin", "options": {"release": "/etc/passwd"}}},
     "synth.options.release"),
    ({"synth": {"adapter": "builtin", "options": {"level": True}}}, "synth.options.level"),
])
def test_a_spec_with_a_bad_value_is_one_line(edit, field, spec_dict, write_spec, tmp_path):
    for key, value in edit.items():
        spec_dict[key] = {**spec_dict.get(key, {}), **value}
    out = tmp_path / "data"
    line = one_line(run_soundmatch("render", "--spec", write_spec(spec_dict), "--count", 4,
                                   "--out", out))
    assert field in line
    assert not out.exists() or not list((out / "shards").glob("*/meta.json"))


@pytest.mark.parametrize("kind", ["device", "folder", "fifo"])
def test_a_spec_that_is_not_a_regular_file_is_one_line(kind, tmp_path):
    path = {"device": Path("/dev/zero"), "folder": tmp_path}.get(kind, tmp_path / "spec.yaml")
    if kind == "fifo":
        os.mkfifo(path)
    line = one_line(run_soundmatch("spec", "show", path, timeout=60))
    assert str(path) in line


def test_a_batch_of_one_is_refused_before_training(tiny_data, tmp_path):
    line = one_line(run_soundmatch("train", "--data", tiny_data, "--backbone", "mlp",
                                   "--batch-size", 1, "--out", tmp_path / "run"))
    assert "'--batch-size'" in line
    assert not (tmp_path / "run").exists()


def test_a_manifest_edited_after_rendering_is_refused(tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    manifest = json.loads((data / "manifest.json").read_text())
    parameters = manifest["spec"]["parameters"]
    parameters[0], parameters[1] = parameters[1], parameters[0]  # same names, another order
    (data / "manifest.json").write_text(json.dumps(manifest))
    line = one_line(run_soundmatch("train", "--data", data, "--backbone", "mlp", "--epochs", 1,
                                   "--out", tmp_path / "run"))
    assert "manifest was changed after rendering" in line
    assert not (tmp_path / "run" / "best.pt").exists()


@pytest.mark.parametrize("edit", ["elsewhere", "count"])
def test_a_hand_edited_dataset_is_one_line_and_opens_nothing_else(edit, tiny_data, tmp_path):
    """A shard's meta.json names its arrays: a name outside the shard's own is never opened;
    a manifest's fields are read like a spec's."""
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    if edit == "elsewhere":
        target = tmp_path / "secret.npy"
        np.save(target, np.zeros(3))
        meta_path = data / "shards" / "00000" / "meta.json"
        meta = json.loads(meta_path.read_text())
        meta["files"]["../../../secret.npy"] = {"bytes": target.stat().st_size, "sha256": "0"}
        meta_path.write_text(json.dumps(meta))
        expected = "meta.json: files: found '../../../secret.npy'"
    else:
        manifest = json.loads((data / "manifest.json").read_text())
        (data / "manifest.json").write_text(json.dumps({**manifest, "count": "many"}))
        expected = "manifest.json: count: found 'many', expected an integer"
    line = one_line(run_soundmatch("train", "--data", data, "--backbone", "mlp", "--epochs", 1,
                                   "--out", tmp_path / "run"))
    assert expected in line


def test_ctrl_c_in_match_does_not_promise_a_resume(tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(soundmatch_command("match", SOUND, "--refine", "60s", "--out", out),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Interrupt once the search is under way (its status line is on stderr, a TTY-less spinner
    # prints nothing, so wait for the process to be well past its imports instead).
    time.sleep(8)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "resume" not in err and "Interrupted" in err and "Traceback" not in err
    assert listing(out) == []


# ------------------------------------------------------------------------ whole sets of files


def match_set(out: Path, stem: str = "x") -> dict[str, str]:
    return {kind: hashlib.sha256((out / f"{stem}.{kind}").read_bytes()).hexdigest()
            for kind in MATCH_FILES if (out / f"{stem}.{kind}").exists()}


@pytest.fixture(scope="module")
def same_stem(tmp_path_factory):
    """Two different sounds that are both called x.wav, and the set each gives on its own."""
    root = tmp_path_factory.mktemp("same-stem")
    inputs, sets = [], []
    for folder, sound in (("a", SOUND), ("b", OTHER_SOUND)):
        (root / folder).mkdir()
        shutil.copy(sound, root / folder / "x.wav")
        out = root / f"alone-{folder}"
        result = run_soundmatch("match", root / folder / "x.wav", "--checkpoint", "builtin-16",
                                "--out", out)
        assert result.returncode == 0, result.stderr
        inputs.append(root / folder / "x.wav")
        sets.append(match_set(out))
        assert len(sets[-1]) == len(MATCH_FILES)
    assert sets[0] != sets[1]
    return inputs, sets


def test_two_runs_into_one_folder_never_mix_their_sets(same_stem, tmp_path):
    inputs, sets = same_stem
    for attempt in range(10):
        out = tmp_path / f"out{attempt}"
        runs = [subprocess.Popen(soundmatch_command("match", path, "--checkpoint", "builtin-16",
                                                    "--out", out),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                for path in inputs]
        for run in runs:
            assert run.wait(timeout=300) == 0, run.stderr.read()
        assert match_set(out) in sets, f"attempt {attempt}: a mixed set"
        assert listing(out) == WHOLE_FOLDER
        # and the scores table describes the set that is there
        source = (out / "x.params.yaml").read_text().splitlines()[0].split(": ", 1)[1]
        assert (out / "scores.csv").read_text().splitlines()[1].split(",")[1] == source


def test_a_match_killed_at_any_moment_leaves_the_earlier_result_whole(same_stem, tmp_path):
    inputs, sets = same_stem
    out = tmp_path / "out"
    result = run_soundmatch("match", inputs[0], "--checkpoint", "builtin-16", "--out", out)
    assert result.returncode == 0 and match_set(out) == sets[0]
    # How long a whole run takes here, then kills spread over all of it.
    started = time.perf_counter()
    run_soundmatch("match", inputs[1], "--checkpoint", "builtin-16", "--out", tmp_path / "timed")
    whole = time.perf_counter() - started
    for fraction in np.linspace(0.3, 1.1, 9):
        process = subprocess.Popen(soundmatch_command("match", inputs[1], "--checkpoint",
                                                      "builtin-16", "--out", out),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(fraction * whole)
        process.kill()
        process.wait()
        assert match_set(out) in sets, f"killed at {fraction:.2f} of a run: a mixed set"
        assert len(match_set(out)) == len(MATCH_FILES)
    # and the next run cleans up whatever a killed one left
    result = run_soundmatch("match", inputs[1], "--checkpoint", "builtin-16", "--out", out)
    assert result.returncode == 0 and match_set(out) == sets[1]
    assert listing(out) == WHOLE_FOLDER


def test_a_set_interrupted_while_renaming_is_finished_by_the_next(tmp_path, monkeypatch):
    for name, text in (("x.a", "old a"), ("x.b", "old b")):
        (tmp_path / name).write_text(text)
    real_replace, calls = os.replace, []

    def dies_after_one(src, dst):
        calls.append(dst)
        if len(calls) > 1:
            raise KeyboardInterrupt  # the process dies between two renames
        real_replace(src, dst)

    with pytest.raises(KeyboardInterrupt), FileSet(tmp_path, "x") as files:
        files.path("x.a").write_text("new a")
        files.path("x.b").write_text("new b")
        monkeypatch.setattr(os, "replace", dies_after_one)
    monkeypatch.setattr(os, "replace", real_replace)
    # (FileSet's own cleanup ran in-process here; a killed process would leave its folder too.)
    with FileSet(tmp_path, "y") as files:
        files.path("y.a").write_text("y")
    texts = {name: (tmp_path / name).read_text() for name in ("x.a", "x.b")}
    assert texts in ({"x.a": "old a", "x.b": "old b"}, {"x.a": "new a", "x.b": "new b"}), texts
    assert sorted(p.name for p in tmp_path.iterdir()) == [".soundmatch-lock", "x.a", "x.b", "y.a"]


def test_a_report_written_again_holds_only_the_new_report(tiny_checkpoint, tiny_data, tmp_path):
    report = tmp_path / "report"
    (report / "media").mkdir(parents=True)
    (report / "media" / "999-old.wav").write_bytes(b"an earlier report's media")
    (report / "notes.txt").write_text("kept by nobody")
    result = run_soundmatch("evaluate", tiny_checkpoint, "--data", tiny_data, "--count", 4,
                            "--report", report)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in report.iterdir()) == ["index.html", "media", "scores.json"]
    media = sorted(p.name for p in (report / "media").iterdir())
    assert "999-old.wav" not in media and len(media) == 4 * 3
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_write_wav_replaces_a_file_whole(tmp_path):
    path = tmp_path / "x.wav"
    write_wav(path, np.zeros(100, np.float32), 16000)
    write_wav(path, np.full(50, 0.5, np.float32), 16000)
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]


def test_no_bytes_of_a_file_over_the_limit_are_read(tmp_path):
    from soundmatch.errors import SoundmatchError
    from soundmatch.fileio import read_bounded

    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(2 << 30)  # 2 GB, sparse: nothing is written, nothing may be read
    with pytest.raises(SoundmatchError, match=r"big.bin: 2,147,483,648 bytes, expected a voice"):
        read_bounded(big, 1 << 20, "voice")


if sys.platform != "linux":  # RLIMIT_DATA, FIFOs and /dev/zero as used above
    pytestmark = pytest.mark.skip("Linux only")
