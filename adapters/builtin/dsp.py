"""The built-in synth's voice: two wavetable oscillators (oscillator 2 can phase-modulate 1), noise,
a 24 dB resonant lowpass with an attack/decay/sustain envelope on its cutoff (and the unfiltered
source mixed beside it), two peaking formant filters, a 12 dB resonant highpass and an
attack/decay/sustain/release amplitude envelope, in one numba loop. At their neutral values (no FM,
no dry path, 0 dB formants, sustain 0) the extra stages are skipped or add nothing, so
``builtin-16`` renders exactly what it rendered before they existed.

Why numba: the lowpass cutoff moves during the note, so the filter cannot be one vectorised numpy
call. Measured here per 4 s note at 44.1 kHz on one core: pedalboard's LadderFilter driven block
by block from Python (256-sample blocks, reset=False) took 5.7 ms for the lowpass alone; this
fused loop (oscillators, noise, both filters, envelopes) takes about 2 ms (fastmath and numpy's
error model: 2.6 -> 2.1 ms). Filter coefficients are updated every ``BLOCK`` samples (0.7 ms at
44.1 kHz), far faster than the shortest envelope segment.
"""

from __future__ import annotations

import math

import numpy as np

from soundmatch.jit import njit

BLOCK = 32
LN_1000 = math.log(1000.0)  # decay times are T60: the time to fall by 60 dB
DENORMAL_FLOOR = 1e-9
FORMANT_K = 0.25  # formant bandwidth: Q 4


@njit(fastmath=True, error_model="numpy")
def _svf_coefficients(cutoff, k, sample_rate):
    # Zavalishin's topology-preserving state-variable filter: stable under fast modulation.
    g = math.tan(math.pi * cutoff / sample_rate)
    a1 = 1.0 / (1.0 + g * (g + k))
    a2 = g * a1
    return a1, a2, g * a2


@njit(fastmath=True, error_model="numpy")
def _softclip(x):
    # A rational tanh: transparent at normal levels, bounds a screaming resonance to +-1.
    if x > 3.0:
        return 1.0
    if x < -3.0:
        return -1.0
    x2 = x * x
    return x * (27.0 + x2) / (27.0 + 9.0 * x2)


@njit(fastmath=True, error_model="numpy")
def voice(
    out, sample_rate,
    table1, inc1, gain1, table2, inc2, gain2, noise, noise_gain,
    lp_cutoff, lp_resonance, env_depth_octaves, env_attack, env_decay,
    hp_cutoff, hp_resonance,
    amp_attack, amp_decay, release, note_off, level,
    amp_sustain=0.0, env_sustain=0.0, fm_index=0.0,
    f1_freq=1000.0, f1_gain=1.0, f2_freq=2500.0, f2_gain=1.0,
    dry_gain=0.0,
):
    n = out.shape[0]
    size = table1.shape[0] - 1
    nyquist_guard = 0.45 * sample_rate
    lp_k = 2.0 - 1.9 * lp_resonance   # resonance 0..1 -> Q 0.5..10
    hp_k = 2.0 - 1.9 * hp_resonance
    butterworth_k = math.sqrt(2.0)
    ha1, ha2, ha3 = _svf_coefficients(min(hp_cutoff, nyquist_guard), hp_k, sample_rate)
    # Formants: peaking filters (input plus (gain - 1) x a unity-gain bandpass), Q = 1 / FORMANT_K.
    fa1, fa2, fa3 = _svf_coefficients(min(f1_freq, nyquist_guard), FORMANT_K, sample_rate)
    fb1, fb2, fb3 = _svf_coefficients(min(f2_freq, nyquist_guard), FORMANT_K, sample_rate)
    formants = f1_gain != 1.0 or f2_gain != 1.0
    s1f = s2f = s1g = s2g = 0.0

    attack_n = max(1.0, amp_attack * sample_rate)
    decay_coef = math.exp(-LN_1000 / max(1.0, amp_decay * sample_rate))
    release_coef = math.exp(-LN_1000 / max(1.0, release * sample_rate))
    off_i = int(note_off * sample_rate)

    p1 = 0.0
    p2 = 0.0
    s1a = s2a = s1b = s2b = s1h = s2h = 0.0
    amp = 0.0
    for start in range(0, n, BLOCK):
        if amp == 0.0 and start >= attack_n and (start >= off_i or amp_sustain == 0.0):
            # The note has died away and nothing can bring it back: the rest is silence. (Most
            # of a 4 s render with a 1 s gate; skipping it halves a typical voice's cost.)
            out[start:] = 0.0
            break
        t = start / sample_rate
        if t < env_attack:
            fenv = t / env_attack
        else:
            fenv = env_sustain + (1.0 - env_sustain) * math.exp(
                -LN_1000 * (t - env_attack) / env_decay)
        cutoff = min(max(lp_cutoff * 2.0 ** (env_depth_octaves * fenv), 10.0), nyquist_guard)
        a1, a2, a3 = _svf_coefficients(cutoff, lp_k, sample_rate)
        b1, b2, b3 = _svf_coefficients(cutoff, butterworth_k, sample_rate)
        for i in range(start, min(start + BLOCK, n)):
            x = p2 * size
            j = int(x)
            o2 = table2[j] + (x - j) * (table2[j + 1] - table2[j])
            if fm_index != 0.0:  # oscillator 2 modulates oscillator 1's phase (bells, mallets)
                ph = p1 + fm_index * o2
                ph -= math.floor(ph)
                x = ph * size
            else:
                x = p1 * size
            j = int(x)
            o1 = table1[j] + (x - j) * (table1[j + 1] - table1[j])
            p1 += inc1
            if p1 >= 1.0:
                p1 -= 1.0
            p2 += inc2
            if p2 >= 1.0:
                p2 -= 1.0
            src = gain1 * o1 + gain2 * o2 + noise_gain * noise[i]

            v3 = src - s2a  # lowpass, resonant stage
            v1 = a1 * s1a + a2 * v3
            v2 = s2a + a2 * s1a + a3 * v3
            s1a = 2.0 * v1 - s1a
            s2a = 2.0 * v2 - s2a
            v3 = v2 - s2b  # lowpass, second stage: 24 dB/octave in all
            v1 = b1 * s1b + b2 * v3
            v2 = s2b + b2 * s1b + b3 * v3
            s1b = 2.0 * v1 - s1b
            s2b = 2.0 * v2 - s2b
            # The unfiltered source beside the lowpass: a shelf instead of a 24 dB/octave fall, so
            # a dark tone keeps the faint top octave that real instruments have.
            s = v2 + dry_gain * src
            if formants:
                v3 = s - s2f
                v1 = fa1 * s1f + fa2 * v3
                v2 = s2f + fa2 * s1f + fa3 * v3
                s1f = 2.0 * v1 - s1f
                s2f = 2.0 * v2 - s2f
                s = s + (f1_gain - 1.0) * FORMANT_K * v1
                v3 = s - s2g
                v1 = fb1 * s1g + fb2 * v3
                v2 = s2g + fb2 * s1g + fb3 * v3
                s1g = 2.0 * v1 - s1g
                s2g = 2.0 * v2 - s2g
                s = s + (f2_gain - 1.0) * FORMANT_K * v1
            v3 = s - s2h  # highpass
            v1 = ha1 * s1h + ha2 * v3
            v2 = s2h + ha2 * s1h + ha3 * v3
            s1h = 2.0 * v1 - s1h
            s2h = 2.0 * v2 - s2h
            s = s - hp_k * v1 - v2

            if i < off_i:
                if i < attack_n:
                    amp = (i + 1) / attack_n
                else:  # decays towards the sustain level (0: the note dies away while held)
                    amp = amp_sustain + (amp - amp_sustain) * decay_coef
            else:
                amp *= release_coef
            if amp < DENORMAL_FLOOR:
                amp = 0.0  # denormals would slow the loop tenfold in a long silent tail
            out[i] = _softclip(s * amp * level)
    return out


# ------------------------------------------------------------------------ reverb
# FreeVerb as JUCE's juce::Reverb runs it (mono, parameters settled), which is what pedalboard's
# Reverb is: the same float32 operations in the same order, JUCE's denormal guard (+0.1, -0.1)
# included, so the output is bit-identical to pedalboard's (tests/test_builtin_synth.py) and every
# builtin dataset and model stays valid. Why not pedalboard: JUCE wraps each delay line's index
# with a modulo per sample (12 divisions a sample); here the 8 combs run side by side in registers
# and each allpass runs a delay line's length at a time, in SIMD lanes (benchmarks/render.py has
# the figures).

COMB_TUNINGS = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)  # samples at 44.1 kHz
ALLPASS_TUNINGS = (556, 441, 341, 225)
_F = np.float32
_TENTH, _HALF, _INPUT_GAIN = _F(0.1), _F(0.5), _F(0.015)


@njit(inline="always")
def _comb(buf, k, last, x, damp, undamp, feedback):
    out = buf[k]
    last = out * undamp + last * damp
    last = last + _TENTH  # JUCE_UNDENORMALISE, which also rounds: kept for identical output
    last = last - _TENTH
    t = x + last * feedback
    t = t + _TENTH
    buf[k] = t - _TENTH
    k += 1
    if k == buf.shape[0]:
        k = 0
    return out, last, k


@njit()
def _combs(x, out, c0, c1, c2, c3, c4, c5, c6, c7, damp, feedback):
    # Unrolled by hand so that each comb's state stays in registers: the same loop over arrays
    # of state measured about 2x slower.
    undamp = _F(1.0) - damp
    k0 = k1 = k2 = k3 = k4 = k5 = k6 = k7 = 0
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = _F(0.0)
    for i in range(x.shape[0]):
        v = x[i] * _INPUT_GAIN
        o, l0, k0 = _comb(c0, k0, l0, v, damp, undamp, feedback)
        acc = _F(0.0) + o
        o, l1, k1 = _comb(c1, k1, l1, v, damp, undamp, feedback)
        acc = acc + o
        o, l2, k2 = _comb(c2, k2, l2, v, damp, undamp, feedback)
        acc = acc + o
        o, l3, k3 = _comb(c3, k3, l3, v, damp, undamp, feedback)
        acc = acc + o
        o, l4, k4 = _comb(c4, k4, l4, v, damp, undamp, feedback)
        acc = acc + o
        o, l5, k5 = _comb(c5, k5, l5, v, damp, undamp, feedback)
        acc = acc + o
        o, l6, k6 = _comb(c6, k6, l6, v, damp, undamp, feedback)
        acc = acc + o
        o, l7, k7 = _comb(c7, k7, l7, v, damp, undamp, feedback)
        out[i] = acc + o
    return out


@njit()
def _allpass_block(a, before, after):
    # One delay line's length of samples: what the line gives back here was written one length
    # earlier (``before``), so no sample depends on another and the loop runs in SIMD lanes.
    for i in range(a.shape[0]):
        b = before[i]
        t = a[i] + b * _HALF
        t = t + _TENTH
        after[i] = t - _TENTH
        a[i] = b - a[i]


@njit()
def _allpass(a, length):
    """JUCE's allpass of a delay line ``length`` long, in place, from silence."""
    before = np.zeros(length, np.float32)
    after = np.empty(length, np.float32)
    for start in range(0, a.shape[0], length):
        stop = min(start + length, a.shape[0])
        _allpass_block(a[start:stop], before, after)
        before, after = after, before


@njit()
def _mix(wet, dry, wet_gain, dry_gain, limit):
    # In place into ``wet``; with ``limit``, clipped to [-1, 1] in the same pass (NaN stays NaN,
    # as with np.clip).
    for i in range(wet.shape[0]):
        y = wet[i] * wet_gain + dry[i] * dry_gain
        if limit:
            if y > _F(1.0):
                y = _F(1.0)
            elif y < _F(-1.0):
                y = _F(-1.0)
        wet[i] = y


def blend(dry: np.ndarray, wet: np.ndarray, mix: float) -> np.ndarray:
    """``(1 - mix) * dry + mix * wet`` clipped to [-1, 1], in float32 as numpy computes it, into
    ``wet``: one pass instead of numpy's four."""
    _mix(wet, dry, _F(mix), _F(1.0 - mix), True)
    return wet


def reverb(x: np.ndarray, sample_rate: int, room_size: float, damping: float, width: float,
           wet_level: float, dry_level: float) -> np.ndarray:
    """Mono FreeVerb of ``x`` from silence; the arguments are pedalboard.Reverb's."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    rate = int(sample_rate)
    combs = [np.zeros(rate * t // 44100, np.float32) for t in COMB_TUNINGS]
    # JUCE's parameter arithmetic, in float32 as it does it.
    damp = _F(_F(damping) * _F(0.4))
    feedback = _F(_F(room_size) * _F(0.28) + _F(0.7))
    wet_gain = _F(_F(_F(0.5) * _F(_F(wet_level) * _F(3.0))) * _F(_F(1.0) + _F(width)))
    out = _combs(x, np.empty_like(x), *combs, damp, feedback)
    for t in ALLPASS_TUNINGS:
        _allpass(out, rate * t // 44100)
    _mix(out, x, wet_gain, _F(_F(dry_level) * _F(2.0)), False)
    return out
