"""Files someone sends you stay data: a checkpoint or a dataset never makes soundmatch load native
code it names."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import torch

from soundmatch.shipped import pretrained_checkpoint

from .conftest import REPO, run_soundmatch

CONSTRUCTOR = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void ran(void) {
    FILE *f = fopen(getenv("MARKER"), "w");
    if (f) { fputs("native code ran", f); fclose(f); }
}
"""


@pytest.fixture()
def hostile_model(tmp_path):
    """A model folder as an attacker would send it: a checkpoint whose spec points the vst3
    adapter at a bundle beside it, holding a shared object with a load-time constructor."""
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler to build the hostile shared object")
    folder = tmp_path / "model"
    binary = folder / "evil.vst3" / "Contents" / "x86_64-linux" / "evil.so"
    binary.parent.mkdir(parents=True)
    source = tmp_path / "evil.c"
    source.write_text(CONSTRUCTOR)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", binary, source], check=True)
    payload = torch.load(pretrained_checkpoint("builtin-16"), weights_only=True)
    payload["spec"]["synth"] = {"adapter": "vst3", "options": {"plugin_path": "evil.vst3"}}
    torch.save(payload, folder / "model.pt")
    return folder


def test_a_checkpoint_cannot_make_match_load_a_binary(hostile_model, tmp_path):
    marker = tmp_path / "ran.txt"
    sound = REPO / "examples" / "sounds" / "builtin-a.wav"
    result = run_soundmatch("match", sound, "--checkpoint", "model.pt", "--out",
                            tmp_path / "out", cwd=hostile_model,
                            env={"MARKER": str(marker), "SOUNDMATCH_SYNTH_PATH": ""})
    assert not marker.exists(), "the checkpoint's shared object was loaded"
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "model.pt" in lines[0] and "synth.options.plugin_path" in lines[0]
    assert "--synth-path" in lines[0]
