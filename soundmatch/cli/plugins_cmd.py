"""``soundmatch plugins``: what is installed, and from which package."""

from __future__ import annotations

import json

import click
from rich.table import Table

from .. import plugins
from .common import (
    stdout,
)


@click.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--sizes", is_flag=True,
              help="Count each backbone's weights (builds every model: imports torch, slower).")
def plugins_command(as_json, sizes):
    """List installed synth adapters, specs and backbones, with the package that provides each."""
    rows = []
    for kind, registry in (("adapter", plugins.adapters()), ("spec", plugins.specs()),
                           ("backbone", plugins.backbones())):
        for item in registry:
            detail = ""
            if kind == "adapter":
                detail = f"default spec: {getattr(item.obj, 'default_spec', None) or '-'}"
            elif kind == "spec":
                detail = str(item.obj)
            elif kind == "backbone":
                config = item.extra.get("config", {})
                detail = " ".join(f"{k}={v}" for k, v in config.items()) or "-"
                if sizes:
                    from ..models import count_parameters

                    detail = f"{count_parameters(item.name) / 1e6:,.1f}M parameters; {detail}"
            rows.append({"kind": kind, "name": item.name, "package": item.package,
                         "detail": detail})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="soundmatch plugins")
    for col in ("kind", "name", "package", "detail"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(row[c] for c in ("kind", "name", "package", "detail")))
    stdout.print(table)
