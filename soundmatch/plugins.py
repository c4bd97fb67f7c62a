"""The plugin manager: entry points in, registries out.

Every plugin, the built-in ones included, is a module named by an entry point in the group
``soundmatch`` that implements hooks from ``soundmatch.hookspecs``. Each registered thing remembers
the package that provided it, so ``soundmatch plugins`` can say where it came from and a name
registered twice is an error that names both packages.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .errors import SoundmatchError, first_line

ENTRY_POINT_GROUP = "soundmatch"


@dataclass(frozen=True)
class Registered:
    """One adapter, backbone or spec, with the package that registered it."""

    kind: str
    name: str
    obj: Any
    package: str
    extra: dict = field(default_factory=dict)


class Registry:
    """Things of one kind by name; a second registration of a name is an error."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Registered] = {}

    def add(self, name: str, obj: Any, package: str, **extra: Any) -> None:
        if not isinstance(name, str) or not name:
            raise SoundmatchError(f"package {package} registers a {self.kind} with no valid name")
        if name in self._items:
            other = self._items[name].package
            raise SoundmatchError(
                f"two packages register the {self.kind} '{name}': {other} and {package}; "
                "uninstall one of them"
            )
        self._items[name] = Registered(self.kind, name, obj, package, dict(extra))

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def entry(self, name: str) -> Registered:
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            raise SoundmatchError(f"unknown {self.kind} '{name}'; installed: {known}")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self):
        return iter(sorted(self._items.values(), key=lambda r: r.name))

    def names(self) -> list[str]:
        return sorted(self._items)


_pm: pluggy.PluginManager | None = None
_providers: dict[str, str] = {}
_registries: dict[str, Registry] = {}


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every installed entry point loaded."""
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager("soundmatch")
        pm.add_hookspecs(hookspecs)
        _load_entry_points(pm)
        _pm = pm
    return _pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.get_plugin(ep.name) is not None:
            continue  # the same distribution seen twice on sys.path
        dist = getattr(ep, "dist", None)
        package = f"{dist.name} {dist.version}" if dist is not None else ep.value
        try:
            module = ep.load()
        except Exception as exc:  # a broken third-party plugin must not take the tool down
            _warn(f"plugin '{ep.name}' from {package} failed to load "
                  f"({type(exc).__name__}: {first_line(exc)}); skipped")
            continue
        pm.register(module, name=ep.name)
        _providers[ep.name] = package
        if not pm.get_hookcallers(module):
            _warn(f"plugin '{ep.name}' from {package} ({ep.value}) implements no soundmatch hook, "
                  "so it registers nothing; expected functions marked @soundmatch.hookimpl such "
                  "as register_adapters")


def _warn(message: str) -> None:
    print(f"soundmatch: {message}", file=sys.stderr)


def lazy(target: str) -> Callable[..., Any]:
    """A stand-in for ``"package.module:name"`` that imports it on first call: register a
    backbone builder this way and listing plugins (or ``--help``) does not import torch."""
    module_name, _, attr = target.partition(":")
    loaded: list[Callable[..., Any]] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not loaded:
            loaded.append(getattr(importlib.import_module(module_name), attr))
        return loaded[0](*args, **kwargs)

    call.__name__ = call.__qualname__ = attr
    call.__module__ = module_name
    call.__doc__ = f"{target}, imported when first called."
    return call


def register_plugin(module: Any, name: str, package: str | None = None) -> None:
    """Register a plugin object at run time (notebooks, tests); registries are rebuilt."""
    pm = get_plugin_manager()
    pm.register(module, name=name)
    _providers[name] = package or name
    _registries.clear()


def unregister_plugin(name: str) -> None:
    pm = get_plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    _providers.pop(name, None)
    _registries.clear()


def _registry(kind: str, hook_name: str) -> Registry:
    if kind not in _registries:
        registry = Registry(kind)
        pm = get_plugin_manager()
        # Each implementation is called on its own so that every name keeps its provider.
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            package = _providers.get(impl.plugin_name, impl.plugin_name)

            def register(name, obj, configs=None, _package=package, **extra):
                if kind != "backbone":
                    registry.add(name, obj, _package, **extra)
                    return
                # A backbone is registered once per named configuration (timm-style).
                for config_name, config in (configs or {name: {}}).items():
                    registry.add(config_name, obj, _package, family=name, config=dict(config),
                                 **extra)

            impl.function(register=register)
        _registries[kind] = registry
    return _registries[kind]


def add_commands(cli) -> None:
    """Let every plugin add its commands to the command line."""
    get_plugin_manager().hook.register_commands(cli=cli)


def adapters() -> Registry:
    """Synth adapters by name."""
    return _registry("adapter", "register_adapters")


def backbones() -> Registry:
    """Model backbones by name."""
    return _registry("backbone", "register_backbones")


def specs() -> Registry:
    """Parameter spec files by name."""
    return _registry("spec", "register_specs")


def spec_path(name_or_path: str) -> Path:
    """A spec file from a path, a registered spec name, or an adapter's name (its default spec)."""
    path = Path(name_or_path)
    # A folder in the working directory that happens to share a synth's name is not a spec.
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise SoundmatchError(f"{path}: no such spec file")
        return path
    if name_or_path in specs():
        return Path(specs().get(name_or_path))
    if name_or_path in adapters():
        default = getattr(adapters().get(name_or_path), "default_spec", None)
        if default:
            return spec_path(default)
    known = ", ".join(sorted(set(specs().names()) | set(adapters().names())))
    raise SoundmatchError(
        f"'{name_or_path}' is neither a spec file nor a known spec or synth; known: {known}"
    )


def resolve_spec(synth: str | None = None, spec: str | None = None):
    """The spec for ``--synth NAME`` and/or ``--spec NAME|PATH``, checked against the installed
    adapters (an unknown adapter is a spec error naming the file and field)."""
    from .spec import load_spec

    loaded = load_spec(spec_path(spec or synth or "builtin"))
    if synth and spec and loaded.adapter != synth:
        raise SoundmatchError(
            f"{loaded.source}: synth.adapter: found '{loaded.adapter}', but --synth asks for "
            f"'{synth}'; drop one of --synth and --spec"
        )
    if loaded.adapter not in adapters():
        known = ", ".join(adapters().names()) or "none"
        raise SoundmatchError(
            f"{loaded.source}: synth.adapter: found '{loaded.adapter}', expected an installed "
            f"adapter ({known}); `soundmatch plugins` lists them"
        )
    return loaded


def create_adapter(spec):
    """An adapter instance for ``spec`` (one synth instance)."""
    return adapters().get(spec.adapter)(spec)
