"""The built-in synth: deterministic, mono, at the right pitch, and every parameter does what its
name says (measured on the rendered audio)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from soundmatch.features import FeatureConfig, log_mel

SR = 44100


def render(synth, spec, note=None, velocity=None, **values):
    """Render the probe patch (every knob at mid-travel) with some parameters set (normalised)."""
    u = np.full(len(spec), 0.5, dtype=np.float32)
    for name, value in values.items():
        u[spec.names.index(name)] = value
    return synth.render_patch(spec.to_synth(u), note=note, velocity=velocity)


def spectrum(audio, start=0.0, stop=1.0):
    seg = audio[int(start * SR): int(stop * SR)]
    mag = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    return np.fft.rfftfreq(len(seg), 1 / SR), mag


def centroid(audio, start=0.0, stop=1.0):
    f, m = spectrum(audio, start, stop)
    return float((f * m**2).sum() / (m**2).sum())


def energy(audio, start, stop):
    return float(np.sum(audio[int(start * SR): int(stop * SR)].astype(np.float64) ** 2))


def fundamental(audio, start=0.1, stop=0.9):
    f, m = spectrum(audio, start, stop)
    return float(f[np.argmax(m)])


def sine(synth, spec, note, **values):
    plain = dict(osc1_position=0.0, osc1_amp=1.0, osc2_amp=0.0, noise_amp=0.0,
                 filter1_cut_prm_1=1.0, envelope1_att_lev=0.0, filter2_cut_prm_1=0.0,
                 master_fx2_dry_wet=0.0, envelope4_dec_tme=1.0)
    return render(synth, spec, note=note, **{**plain, **values})


@pytest.mark.parametrize("note, hz", [(69, 440.0), (57, 220.0), (60, 261.63)])
def test_the_note_sets_the_pitch(synth, builtin_spec, note, hz):
    assert fundamental(sine(synth, builtin_spec, note)) == pytest.approx(hz, abs=1.5)


def test_osc2_pitch_detunes_oscillator_2_in_semitones(synth, builtin_spec):
    only_osc2 = dict(osc1_amp=0.0, osc2_amp=1.0, osc2_position=0.0)
    up_octave = sine(synth, builtin_spec, 69, osc2_pitch=1.0, **only_osc2)   # +12 st
    fifth = sine(synth, builtin_spec, 69, osc2_pitch=19 / 24, **only_osc2)   # +7 st
    assert fundamental(up_octave) == pytest.approx(880.0, abs=2)
    assert fundamental(fifth) == pytest.approx(440 * 2 ** (7 / 12), abs=2)


def test_wavetable_position_moves_from_pure_to_bright(synth, builtin_spec):
    c = [centroid(sine(synth, builtin_spec, 60, osc1_position=p)) for p in (0.0, 0.5, 1.0)]
    assert c[0] < 300 < c[1] < c[2]


def test_oscillator_and_noise_gains_set_their_levels(synth, builtin_spec):
    for name in ("osc1_amp", "osc2_amp"):
        quiet = render(synth, builtin_spec, **{name: 0.1})
        loud = render(synth, builtin_spec, **{name: 1.0})
        assert energy(loud, 0, 1) > energy(quiet, 0, 1)
    flat = []
    for value in (0.0, 1.0):
        f, m = spectrum(sine(synth, builtin_spec, 60, noise_amp=value, osc1_amp=0.3))
        p = m[(f > 1000) & (f < 15000)] ** 2 + 1e-20
        flat.append(np.exp(np.log(p).mean()) / p.mean())  # spectral flatness: noise is flat
    assert flat[1] > 10 * flat[0]


def test_lowpass_cutoff_and_resonance(synth, builtin_spec):
    dark = render(synth, builtin_spec, filter1_cut_prm_1=0.2, envelope1_att_lev=0.0)
    bright = render(synth, builtin_spec, filter1_cut_prm_1=0.8, envelope1_att_lev=0.0)
    assert centroid(bright) > 2 * centroid(dark)
    # Resonance peaks the spectrum at the cutoff (2 kHz here, mid-knob on the log range is 849 Hz)
    cut = builtin_spec.parameters[builtin_spec.names.index("filter1_cut_prm_1")].normalise(2000.0)
    peaks = []
    for res in (0.0, 1.0):
        f, m = spectrum(render(synth, builtin_spec, filter1_cut_prm_1=cut, filter1_res_prm_3=res,
                               envelope1_att_lev=0.0, noise_amp=1.0, osc1_amp=0, osc2_amp=0))
        band = (f > 1700) & (f < 2300)
        peaks.append((m[band] ** 2).sum() / (m[(f > 300) & (f < 1000)] ** 2).sum())
    assert peaks[1] > 3 * peaks[0]


def test_highpass_cutoff_removes_lows_and_resonance_peaks(synth, builtin_spec):
    def low_share(audio):
        f, m = spectrum(audio)
        return (m[f < 500] ** 2).sum() / (m**2).sum()

    low = render(synth, builtin_spec, filter2_cut_prm_1=0.0, filter1_cut_prm_1=1.0)
    high = render(synth, builtin_spec, filter2_cut_prm_1=0.8, filter1_cut_prm_1=1.0)
    assert low_share(high) < 0.2 * low_share(low)
    flat = render(synth, builtin_spec, filter2_res_prm_3=0.0)
    peaky = render(synth, builtin_spec, filter2_res_prm_3=1.0)
    assert np.abs(flat - peaky).max() > 0.05


def test_amplitude_envelope_attack_and_decay(synth, builtin_spec):
    fast = render(synth, builtin_spec, envelope4_att_tme=0.0)
    slow = render(synth, builtin_spec, envelope4_att_tme=0.8)
    assert energy(fast, 0, 0.05) > 10 * energy(slow, 0, 0.05)
    short = render(synth, builtin_spec, envelope4_dec_tme=0.1, envelope4_att_tme=0.0)
    long = render(synth, builtin_spec, envelope4_dec_tme=0.9, envelope4_att_tme=0.0)
    assert energy(long, 0.5, 1.0) > 100 * energy(short, 0.5, 1.0)


def test_note_off_releases_the_note(synth, builtin_spec):
    y = render(synth, builtin_spec, envelope4_dec_tme=1.0, master_fx2_dry_wet=0.0)
    assert energy(y, 0.9, 1.0) > 1e3 * energy(y, 1.6, 1.7)


def test_filter_envelope_opens_the_cutoff_then_closes(synth, builtin_spec):
    base = dict(filter1_cut_prm_1=0.2, filter2_cut_prm_1=0.0, envelope1_att_tme=0.0,
                envelope1_dec_tme=0.6, envelope4_dec_tme=1.0)
    flat = render(synth, builtin_spec, envelope1_att_lev=0.0, **base)
    swept = render(synth, builtin_spec, envelope1_att_lev=1.0, **base)
    assert centroid(swept, 0.0, 0.1) > 2 * centroid(flat, 0.0, 0.1)
    assert centroid(swept, 0.0, 0.1) > 1.5 * centroid(swept, 0.8, 1.0)
    slow_attack = render(synth, builtin_spec, envelope1_att_lev=1.0,
                         **{**base, "envelope1_att_tme": 0.9})
    assert centroid(slow_attack, 0.0, 0.05) < centroid(swept, 0.0, 0.05)


def test_reverb_mix_adds_a_tail_after_the_note(synth, builtin_spec):
    dry = render(synth, builtin_spec, master_fx2_dry_wet=0.0)
    wet = render(synth, builtin_spec, master_fx2_dry_wet=1.0)
    assert energy(wet, 1.5, 2.5) > 100 * energy(dry, 1.5, 2.5) + 1e-6


@pytest.mark.parametrize("room, damping, width, rate, seconds",
                         [(0.8, 0.4, 1.0, SR, 3.0), (0.25, 0.9, 0.5, SR, 3.0),
                          (1.0, 0.0, 0.0, SR, 3.0), (0.5, 0.4, 1.0, 16000, 1.0),
                          (0.8, 0.4, 1.0, SR, 0.004)])  # shorter than every delay line
def test_the_reverb_is_pedalboards_bit_for_bit(room, damping, width, rate, seconds):
    """The built-in synth's reverb is its own (faster) FreeVerb; it must equal pedalboard's
    Reverb exactly, so that datasets and models made with pedalboard's stay valid."""
    import pedalboard
    from soundmatch_adapters.builtin import dsp

    rng = np.random.default_rng(1)
    n = int(seconds * rate)
    x = (0.3 * rng.standard_normal(n)).astype(np.float32)
    x[n // 3:] *= np.exp(-np.arange(n - n // 3) / 2000.0).astype(np.float32)  # a note, silence
    ref = pedalboard.Reverb(room_size=room, damping=damping, width=width, wet_level=0.7,
                            dry_level=0.2).process(x, rate, reset=True)
    ours = dsp.reverb(x, rate, room, damping, width, wet_level=0.7, dry_level=0.2)
    assert ours.dtype == np.float32 and ours.tobytes() == ref.tobytes()


def test_velocity_scales_the_level(synth, builtin_spec):
    loud = render(synth, builtin_spec, velocity=127)
    soft = render(synth, builtin_spec, velocity=40)
    assert energy(soft, 0, 1) < 0.3 * energy(loud, 0, 1)


def test_every_parameter_changes_the_features(synth, builtin_spec):
    config = FeatureConfig()
    for name in builtin_spec.names:
        lo = log_mel(render(synth, builtin_spec, **{name: 0.0}), config)
        hi = log_mel(render(synth, builtin_spec, **{name: 1.0}), config)
        assert float((lo - hi).abs().mean()) > 0.05, name


def test_save_preset_writes_the_patch_in_synth_units(synth, builtin_spec, tmp_path):
    u = builtin_spec.sample(np.random.default_rng(5), 1)[0]
    synth.set_patch(builtin_spec.to_synth(u))
    path = synth.save_preset(tmp_path / "patch.yaml")
    preset = yaml.safe_load(path.read_text())
    assert preset["synth"] == "builtin"
    np.testing.assert_allclose(builtin_spec.from_synth(preset["parameters"]), u, atol=1e-6)


def test_the_lanes_the_synth_declares_are_the_lanes_it_renders_in(synth):
    """``lanes`` sizes the search's generations; the voice loop's width is ``dsp.LANES``."""
    assert type(synth).lanes == synth._dsp.LANES


@pytest.mark.parametrize("count", [1, 3, 6, 9])
def test_patches_rendered_together_are_each_as_rendered_alone(count):
    """The search renders a thread's candidates together, in SIMD lanes: each is what it is
    alone, to the bit, at its own note and for the samples asked, whatever their number (lanes
    and what is left over), and the synth holds the last patch afterwards."""
    from soundmatch import plugins

    spec = plugins.resolve_spec(spec="builtin-rich")
    together, alone = plugins.create_adapter(spec), plugins.create_adapter(spec)
    rng = np.random.default_rng(count)
    patches = [spec.to_synth(u) for u in spec.sample(rng, count)]
    for patch in patches[::3]:  # some dry (no reverb) beside wet ones, in the same lanes
        patch["master_fx2_dry_wet"] = 0.0
    notes = [float(n) for n in rng.uniform(40, 80, count)]
    samples = SR // 2 + 17
    rendered = together.render_patches(patches, notes, samples=samples)
    assert len(rendered) == count
    for patch, note, audio in zip(patches, notes, rendered, strict=True):
        assert np.array_equal(audio, alone.render_patch(patch, note=note, samples=samples))
    assert together.get_patch() == alone.get_patch()
