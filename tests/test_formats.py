"""docs/formats.md documents every field of every file soundmatch writes, and nothing else: the
fields the spec reader accepts, and those of real datasets, shards, checkpoints, memories and
match records that the commands write here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from .conftest import REPO, run_soundmatch

DOC = REPO / "docs" / "formats.md"


def documented() -> dict[str, set[str]]:
    """Section title -> the fields of its table."""
    sections: dict[str, set[str]] = {}
    title = None
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            sections[title] = set()
        elif title and (m := re.match(r"\| `([^`]+)` \|", line)):
            sections[title].add(m.group(1))
    return sections


def nested(data: dict, prefix: str, keys: tuple[str, ...] = ()) -> set[str]:
    """The keys of ``data``, and ``key.sub`` for the mappings named in ``keys``."""
    fields = {prefix + k for k in data}
    for key in keys:
        if isinstance(data.get(key), dict):
            fields |= {f"{prefix}{key}.{k}" for k in data[key]}
    return fields


def _allowed(spec_dict: dict, edit, write_spec) -> set[str]:
    """The fields the spec reader accepts where ``edit`` puts an unknown one: from its error."""
    data = json.loads(json.dumps(spec_dict))
    edit(data)
    result = run_soundmatch("spec", "show", write_spec(data))
    found = re.search(r"unknown field; expected one of (.*)$", result.stderr.strip())
    assert found, result.stderr
    return set(found.group(1).split(", "))


def test_the_spec_fields_the_reader_accepts_are_documented(spec_dict, write_spec):
    levels = {
        "": lambda d: d.update(zzz=1),
        "synth.": lambda d: d["synth"].update(zzz=1),
        "render.": lambda d: d["render"].update(zzz=1),
        "check.": lambda d: d.update(check={"zzz": 1}),
        "parameters[].": lambda d: d["parameters"][0].update(zzz=1),
    }
    code = set()
    for prefix, edit in levels.items():
        code |= {prefix + f for f in _allowed(spec_dict, edit, write_spec)}
    for kind in ({"type": "uniform"}, {"type": "beta", "a": 2, "b": 2},
                 {"type": "truncnorm", "mean": 0.5, "std": 0.2},
                 {"type": "empirical", "values": [0.5]},
                 {"type": "categorical", "weights": [1]}):
        def edit(d, kind=kind):
            d["parameters"][0]["distribution"] = {**kind, "zzz": 1}
        code |= {"distribution." + f for f in _allowed(spec_dict, edit, write_spec)}
    assert code == documented()["Spec"]


@pytest.fixture(scope="module")
def kept_audio(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("audio") / "data"
    result = run_soundmatch("render", "--spec", tiny_data.parent / "spec.yaml", "--count", 8,
                            "--workers", 1, "--keep-audio", "--no-check", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def _shard_fields(root: Path) -> set[str]:
    shard = root / "shards" / "00000"
    meta = json.loads((shard / "meta.json").read_text())
    return {p.name for p in shard.iterdir()} | {f"meta.{k}" for k in meta}


def test_datasets_of_render_and_label_are_documented(tiny_data, kept_audio, labelled):
    labelled_data = labelled[0]
    fields = set()
    for root in (tiny_data, kept_audio, labelled_data):
        manifest = json.loads((root / "manifest.json").read_text())
        fields |= nested(manifest, "", ("source",))
    assert fields == documented()["Dataset manifest"]
    shards = set().union(*(_shard_fields(r) for r in (tiny_data, kept_audio, labelled_data)))
    assert shards == documented()["Dataset shard"]


@pytest.fixture(scope="module")
def run_on_two(tiny_data, labelled, tiny_checkpoint, tmp_path_factory):
    """A run on rendered and labelled data from a checkpoint, and its export with a memory."""
    out = tmp_path_factory.mktemp("formats-run")
    result = run_soundmatch("train", "--data", tiny_data, "--data", labelled[0], "--init",
                            tiny_checkpoint, "--augment", "level", "--backbone", "ast-tiny",
                            "--epochs", 1, "--batch-size", 16, "--out", out / "run")
    assert result.returncode == 0, result.stderr
    exported = run_soundmatch("export", out / "run" / "best.pt", "--memory", labelled[0],
                              "--out", out / "exported.pt")
    assert exported.returncode == 0, exported.stderr
    alone = run_soundmatch("export", "--memory", labelled[0], "--out", out / "alone.memory.pt")
    assert alone.returncode == 0, alone.stderr
    return out


def test_checkpoints_and_memories_are_documented(run_on_two, tiny_checkpoint):
    fields = set()
    for path in (tiny_checkpoint.parent / "last.pt", run_on_two / "run" / "last.pt",
                 run_on_two / "exported.pt"):
        payload = torch.load(path, weights_only=True)
        fields |= nested(payload, "", ("features", "feature_stats", "split", "memory"))
        for record in payload["history"]:
            fields |= {f"history[].{k}" for k in record}
    assert fields == documented()["Checkpoint"]
    memory = torch.load(run_on_two / "alone.memory.pt", weights_only=True)
    assert set(memory) == documented()["Memory"]


def test_match_records_are_documented(tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    result = run_soundmatch("match", REPO / "examples" / "sounds" / "pluck-a3.wav",
                            "--checkpoint", tiny_checkpoint, "--out", out)
    assert result.returncode == 0, result.stderr
    record = yaml.safe_load((out / "pluck-a3.params.yaml").read_text())
    assert nested(record, "", ("scores",)) == documented()["Match record"]

