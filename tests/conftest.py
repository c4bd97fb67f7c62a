"""Shared fixtures: the built-in spec, a synth instance, and ways to run the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from soundmatch import plugins
from soundmatch.cli import cli
from soundmatch.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def builtin_spec():
    return load_spec(plugins.spec_path("builtin"))


@pytest.fixture(scope="session")
def synth(builtin_spec):
    return plugins.create_adapter(builtin_spec)


@pytest.fixture()
def spec_dict(builtin_spec):
    """A fresh, editable copy of the built-in spec as plain data."""
    return yaml.safe_load(Path(builtin_spec.source).read_text())


@pytest.fixture()
def write_spec(tmp_path):
    def write(data, name="spec.yaml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture()
def invoke():
    """Run the CLI in-process: returns click's Result (exit_code, stdout, stderr)."""

    def run(*args):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return run


def soundmatch_command(*args) -> list[str]:
    return [sys.executable, "-m", "soundmatch", *[str(a) for a in args]]


def run_soundmatch(*args, env=None, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, in its own process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(soundmatch_command(*args), capture_output=True, text=True,
                          env=full_env, timeout=timeout, **kwargs)


def make_distribution(root: Path, dist: str, module: str, source: str | Path) -> None:
    """Lay out an installed distribution (a module, or a copy of a package folder, and a dist-info
    with an entry point) under root, as pip would in site-packages."""
    if isinstance(source, Path):
        shutil.copytree(source, root / module)
    else:
        (root / module).mkdir(parents=True)
        (root / module / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[soundmatch]\n{module} = {module}\n")


@pytest.fixture()
def sine_env(tmp_path):
    """The environment of a machine where the test plugin package is installed."""
    site = tmp_path / "site"
    make_distribution(site, "sine-soundmatch", "sine_soundmatch", FIXTURES / "sine_soundmatch")
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """160 builtin renders at 16 kHz (64 mels x 63 frames): small enough to train in seconds."""
    root = tmp_path_factory.mktemp("tiny")
    spec = yaml.safe_load(plugins.spec_path("builtin").read_text())
    spec["render"]["sample_rate"] = 16000
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = run_soundmatch("render", "--spec", root / "spec.yaml", "--count", 160,
                            "--workers", 2, "--out", root / "data")
    assert result.returncode == 0, result.stderr
    return root / "data"


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_data, tmp_path_factory):
    """An ast-tiny trained for 2 epochs on tiny_data: a real, if poor, model."""
    out = tmp_path_factory.mktemp("tiny-run")
    result = run_soundmatch("train", "--data", tiny_data, "--backbone", "ast-tiny", "--epochs", 2,
                            "--batch-size", 16, "--lr", "3e-4", "--out", out)
    assert result.returncode == 0, result.stderr
    return out / "best.pt"


# Real sounds that `label` turns into a dataset: the examples and two of the benchmark's.
REAL_NAMES = ("drum-kick.flac", "fp-flute.flac")


@pytest.fixture(scope="session")
def sounds(tmp_path_factory):
    """Ten real sounds and a file that is not audio."""
    folder = tmp_path_factory.mktemp("sounds")
    real = REPO / "benchmarks" / "real-sounds"
    for path in [*(REPO / "examples" / "sounds").glob("*.wav"), *(real / n for n in REAL_NAMES)]:
        shutil.copy(path, folder / path.name)
    (folder / "notes.wav").write_text("not audio")
    return folder


@pytest.fixture(scope="session")
def labelled(sounds, tiny_data, tmp_path_factory):
    """The sounds labelled by a 12-render search on tiny_data's spec: (dataset, spec, result)."""
    out = tmp_path_factory.mktemp("labelled") / "data"
    spec = tiny_data.parent / "spec.yaml"
    result = run_soundmatch("label", sounds, "--spec", spec, "--refine", 12, "--shard-size", 3,
                            "--out", out)
    assert result.returncode == 0, result.stderr
    return out, spec, result


VST3_BUILD = REPO / "build" / "vst3synth"


def missing(message: str):
    """Something a test needs that .ci/run installs: required in CI, else the test is skipped
    with ``message`` saying how to get it."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _built_plugin(name: str) -> Path:
    """A plugin that .ci/run builds from tests/vst3synth."""
    path = VST3_BUILD / f"{name}_artefacts" / "Release" / "VST3" / f"{name}.vst3"
    if not path.exists():
        missing(f"{path} is not built: cmake -S tests/vst3synth -B build/vst3synth "
                "-DCMAKE_BUILD_TYPE=Release && cmake --build build/vst3synth -j2")
    return path


@pytest.fixture(scope="session")
def vst3_plugin():
    """The JUCE test instrument (tests/vst3synth)."""
    return _built_plugin("SoundmatchTestSynth")


@pytest.fixture(scope="session")
def forgetful_plugin():
    """The same instrument built to lose values a host sets between renders (pedalboard #339)."""
    return _built_plugin("SoundmatchForgetfulSynth")


@pytest.fixture()
def vst3_spec(vst3_plugin, tmp_path):
    """Write a spec for the test instrument; returns a function (adapter name, edits) -> path.
    ``plugin`` and ``options`` replace the plugin path and add synth options."""

    def write(adapter="vst3", plugin=None, options=None, **changes):
        spec = yaml.safe_load((REPO / "tests" / "vst3synth" / "testsynth.yaml").read_text())
        spec["synth"] = {"adapter": adapter,
                         "options": {"plugin_path": str(plugin or vst3_plugin), **(options or {})}}
        spec.update(changes)
        path = tmp_path / f"{adapter}-{Path(plugin or vst3_plugin).stem}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return write


class Server:
    """A ``soundmatch serve`` running in its own process, as a user starts it."""

    def __init__(self, folder: Path, *args):
        import re
        import threading

        self.process = subprocess.Popen(soundmatch_command("serve", "--port", 0, "--folder",
                                                           folder, *args),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        self.lines: list[str] = []
        ready = threading.Event()

        def read():  # the first line names the address; the rest is kept for failures
            for line in self.process.stdout:
                self.lines.append(line)
                ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(120)
        found = re.search(r"http://\S+/", "".join(self.lines))
        if found is None:
            self.stop()
            raise AssertionError("serve did not start: " + "".join(self.lines))
        self.url = found.group(0)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture()
def serve(tmp_path):
    """Start servers on a folder (``serve(folder, *options)``); all are stopped after the test."""
    servers = []

    def start(folder=None, *args):
        servers.append(Server(folder or tmp_path / "served", *args))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
