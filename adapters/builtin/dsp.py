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

A sample of a voice is one function, ``_sample``, run by two loops: ``voice`` for one voice and
``_lanes`` for several side by side, one per SIMD lane (the search's candidates, a shard's
patches). Each voice in lanes is bit for bit the voice alone (tests/test_builtin_synth.py).
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


_FAST = dict(fastmath=True, error_model="numpy")


@njit(forceinline=True, **_FAST)
def _svf(x, s1, s2, c1, c2, c3):
    """One sample of the state-variable filter: (bandpass, lowpass, new s1, new s2)."""
    v3 = x - s2
    v1 = c1 * s1 + c2 * v3
    v2 = s2 + c2 * s1 + c3 * v3
    return v1, v2, 2.0 * v1 - s1, 2.0 * v2 - s2


@njit(**_FAST)
def _constants(sample_rate, size, inc1, gain1, inc2, gain2, noise_gain, fm_index, dry_gain,
               f1_freq, f1_gain, f2_freq, f2_gain, hp_cutoff, hp_resonance,
               amp_attack, amp_decay, amp_sustain, release, note_off, level):
    """What a voice's samples use that does not change during the note, as ``_sample`` takes it."""
    nyquist_guard = 0.45 * sample_rate
    hp_k = 2.0 - 1.9 * hp_resonance   # resonance 0..1 -> Q 0.5..10
    ha1, ha2, ha3 = _svf_coefficients(min(hp_cutoff, nyquist_guard), hp_k, sample_rate)
    # Formants: peaking filters (input plus (gain - 1) x a unity-gain bandpass), Q = 1 / FORMANT_K.
    fa1, fa2, fa3 = _svf_coefficients(min(f1_freq, nyquist_guard), FORMANT_K, sample_rate)
    fb1, fb2, fb3 = _svf_coefficients(min(f2_freq, nyquist_guard), FORMANT_K, sample_rate)
    return (float(size), inc1, gain1, inc2, gain2, noise_gain, fm_index, dry_gain,
            (f1_gain - 1.0) * FORMANT_K, fa1, fa2, fa3, (f2_gain - 1.0) * FORMANT_K, fb1, fb2, fb3,
            hp_k, ha1, ha2, ha3,
            max(1.0, amp_attack * sample_rate),
            math.exp(-LN_1000 / max(1.0, amp_decay * sample_rate)), amp_sustain,
            math.exp(-LN_1000 / max(1.0, release * sample_rate)),
            float(int(note_off * sample_rate)), level)


@njit(forceinline=True, **_FAST)
def _lowpass(t, sample_rate, lp_cutoff, lp_resonance, env_depth_octaves, env_attack, env_decay,
             env_sustain):
    """The two lowpass stages' coefficients ``t`` seconds into the note (the filter envelope)."""
    if t < env_attack:
        fenv = t / env_attack
    else:
        fenv = env_sustain + (1.0 - env_sustain) * math.exp(
            -LN_1000 * (t - env_attack) / env_decay)
    cutoff = min(max(lp_cutoff * 2.0 ** (env_depth_octaves * fenv), 10.0), 0.45 * sample_rate)
    a1, a2, a3 = _svf_coefficients(cutoff, 2.0 - 1.9 * lp_resonance, sample_rate)
    b1, b2, b3 = _svf_coefficients(cutoff, math.sqrt(2.0), sample_rate)  # Butterworth
    return a1, a2, a3, b1, b2, b3


@njit(forceinline=True, **_FAST)
def _silent(start, amp, attack_n, amp_sustain, off_i):
    """Whether a voice has died away by sample ``start`` and nothing can bring it back: the rest
    is silence (most of a 4 s render with a 1 s gate; skipping it halves a typical voice's cost)."""
    return amp == 0.0 and start >= attack_n and (start >= off_i or amp_sustain == 0.0)


@njit(forceinline=True, **_FAST)
def _sample(i, st, c, lp, tables1, tables2, v, nz, fm, formants):
    """Sample ``i`` of a voice: (its state after it, the sample). ``st`` is the state (phases,
    two values per filter, amplitude), ``c`` the voice's constants (``_constants``), ``lp`` the
    block's lowpass coefficients, ``tables1[v]`` and ``tables2[v]`` its wavetables, ``nz`` the noise
    sample. ``fm`` and ``formants`` false skip those stages, which then add nothing (they double
    a plain voice's cost). Written without branches that depend
    on the voice (selects instead), so that LLVM runs voices side by side in SIMD lanes."""
    p1, p2, s1a, s2a, s1b, s2b, s1f, s2f, s1g, s2g, s1h, s2h, amp = st
    (size, inc1, gain1, inc2, gain2, noise_gain, fm_index, dry_gain,
     f1k, fa1, fa2, fa3, f2k, fb1, fb2, fb3, hp_k, ha1, ha2, ha3,
     attack_n, decay_coef, amp_sustain, release_coef, off_i, level) = c
    a1, a2, a3, b1, b2, b3 = lp
    x = p2 * size
    j = int(x)
    o2 = tables2[v, j] + (x - j) * (tables2[v, j + 1] - tables2[v, j])
    # Oscillator 2 modulates oscillator 1's phase (bells, mallets); with no FM this is p1 exactly.
    if fm:
        ph = p1 + fm_index * o2
        ph -= math.floor(ph)
        x = ph * size
    else:
        x = p1 * size
    j = int(x)
    o1 = tables1[v, j] + (x - j) * (tables1[v, j + 1] - tables1[v, j])
    p1 += inc1
    p1 = p1 - 1.0 if p1 >= 1.0 else p1
    p2 += inc2
    p2 = p2 - 1.0 if p2 >= 1.0 else p2
    src = gain1 * o1 + gain2 * o2 + noise_gain * nz

    _, v2, s1a, s2a = _svf(src, s1a, s2a, a1, a2, a3)  # lowpass, resonant stage
    _, v2, s1b, s2b = _svf(v2, s1b, s2b, b1, b2, b3)   # second stage: 24 dB/octave in all
    # The unfiltered source beside the lowpass: a shelf instead of a 24 dB/octave fall, so a dark
    # tone keeps the faint top octave that real instruments have.
    s = v2 + dry_gain * src
    if formants:
        v1, _, s1f, s2f = _svf(s, s1f, s2f, fa1, fa2, fa3)
        s = s + f1k * v1
        v1, _, s1g, s2g = _svf(s, s1g, s2g, fb1, fb2, fb3)
        s = s + f2k * v1
    v1, v2, s1h, s2h = _svf(s, s1h, s2h, ha1, ha2, ha3)  # highpass
    s = s - hp_k * v1 - v2

    # Attack, then decay towards the sustain level (0: the note dies away while held), release.
    held = (i + 1) / attack_n if i < attack_n else amp_sustain + (amp - amp_sustain) * decay_coef
    amp = held if i < off_i else amp * release_coef
    amp = 0.0 if amp < DENORMAL_FLOOR else amp  # denormals would slow a silent tail tenfold
    # A rational tanh: transparent at normal levels, bounds a screaming resonance to +-1.
    y = s * amp * level
    y2 = y * y
    y = 1.0 if y > 3.0 else (-1.0 if y < -3.0 else y * (27.0 + y2) / (27.0 + 9.0 * y2))
    return (p1, p2, s1a, s2a, s1b, s2b, s1f, s2f, s1g, s2g, s1h, s2h, amp), y


_SILENCE = (0.0,) * 13  # a voice's state (``_sample``) before its note
STATE = len(_SILENCE)


@njit(**_FAST)
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
    """One voice into ``out`` (float32): the note from silence, note-off after ``note_off`` s."""
    n = out.shape[0]
    c = _constants(sample_rate, table1.shape[0] - 1, inc1, gain1, inc2, gain2, noise_gain,
                   fm_index, dry_gain, f1_freq, f1_gain, f2_freq, f2_gain, hp_cutoff,
                   hp_resonance, amp_attack, amp_decay, amp_sustain, release, note_off, level)
    st = _SILENCE
    fm, formants = fm_index != 0.0, c[8] != 0.0 or c[12] != 0.0
    # The lanes' form of the wavetables: one voice, lane 0.
    tables1 = table1.reshape((1, table1.shape[0]))
    tables2 = table2.reshape((1, table2.shape[0]))
    for start in range(0, n, BLOCK):
        if _silent(start, st[STATE - 1], c[20], amp_sustain, c[24]):
            out[start:] = 0.0
            break
        lp = _lowpass(start / sample_rate, sample_rate, lp_cutoff, lp_resonance,
                      env_depth_octaves, env_attack, env_decay, env_sustain)
        for i in range(start, min(start + BLOCK, n)):
            st, out[i] = _sample(i, st, c, lp, tables1, tables2, 0, noise[i], fm, formants)
    return out


# A lane is one voice of several rendered side by side, one per SIMD lane: four float64 lanes in
# 256-bit registers, which LLVM chooses on x86 (an AVX-512 machine included). Measured on one core
# here, 2.3 s of builtin-rich: 1.6-2.0 ms a voice in lanes against 2.6-3.8 ms alone (the machine's
# speed moves by the minute; the two side by side: 1.5-1.8x). A voice alone in the lanes loop runs
# scalar with its state in memory, at twice a voice's cost.
LANES = 4
CONSTANTS = 26  # values in a voice's constants (``_constants``)


@njit(noalias=True, **_FAST)
def _lanes(out, S, C, P, L, tables1, tables2, noise, sample_rate):
    """Voices in lanes: ``out`` (samples, voices) float32; ``S`` (STATE, voices) their states,
    zeros; ``C`` (CONSTANTS, voices) their constants; ``P`` (6, voices) their lowpass settings
    (cutoff, resonance, envelope depth, attack, decay, sustain); ``L`` (6, voices) room for the
    lowpass coefficients; ``tables1``, ``tables2`` (voices, table + 1) their wavetables. The
    arrays are separate (``noalias``), each lane's row in each a column."""
    n, lanes = out.shape
    # Each array on its own, outside the loops: a tuple's item taken inside them is counted
    # (numba's reference counts), and a counted loop is not vectorised.
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12 = S
    (c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19,
     c20, c21, c22, c23, c24, c25) = C
    p0, p1, p2, p3, p4, p5 = P
    l0, l1, l2, l3, l4, l5 = L
    fm = formants = False  # where any lane has them
    for v in range(lanes):
        fm = fm or c6[v] != 0.0
        formants = formants or c8[v] != 0.0 or c12[v] != 0.0
    for start in range(0, n, BLOCK):
        silent = True
        for v in range(lanes):
            silent = silent and _silent(start, s12[v], c20[v], c22[v], c24[v])
        if silent:
            out[start:] = 0.0
            break
        t = start / sample_rate
        for v in range(lanes):
            l0[v], l1[v], l2[v], l3[v], l4[v], l5[v] = _lowpass(
                t, sample_rate, p0[v], p1[v], p2[v], p3[v], p4[v], p5[v])
        for i in range(start, min(start + BLOCK, n)):
            nz = noise[i]
            for v in range(lanes):
                state = (s0[v], s1[v], s2[v], s3[v], s4[v], s5[v], s6[v],
                         s7[v], s8[v], s9[v], s10[v], s11[v], s12[v])
                constants = (
                    c0[v], c1[v], c2[v], c3[v], c4[v], c5[v], c6[v], c7[v],
                    c8[v], c9[v], c10[v], c11[v], c12[v], c13[v], c14[v],
                    c15[v], c16[v], c17[v], c18[v], c19[v], c20[v], c21[v],
                    c22[v], c23[v], c24[v], c25[v])
                lowpass = (l0[v], l1[v], l2[v], l3[v], l4[v], l5[v])
                state, out[i, v] = _sample(i, state, constants, lowpass, tables1, tables2, v,
                                           nz, fm, formants)
                (s0[v], s1[v], s2[v], s3[v], s4[v], s5[v], s6[v], s7[v],
                 s8[v], s9[v], s10[v], s11[v], s12[v]) = state
    return out


def voices(sample_rate: float, samples: int, noise: np.ndarray, note_off: float,
           voice_args: list[dict]) -> np.ndarray:
    """Several voices at once, in lanes: (voices, samples) float32, row k what ``voice`` renders
    with ``voice_args[k]`` (its keyword arguments but ``out``, ``sample_rate``, ``noise`` and
    ``note_off``), to the bit. Give at least LANES: fewer run at a voice's cost each, or more."""
    def column(key):
        return np.array([a[key] for a in voice_args], np.float64)

    tables1 = np.stack([a["table1"] for a in voice_args])
    tables2 = np.stack([a["table2"] for a in voice_args])
    C = np.stack([_constants(
        float(sample_rate), tables1.shape[1] - 1, a["inc1"], a["gain1"], a["inc2"], a["gain2"],
        a["noise_gain"], a["fm_index"], a["dry_gain"], a["f1_freq"], a["f1_gain"], a["f2_freq"],
        a["f2_gain"], a["hp_cutoff"], a["hp_resonance"], a["amp_attack"], a["amp_decay"],
        a["amp_sustain"], a["release"], note_off, a["level"]) for a in voice_args], axis=1)
    P = np.stack([column(k) for k in ("lp_cutoff", "lp_resonance", "env_depth_octaves",
                                      "env_attack", "env_decay", "env_sustain")])
    out = np.empty((samples, len(voice_args)), np.float32)
    _lanes(out, tuple(np.zeros((STATE, len(voice_args)))), tuple(C), tuple(P),
           tuple(np.empty_like(P)), tables1, tables2, noise, float(sample_rate))
    return out.T.copy()


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


@njit(forceinline=True)
def _comb_step(held, last, x, damp, undamp, feedback):
    """One sample of a comb whose delay line gives back ``held``: (its new damping state, what
    its line takes in)."""
    last = held * undamp + last * damp
    last = last + _TENTH  # JUCE_UNDENORMALISE, which also rounds: kept for identical output
    last = last - _TENTH
    t = x + last * feedback
    t = t + _TENTH
    return last, t - _TENTH


@njit(inline="always")
def _comb(buf, k, last, x, damp, undamp, feedback):
    out = buf[k]
    last, buf[k] = _comb_step(out, last, x, damp, undamp, feedback)
    k += 1
    if k == buf.shape[0]:
        k = 0
    return out, last, k


@njit(forceinline=True)
def _comb_bank(x, held, last, damp, undamp, feedback):
    """One sample of the 8 combs of a lane: (their summed output, their damping states, what
    their lines take in), in ``_combs``' order of operations. ``held``: what each line gives
    back; ``last``: each comb's damping state."""
    v = x * _INPUT_GAIN
    l0, w0 = _comb_step(held[0], last[0], v, damp, undamp, feedback)
    l1, w1 = _comb_step(held[1], last[1], v, damp, undamp, feedback)
    l2, w2 = _comb_step(held[2], last[2], v, damp, undamp, feedback)
    l3, w3 = _comb_step(held[3], last[3], v, damp, undamp, feedback)
    l4, w4 = _comb_step(held[4], last[4], v, damp, undamp, feedback)
    l5, w5 = _comb_step(held[5], last[5], v, damp, undamp, feedback)
    l6, w6 = _comb_step(held[6], last[6], v, damp, undamp, feedback)
    l7, w7 = _comb_step(held[7], last[7], v, damp, undamp, feedback)
    acc = _F(0.0) + held[0]
    acc = acc + held[1]
    acc = acc + held[2]
    acc = acc + held[3]
    acc = acc + held[4]
    acc = acc + held[5]
    acc = acc + held[6]
    return (acc + held[7], (l0, l1, l2, l3, l4, l5, l6, l7),
            (w0, w1, w2, w3, w4, w5, w6, w7))


@njit(forceinline=True)
def _advance(k, length):
    k += 1
    return 0 if k == length else k


@njit()
def _combs(x, out, c0, c1, c2, c3, c4, c5, c6, c7, damp, feedback):
    # Unrolled by hand so that each comb's state stays in registers: the same loop over arrays
    # of state measured about 2x slower. (``_comb_bank``, which lanes take, costs one voice 14 %
    # more: its eight lines are read before any is written.)
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


@njit(noalias=True)
def _combs_lanes(x, out, c0, c1, c2, c3, c4, c5, c6, c7, last, damp, feedback):
    """``_combs`` of several voices side by side: ``x`` and ``out`` (samples, voices), each
    comb's line (its length, voices), ``last`` (8, voices) their damping states, zeros;
    ``feedback`` (voices,), each voice's room. One lane per voice: the same operations."""
    undamp = _F(1.0) - damp
    k0 = k1 = k2 = k3 = k4 = k5 = k6 = k7 = 0
    s0, s1, s2, s3, s4, s5, s6, s7 = last
    for i in range(x.shape[0]):
        for v in range(x.shape[1]):
            out[i, v], state, w = _comb_bank(
                x[i, v], (c0[k0, v], c1[k1, v], c2[k2, v], c3[k3, v], c4[k4, v], c5[k5, v],
                          c6[k6, v], c7[k7, v]),
                (s0[v], s1[v], s2[v], s3[v], s4[v], s5[v], s6[v], s7[v]), damp, undamp,
                feedback[v])
            s0[v], s1[v], s2[v], s3[v], s4[v], s5[v], s6[v], s7[v] = state
            (c0[k0, v], c1[k1, v], c2[k2, v], c3[k3, v], c4[k4, v], c5[k5, v], c6[k6, v],
             c7[k7, v]) = w
        k0, k1 = _advance(k0, c0.shape[0]), _advance(k1, c1.shape[0])
        k2, k3 = _advance(k2, c2.shape[0]), _advance(k3, c3.shape[0])
        k4, k5 = _advance(k4, c4.shape[0]), _advance(k5, c5.shape[0])
        k6, k7 = _advance(k6, c6.shape[0]), _advance(k7, c7.shape[0])
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
    out = _combs(x, np.empty_like(x), *combs, _damp(damping), _feedback(room_size))
    return _after_combs(out, x, rate, 1, width, wet_level, dry_level)


def reverbs(x: np.ndarray, sample_rate: int, room_sizes: np.ndarray, damping: float,
            width: float, wet_level: float, dry_level: float) -> np.ndarray:
    """``reverb`` of each column of ``x`` (samples, voices), each with its room size, side by
    side in SIMD lanes: (samples, voices), each column what ``reverb`` gives it, to the bit."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    rate, lanes = int(sample_rate), x.shape[1]
    combs = [np.zeros((rate * t // 44100, lanes), np.float32) for t in COMB_TUNINGS]
    feedback = np.array([_feedback(r) for r in room_sizes], np.float32)
    out = _combs_lanes(x, np.empty_like(x), *combs, tuple(np.zeros((8, lanes), np.float32)),
                       _damp(damping), feedback)
    return _after_combs(out, x, rate, lanes, width, wet_level, dry_level)


# JUCE's parameter arithmetic, in float32 as it does it.
def _damp(damping: float) -> np.float32:
    return _F(_F(damping) * _F(0.4))


def _feedback(room_size: float) -> np.float32:
    return _F(_F(room_size) * _F(0.28) + _F(0.7))


def _after_combs(out: np.ndarray, x: np.ndarray, rate: int, lanes: int, width: float,
                 wet_level: float, dry_level: float) -> np.ndarray:
    """The allpasses and the wet/dry mix, in place into ``out`` (the combs' sum). With lanes, a
    delay line's length of samples is that many rows: flat, each runs in the same passes."""
    flat = out.reshape(-1)
    for t in ALLPASS_TUNINGS:
        _allpass(flat, rate * t // 44100 * lanes)
    wet_gain = _F(_F(_F(0.5) * _F(_F(wet_level) * _F(3.0))) * _F(_F(1.0) + _F(width)))
    _mix(flat, x.reshape(-1), wet_gain, _F(_F(dry_level) * _F(2.0)), False)
    return out
