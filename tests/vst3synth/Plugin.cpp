// SoundmatchTestSynth: a monophonic subtractive synth, just enough of a real VST3 instrument to
// test soundmatch's plugin path: five continuous parameters with audible, checkable effects
// (oscillator shape, lowpass cutoff and resonance, attack, decay) and a state that round-trips.
// Only juce_audio_processors is linked: juce_audio_utils and juce_dsp would pull in JUCE's
// audio-format readers and with them Debian's FLAC and Vorbis libraries.
#include <juce_audio_processors/juce_audio_processors.h>

namespace
{
// Zavalishin's topology-preserving state-variable lowpass: stable while its cutoff moves.
struct Lowpass
{
    double s1 = 0.0, s2 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;

    void set (double cutoff, double q, double sampleRate)
    {
        const double g = std::tan (juce::MathConstants<double>::pi * cutoff / sampleRate);
        const double k = 1.0 / q;
        a1 = 1.0 / (1.0 + g * (g + k));
        a2 = g * a1;
        a3 = g * a2;
    }

    float process (float x)
    {
        const double v3 = x - s2;
        const double v1 = a1 * s1 + a2 * v3;
        const double v2 = s2 + a2 * s1 + a3 * v3;
        s1 = 2.0 * v1 - s1;
        s2 = 2.0 * v2 - s2;
        return (float) v2;
    }

    void reset() { s1 = s2 = 0.0; }
};

juce::AudioProcessorValueTreeState::ParameterLayout makeLayout()
{
    using Range = juce::NormalisableRange<float>;
    std::vector<std::unique_ptr<juce::RangedAudioParameter>> p;
    p.push_back (std::make_unique<juce::AudioParameterFloat> (
        juce::ParameterID { "shape", 1 }, "Shape", Range (0.0f, 1.0f), 0.5f));
    auto cutoff = Range (20.0f, 20000.0f);
    cutoff.setSkewForCentre (1000.0f);
    p.push_back (std::make_unique<juce::AudioParameterFloat> (
        juce::ParameterID { "cutoff", 1 }, "Cutoff", cutoff, 2000.0f,
        juce::AudioParameterFloatAttributes().withLabel ("Hz")));
    p.push_back (std::make_unique<juce::AudioParameterFloat> (
        juce::ParameterID { "resonance", 1 }, "Resonance", Range (0.0f, 1.0f), 0.1f));
    auto attack = Range (0.001f, 2.0f);
    attack.setSkewForCentre (0.1f);
    p.push_back (std::make_unique<juce::AudioParameterFloat> (
        juce::ParameterID { "attack", 1 }, "Attack", attack, 0.01f,
        juce::AudioParameterFloatAttributes().withLabel ("s")));
    auto decay = Range (0.01f, 4.0f);
    decay.setSkewForCentre (0.5f);
    p.push_back (std::make_unique<juce::AudioParameterFloat> (
        juce::ParameterID { "decay", 1 }, "Decay", decay, 0.5f,
        juce::AudioParameterFloatAttributes().withLabel ("s")));
    p.push_back (std::make_unique<juce::AudioParameterChoice> (
        juce::ParameterID { "mode", 1 }, "Mode", juce::StringArray { "Mono", "Legato" }, 0));
    // Semitones added to every note played, as a synth's transpose or coarse tune.
    p.push_back (std::make_unique<juce::AudioParameterInt> (
        juce::ParameterID { "transpose", 1 }, "Transpose", -24, 24, 0));
    return { p.begin(), p.end() };
}
} // namespace

class TestSynth final : public juce::AudioProcessor
{
public:
    TestSynth()
        : AudioProcessor (BusesProperties().withOutput ("Output", juce::AudioChannelSet::stereo(), true)),
          state (*this, nullptr, "SoundmatchTestSynth", makeLayout())
    {
        shape = state.getRawParameterValue ("shape");
        cutoff = state.getRawParameterValue ("cutoff");
        resonance = state.getRawParameterValue ("resonance");
        attack = state.getRawParameterValue ("attack");
        decay = state.getRawParameterValue ("decay");
        transpose = state.getRawParameterValue ("transpose");
        commit();
    }

    void prepareToPlay (double newSampleRate, int maximumBlockSize) override
    {
        juce::ignoreUnused (maximumBlockSize);
        sampleRate = newSampleRate;
        reset();
    }

    void reset() override
    {
        restore();
        filter.reset();
        phase = 0.0;
        level = 0.0;
        stage = Stage::idle;
        note = -1;
    }

    void releaseResources() override {}

    bool isBusesLayoutSupported (const BusesLayout& layouts) const override
    {
        const auto out = layouts.getMainOutputChannelSet();
        return out == juce::AudioChannelSet::mono() || out == juce::AudioChannelSet::stereo();
    }

    void processBlock (juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi) override
    {
        juce::ScopedNoDenormals noDenormals;
        commit();
        buffer.clear();
        int position = 0;
        for (const auto metadata : midi)
        {
            render (buffer, position, metadata.samplePosition);
            handle (metadata.getMessage());
            position = metadata.samplePosition;
        }
        render (buffer, position, buffer.getNumSamples());
        for (int ch = 1; ch < buffer.getNumChannels(); ++ch)
            buffer.copyFrom (ch, 0, buffer, 0, 0, buffer.getNumSamples());
    }

    juce::AudioProcessorEditor* createEditor() override { return new juce::GenericAudioProcessorEditor (*this); }
    bool hasEditor() const override { return true; }
    const juce::String getName() const override { return JucePlugin_Name; }
    bool acceptsMidi() const override { return true; }
    bool producesMidi() const override { return false; }
    bool isMidiEffect() const override { return false; }
    double getTailLengthSeconds() const override { return 0.5; }
    int getNumPrograms() override { return 1; }
    int getCurrentProgram() override { return 0; }
    void setCurrentProgram (int) override {}
    const juce::String getProgramName (int) override { return "Default"; }
    void changeProgramName (int, const juce::String&) override {}

    void getStateInformation (juce::MemoryBlock& destData) override
    {
        if (auto xml = state.copyState().createXml())
            copyXmlToBinary (*xml, destData);
    }

    void setStateInformation (const void* data, int sizeInBytes) override
    {
        if (auto xml = getXmlFromBinary (data, sizeInBytes))
            if (xml->hasTagName (state.state.getType()))
                state.replaceState (juce::ValueTree::fromXml (*xml));
        commit();
    }

private:
    enum class Stage { idle, attack, decay, release };

    // SoundmatchForgetfulSynth (built with SOUNDMATCH_FORGETS_HOST_VALUES) behaves like the
    // synths in pedalboard #339: its engine keeps its own copy of the patch, taken while it
    // processes audio or loads a state, and a reset restores the parameters from that copy. A
    // value a host sets between renders is therefore lost when the next render resets the
    // plugin, unless audio was processed (or a state loaded) after it was set.
    void commit()
    {
#if SOUNDMATCH_FORGETS_HOST_VALUES
        engine.clearQuick();
        for (auto* parameter : getParameters())
            engine.add (parameter->getValue());
#endif
    }

    void restore()
    {
#if SOUNDMATCH_FORGETS_HOST_VALUES
        const auto& parameters = getParameters();
        for (int i = 0; i < juce::jmin (parameters.size(), engine.size()); ++i)
            if (parameters[i]->getValue() != engine[i])
                parameters[i]->setValueNotifyingHost (engine[i]);
#endif
    }

    void handle (const juce::MidiMessage& m)
    {
        if (m.isNoteOn())
        {
            note = m.getNoteNumber();
            velocity = m.getFloatVelocity();
            frequency = 440.0 * std::pow (2.0, (note + transpose->load() - 69.0) / 12.0);
            stage = Stage::attack;
        }
        else if (m.isNoteOff() && m.getNoteNumber() == note)
        {
            stage = Stage::release;
        }
        else if (m.isAllNotesOff() || m.isAllSoundOff())
        {
            reset();
        }
    }

    void render (juce::AudioBuffer<float>& buffer, int start, int end)
    {
        if (stage == Stage::idle || end <= start)
            return;
        filter.set (juce::jlimit (20.0, 0.45 * sampleRate, (double) cutoff->load()),
                    0.5 + 9.5 * resonance->load(), sampleRate);
        const double attackStep = 1.0 / juce::jmax (1.0, attack->load() * sampleRate);
        const double decayCoef = std::exp (-6.907755 / juce::jmax (1.0, decay->load() * sampleRate));
        const double releaseCoef = std::exp (-6.907755 / (0.05 * sampleRate));
        const double increment = frequency / sampleRate;
        const float blend = shape->load();
        auto* out = buffer.getWritePointer (0);
        for (int i = start; i < end; ++i)
        {
            switch (stage)
            {
                case Stage::attack:
                    level += attackStep;
                    if (level >= 1.0) { level = 1.0; stage = Stage::decay; }
                    break;
                case Stage::decay: level *= decayCoef; break;
                case Stage::release:
                    level *= releaseCoef;
                    if (level < 1.0e-6) { level = 0.0; stage = Stage::idle; }
                    break;
                case Stage::idle: level = 0.0; break;
            }
            const double sine = std::sin (juce::MathConstants<double>::twoPi * phase);
            const double saw = 2.0 * phase - 1.0 - polyBlep (phase, increment);
            const float osc = (float) ((1.0 - blend) * sine + blend * saw);
            phase += increment;
            if (phase >= 1.0)
                phase -= 1.0;
            out[i] = 0.5f * velocity * (float) level * filter.process (osc);
        }
    }

    static double polyBlep (double t, double dt)
    {
        if (t < dt) { t /= dt; return t + t - t * t - 1.0; }
        if (t > 1.0 - dt) { t = (t - 1.0) / dt; return t * t + t + t + 1.0; }
        return 0.0;
    }

    juce::AudioProcessorValueTreeState state;
    std::atomic<float>* shape = nullptr;
    std::atomic<float>* cutoff = nullptr;
    std::atomic<float>* resonance = nullptr;
    std::atomic<float>* attack = nullptr;
    std::atomic<float>* decay = nullptr;
    std::atomic<float>* transpose = nullptr;
    Lowpass filter;
    double sampleRate = 44100.0, phase = 0.0, level = 0.0, frequency = 440.0;
    float velocity = 1.0f;
    int note = -1;
    Stage stage = Stage::idle;
    juce::Array<float> engine;

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR (TestSynth)
};

juce::AudioProcessor* JUCE_CALLTYPE createPluginFilter() { return new TestSynth(); }
