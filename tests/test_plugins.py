"""The plugin contract: discovery through entry points, provenance, name clashes, documentation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from soundmatch import adapter as adapter_module
from soundmatch import hookspecs, plugins
from soundmatch.adapter import SynthAdapter
from soundmatch.dataset import DatasetReader
from soundmatch.errors import SoundmatchError

from .conftest import REPO, make_distribution, run_soundmatch


def test_plugins_lists_builtin_and_third_party_with_their_packages(sine_env):
    result = run_soundmatch("plugins", "--json", env=sine_env)
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r["package"] for r in json.loads(result.stdout)}
    assert rows[("adapter", "builtin")].startswith("soundmatch ")
    assert rows[("spec", "builtin-16")].startswith("soundmatch ")
    assert rows[("adapter", "sine")] == "sine-soundmatch 0.1"
    assert rows[("spec", "sine-2")] == "sine-soundmatch 0.1"


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["spec", "show", "builtin-16"]])
def test_listing_commands_load_every_plugin_but_not_torch_numba_or_a_plugin_host(args):
    """What makes `soundmatch --help` start at once: the plugins register without importing the
    heavy libraries, which load only when a model is built or a synth made."""
    probe = ("import sys\n"
             "from soundmatch.cli import cli\n"
             f"try:\n    cli.main({args!r}, prog_name='soundmatch')\n"
             "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
             "heavy = sorted({'torch', 'numba', 'pedalboard', 'torchaudio'} & set(sys.modules))\n"
             "loaded = sorted(m for m in sys.modules if m.startswith('soundmatch_'))\n"
             "print('HEAVY', heavy, 'PLUGINS', loaded)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert "HEAVY []" in line and "soundmatch_adapters.builtin" in line, line


def test_a_lazily_registered_builder_imports_on_first_call():
    build = plugins.lazy("soundmatch.backbones.mlp:build")
    assert build.__name__ == "build" and "soundmatch.backbones.mlp" in build.__doc__
    model = build((8, 5), 3, width=4, depth=1, dropout=0.0)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_a_third_party_adapter_renders_a_dataset(sine_env, tmp_path):
    out = tmp_path / "sine-data"
    result = run_soundmatch("render", "--synth", "sine", "--count", 40, "--workers", 2,
                            "--shard-size", 16, "--out", out, env=sine_env)
    assert result.returncode == 0, result.stderr
    reader = DatasetReader(out)
    assert len(reader) == 40 and reader.spec.name == "sine-2"
    features, params = reader[39]
    assert params.shape == (2,) and features.shape == (64, 16)


def test_two_packages_registering_one_name_is_an_error_naming_both(sine_env, tmp_path):
    site = tmp_path / "site2"
    make_distribution(site, "dupe-synth", "dupe_synth", """
        from soundmatch import hookimpl
        from soundmatch_adapters.builtin import BuiltinSynth

        @hookimpl
        def register_adapters(register):
            register("builtin", BuiltinSynth)
    """)
    env = {"PYTHONPATH": os.pathsep.join([str(site), sine_env["PYTHONPATH"]])}
    result = run_soundmatch("plugins", env=env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.startswith("Error: two packages register the adapter 'builtin': ")
    assert "soundmatch 0.1.0" in line and "dupe-synth 0.1" in line
    assert "\n" not in line


def test_a_broken_plugin_is_reported_and_skipped(tmp_path):
    site = tmp_path / "site"
    make_distribution(site, "broken-synth", "broken_synth", "import no_such_module_here\n")
    result = run_soundmatch("plugins", "--json", env={"PYTHONPATH": str(site)})
    assert result.returncode == 0
    assert "plugin 'broken_synth' from broken-synth 0.1 failed to load" in result.stderr
    assert any(r["name"] == "builtin" for r in json.loads(result.stdout))


def test_a_plugin_that_registers_nothing_is_named_in_one_line(tmp_path):
    site = tmp_path / "site"
    # A common slip: the hook is defined but not marked @hookimpl.
    make_distribution(site, "quiet-synth", "quiet_synth", "def register_adapters(register):\n"
                                                          "    pass\n")
    result = run_soundmatch("plugins", "--json", env={"PYTHONPATH": str(site)})
    assert result.returncode == 0
    lines = [line for line in result.stderr.splitlines() if "quiet_synth" in line]
    assert len(lines) == 1 and "from quiet-synth 0.1" in lines[0], result.stderr
    assert "implements no soundmatch hook, so it registers nothing" in lines[0]


def test_plugins_can_be_registered_at_run_time():
    class Plugin:
        @hookspecs.hookimpl
        def register_backbones(self, register):
            register("toy", lambda input_shape, num_params: None, {"toy": {}})

    plugins.register_plugin(Plugin(), name="toy-plugin", package="my notebook")
    try:
        entry = plugins.backbones().entry("toy")
        assert entry.package == "my notebook" and entry.extra == {"family": "toy", "config": {}}
    finally:
        plugins.unregister_plugin("toy-plugin")
    with pytest.raises(SoundmatchError, match="unknown backbone 'toy'"):
        plugins.backbones().get("toy")


def documented(name: str, docs: str) -> bool:
    return f"`{name}`" in docs or f"`{name}(" in docs


def test_every_hook_is_documented_with_its_signature():
    """Like datasette's: the hooks come from the plugin manager, so a new hook without a section
    in docs/plugins.md fails here."""
    docs = (REPO / "docs" / "plugins.md").read_text()
    pm = plugins.get_plugin_manager()
    hooks = {name: caller for name, caller in vars(pm.hook).items() if hasattr(caller, "spec")
             and caller.spec is not None}
    assert "register_adapters" in hooks and len(hooks) >= 4
    for name, caller in hooks.items():
        assert caller.spec.function.__doc__.strip(), name
        signature = f"## {name}({', '.join(caller.spec.argnames)})"
        assert signature in docs, f"docs/plugins.md has no section '{signature}'"


def test_every_public_member_of_the_adapter_contract_is_documented():
    docs = (REPO / "docs" / "plugins.md").read_text()
    members = [name for name in dir(SynthAdapter) if not name.startswith("_")]
    assert {"render", "render_patch", "load_preset", "preset_suffix"} <= set(members)
    missing = [name for name in members if not documented(name, docs)]
    assert not missing, f"docs/plugins.md does not document SynthAdapter.{', '.join(missing)}"
    public = [name for name, value in vars(adapter_module).items() if not name.startswith("_")
              and ((name.isupper() and not isinstance(value, type))
                   or getattr(value, "__module__", "") == adapter_module.__name__)]
    missing = [name for name in public if not documented(name, docs)]
    assert not missing, f"docs/plugins.md does not document soundmatch.adapter.{missing}"
    for name in ("default_lr", "check_adapter", "check_backbone"):
        assert documented(name, docs), name
