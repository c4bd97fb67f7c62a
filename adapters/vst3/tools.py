"""``soundmatch spec inspect`` and ``soundmatch spec init``: write a spec for a plugin without
code. Added to the command line by this plugin's ``register_commands`` hook."""

from __future__ import annotations

import math
import re
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from soundmatch.spec import RenderSettings, Spec, spec_from_dict

from .adapter import load_instrument

HIDDEN = {"bypass"}


def describe_parameters(plugin) -> list[dict]:
    """What a spec needs to know of each plugin parameter, in the plugin's own units."""
    rows = []
    for name, p in plugin.parameters.items():
        value = getattr(plugin, name)
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        lo, hi = (p.min_value, p.max_value) if numeric else (None, None)
        # pedalboard calls every parameter with steps "discrete"; a float knob has ~2^31 of them
        steps = getattr(p, "num_steps", None)
        discrete = bool(getattr(p, "is_boolean", False)) or (steps is not None and steps <= 128)
        rows.append({
            "name": name, "min": lo, "max": hi, "default": float(value) if numeric else value,
            "units": getattr(p, "label", "") or "",
            "continuous": numeric and not discrete and lo is not None and hi is not None
            and hi > lo and name not in HIDDEN,
            "steps": steps,
        })
    return rows


def draft_spec(plugin_path: Path, rows: list[dict], include: str | None) -> Spec | None:
    """A starting spec from the plugin's continuous parameters: uniform sampling, log scale for
    wide positive ranges (frequencies, times), the default render settings. None where no
    parameter qualifies."""
    pattern = re.compile(include) if include else None
    parameters = []
    for r in rows:
        if not r["continuous"] or (pattern and not pattern.search(r["name"])):
            continue
        lo, hi = float(r["min"]), float(r["max"])
        log = lo > 0 and hi / lo >= 100
        entry = {"name": r["name"], "synth_name": r["name"], "min": lo, "max": hi,
                 "scale": "log" if log else "linear",
                 "default": min(max(float(r["default"]), lo), hi), "distribution": "uniform"}
        if r["units"]:
            entry["unit"] = r["units"]
        parameters.append(entry)
    if not parameters:
        return None
    # Read back like any spec file, so a draft is a spec the reader accepts.
    return spec_from_dict({"name": plugin_path.stem.lower(),
                           "description": f"{plugin_path.name}, drafted by soundmatch spec init",
                           "synth": {"adapter": "vst3",
                                     "options": {"plugin_path": str(plugin_path.resolve())}},
                           "render": RenderSettings().to_dict(), "parameters": parameters},
                          source=str(plugin_path), trusted=True)


def add_commands(cli) -> None:
    spec_group = cli.commands["spec"]

    @spec_group.command("inspect")
    @click.option("--synth-path", "--plugin", "plugin_path", type=click.Path(path_type=Path),
                  required=True,
                  help="A VST3 instrument (or AU on macOS).")
    @click.option("--plugin-name", help="For bundles with several plugins.")
    def inspect_command(plugin_path, plugin_name):
        """List a plugin's parameters: name, range, default, units, whether continuous."""
        plugin = load_instrument(plugin_path, plugin_name)
        table = Table(title=f"{plugin_path.name}: {len(plugin.parameters)} parameters")
        for col in ("name", "min", "max", "default", "units", "continuous"):
            table.add_column(col, justify="right" if col in ("min", "max", "default") else "left",
                             no_wrap=col == "name")
        for r in describe_parameters(plugin):
            table.add_row(r["name"], _fmt(r["min"]), _fmt(r["max"]), _fmt(r["default"]),
                          r["units"], "yes" if r["continuous"] else "no")
        Console(soft_wrap=True).print(table)

    @spec_group.command("init")
    @click.option("--synth-path", "--plugin", "plugin_path", type=click.Path(path_type=Path),
                  required=True)
    @click.option("--plugin-name", help="For bundles with several plugins.")
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
    @click.option("--include", metavar="REGEX", help="Only parameters whose name matches.")
    def init_command(plugin_path, plugin_name, out, include):
        """Write a starting spec from a plugin's continuous parameters."""
        plugin = load_instrument(plugin_path, plugin_name)
        spec = draft_spec(plugin_path, describe_parameters(plugin), include)
        if spec is None:
            raise click.ClickException(f"{plugin_path}: no continuous parameters"
                                       + (f" match {include!r}" if include else ""))
        spec.save(out)
        click.echo(f"Wrote {out} with {len(spec)} parameters; check it with "
                   f"`soundmatch spec check --spec {out}`.")


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)
