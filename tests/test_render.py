"""`soundmatch render` and the dataset store: exact counts, determinism, resuming after SIGKILL,
several processes on one dataset, silence dropping, and the memory-mapped reader."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import time

import numpy as np
import pytest

from soundmatch import dataset
from soundmatch.dataset import DatasetReader
from soundmatch.errors import SoundmatchError
from soundmatch.features import log_mel

from .conftest import run_soundmatch, soundmatch_command


def arrays(root):
    reader = DatasetReader(root)
    feats = np.stack([reader[i][0] for i in range(len(reader))])
    return feats, reader.params()


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "small"
    result = run_soundmatch("render", "--count", 150, "--workers", 2, "--shard-size", 64,
                            "--seed", 3, "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result


def test_render_writes_exactly_the_count_with_a_summary(small_dataset):
    out, result = small_dataset
    reader = DatasetReader(out)
    assert len(reader) == 150
    assert reader.manifest.num_shards == 3 and sorted(reader.shards) == [0, 1, 2]
    params = reader.params()
    assert params.shape == (150, 16) and params.dtype == np.float32
    assert params.min() >= 0 and params.max() <= 1
    assert len(np.unique(params[:, 0])) == 150  # no duplicated examples
    features, _ = reader[149]
    assert features.dtype == np.float16 and features.shape == (64, 173)
    assert "150 of 150 examples" in result.stdout and "examples/s" in result.stdout
    assert "dropped" in result.stdout and "size on disk" in result.stdout


def test_stored_features_are_the_features_of_the_stored_parameters(small_dataset, synth):
    reader = DatasetReader(small_dataset[0])
    for i in (0, 77, 149):
        features, params = reader[i]
        audio = synth.render_patch(reader.spec.to_synth(params))
        expected = log_mel(audio, reader.feature_config).numpy()
        np.testing.assert_allclose(features.astype(np.float32), expected, atol=0.02, rtol=0.005)


def test_the_reader_indexes_like_a_sequence_and_pickles(small_dataset):
    reader = DatasetReader(small_dataset[0])
    np.testing.assert_array_equal(reader[-1][1], reader[149][1])
    with pytest.raises(IndexError):
        reader[150]
    clone = pickle.loads(pickle.dumps(reader))  # what a DataLoader worker receives
    np.testing.assert_array_equal(clone[10][0], reader[10][0])


def test_same_settings_give_the_same_dataset_whatever_the_process_layout(small_dataset, tmp_path):
    """Two processes rendering disjoint shards at once end in one valid dataset, identical to a
    single process's."""
    out = tmp_path / "split"
    procs = [subprocess.Popen(soundmatch_command("render", "--count", 150, "--workers", 1,
                                                 "--shard-size", 64, "--seed", 3, "--out", out,
                                                 "--shard", f"{i}/2"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    a_feats, a_params = arrays(small_dataset[0])
    b_feats, b_params = arrays(out)
    np.testing.assert_array_equal(a_params, b_params)
    np.testing.assert_array_equal(a_feats, b_feats)


def wait_for_shards(root, n, proc, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(dataset.completed_shards(root)) >= n:
            return
        assert proc.poll() is None, "render finished before it could be killed"
        time.sleep(0.05)
    raise AssertionError("render made no progress")


def test_a_killed_render_resumes_to_exactly_the_count(tmp_path):
    out = tmp_path / "demo"
    args = ["render", "--count", 2000, "--workers", 2, "--shard-size", 256, "--out", out]
    proc = subprocess.Popen(soundmatch_command(*args), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for_shards(out, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the job and its workers, mid-way, no chance to clean up
    proc.wait()
    done_before = {i: dataset.shard_path(out, i).stat().st_ino
                   for i in dataset.completed_shards(out)}
    assert 2 <= len(done_before) < 8
    with pytest.raises(SoundmatchError, match="incomplete dataset"):
        DatasetReader(out)
    # Leftovers of a crash: a half-written temporary shard and a partial copy of a shard.
    stale = out / "shards" / f".tmp-00007-{os.uname().nodename}-999999-deadbeef"
    stale.mkdir()
    (stale / "params.npy").write_bytes(b"garbage")
    partial = next(i for i in range(8) if i not in done_before)
    dataset.shard_path(out, partial).mkdir()
    (dataset.shard_path(out, partial) / "params.npy").write_bytes(b"garbage")

    result = run_soundmatch(*args)
    assert result.returncode == 0, result.stderr
    assert f"Resuming {out}: {256 * len(done_before):,} of 2,000 examples" in result.stderr
    reader = DatasetReader(out)
    assert len(reader) == 2000
    assert len(np.unique(reader.params(), axis=0)) == 2000
    for i, inode in done_before.items():  # nothing already written was redone
        assert dataset.shard_path(out, i).stat().st_ino == inode
    assert not list((out / "shards").glob(".tmp-*"))


def test_a_different_dataset_in_the_same_folder_is_refused(small_dataset):
    result = run_soundmatch("render", "--count", 300, "--out", small_dataset[0])
    assert result.returncode == 1
    assert "holds a different dataset (spec builtin-16, 150 examples, seed 3" in result.stderr
    assert "Traceback" not in result.stderr


def test_silent_renders_are_dropped_and_counted(spec_dict, write_spec, tmp_path):
    params = {p["name"]: p for p in spec_dict["parameters"]}
    params["osc1_amp"]["distribution"] = {"type": "empirical", "values": [0.0, 1.0]}
    params["osc2_amp"]["distribution"] = {"type": "empirical", "values": [0.0]}
    params["noise_amp"]["distribution"] = {"type": "empirical", "values": [0.0]}
    spec_path = write_spec(spec_dict)
    out = tmp_path / "half-silent"
    # --no-check: with oscillator 2 always muted its pitch has no effect, as the check would say
    result = run_soundmatch("render", "--spec", spec_path, "--count", 40, "--workers", 1,
                            "--out", out, "--no-check")
    assert result.returncode == 0, result.stderr
    reader = DatasetReader(out)
    assert len(reader) == 40
    assert np.all(reader.params()[:, reader.spec.names.index("osc1_amp")] == 1.0)
    dropped = int(result.stdout.split("dropped")[1].split()[0])
    assert 15 <= dropped <= 70  # about one in two candidates is silent


def test_a_spec_that_only_makes_silence_fails_clearly(spec_dict, write_spec, tmp_path):
    for p in spec_dict["parameters"]:
        if p["name"] in ("osc1_amp", "osc2_amp", "noise_amp"):
            p["distribution"] = {"type": "empirical", "values": [0.0]}
    path = write_spec(spec_dict)
    result = run_soundmatch("render", "--spec", path, "--count", 5, "--workers", 1,
                            "--out", tmp_path / "silent", "--no-check")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: {path}: ") and "renders were below -60 dBFS" in last
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("shard", ["2/2", "x", "1/0"])
def test_bad_shard_option_is_one_line(shard, invoke, tmp_path):
    result = invoke("render", "--count", 5, "--shard", shard, "--out", tmp_path / "d")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"Error: --shard: found '{shard}'")


def test_reader_refuses_a_folder_that_is_not_a_dataset(tmp_path):
    with pytest.raises(SoundmatchError, match="not a soundmatch dataset"):
        DatasetReader(tmp_path)


def test_a_synth_that_crashes_on_load_stops_the_job_with_one_line(sine_env, tmp_path):
    out = tmp_path / "data"
    result = run_soundmatch("render", "--synth", "sine-crash-on-load", "--count", 10,
                            "--workers", 2, "--no-check", "--out", out, env=sine_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "worker processes keep dying while they start" in last
    assert "the synth crashes on load" in last


def test_a_synth_that_crashes_on_load_stops_the_quick_check_with_one_line(sine_env, tmp_path):
    """The quick check used to load the synth in the render command's own process."""
    result = run_soundmatch("render", "--synth", "sine-crash-on-load", "--count", 10,
                            "--workers", 1, "--out", tmp_path / "data", env=sine_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the synth crashes on load" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "data").exists()


def test_a_synth_that_renders_together_writes_the_same_shard(tmp_path, monkeypatch):
    """The built-in synth renders eight patches at a time: the shard (parameters, notes,
    features, audio), its dropped count and the attempt a crash would be pinned to are those of
    one patch at a time, a skipped attempt (a patch that killed the synth) included."""
    from soundmatch import plugins
    from soundmatch.render import init_render_worker, make_manifest, render_shard

    spec = plugins.resolve_spec(spec="builtin-rich")
    adapter = type(plugins.create_adapter(spec))
    shards, reports = {}, {}
    for together in (True, False):
        monkeypatch.setattr(adapter, "renders_together", together)
        root = tmp_path / str(together)
        manifest = make_manifest(spec, 21, seed=5, shard_size=21, keep_audio=True)
        dataset.open_for_writing(root, manifest)
        state = init_render_worker(manifest.to_dict(), str(root), spec.source, trusted=True)
        reports[together] = []
        meta = render_shard(state, (0, frozenset({3, 9})), progress=reports[together].append)
        reader = DatasetReader(root)
        shards[together] = (meta["dropped"], reader.params(), np.stack([reader[i][0] for i in
                                                                         range(21)]))
    assert shards[True][0] == shards[False][0]
    np.testing.assert_array_equal(shards[True][1], shards[False][1])
    np.testing.assert_array_equal(shards[True][2], shards[False][2])
    # One at a time reports each attempt; together, the first of each group.
    assert set(reports[True]) <= set(reports[False]) and reports[True][-1] == reports[False][-1]
    assert len(reports[True]) < len(reports[False])
