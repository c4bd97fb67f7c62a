"""Contract checks for plugin authors, to call from your own tests (pytest or anything else)::

    from soundmatch.testing import check_adapter, check_backbone

    def test_my_synth_keeps_the_contract(tmp_path):
        check_adapter(MySynth, "mysynth-8", tmp_path)

    def test_my_backbone_trains():
        check_backbone("my-net")

Each check raises ``AssertionError`` naming the first thing that breaks the contract that
``soundmatch.adapter`` (adapters) and ``docs/plugins.md`` (backbones) describe; soundmatch runs
the same checks over every adapter and backbone it ships (``tests/test_contract.py``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from . import plugins
from .adapter import SYNTH_FILES_ENV, VALUE_TOLERANCE, SynthAdapter, holds, option_path
from .errors import SoundmatchError
from .spec import Spec, load_spec

AUDIBLE_PEAK = 1e-4  # -80 dBFS: a synth whose every test patch is quieter than this is silent


def _spec(adapter: type[SynthAdapter] | str, spec: Spec | str | Path | None) -> Spec:
    if isinstance(spec, Spec):
        return spec
    if spec is None:
        spec = adapter if isinstance(adapter, str) else adapter.default_spec
        if spec is None:
            raise AssertionError(f"{adapter}: no spec given and no default_spec set")
    return load_spec(plugins.spec_path(str(spec)))


def _render(synth: SynthAdapter, patch: dict[str, float], what: str) -> np.ndarray:
    try:
        return synth.render_patch(patch)
    except SoundmatchError as exc:  # the contract's own one-line verdict (shape, dtype, NaN)
        raise AssertionError(f"{what}: {exc}") from None


def check_adapter(adapter: type[SynthAdapter] | str, spec: Spec | str | Path | None = None,
                  tmp_path: str | Path | None = None, *, patches: int = 3, seed: int = 0,
                  atol: float = 0.0) -> None:
    """Check an adapter class (or a registered adapter's name) against the adapter contract.

    ``spec`` is a Spec, a spec file or a registered spec name (default: the adapter's
    ``default_spec``). Over the spec's defaults and ``patches`` sampled patches it checks that
    renders are mono float32 of the spec's length and finite, that some patch is audible, that
    a patch renders the same twice and on a second instance (within ``atol``), that every value
    holds through a render, that a long, loud patch leaves no tail in the next render, and
    (where ``renders_prefix``) that a shorter render is the whole render's start, and (where
    ``renders_together``) that ``render_patches`` renders what ``render_patch`` does. With
    ``tmp_path``, also that a preset written by ``save_preset`` reads back through
    ``load_preset`` on a fresh instance to the same values, and that a checkpoint's spec naming
    a file for one of the adapter's ``file_options`` gets nothing opened.
    """
    cls = plugins.adapters().get(adapter) if isinstance(adapter, str) else adapter
    name = getattr(cls, "__name__", str(cls))
    spec = _spec(adapter, spec)
    rng = np.random.default_rng(seed)
    rows = [spec.defaults(), *spec.sample(rng, patches)]
    fresh, synth, other = cls(spec), cls(spec), cls(spec)
    try:
        # Before anything else has played on it: the reference for the tail check.
        quiet = spec.to_synth(spec.defaults())
        reference = _render(fresh, quiet, f"{name}.render_patch(defaults)")
        # Every parameter at its maximum: the longest envelopes and most reverb of most synths.
        _render(synth, spec.to_synth(np.ones(len(spec), np.float32)), f"{name}, all at maximum")
        after = _render(synth, quiet, f"{name}.render_patch(defaults)")
        err = float(np.abs(after - reference).max())
        if err > atol:
            raise AssertionError(f"{name}: after a long patch the defaults render differs by up "
                                 f"to {err:.3g} from a fresh instance's: a tail leaks into the "
                                 "next render")
        peaks, singles = [], []
        for i, row in enumerate(rows):
            patch = spec.to_synth(row)
            what = f"{name}, patch {i}"
            a = _render(synth, patch, what)
            read = synth.get_patch()
            for p in spec.parameters:
                if not holds(p, patch, read):
                    raise AssertionError(
                        f"{what}: {p.synth_name} was set to {patch[p.synth_name]:g}, after the "
                        f"render the synth holds {read.get(p.synth_name)} (tolerance "
                        f"{VALUE_TOLERANCE:g} of its range)")
            b = _render(synth, patch, what)
            c = _render(other, patch, what)
            for again, where in ((b, "rendered twice"), (c, "on a second instance")):
                err = float(np.abs(a - again).max())
                if err > atol:
                    raise AssertionError(f"{what}: {where} it differs by up to {err:.3g} "
                                         f"(allowed {atol:g}): renders must be deterministic")
            peaks.append(float(np.abs(a).max()))
            singles.append(a)
            if cls.renders_prefix:
                _check_prefix(synth, a, what)
        if cls.renders_together:
            _check_together(other, [spec.to_synth(row) for row in rows], singles, name)
        if max(peaks) < AUDIBLE_PEAK:
            raise AssertionError(f"{name}: every test patch is silent (peak {max(peaks):.2g})")
        if tmp_path is not None:
            _check_preset_round_trip(cls, spec, synth, rows[-1], Path(tmp_path))
    finally:
        for instance in (fresh, synth, other):
            instance.close()
    if tmp_path is not None:
        _check_untrusted_files(cls, spec, Path(tmp_path))


def _check_prefix(synth: SynthAdapter, whole: np.ndarray, what: str) -> None:
    """A ``renders_prefix`` adapter's short render is its whole render's start, bit for bit:
    the search scores short renders and writes the whole one."""
    for samples in (len(whole) // 3, len(whole) // 2 + 1):
        try:
            part = synth.render_note(samples=samples)
        except SoundmatchError as exc:
            raise AssertionError(f"{what}, {samples} samples: {exc}") from None
        if not np.array_equal(part, whole[:samples]):
            err = float(np.abs(part - whole[:samples]).max())
            raise AssertionError(f"{what}: rendered {samples} samples it differs by up to "
                                 f"{err:.3g} from the whole render's start (renders_prefix)")


def _check_together(synth: SynthAdapter, patches: list[dict], singles: list[np.ndarray],
                    name: str) -> None:
    """A ``renders_together`` adapter's ``render_patches`` gives what ``render_patch`` gives
    each patch, bit for bit, however many it is given (7 and 2: SIMD lanes and what is left
    over), and leaves the last patch set."""
    note = synth.spec.render.note
    for count in (7, 2):
        order = [i % len(patches) for i in range(count)]
        try:
            together = synth.render_patches([patches[i] for i in order], [note] * count)
        except SoundmatchError as exc:
            raise AssertionError(f"{name}.render_patches of {count}: {exc}") from None
        for k, (i, audio) in enumerate(zip(order, together, strict=True)):
            if not np.array_equal(audio, singles[i]):
                err = float(np.abs(audio - singles[i]).max())
                raise AssertionError(f"{name}.render_patches of {count}: render {k} differs by "
                                     f"up to {err:.3g} from render_patch's (renders_together)")
        read = synth.get_patch()
        if not all(holds(p, patches[order[-1]], read) for p in synth.spec.parameters):
            raise AssertionError(f"{name}.render_patches did not leave the last patch set")


# Paths that an adapter opens while a check runs (``sys.addaudithook`` sees every ``open``, from
# Python or from a C extension through Python's file API). An audit hook cannot be removed, so one
# hook serves every check and records only while ``_OPENED`` is not None.
_OPENED: list[str] | None = None
_HOOKED = False


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and args and isinstance(args[0], (str, bytes)):
        _OPENED.append(os.fsdecode(args[0]))


def _check_untrusted_files(cls, spec: Spec, folder: Path) -> None:
    """A spec read back from a checkpoint or dataset names a private file for each of the
    adapter's ``file_options``: building the adapter, rendering and saving a preset must never
    open it. Refusing is one ``SoundmatchError`` naming the option and ``--synth-file``."""
    global _OPENED, _HOOKED
    name = cls.__name__
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED = True
    secret = folder / "private-file-named-by-a-checkpoint"
    secret.write_bytes(b"SECRET" * 64)
    saved = os.environ.pop(SYNTH_FILES_ENV, None)
    try:
        for key in cls.file_options:
            # The files the other options name, the user names (as --synth-file would).
            others = {k: option_path(spec, k) for k in cls.file_options if k != key}
            os.environ[SYNTH_FILES_ENV] = os.pathsep.join(
                f"{k}={path}" for k, path in others.items() if path is not None)
            untrusted = replace(spec, options={**spec.options, key: str(secret)}, trusted=False)
            _OPENED = []
            instance = None
            try:
                instance = cls(untrusted)
                instance.render_note()
                out = Path(instance.save_preset(folder / f"untrusted{cls.preset_suffix}"))
                if b"SECRET" in out.read_bytes():
                    raise AssertionError(f"{name}: a preset holds bytes of the file a "
                                         f"checkpoint's synth.options.{key} named")
            except SoundmatchError as exc:
                if f"synth.options.{key}" not in str(exc) or "--synth-file" not in str(exc):
                    raise AssertionError(f"{name}: a checkpoint's spec naming a file for "
                                         f"synth.options.{key} was refused with {exc!r}, which "
                                         "does not name the option and --synth-file") from None
            finally:
                opened, _OPENED = _OPENED, None
                if instance is not None:
                    instance.close()
            if any(Path(p).resolve() == secret.resolve() for p in opened):
                raise AssertionError(f"{name}: opened {secret.name}, which synth.options.{key} "
                                     "of a checkpoint's spec named: such a file may be opened "
                                     "only through option_path, which refuses it")
    finally:
        _OPENED = None
        os.environ.pop(SYNTH_FILES_ENV, None)
        if saved is not None:
            os.environ[SYNTH_FILES_ENV] = saved


def _check_preset_round_trip(cls, spec: Spec, synth: SynthAdapter, row: np.ndarray,
                             folder: Path) -> None:
    name = cls.__name__
    synth.set_patch(spec.to_synth(row))
    path = Path(synth.save_preset(folder / f"contract-preset{cls.preset_suffix}"))
    if not path.is_file():
        raise AssertionError(f"{name}.save_preset returned {path}, which is not a file")
    reader = cls(spec)
    try:
        values = reader.load_preset(path)
    except SoundmatchError as exc:
        raise AssertionError(f"{name}.load_preset cannot read what save_preset wrote: {exc}") \
            from None
    finally:
        reader.close()
    missing = [p.synth_name for p in spec.parameters if p.synth_name not in values]
    if missing:
        raise AssertionError(f"{name}.load_preset({path.name}) lacks {', '.join(missing)}")
    err = np.abs(spec.from_synth(values) - row)
    if err.max() > VALUE_TOLERANCE:
        worst = spec.parameters[int(err.argmax())].name
        raise AssertionError(f"{name}: a preset round trip moves {worst} by {err.max():.3g} of "
                             f"its range (allowed {VALUE_TOLERANCE:g})")


def check_backbone(name: str, input_shape: tuple[int, int] = (64, 48), num_params: int = 5,
                   steps: int = 8, seed: int = 0) -> None:
    """Check a registered backbone configuration: it builds from its registered config, maps
    ``(batch, n_mels, frames)`` to ``(batch, num_params)`` values in [0, 1], takes the note
    through soundmatch's note conditioning, gets a finite gradient in every trainable weight, and
    lowers its loss on a fixed batch within ``steps`` AdamW steps at its ``default_lr``."""
    from .models import ParameterNet, create_model, default_lr

    torch.manual_seed(seed)
    backbone, _ = create_model(name, input_shape, num_params)
    model = ParameterNet(backbone, n_mels=input_shape[0], note_range=(36, 84))
    x = torch.randn(4, *input_shape)
    notes = torch.tensor([36.0, 50.0, 60.5, 84.0])
    target = torch.rand(4, num_params)
    model.eval()
    with torch.no_grad():
        y = model(x, notes)
    if tuple(y.shape) != (4, num_params):
        raise AssertionError(f"backbone {name}: output shape {tuple(y.shape)}, expected "
                             f"(4, {num_params}) for input (4, {input_shape[0]}, {input_shape[1]})")
    if not torch.isfinite(y).all() or y.min() < 0 or y.max() > 1:
        raise AssertionError(f"backbone {name}: outputs must be finite and in [0, 1], found "
                             f"{float(y.min()):.3g}..{float(y.max()):.3g}")
    def loss_now() -> float:  # in eval mode: dropout would blur the comparison
        model.eval()
        with torch.no_grad():
            return float(torch.nn.functional.mse_loss(model(x, notes), target))

    before = loss_now()
    optimiser = torch.optim.AdamW(model.parameters(), lr=default_lr(name))
    for step in range(steps):
        model.train()
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x, notes), target)
        if not loss.requires_grad:
            raise AssertionError(f"backbone {name}: its output depends on no trainable weight")
        loss.backward()
        if step == 0:
            for weight, p in model.named_parameters():
                if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all()):
                    raise AssertionError(f"backbone {name}: {weight} gets no finite gradient")
        optimiser.step()
    after = loss_now()
    if not after < before:
        raise AssertionError(f"backbone {name}: loss went {before:.4g} -> {after:.4g} in {steps} "
                             f"steps on one batch at lr {default_lr(name):g}: it does not train")
