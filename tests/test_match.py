"""Matching and evaluation: pitch detection, input handling and its errors, the metrics, the
Python API, the HTML report, and the whole render -> train -> evaluate -> match flow."""

from __future__ import annotations

import json
import re
import wave

import numpy as np
import pytest
import yaml

from soundmatch import Matcher
from soundmatch.audio import write_wav
from soundmatch.metrics import parameter_mse, spectral_convergence, spectral_distance
from soundmatch.pitch import detect_note

from .conftest import REPO, run_soundmatch

SR = 44100


def tone(midi, shape="saw", seconds=1.0, rate=SR):
    hz = 440 * 2 ** ((midi - 69) / 12)
    t = np.arange(int(seconds * rate)) / rate
    harmonics = range(1, max(2, int(rate / 2 / hz)))
    if shape == "sine":
        return np.sin(2 * np.pi * hz * t)
    weights = {"saw": lambda k: 1 / k, "square": lambda k: (k % 2) / k}[shape]
    return sum(weights(k) * np.sin(2 * np.pi * hz * k * t) for k in harmonics)


@pytest.mark.parametrize("midi", [33, 45, 57, 60, 64, 71, 81, 93])
@pytest.mark.parametrize("shape", ["sine", "saw", "square"])
def test_pitch_is_detected_within_a_semitone(midi, shape):
    assert abs(detect_note(tone(midi, shape), SR) - midi) <= 1


def test_noise_has_no_pitch():
    assert detect_note(np.random.default_rng(0).standard_normal(SR), SR) is None


def test_metrics_on_known_cases():
    x = tone(60).astype(np.float32)
    assert spectral_convergence(x, x) == 0.0
    assert spectral_distance(x, x) == 0.0
    assert spectral_convergence(x, 0.5 * x) == pytest.approx(0.5, abs=1e-4)
    assert spectral_distance(x, 0.5 * x) > 0
    assert spectral_distance(x, tone(61)) > spectral_distance(x, 0.9 * x)
    p = np.random.default_rng(0).random((10, 16))
    assert parameter_mse(p, p) == 0.0
    assert parameter_mse(p, p + 0.1) == pytest.approx(0.01)


@pytest.mark.parametrize("level", ["least-squares", "energy"])
def test_the_search_distance_is_its_definition(level):
    """MatchDistance scores a candidate in one compiled pass (a sparse mel projection): it must
    stay the distance its docstring defines, written plainly in torch ops, to float precision,
    for candidates near and far, louder and quieter; an exact match scores 0, and silence and
    NaN or infinite samples the worst."""
    from soundmatch.metrics import MatchDistance, reference_match_distance

    rate = 22050
    target = (tone(57, seconds=1.0, rate=rate) * np.exp(-np.arange(rate) / rate * 3)
              ).astype(np.float32)
    distance = MatchDistance(target, rate, level=level)
    noise = np.random.default_rng(0).standard_normal(rate).astype(np.float32)
    for estimate in (0.5 * target, tone(58, rate=rate), tone(45, "square", rate=rate) * 3,
                     0.01 * noise, target + 0.1 * noise):
        estimate = estimate.astype(np.float32)
        expected, gain = reference_match_distance(distance, estimate)
        got, got_gain = distance(estimate)
        assert got == pytest.approx(expected, abs=2e-5)
        assert got_gain == pytest.approx(gain, rel=1e-4)
    same, gain = distance(target)  # the target's own side: an exact match is 0, at gain 1
    assert same == pytest.approx(0.0, abs=1e-6) and gain == pytest.approx(1.0, rel=1e-6)
    assert distance(np.zeros(rate, np.float32)) == (3.0, 1.0)
    for bad in (np.nan, np.inf):  # a synth that renders garbage never scores as a match
        garbage = target.copy()
        garbage[100] = bad
        assert distance(garbage) == (3.0, 1.0)


def write_raw_wav(path, samples: np.ndarray, rate=SR):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture()
def bad_inputs(tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not audio")
    return {
        tmp_path / "missing.wav": "no such file",
        not_audio: "cannot read audio",
        write_raw_wav(tmp_path / "empty.wav", np.zeros(0)): "empty audio",
        write_raw_wav(tmp_path / "silent.wav", np.zeros(SR)): "silent",
        write_raw_wav(tmp_path / "short.wav", 0.5 * tone(60, seconds=0.005)): "ms of audio",
    }


def test_bad_inputs_are_one_line_errors(bad_inputs, tiny_checkpoint, tmp_path):
    for path, message in bad_inputs.items():
        result = run_soundmatch("match", path, "--checkpoint", tiny_checkpoint,
                                "--out", tmp_path / "out")
        assert result.returncode == 1, path
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: "), lines
        assert message in lines[0], lines


def test_one_bad_input_among_several_is_named_and_the_rest_are_matched(tiny_checkpoint,
                                                                        tmp_path):
    good = write_raw_wav(tmp_path / "good.wav", 0.5 * tone(60, seconds=1.0))
    missing = tmp_path / "missing.wav"
    result = run_soundmatch("match", missing, good, "--checkpoint", tiny_checkpoint,
                            "--out", tmp_path / "out")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(f"Error: {missing}: no such file") for line in lines), lines
    assert lines[-1] == "Error: 1 of 2 inputs could not be matched"
    assert (tmp_path / "out" / "good.match.wav").is_file()


def test_a_checkpoint_that_does_not_fit_the_synth_is_refused(tiny_checkpoint, sine_env,
                                                              tmp_path):
    sound = write_wav(tmp_path / "a.wav", tone(60).astype(np.float32) * 0.3, SR)
    result = run_soundmatch("match", sound, "--checkpoint", tiny_checkpoint, "--synth", "sine",
                            env=sine_env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: {tiny_checkpoint}: its spec builtin-16 does not fit synth 'sine': it has no "
        "parameter osc1_position, osc1_amp, osc2_pitch (and 13 more)")


def test_the_api_matches_arrays_at_their_pitch_and_refine_never_loses(tiny_checkpoint):
    matcher = Matcher.load(tiny_checkpoint)
    spec = matcher.spec
    truth = spec.defaults()  # a plain, clearly pitched tone
    target = matcher.adapter.render_patch(spec.to_synth(truth), note=67)
    # an array at another rate, stereo: resampled and mixed down
    stereo = np.stack([target, target])[:, ::2]
    result = matcher.match(stereo, sample_rate=8000, refine=0)
    assert result.audio.shape == (spec.render.num_samples,) and result.sample_rate == 16000
    refined = matcher.match(target, sample_rate=16000, refine=30)
    assert abs(refined.note - 67) < 0.05 and refined.pitched  # to the cent, not the semitone
    assert refined.scores["renders"] == 30
    s = refined.scores
    assert s["distance"] <= s["distance_best_start"] <= s["distance_network"]
    assert set(refined.patch) == set(spec.names)
    forced = matcher.match(target, sample_rate=16000, note=48.5)
    assert forced.note == 48.5
    # The level is part of the match: a quiet input gets a quiet match.
    quiet = matcher.match(0.05 * target, sample_rate=16000)
    assert quiet.gain_db < result.gain_db - 20
    assert np.sqrt(np.mean(quiet.audio**2)) < 0.2 * np.sqrt(np.mean(result.audio**2))


def test_the_parallel_search_finds_what_a_serial_one_finds(tiny_checkpoint):
    serial, parallel = Matcher.load(tiny_checkpoint, workers=1), Matcher.load(tiny_checkpoint,
                                                                              workers=2)
    target = serial.adapter.render_patch(serial.spec.to_synth(serial.spec.defaults()), note=62)
    a = serial.match(target, sample_rate=16000, refine=40, seed=3)
    b = parallel.match(target, sample_rate=16000, refine=40, seed=3)
    assert np.array_equal(a.params, b.params) and a.scores == b.scores
    assert np.array_equal(a.audio, b.audio)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_search_fills_the_synths_lanes_the_same_way_on_any_machine(workers):
    """The built-in synth renders four voices side by side (``lanes``), a part-filled group at
    the cost of a full one: CMA-ES's generations on builtin-rich (26 parameters, 13 by default)
    come 16 at a time, whatever the number of threads."""
    matcher = Matcher.for_synth(spec="builtin-rich", workers=workers)
    scorer, batches = matcher.scorer, []

    class Recording:
        lanes = scorer.lanes  # what the search sizes its generations by

        def __call__(self, distance, candidates):
            batches.append(len(candidates))
            scorer(distance, candidates)

    matcher.scorer = Recording()
    matcher.match(0.3 * tone(57, seconds=0.5), sample_rate=SR, refine=60)
    assert matcher.adapter.lanes == 4 and scorer.lanes == 4
    assert batches[1:3] == [16, 16]  # the starts, then whole generations (the last cut short)
    scorer.close()


def test_match_writes_audio_parameters_preset_and_plot(tiny_checkpoint, tmp_path):
    sounds = tmp_path / "in"
    sounds.mkdir()
    write_wav(sounds / "lead.wav", (0.3 * tone(64, rate=22050)).astype(np.float32), 22050)
    noise = np.random.default_rng(1).standard_normal(SR).astype(np.float32) * 0.2
    write_wav(sounds / "noise.wav", noise, SR)
    out = tmp_path / "out"
    result = run_soundmatch("match", sounds / "lead.wav", sounds / "noise.wav", "--checkpoint",
                            tiny_checkpoint, "--out", out, "--refine", 10)
    assert result.returncode == 0, result.stderr
    assert re.search(r"lead.wav \(detected 6[34]\.\d\d, played 6[34]\.\d\d", result.stdout)
    assert "no pitch detected, played at note 60.00" in result.stdout
    assert re.search(r"refined in 10 renders", result.stdout)
    for stem in ("lead", "noise"):
        assert (out / f"{stem}.compare.png").read_bytes()[:4] == b"\x89PNG"
        params = yaml.safe_load((out / f"{stem}.params.yaml").read_text())
        assert params["synth"] == "builtin" and len(params["parameters"]) == 16
        preset = yaml.safe_load((out / f"{stem}.preset.yaml").read_text())
        assert preset["synth"] == "builtin"
        with wave.open(str(out / f"{stem}.match.wav")) as w:
            assert w.getframerate() == 16000 and w.getnframes() == 4 * 16000


def test_render_train_evaluate_match_through_the_cli(tiny_data, tiny_checkpoint, tmp_path):
    report = tmp_path / "report"
    result = run_soundmatch("evaluate", tiny_checkpoint, tiny_checkpoint, "--data", tiny_data,
                            "--json", "--report", report, "--workers", 2)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert [s["count"] for s in scores] == [16, 16]  # the 10 % test split of 160
    assert scores[0]["sc"] == scores[1]["sc"] and scores[0]["name"] != scores[1]["name"]
    assert all(np.isfinite(s["mse"]) and s["sc"] > 0 for s in scores)
    assert len(scores[0]["per_parameter_mse"]) == 16
    page = (report / "index.html").read_text()
    media = set(re.findall(r"src='(media/[^']+)'", page))
    assert len(media) == 8 * 5  # per example: target wav, and per model a wav and a png
    assert all((report / m).is_file() for m in media)
    table = run_soundmatch("evaluate", tiny_checkpoint, "--data", tiny_data)
    assert "parameter MSE" in table.stdout and "SC (mean)" in table.stdout


@pytest.mark.parametrize("model", [None, "builtin-16"])
def test_the_shipped_models_match_the_example_sounds(model, tmp_path):
    sound = REPO / "examples" / "sounds" / "builtin-a.wav"
    choice = ("--checkpoint", model) if model else ()
    result = run_soundmatch("match", sound, *choice, "--out", tmp_path, "--refine", "30")
    assert result.returncode == 0, result.stderr
    note = float(re.search(r"builtin-a.wav \(detected [\d.]+, played ([\d.]+)",
                           result.stdout).group(1))
    assert abs(note - 60) < 0.5  # rendered at 60; its detuned second oscillator pulls it flat
    assert "refined in 30 renders" in result.stdout
    record = yaml.safe_load((tmp_path / "builtin-a.params.yaml").read_text())
    assert record["spec"] == (model or "builtin-rich")


def test_a_bare_refine_before_the_input_still_matches_it(tiny_checkpoint, tmp_path):
    sound = write_wav(tmp_path / "a.wav", (0.3 * tone(60)).astype(np.float32), SR)
    result = run_soundmatch("match", "--checkpoint", tiny_checkpoint, "--out", tmp_path / "o",
                            "--refine", sound)
    assert result.returncode == 0, result.stderr
    assert "refined in" in result.stdout and (tmp_path / "o" / "a.match.wav").exists()
    missing = run_soundmatch("match", "--refine")
    assert missing.returncode == 2 and "Missing argument" in missing.stderr


@pytest.mark.parametrize("first", ["slow", "quick"])
def test_two_searches_at_once_keep_one_thread_until_the_last_ends(first):
    """Two searches at once (serve --jobs 2), each on a thread of its own that has not used torch
    before (as a server's job threads), render on one torch thread each until the last one ends,
    whichever began first; each thread has torch's limit back when its search ends. (A thread
    that read its limit for the first time while the other search ran got that search's 1, and
    kept it.)"""
    import threading

    import torch

    from soundmatch.metrics import MatchDistance
    from soundmatch.scoring import ThreadScorer
    from soundmatch.search import Budget, Candidate, search

    before = torch.get_num_threads()
    rate = 16000
    t = np.arange(rate) / rate
    target = np.sin(2 * np.pi * 220 * t).astype(np.float32)
    distance = MatchDistance(target, rate)

    def trial() -> tuple[set, list]:
        torch.set_num_threads(2)  # whatever earlier tests left: the limit must be seen to act
        quick_done, inside, seen, after = threading.Event(), threading.Event(), [], []

        def slow(candidates, samples):  # renders on once the quick search has ended
            inside.set()
            quick_done.wait(10)
            seen.append(torch.get_num_threads())
            return [(float(c.params[0]) * target).astype(np.float32) for c in candidates]

        def quick(candidates, samples):
            inside.set()
            return [(float(c.params[0]) * target).astype(np.float32) for c in candidates]

        def run(render, renders, done=None):
            search(ThreadScorer([render]), distance, [Candidate(np.array([0.5, 0.5]), 60.0)],
                   Budget(renders), seed=0)
            after.append(torch.get_num_threads())
            if done is not None:
                done.set()

        threads = {"slow": threading.Thread(target=run, args=(slow, 12)),
                   "quick": threading.Thread(target=run, args=(quick, 6, quick_done))}
        threads[first].start()
        inside.wait(10)
        threads["quick" if first == "slow" else "slow"].start()
        for thread in threads.values():
            thread.join()
        return set(seen), after

    try:
        for _ in range(4):
            seen, after = trial()
            assert seen == {1}
            assert after == [2, 2]  # each thread's, as it was
    finally:
        torch.set_num_threads(before)


def test_the_networks_varied_starts_take_dropout_and_its_guesses_none(tiny_checkpoint):
    """The network's guesses (at the input's note and an octave either side) and its guesses
    with dropout on come from one pass: the guesses are the network's as evaluated, the varied
    ones differ from them and from each other, a seed gives the same ones, and dropout is off
    again after."""
    import torch

    from soundmatch.audio import prepare_with_onset

    matcher = Matcher.load(tiny_checkpoint)
    dropouts = [m for m in matcher.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts
    for m in dropouts:
        m.p = 0.5
    target = prepare_with_onset(tone(57), SR, matcher.sample_rate,
                                matcher.spec.render.num_samples)[0]
    starts = matcher.network_starts(target, 57.0, 57.0, seed=3, extra=4)
    assert [s.note for s in starts] == [57.0, 45.0, 69.0] + [57.0] * 4
    for start in starts[:3]:
        np.testing.assert_allclose(start.params, matcher.predict(target, start.note), atol=1e-5)
    varied = np.array([s.params for s in starts[3:]])
    assert np.abs(varied - starts[0].params).max(axis=1).min() > 1e-3
    assert len({v.tobytes() for v in varied}) == 4
    again = matcher.network_starts(target, 57.0, 57.0, seed=3, extra=4)
    other = matcher.network_starts(target, 57.0, 57.0, seed=4, extra=4)
    assert all(np.array_equal(a.params, b.params) for a, b in zip(starts, again, strict=True))
    assert not np.array_equal(other[3].params, starts[3].params)
    assert not any(m.training for m in dropouts) and not any(m._forward_hooks for m in dropouts)


def test_many_starts_are_ranked_on_the_opening_then_the_closest_on_the_whole():
    """A bank of presets is ranked on the input's first half second, and only the closest few
    on all of it: the start closest over the whole sound is still the one the search grows
    from, when the openings alone would pick another; the renders count both rankings."""
    from soundmatch.metrics import MatchDistance
    from soundmatch.scoring import ThreadScorer
    from soundmatch.search import PRERANK_KEEP, Budget, Candidate, search

    rate = 16000
    t = np.arange(3 * rate) / rate
    def note(hz: float, later_hz: float) -> np.ndarray:
        # The same opening for every start; they differ after the first 0.5 s.
        return np.where(t < 0.5, np.sin(2 * np.pi * hz * t),
                        np.sin(2 * np.pi * later_hz * t)).astype(np.float32)

    target = note(220.0, 330.0)
    lengths = []

    def render(candidates, samples):
        lengths.extend([samples] * len(candidates))
        ks = [round(float(c.params[0]) * 100) for c in candidates]
        return [note(220.0 + 0.5 * k, 330.0 - 5.0 * abs(k - 20))[:samples] for k in ks]

    # Start 0 has the input's opening, start 20 all the rest of it: the opening alone ranks 20
    # twentieth, the whole sound first.
    starts = [Candidate(np.array([k / 100.0]), 57.0) for k in range(100)]
    found = search(ThreadScorer([render]), MatchDistance(target, rate), starts, Budget(0))
    assert round(float(found.start.params[0]) * 100) == 20
    assert starts[50].distance == np.inf  # ranked out on its opening
    assert lengths.count(rate // 2) == 100 and lengths.count(3 * rate) == PRERANK_KEEP[1]
    assert found.renders == len(lengths)


def test_the_climb_goes_on_from_the_start_whose_own_short_climb_got_closest(monkeypatch):
    """The closest start can sit in a basin of its own: the climb continues from whichever of
    the closest starts got closest in a short climb (its heat), not from the closest start."""
    from soundmatch import search as search_module
    from soundmatch.search import Budget, Candidate, Space, search

    trap, path = np.array([0.5, 0.5]), np.array([0.0, 0.0])

    def distance_of(u: np.ndarray) -> float:
        # 1.0 at the trap and more around it; 1.1 at the other start, falling to 0 as its
        # second parameter rises to 1.
        return min(1.0 + 4 * float(np.abs(u - trap).sum()),
                   1.1 * (1.0 - float(u[1])) + 5.0 * float(u[0]))

    def scorer(distance, candidates):
        for c in candidates:
            c.distance = distance_of(np.asarray(c.params))

    space = Space(steps=np.array([0.1, 0.1]), choices=np.array([0, 0]))

    def climb() -> tuple[float, str]:
        starts = [Candidate(trap.copy(), 60.0, origin="trap"),
                  Candidate(path.copy(), 60.0, origin="path")]
        found = search(scorer, None, starts, Budget(400), seed=0, space=space)
        return found.best.distance, found.best.origin

    assert climb() == (pytest.approx(0.0, abs=1e-9), "path")
    monkeypatch.setattr(search_module, "HEATS", 1)  # the closest start alone stays in its basin
    assert climb() == (1.0, "trap")


def test_scoring_only_the_sounding_part_keeps_the_whole_notes_distance():
    """The search renders candidates only while the input sounds (and 0.25 s more): for a
    candidate that is silent there too, the distance and gain are the whole note's."""
    from soundmatch.audio import sounding_length
    from soundmatch.metrics import MatchDistance

    rate = 44100
    t = np.arange(4 * rate) / rate
    def pluck(hz: float, decay: float) -> np.ndarray:
        return (np.sin(2 * np.pi * hz * t) * np.exp(-decay * t) * (t < 1.0)).astype(np.float32)

    target = pluck(220.0, 6.0)
    heard = sounding_length(target, rate, 0.25)
    assert rate <= heard <= 1.3 * rate
    whole, part = MatchDistance(target, rate), MatchDistance(target, rate, samples=heard)
    assert part.samples == heard
    for candidate in (pluck(220.0, 9.0), pluck(223.0, 6.0), 0.3 * pluck(440.0, 3.0)):
        (d_whole, g_whole), (d_part, g_part) = whole(candidate), part(candidate[:heard])
        assert d_part == pytest.approx(d_whole, rel=1e-3) and d_whole > 0.01
        assert g_part == pytest.approx(g_whole, rel=1e-3)
