"""Reliability: hostile or unlucky inputs give one line, and nothing is overwritten silently."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from soundmatch import plugins
from soundmatch.audio import write_wav

from .conftest import REPO, make_distribution, run_soundmatch, soundmatch_command


def test_a_yaml_alias_bomb_is_one_line_at_once(tmp_path, spec_dict, write_spec):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for k in range(1, 12):  # 10^12 elements once expanded
        levels.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]")
    path = write_spec(spec_dict)
    path.write_text("\n".join(levels) + "\ndescription: *a11\n" + path.read_text())
    result = run_soundmatch("spec", "show", path, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "aliases" in lines[0]


def test_inputs_with_the_same_name_keep_their_own_results(tiny_checkpoint, tmp_path):
    from .test_match import tone

    for folder, midi in (("a", 60), ("b", 67)):
        (tmp_path / folder).mkdir()
        write_wav(tmp_path / folder / "x.wav", (0.3 * tone(midi)).astype(np.float32), 44100)
    out = tmp_path / "out"
    result = run_soundmatch("match", tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav",
                            "--checkpoint", tiny_checkpoint, "--out", out)
    assert result.returncode == 0, result.stderr
    assert (out / "x.match.wav").exists() and (out / "x-2.match.wav").exists()
    first = (out / "x.params.yaml").read_text()
    second = (out / "x-2.params.yaml").read_text()
    assert "a/x.wav" in first and "b/x.wav" in second


def test_the_builtin_synth_writes_no_cache_into_its_package(builtin_spec):
    """numba's cache in the package folder once shadowed an editable install (issue 14)."""
    synth = plugins.create_adapter(builtin_spec)
    synth.render_patch(builtin_spec.to_synth(builtin_spec.defaults()))
    package = REPO / "adapters" / "builtin"
    assert not list(package.rglob("*.nbi")) and not list(package.rglob("*.nbc"))


def test_the_adapters_folder_imported_by_its_folder_name_is_refused(tmp_path):
    """From a checkout's root, ``adapters`` is importable by its folder's name. The built-in synth
    compiled under that name filled numba's cache with code that every later ``soundmatch`` run
    failed to load ("No module named 'adapters'"): that import is refused, and the cache stays
    usable by the real one."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    render = ("import numpy as np; import adapters.builtin.dsp as dsp; "
              "dsp.reverb(np.ones(64, np.float32), 44100, 0.5, 0.5, 1.0, 1.0, 0.0)")
    shadow = subprocess.run([sys.executable, "-c", render], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=120)
    assert shadow.returncode != 0
    assert "import soundmatch_adapters, not adapters" in shadow.stderr.strip().splitlines()[-1]
    real = subprocess.run([sys.executable, "-c",
                           "from soundmatch import plugins; spec = plugins.resolve_spec("
                           "spec='builtin-rich'); print(plugins.create_adapter(spec)"
                           ".render_patch({'master_fx2_dry_wet': 0.5}, note=60).shape)"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert real.returncode == 0, real.stderr
    assert real.stdout.strip() == "(176400,)"


@pytest.mark.parametrize("option", [("--lr", "-1"), ("--lr", "nan"), ("--time-budget", "0"),
                                    ("--time-budget", "-1"), ("--device", "potato")])
def test_nonsense_training_options_are_refused_by_click(option, tiny_data, tmp_path):
    result = run_soundmatch("train", "--data", tiny_data, "--out", tmp_path / "r", *option)
    assert result.returncode == 2
    assert f"Invalid value for '{option[0]}'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_bad_backbone_config_value_is_one_line(tiny_data, tmp_path):
    result = run_soundmatch("train", "--data", tiny_data, "--backbone", "mlp", "--config",
                            "width=abc", "--out", tmp_path / "r", "--epochs", 1)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "backbone mlp" in result.stderr


@pytest.fixture()
def copied_data(tiny_data, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(tiny_data, copy)
    return copy


@pytest.mark.parametrize("damage", ["truncate", "scribble", "missing", "count"])
def test_damaged_shards_are_one_line_not_silent_nan(damage, copied_data, tmp_path):
    shard = copied_data / "shards" / "00001"
    features = shard / "features.npy"
    if damage == "truncate":
        features.write_bytes(features.read_bytes()[:5000])
    elif damage == "scribble":
        data = bytearray(features.read_bytes())
        data[2000:6000] = np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes()
        features.write_bytes(bytes(data))
    elif damage == "missing":
        features.unlink()
    else:
        meta = json.loads((shard / "meta.json").read_text())
        (shard / "meta.json").write_text(json.dumps({**meta, "count": meta["count"] + 3}))
    out = tmp_path / "run"
    result = run_soundmatch("train", "--data", copied_data, "--backbone", "mlp", "--epochs", 1,
                            "--batch-size", 16, "--out", out)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(shard) in errors[0]
    assert not (out / "best.pt").exists() and not (out / "summary.json").exists()


@pytest.mark.parametrize("edit", ["stride0", "nan", "rate0", "mels", "fft", "notes"])
def test_hand_edited_checkpoints_are_one_line(edit, tiny_checkpoint, tmp_path):
    payload = torch.load(tiny_checkpoint, weights_only=True)
    if edit == "stride0":
        payload["config"]["stride"] = 0
    elif edit == "nan":
        key = next(k for k, v in payload["model"].items() if v.is_floating_point())
        payload["model"][key] = payload["model"][key] * float("nan")
    elif edit == "rate0":
        payload["features"]["sample_rate"] = 0
    elif edit == "mels":
        payload["features"]["n_mels"] = -1
    elif edit == "fft":
        payload["features"]["n_fft"] = "abc"
    else:
        payload["spec"]["render"]["notes"] = [84, "x"]
    path = tmp_path / "edited.pt"
    torch.save(payload, path)
    sound = REPO / "examples" / "sounds" / "builtin-a.wav"
    result = run_soundmatch("match", sound, "--checkpoint", path, "--out", tmp_path / "o")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}"), result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_a_synth_that_segfaults_never_hangs_a_render(workers, sine_env, tmp_path):
    """With one event queue shared by the workers, a worker killed while its feeder thread held
    the queue's lock hung the job (2 of 2 runs of 600 renders; each crash costs a worker start,
    so this test renders fewer)."""
    out = tmp_path / "d"
    result = run_soundmatch("render", "--synth", "sine-crashy", "--count", 200, "--workers",
                            workers, "--seed", 3, "--shard-size", 30, "--out", out, "--no-check",
                            env=sine_env, timeout=300)
    assert result.returncode == 0, result.stderr
    metas = [json.loads(p.read_text()) for p in (out / "shards").glob("*/meta.json")]
    assert sum(m["count"] for m in metas) == 200
    assert sum(m["lost"] for m in metas) >= 10  # patches in the crashing band were hit, and lost


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    with open(path) as f:
        return [int(x) for x in f.read().split()]


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux /proc")
def test_workers_never_outlive_a_killed_render(tmp_path):
    job = subprocess.Popen(soundmatch_command("render", "--count", 20000, "--workers", 2,
                                              "--out", tmp_path / "d", "--no-check"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.5)
            # the workers, not multiprocessing's resource tracker
            workers = [c for c in _children(job.pid)
                       if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
        assert len(workers) == 2
        job.kill()  # kill -9: the parent gets no chance to stop them
        job.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{w}") for w in workers):
            time.sleep(0.2)
        alive = [w for w in workers if os.path.exists(f"/proc/{w}")
                 and Path(f"/proc/{w}/stat").read_text().split()[2] != "Z"]
        assert not alive
    finally:
        if job.poll() is None:
            job.kill()


@pytest.mark.parametrize("where", ["under-a-file", "read-only"])
def test_an_output_folder_that_cannot_be_written_is_one_line(where, tmp_path):
    if where == "under-a-file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "out"
    else:
        if os.geteuid() == 0:
            out = Path("/proc/soundmatch-out")  # root ignores permissions; /proc refuses it too
        else:
            (tmp_path / "ro").mkdir(mode=0o500)
            out = tmp_path / "ro" / "out"
    sound = REPO / "examples" / "sounds" / "builtin-a.wav"
    for args in (("match", sound, "--out", out), ("render", "--count", 10, "--out", out)):
        result = run_soundmatch(*args)
        assert result.returncode == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(out).split("/")[1] in lines[0], result.stderr


def test_a_truncated_flac_is_undecodable_not_silent(tmp_path):
    data = (REPO / "benchmarks" / "real-sounds" / "sf-trumpet.flac").read_bytes()
    truncated = tmp_path / "cut.flac"
    truncated.write_bytes(data[: len(data) // 3])
    silent = write_wav(tmp_path / "silent.flac", np.zeros(44100, np.float32), 44100)
    result = run_soundmatch("match", truncated, silent, "--checkpoint", "builtin-16", "--out",
                            tmp_path / "o")
    assert result.returncode == 1
    assert f"{truncated}: cannot decode" in result.stderr
    assert f"{silent}: silent" in result.stderr


@pytest.mark.parametrize("owner", ["dead-process", "old-and-empty"])
def test_a_manifest_lock_left_by_a_killed_render_does_not_block_the_folder(owner, tmp_path):
    import socket

    out = tmp_path / "d"
    (out / "shards").mkdir(parents=True)
    lock = out / "manifest.lock"
    if owner == "dead-process":
        dead = subprocess.Popen(["true"])
        dead.wait()
        lock.write_text(f"{socket.gethostname()} {dead.pid}")
    else:
        lock.write_text("")
        os.utime(lock, (time.time() - 3600, time.time() - 3600))
    result = run_soundmatch("render", "--count", 8, "--workers", 1, "--out", out, "--no-check")
    assert result.returncode == 0, result.stderr
    assert (out / "manifest.json").exists() and not lock.exists()


def test_the_preset_fitted_spec_renders_with_its_check(tmp_path):
    """The README suggests --spec builtin-16-presets; its quick check used to fail, because
    the check sampled contexts from the fitted distributions (highpass always at 20 Hz)."""
    result = run_soundmatch("render", "--spec", "builtin-16-presets", "--count", 8, "--workers",
                            1, "--out", tmp_path / "d")
    assert result.returncode == 0, result.stderr


def test_spec_fit_skips_junk_nan_and_out_of_range_presets_and_says_why(tmp_path):
    import yaml

    presets = tmp_path / "presets"
    shutil.copytree(REPO / "specs" / "presets" / "builtin", presets)
    good = yaml.safe_load((presets / "bass-acid.yaml").read_text())
    (presets / "junk.yaml").write_text("{{{ not yaml")
    words = {**good, "parameters": {**good["parameters"], "osc1_amp": "loud"}}
    (presets / "words.yaml").write_text(yaml.safe_dump(words))
    nan = {**good, "parameters": {**good["parameters"], "osc1_amp": float("nan")}}
    (presets / "nan.yaml").write_text(yaml.safe_dump(nan))
    far = {**good, "parameters": {**good["parameters"], "filter1_cut_prm_1": 90000.0}}
    (presets / "far.yaml").write_text(yaml.safe_dump(far))
    out = tmp_path / "fitted.yaml"
    result = run_soundmatch("spec", "fit", "builtin-16", "--presets", presets, "--out", out)
    assert result.returncode == 0, result.stderr
    for name in ("junk", "words", "nan", "far"):
        assert f"skipped {presets / name}.yaml" in " ".join(result.stderr.split())
    assert "outside the spec's 40..18000" in result.stderr
    assert run_soundmatch("spec", "show", out).returncode == 0  # what it wrote loads



def test_the_command_line_exits_with_its_output_whole_and_its_status(tmp_path):
    """The console script ends without the interpreter's teardown (``cli._exit_at_once``): the
    status must still be the command's, for a success and for a user's mistake alike."""
    listed = run_soundmatch("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    plugins_ = json.loads(listed.stdout)  # all of it, or this fails to parse
    assert {"builtin", "mlp"} <= {p["name"] for p in plugins_}  # the first and the last
    missing = run_soundmatch("match", tmp_path / "nothing.wav")
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "nothing.wav" in missing.stderr
    usage = run_soundmatch("match", "--candidates", "0", tmp_path / "nothing.wav")
    assert usage.returncode == 2 and "--candidates" in usage.stderr


def test_a_plugin_command_ends_as_at_any_exit(tmp_path):
    """What a plugin's command leaves to the end of the process happens before the quick exit
    (``cli._exit_at_once``), as the interpreter would do it: a thread still writing is joined,
    exit handlers run, and what ``print`` buffered on a pipe arrives."""
    site = tmp_path / "site"
    make_distribution(site, "late-tool", "late_tool", f"""
        import atexit, threading, time
        from pathlib import Path
        import click
        from soundmatch import hookimpl

        OUT = Path({str(tmp_path)!r})

        @click.command()
        def late():
            def write():
                time.sleep(0.5)
                (OUT / "thread.txt").write_text("done")
            threading.Thread(target=write).start()
            atexit.register(lambda: (OUT / "atexit.txt").write_text("done"))
            for i in range(2000):
                print(f"line {{i}}")

        @hookimpl
        def register_commands(cli):
            cli.add_command(late)
    """)
    # A pipe is block-buffered unless PYTHONUNBUFFERED says otherwise (empty: it does not).
    result = run_soundmatch("late", env={"PYTHONPATH": str(site), "PYTHONUNBUFFERED": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "line 1999"
    assert (tmp_path / "thread.txt").read_text() == "done"
    assert (tmp_path / "atexit.txt").read_text() == "done"
