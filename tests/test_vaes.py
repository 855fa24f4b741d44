"""VideoVAE, AudioVAE and the phase vocoder: shape rules, causality, images as one-frame videos,
save/load, tones rebuilt from their magnitudes."""

import math

import pytest
import torch

from models.audio_vae import AudioVAE
from models.partials import CLEARED_BINS, averaged, cleared, fundamental, oscillators
from models.phase_vocoder import magnitudes, synthesise, transposed
from models.video_vae import VideoVAE

TINY_VIDEO = {  # spatial factor -> config
    4: dict(latent_channels=4, block_out_channels=(8, 16), norm_num_groups=4),
    8: dict(latent_channels=4, block_out_channels=(8, 8, 16), norm_num_groups=4),
}
TINY_AUDIO = dict(latent_channels=4, hop_length=10, n_fft=32, hidden_channels=16, layers=1)


def video(batch=1, frames=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, frames, size, size, generator=g) * 2 - 1  # (B, 3, T, H, W)


def video_vae(factor=4):
    torch.manual_seed(0)
    return VideoVAE(**TINY_VIDEO[factor]).eval()


# ---------------------------------------------------------------------------------------------
# VideoVAE
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [4, 8])
@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("frames", [1, 2, 5, 16])
def test_video_shapes_follow_the_documented_rule(factor, size, frames):
    vae = video_vae(factor)
    assert vae.spatial_compression == factor and vae.temporal_compression == 2
    x = video(batch=2, frames=frames, size=size)
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mode()
        full = vae.decode(z).sample
        cropped = vae.decode(z, num_frames=frames).sample
        recon = vae(x).sample
    latent_frames = math.ceil(frames / 2)
    assert z.shape == (2, 4, latent_frames, size // factor, size // factor)
    assert vae.latent_shape(frames, size, size) == tuple(z.shape[1:])
    assert full.shape == (2, 3, 2 * latent_frames, size, size)
    assert cropped.shape == recon.shape == x.shape
    assert torch.equal(cropped, full[:, :, :frames])


def test_video_encoder_is_causal():
    vae = video_vae()
    x = video(frames=8)
    changed = x.clone()
    changed[:, :, 5] = -changed[:, :, 5]  # frame 5 lives in latent frame 2 (frames 4 and 5)
    with torch.no_grad():
        z, z_changed = (vae.encode(v).latent_dist.mode() for v in (x, changed))
    assert torch.allclose(z[:, :, :2], z_changed[:, :, :2], atol=1e-6)
    assert (z[:, :, 2] - z_changed[:, :, 2]).abs().max() > 1e-3


def test_video_decoder_is_causal():
    vae = video_vae()
    z = torch.randn(1, 4, 4, 8, 8)
    changed = z.clone()
    changed[:, :, 2] += 1.0  # latent frame 2 decodes to frames 4 and 5
    with torch.no_grad():
        out, out_changed = vae.decode(z).sample, vae.decode(changed).sample
    assert torch.allclose(out[:, :, :4], out_changed[:, :, :4], atol=1e-6)
    assert (out[:, :, 4] - out_changed[:, :, 4]).abs().max() > 1e-3


def test_image_is_a_one_frame_video_and_encodes_like_a_still_pair():
    vae = video_vae()
    image = video(frames=1)
    with torch.no_grad():
        z = vae.encode(image).latent_dist.mode()
        z_still = vae.encode(image.expand(-1, -1, 2, -1, -1)).latent_dist.mode()
        decoded = vae.decode(z, num_frames=1).sample
    assert z.shape == (1, 4, 1, 8, 8)
    assert torch.allclose(z, z_still, atol=1e-6)
    assert decoded.shape == image.shape


def test_video_save_load_round_trip(tmp_path):
    vae = VideoVAE(**TINY_VIDEO[8], scaling_factor=0.5, shift_factor=0.1).eval()
    x = video(frames=3)
    vae.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").exists()
    loaded = VideoVAE.from_pretrained(tmp_path).eval()
    assert tuple(loaded.config.block_out_channels) == (8, 8, 16)
    assert loaded.config.scaling_factor == 0.5 and loaded.config.shift_factor == 0.1
    with torch.no_grad():
        assert torch.equal(vae(x).sample, loaded(x).sample)


def test_video_posterior_sampling_is_seeded():
    vae = video_vae()
    x = video(frames=2)
    with torch.no_grad():
        a, b, mean = (vae(x, sample_posterior=s, generator=torch.Generator().manual_seed(7)).sample
                      for s in (True, True, False))
    assert torch.equal(a, b)
    assert not torch.equal(a, mean)


def test_video_rejects_bad_input():
    vae = video_vae(8)
    with pytest.raises(ValueError, match="multiple of the spatial compression 8"):
        vae.encode(video(size=36))
    with pytest.raises(ValueError, match="expected a video"):
        vae.encode(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="num_frames"):
        vae.decode(torch.zeros(1, 4, 2, 4, 4), num_frames=5)
    with pytest.raises(ValueError, match="temporal_down_stages"):
        VideoVAE(block_out_channels=(8, 8), temporal_down_stages=2)


# ---------------------------------------------------------------------------------------------
# AudioVAE
# ---------------------------------------------------------------------------------------------


def waveform(batch=2, num_samples=1000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, num_samples, generator=g) - 0.5  # (B, 1, N)


def test_audio_default_rate_is_64_latent_frames_per_second():
    vae = AudioVAE().eval()
    assert vae.config.hop_length == 250 and vae.latent_rate_hz == 64.0
    with torch.no_grad():
        z = vae.encode(waveform(batch=1, num_samples=32_000)).latent_dist.mode()
    assert z.shape == (1, 16, 128)


@pytest.mark.parametrize("num_samples", [10, 1000, 1001, 7, 32_003])
def test_audio_lengths_not_divisible_by_the_hop_are_padded_then_cropped(num_samples):
    torch.manual_seed(0)
    vae = AudioVAE(**TINY_AUDIO).eval()
    x = waveform(num_samples=num_samples)
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mode()
        full = vae.decode(z).sample
        recon = vae(x).sample
    frames = math.ceil(num_samples / 10)
    assert z.shape == (2, 4, frames) and vae.latent_length(num_samples) == frames
    assert full.shape == (2, 1, 10 * frames)
    assert recon.shape == x.shape
    assert torch.equal(recon, full[:, :, :num_samples])


def dominant_hz(wave: torch.Tensor, sample_rate_hz: int = 16_000) -> float:
    spectrum = torch.fft.rfft(wave * torch.hann_window(len(wave))).abs()
    return spectrum.argmax().item() * sample_rate_hz / len(wave)


@pytest.mark.parametrize("shape", ["sine", "square"])
def test_phase_vocoder_rebuilds_a_gliding_tone_from_its_magnitudes(shape):
    t = torch.arange(32_000, dtype=torch.float64) / 16_000
    hz = 300 * 2 ** (t / 2)  # one octave up over the 2 s, like an object rising
    phase = 2 * math.pi * torch.cumsum(hz, 0) / 16_000
    tone = 0.3 * (torch.sin(phase) if shape == "sine" else torch.sign(torch.sin(phase)))
    out = synthesise(magnitudes(tone[None].float(), 2048, 250), 2048, 250)[0]
    assert out.shape == (32_000,)
    for start in (4_000, 16_000, 26_000):  # the pitch follows the glide ...
        window = slice(start, start + 2_048)
        expected = dominant_hz(tone[window].float())
        assert abs(12 * math.log2(dominant_hz(out[window]) / expected)) < 0.5
    # ... and so do loudness and timbre (a square's odd harmonics; a sine has none)
    def fundamental_and_third(wave):
        spectrum = magnitudes(wave[None], 2048, 250)[0, :, 60]
        k = spectrum.argmax().item()
        return spectrum[k].item(), spectrum[3 * k - 5:3 * k + 6].max().item()

    (f_in, third_in), (f_out, third_out) = fundamental_and_third(tone.float()), fundamental_and_third(out)
    assert abs(f_out / f_in - 1) < 0.1
    assert abs(third_out / f_out - third_in / f_in) < 0.05 and (third_in / f_in > 0.2) == (shape == "square")


def test_a_transposed_tone_keeps_its_glide_and_timbre_at_the_new_pitch():
    """Every frequency times the ratio (a gliding square wave up five semitones, down seven), its
    odd harmonics kept; any length comes back."""
    t = torch.arange(31_900, dtype=torch.float64) / 16_000
    phase = 2 * math.pi * torch.cumsum(300 * 2 ** (t / 2), 0) / 16_000
    tone = (0.3 * torch.sign(torch.sin(phase))).float()
    ratio = torch.tensor([2 ** (5 / 12), 2 ** (-7 / 12)])
    out = transposed(tone[None].repeat(2, 1), ratio, 2048, 250)
    assert out.shape == (2, 31_900)

    def third_over_fundamental(wave):  # a square's odd harmonics; a sine has none
        spectrum = magnitudes(wave[None, :31_750], 2048, 250)[0, :, 60]
        k = spectrum.argmax().item()
        return (spectrum[3 * k - 5:3 * k + 6].max() / spectrum[k]).item()

    for row, r in zip(out, ratio):
        for start in (4_000, 16_000, 26_000):
            window = slice(start, start + 2_048)
            assert abs(12 * math.log2(dominant_hz(row[window]) / dominant_hz(tone[window]) / r)) < 0.5
        assert abs(third_over_fundamental(row) - third_over_fundamental(tone)) < 0.08  # 0.25 in the input


def test_oscillators_draw_each_partial_at_a_whole_multiple_of_one_gliding_phase():
    """A triangle's partials (1, 1/9, 1/25 at orders 1, 3, 5) on a glide come back with those
    amplitudes at exactly 3 and 5 times the fundamental, read by filters that glide with it."""
    frames = 128
    f0 = torch.linspace(30.0, 40.0, frames)[None]  # (1, N) bins of 7.8125 Hz: 234 -> 312 Hz
    amplitude = torch.zeros(1, 6, frames)
    amplitude[0, 0], amplitude[0, 2], amplitude[0, 4] = 0.3, 0.3 / 9, 0.3 / 25
    wave = oscillators(f0, amplitude, 16_000 / 2048, 250, 16_000)[0].double()  # (32000,)
    assert wave.shape == (frames * 250,)
    hz = torch.nn.functional.interpolate(f0[None] * 16_000 / 2048, size=127 * 250 + 1, mode="linear",
                                         align_corners=True)[0, 0].double()
    phase = 2 * math.pi * torch.cumsum(hz / 16_000, 0)
    window = slice(10_000, 12_000)
    hann = torch.hann_window(2_000, dtype=torch.float64)
    read = [abs((hann * wave[window] * torch.exp(-1j * k * phase[window])).sum().item()) * 2 / hann.sum().item()
            for k in (1, 3, 5)]
    assert read == pytest.approx([0.3, 0.3 / 9, 0.3 / 25], rel=0.02)


def test_the_fundamental_is_the_strongest_peak_in_its_band_between_bins():
    bins = torch.arange(200.0)[None, :, None]
    magnitude = (torch.exp(-((bins - 37.3) ** 2) / 2) + 0.5 * torch.exp(-((bins - 111.9) ** 2) / 2)).repeat(1, 1, 8)
    assert fundamental(magnitude, (20, 100)) == pytest.approx(torch.full((1, 8), 37.3), abs=0.05)
    assert fundamental(magnitude, (60, 150)) == pytest.approx(torch.full((1, 8), 111.9), abs=0.05)
    glide = torch.linspace(30.0, 40.0, 11)[None]
    wobble = glide + 0.3 * torch.tensor([1.0, -1.0]).repeat(6)[None, :11]
    assert averaged(glide)[0, 2:-2] == pytest.approx(glide[0, 2:-2])  # a glide kept ...
    assert (averaged(wobble) - glide)[0, 2:-2].abs().max() < 0.1  # ... its wobble evened out


def test_a_confident_partial_clears_the_spectrum_near_it_and_only_there():
    magnitude = torch.ones(1, 200, 4)
    amplitude = torch.tensor([[1.0, 0.0, 1e-6]]).T[None].repeat(1, 1, 4)  # (1, 3, 4): loud, silent, faint
    out = cleared(magnitude, torch.full((1, 4), 40.0), amplitude)
    assert out[0, 40].max() < 0.01 and out[0, 40 - CLEARED_BINS + 1].max() < 0.01  # under partial 1
    assert out[0, 80].min() == 1 and out[0, 120].min() > 0.99  # partial 2 silent, 3 faint
    assert out[0, 40 + CLEARED_BINS + 1].min() == 1 and out[0, 150].min() == 1


def test_an_audio_vae_with_a_harmonic_head_decodes_saves_and_loads(tmp_path):
    torch.manual_seed(0)
    vae = AudioVAE(**TINY_AUDIO, partials=3, fundamental_hz=(1000.0, 4000.0)).eval()
    x = waveform(num_samples=333)
    vae.save_pretrained(tmp_path)
    loaded = AudioVAE.from_pretrained(tmp_path).eval()
    assert loaded.config.partials == 3 and loaded.fundamental_band() == (2, 8)
    with torch.no_grad():
        assert vae(x).sample.shape == (x.shape[0], 1, 333)
        assert torch.equal(vae(x).sample, loaded(x).sample)


def test_audio_spectrum_is_zero_at_silence_and_rises_with_loudness():
    vae = AudioVAE(**TINY_AUDIO)
    quiet, loud = (a * torch.sin(torch.arange(400.0) * 0.7)[None, None] for a in (0.1, 0.4))
    assert vae.spectrum(torch.zeros(1, 1, 400)).abs().max() == 0
    assert vae.spectrum(loud).amax() > vae.spectrum(quiet).amax() > 0


def test_audio_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    vae = AudioVAE(**TINY_AUDIO, scaling_factor=2.0).eval()
    x = waveform(num_samples=333)
    vae.save_pretrained(tmp_path)
    loaded = AudioVAE.from_pretrained(tmp_path).eval()
    assert loaded.config.hop_length == 10 and loaded.config.scaling_factor == 2.0
    with torch.no_grad():
        assert torch.equal(vae(x).sample, loaded(x).sample)


def test_audio_rejects_bad_input():
    vae = AudioVAE(**TINY_AUDIO)
    with pytest.raises(ValueError, match="mono waveform"):
        vae.encode(torch.zeros(1, 2, 100))
    with pytest.raises(ValueError, match="latents"):
        vae.decode(torch.zeros(1, 3, 10))
    with pytest.raises(ValueError, match="num_samples"):
        vae.decode(torch.zeros(1, 4, 10), num_samples=101)
    with pytest.raises(ValueError, match="n_fft >= 2 \\* hop_length"):
        AudioVAE(hop_length=250, n_fft=256)
