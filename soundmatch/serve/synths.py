"""What the page offers to match on: the shipped models, every installed adapter that names a spec
to search (matched with no model, from its installed presets), and the spec files the user named
to ``serve --spec`` (a VST3 plugin, say). Each is probed once at start-up, so that a synth that
cannot load here (Massive on Linux) is shown with its reason instead of failing every match."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .. import plugins
from ..errors import SoundmatchError, first_line


@dataclass(frozen=True)
class Synth:
    key: str
    label: str
    build: tuple              # (kind, name): "model" NAME, "synth" NAME or "spec" PATH
    available: bool = True
    reason: str = ""

    def public(self) -> dict:
        return {"key": self.key, "label": self.label, "available": self.available,
                "reason": self.reason}


def _probe(kind: str, name: str) -> str:
    """Why a synth cannot be used here, or "" where it can."""
    from ..spec import load_spec

    try:
        if kind == "spec":
            spec = load_spec(Path(name))
        elif kind == "synth":
            cls = plugins.adapters().get(name)
            spec = plugins.resolve_spec(spec=cls.search_spec or cls.default_spec)
        else:
            return ""
        plugins.create_adapter(spec).close()
        return ""
    except Exception as exc:  # an adapter that cannot load here: shown, never fatal
        return first_line(exc)


def available_synths(specs: tuple[Path, ...] = ()) -> list[Synth]:
    from ..shipped import PRETRAINED

    found = [Synth(f"model:{name}", f"builtin, model {name}", ("model", name))
             for name in PRETRAINED]
    for entry in plugins.adapters():
        cls = entry.obj
        if getattr(cls, "search_spec", None) or getattr(cls, "default_spec", None):
            found.append(Synth(f"synth:{entry.name}", f"{entry.name}, no model (presets)",
                               ("synth", entry.name)))
    for i, path in enumerate(specs):
        found.append(Synth(f"spec:{i}", f"{Path(path).name}, no model", ("spec", str(path))))
    return [Synth(s.key, s.label, s.build, not (why := _probe(*s.build)), why) for s in found]


class Matchers:
    """One ``Matcher`` per synth and worker thread (a matcher holds its synth instances, which
    one thread drives at a time), ``workers`` render threads each; its presets are the job's
    (read again only when they change, so that a server taking many uploads holds one matcher
    per synth, not one per set of presets)."""

    def __init__(self, synths: list[Synth], workers: int):
        self.synths = {s.key: s for s in synths}
        self.workers = workers
        self.local = threading.local()

    def __call__(self, settings, preset=lambda preset_id: None):
        """The matcher for ``settings``; ``preset(id)`` finds an uploaded preset's file and name."""
        from ..matcher import Matcher

        synth = self.synths.get(settings.synth)
        if synth is None or not synth.available:
            raise SoundmatchError(f"synth: found {settings.synth!r}, expected one of "
                                  + ", ".join(k for k, s in self.synths.items() if s.available))
        cache = self.local.__dict__.setdefault("matchers", {})
        if settings.synth not in cache:
            kind, name = synth.build
            matcher = (Matcher.load(name, workers=self.workers) if kind == "model"
                       else Matcher.for_synth(name, workers=self.workers) if kind == "synth"
                       else Matcher.for_synth(spec=name, workers=self.workers))
            cache[settings.synth] = [matcher, None]
        entry = cache[settings.synth]
        chosen = (settings.presets, settings.preset_files)
        if entry[1] != chosen:
            entry[1] = None  # a bad preset file: read again for the next job
            entry[0].presets = _presets(entry[0].adapter, settings, preset)
            entry[1] = chosen
        return entry[0]


def _presets(adapter, settings, preset) -> list:
    """The installed presets (where asked for), then the user's uploaded ones, named as the
    user named their files."""
    from ..presets import Preset, read_presets

    found = []
    if settings.presets:
        found, _ = read_presets(adapter, adapter.default_presets())
    for preset_id in settings.preset_files:
        upload = preset(preset_id)
        if upload is None:
            raise SoundmatchError(f"presets: no uploaded preset {preset_id!r}")
        path, shown = upload
        voices, skipped = read_presets(adapter, [path])
        if skipped:
            raise SoundmatchError(f"{shown}: {skipped[0][1].replace(str(path), shown)}")
        # Named as the user named the file: the match says which it grew from.
        found += [Preset(v.name.replace(str(path), shown), v.values) for v in voices]
    return found
