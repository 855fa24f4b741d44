"""Flipbook's speed benchmark: one table of every figure issue 7 asks for, each the median of
repeated runs after a warm-up, measured on this machine in one run.

    python -m studio.bench [--model DIR] [--repeats N] [--threads N] [--quick]

The model is `--model`, else the shipped `assets/shapes`, else (before training has shipped
one) a fresh, untrained set of the `shapes` preset's sizes; the table's header says which.
Stages of a request are timed by wrapping the calls that make them (text encoding, the
encoders, base sampling, the sound drawn again, the upsampler, the decoders, reading the
input, mp4 writing) for the benchmark only; the pipelines are run exactly as the studio runs
them. `--quick` is a smoke run (one repeat, few steps in the peers): its numbers are not
figures to quote.
"""

import argparse
import inspect
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count, sdpa_backward_flop_count, sdpa_flop_count

from studio import media
from studio.engine import DEFAULT_MODEL_DIR, REPO_ROOT, Engine

PROMPT = "a large red circle moving right on a navy background"
PROMPT_TWO = "a large red circle moving right and a small green triangle moving up on a navy background"  # two streams
INSTRUCTION = "make the circle blue"
TRAINING_CONFIG = REPO_ROOT / "training" / "configs" / "shapes.yaml"
MATMUL_SIZES = (256, 512, 1024, 2048)
MATMUL_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
PEAK_PROBE_MATMULS = 20  # per turn with a training step: tens of ms, long enough to time steadily
TRAINING_STAGES = ("vae", "generator", "upsampler", "edit_stage1")
COMPONENTS = ("text_encoder", "video_vae", "audio_vae", "transformer", "upsampler", "scheduler")
TARGETS = {"end_to_end_s": 1.0, "cold_start_s": 10.0, "peak_memory_mb": 1500.0, "mfu": 0.25}


@dataclass
class Row:
    label: str
    value: float
    unit: str
    target: str = ""  # e.g. "<= 1.0"
    holds: bool | None = None
    note: str = ""


def median_of(fn, repeats: int, warmup: int = 1) -> float:
    """Median seconds of `fn()` over `repeats` runs after `warmup` unmeasured ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def take_turns(fns: list, repeats: int, warmup: int = 1) -> list[list[float]]:
    """Seconds of each fn per round, the fns taking turns, so that whatever else loads a
    shared machine falls on each alike and their ratio stays meaningful."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    rounds = []
    for _ in range(repeats):
        times = []
        for fn in fns:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        rounds.append(times)
    return rounds


# ---------------------------------------------------------------- stage timing

class StageTimer:
    """Times a request's stages by wrapping the calls that make them. A wrapped call made
    inside another stage (the upsampler's own sampling loop, a decoder inside `decode`)
    belongs to that stage, so stages never overlap and what is left is 'other'."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._open: str | None = None
        self._patches = []

    def wrap(self, owner, attr: str, stage: str) -> None:
        original = getattr(owner, attr)
        had_own = attr in vars(owner)

        def timed(*args, **kwargs):
            if self._open is not None:
                return original(*args, **kwargs)
            self._open, start = stage, time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start
                self._open = None

        setattr(owner, attr, timed)
        self._patches.append((owner, attr, original if had_own else None))

    def restore(self) -> None:
        for owner, attr, original in reversed(self._patches):
            if original is None:
                delattr(owner, attr)  # the class's method shows through again
            else:
                setattr(owner, attr, original)
        self._patches.clear()


def instrument(engine: Engine) -> StageTimer:
    timer = StageTimer()
    generate, edit, _ = engine.load()
    timer.wrap(generate.text_encoder, "encode", "text encoding")
    for vae in (generate.video_vae, generate.audio_vae, edit.video_vae, edit.audio_vae):
        if "encode" not in vars(vae):
            timer.wrap(vae, "encode", "encoders (image / source)")
    for pipe in (generate, edit, edit.generation):  # the last draws an add, reshape or recolor edit's object
        timer.wrap(pipe, "denoise", "base sampling")
        timer.wrap(pipe, "upsample", "upsampler")
        timer.wrap(pipe, "decode", "decoders")
    for pipe in (generate, edit.generation):  # object by object, each stream's drawing is checked
        timer.wrap(pipe, "decode_video", "decoders")  # the drawings at the base size, for the checks
        timer.wrap(pipe, "first_look", "stream check")
        timer.wrap(pipe, "sound_for", "sound again")  # from text, the sound drawn to the first frame
    timer.wrap(media, "read_image", "reading the input")
    timer.wrap(engine, "read_source", "reading the input")
    timer.wrap(engine, "write", "mp4 writing")
    return timer


# ---------------------------------------------------------------- serving

def requests(engine: Engine, workdir: Path) -> dict:
    """The three requests people make, each ending in an mp4 file; the text request's first
    output supplies the image and the source video of the others."""
    image, source = workdir / "first_frame.png", workdir / "source.mp4"

    def text(seed):
        engine.write(engine.generate(PROMPT, seed=seed), 0, workdir / f"text_{seed}.mp4")

    def text_two_objects(seed):
        engine.write(engine.generate(PROMPT_TWO, seed=seed), 0, workdir / f"text_two_{seed}.mp4")

    def image_to_video(seed):
        engine.write(engine.generate(PROMPT, image_path=str(image), seed=seed), 0, workdir / f"image_{seed}.mp4")

    def edit(seed):
        engine.write(engine.edit(str(source), INSTRUCTION, seed=seed), 0, workdir / f"edit_{seed}.mp4")

    first = engine.generate(PROMPT, seed=0)
    engine.write(first, 0, source)
    media.write_image(image, first.frames[0, 0])
    return {"text → clip": text, "text → clip, two objects": text_two_objects, "image → clip": image_to_video,
            "edit": edit}


def request_rows(engine: Engine, kinds: dict, repeats: int) -> list[Row]:
    """End-to-end time and its breakdown for each request kind at the engine's default
    settings, medians per stage."""
    rows = []
    def settings(method) -> str:
        defaults = inspect.signature(method).parameters
        return (f"{defaults['steps'].default} + {defaults['upsampler_steps'].default} steps (the engine's "
                "defaults), 1 candidate")
    timer = instrument(engine)
    try:
        for name, run in kinds.items():
            run(seed=1)  # warm-up
            stage_runs, total_runs = defaultdict(list), []
            for seed in range(2, 2 + repeats):
                timer.seconds.clear()
                start = time.perf_counter()
                run(seed=seed)
                total = time.perf_counter() - start
                total_runs.append(total)
                for stage, seconds in timer.seconds.items():
                    stage_runs[stage].append(seconds)
                stage_runs["other"].append(total - sum(timer.seconds.values()))
            total = float(np.median(total_runs))
            target = TARGETS["end_to_end_s"] if name != "image → clip" else None
            rows.append(Row(f"{name}, end to end to mp4", total, "s", f"<= {target:g}" if target else "",
                            total <= target if target else None,
                            settings(Engine.edit if name == "edit" else Engine.generate)))
            rows += [Row(f"  {stage}", float(np.median(values)), "s") for stage, values in stage_runs.items()]
    finally:
        timer.restore()
    return rows


def serve_app(model_dir: Path, count: int, threads: int | None) -> dict:
    """`python app.py` in a fresh process, started as a person starts it: cold start runs from
    the launch until its first clip (text → mp4 through the API, with gradio_client) has
    arrived; then `count` more requests (image, edit, text in turn). Peak resident memory is
    the sum of the serving process's and its children's (the engine's) high-water marks (Linux
    /proc), an upper bound on what they held at once."""
    from gradio_client import Client, handle_file

    from studio.ui.examples import example_clips, example_images
    from studio.ui.serving import free_port, memory_mb, wait_until_serving

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "FLIPBOOK_MODEL": str(model_dir), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    (image, prompt), (clip, instruction) = example_images()[0], example_clips()[0]
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "app.log"
        started = time.perf_counter()
        with open(log, "w") as log_file:
            app = subprocess.Popen([sys.executable, "app.py"], cwd=REPO_ROOT, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
        try:
            wait_until_serving(url, app, log, timeout_s=300)
            client = Client(url, verbose=False, download_files=scratch)
            client.predict(PROMPT, 0, api_name="/text_to_video")
            cold_start = time.perf_counter() - started
            for i in range(count):
                if i % 3 == 0:
                    client.predict(handle_file(image), prompt, i, api_name="/image_to_video")
                elif i % 3 == 1:
                    client.predict(handle_file(clip), instruction, i, api_name="/edit_video")
                else:
                    client.predict(PROMPT, i, api_name="/text_to_video")
            peak_mb = memory_mb(app.pid, "VmHWM")
        finally:
            app.kill()
            app.wait()
    return {"cold_start_s": cold_start, "peak_mb": peak_mb}


def serving_rows(model_dir: Path, processes: int, count: int, threads: int | None) -> list[Row]:
    """Cold start (median over fresh launches) and peak memory (the largest of them)."""
    reports = [serve_app(model_dir, count, threads) for _ in range(processes)]
    cold = float(np.median([r["cold_start_s"] for r in reports]))
    peak_mb = max(r["peak_mb"] for r in reports)
    return [Row("studio cold start to first clip", cold, "s", f"<= {TARGETS['cold_start_s']:g}",
                cold <= TARGETS["cold_start_s"],
                f"{processes} launch(es) of python app.py until the first text → mp4 arrives over the API"),
            Row("peak resident memory serving", peak_mb, "MB", f"<= {TARGETS['peak_memory_mb']:g}",
                peak_mb <= TARGETS["peak_memory_mb"],
                f"the app's and its engine's max RSS, summed, over 1 + {count} requests (text, image, edit)")]


# ---------------------------------------------------------------- matmul peak and FLOPs

def matmul_peaks(sizes: tuple[int, ...], repeats: int) -> dict[str, tuple[float, int]]:
    """The fastest `torch.mm` rate (FLOP/s) over square sizes, per dtype name: (rate, size)."""
    peaks = {}
    for name, dtype in MATMUL_DTYPES.items():
        best = (0.0, 0)
        for n in sizes:
            a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
            seconds = median_of(lambda: torch.mm(a, b), max(repeats, 3))
            best = max(best, (2 * n**3 / seconds, n))
        peaks[name] = best
    return peaks


def _mkldnn_conv_flop(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    return conv_flop_count(x_shape, w_shape, out_shape)


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward_flop(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# FlopCounterMode does not know the CPU kernels our models reach: the VAEs' direct oneDNN
# convolutions and the CPU flash attention; without these a VAE step counts half its FLOPs.
CPU_FLOP_FORMULAS = {
    torch.ops.aten.mkldnn_convolution: _mkldnn_conv_flop,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flop,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flop,
}


def count_flops(fn) -> int:
    with FlopCounterMode(display=False, custom_mapping=CPU_FLOP_FORMULAS) as counter:
        fn()
    return counter.get_total_flops()


# ---------------------------------------------------------------- training throughput

def training_step(cfg, components: dict, fmt: dict, compile: bool = False):
    """`step(i, autocast) -> samples`: one optimiser step of the stage `cfg` (its StageConfig)
    configures, as the training loop takes it (forward, loss, backward, clipping, the loop's
    AdamW and EMA), on fresh modules of the model's sizes and synthetic inputs of the shapes
    its cached data has (step i: the VAE's frame size), compiled in place when the config
    compiles."""
    from models.joint_transformer import JointDenoisingTransformer
    from studio.world.spec import TASKS
    from training.diffusion import Inputs, denoising_loss
    from training.loop import Batch, optimiser_and_ema
    from models.noise_path import training_scheduler
    from training.vae import AUDIO_CROPS_PER_CLIP, CROP_SAMPLES, VAEPair, vae_loss

    g = torch.Generator().manual_seed(0)
    stage, b = cfg.stage, cfg.batch_size
    if stage == "vae":
        video_vae, audio_vae = components["video_vae"], components["audio_vae"]
        model = VAEPair(type(video_vae).from_config(video_vae.config), type(audio_vae).from_config(audio_vae.config))

        def loss_fn(i):
            size = fmt["base_size"] if i % 2 else fmt["size"]  # as training alternates them
            video = torch.rand(b, 3, fmt["num_frames"], size, size, generator=g) * 2 - 1
            wave = torch.rand(b * AUDIO_CROPS_PER_CLIP, 1, CROP_SAMPLES, generator=g) * 2 - 1
            return vae_loss(model, video, wave, g, cfg.kl_weight)[0]
    else:
        name = {"generator": "transformer", "upsampler": "upsampler"}.get(stage, "edit_transformer")
        source = components.get(name) or components["transformer"]
        model = JointDenoisingTransformer.from_config(source.config)
        scheduler = training_scheduler(components["scheduler"])
        config, encoder = model.config, components["text_encoder"]
        size = fmt["size"] if stage == "upsampler" else fmt["base_size"]
        latent = components["video_vae"].latent_shape(fmt["num_frames"], size, size)[1:]
        audio_shape = (config.audio_channels, components["audio_vae"].latent_length(fmt["num_samples"]))

        def rand(*shape):
            return torch.randn(*shape, generator=g)

        def loss_fn(i):
            text = (rand(b, encoder.max_length, config.text_dim), torch.ones(b, encoder.max_length, dtype=torch.bool),
                    rand(b, config.pooled_text_dim))
            audio = rand(b, *audio_shape) if config.audio_channels else None
            audio_cond = rand(b, *audio_shape) if stage.startswith("edit") else None
            task_ids = (torch.randint(1, len(TASKS), (b,), generator=g) if stage.startswith("edit")
                        else torch.zeros(b, dtype=torch.long))
            video, video_cond = rand(b, config.video_channels, *latent), rand(b, config.video_cond_channels, *latent)
            inputs = Inputs(video, audio, video_cond, audio_cond, text, task_ids, torch.arange(b))
            return denoising_loss(model, scheduler, inputs, Batch(i, 0, g, b, 0, b))[0]

    model.train()
    if compile:
        model.compile()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer, ema = optimiser_and_ema(cfg, params)

    def step(i: int, autocast: bool) -> int:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn(i)
        loss.backward()
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
        ema.step(params)
        return b

    return step


def training_rows(components: dict, fmt: dict, repeats: int, peak_dtype: torch.dtype, peak_size: int,
                  peak_name: str) -> list[Row]:
    """Samples/s and MFU per stage. MFU is a ratio of two rates, so each training step takes
    turns with the peak's matmul: a shared machine's slow spells (measured here: the same
    matmul 670 to 840 GFLOP/s from one run to the next) fall on both alike."""
    from training.config import load_config
    from training.loop import mixed_precision_here

    a, b = (torch.randn(peak_size, peak_size, dtype=peak_dtype) for _ in range(2))

    def peak_probe():
        for _ in range(PEAK_PROBE_MATMULS):
            torch.mm(a, b)

    probe_flops = PEAK_PROBE_MATMULS * 2 * peak_size**3
    rows = []
    for stage in TRAINING_STAGES:
        cfg = load_config(TRAINING_CONFIG, stage)
        autocast = mixed_precision_here(cfg.mixed_precision) == "bf16"  # as the training loop trains
        eager = training_step(cfg, components, fmt)
        timed = training_step(cfg, components, fmt, compile=True) \
            if cfg.compile else eager  # FLOPs are counted on the eager twin: compiled kernels hide them

        def pair(step):  # two steps: the VAE alternates frame sizes between them
            return step(0, autocast) + step(1, autocast)

        rounds = np.array(take_turns([lambda: pair(timed), peak_probe], repeats, warmup=2))  # the first compiles
        flops = count_flops(lambda: pair(eager))
        seconds, peak = float(np.median(rounds[:, 0])), probe_flops / float(np.median(rounds[:, 1]))
        mfu = float(np.median((flops / rounds[:, 0]) / (probe_flops / rounds[:, 1])))
        samples = 2 * cfg.batch_size
        label = "edit" if stage.startswith("edit") else stage
        precision = ("bf16 autocast" if autocast else "fp32") + (", compiled" if cfg.compile else "")
        rows.append(Row(f"training {label} step", samples / seconds, "samples/s",
                        note=f"batch {cfg.batch_size}, {precision}, {flops / samples / 1e9:.3g} GFLOP/sample"))
        rows.append(Row(f"  MFU {label}", 100 * mfu, "%", f">= {100 * TARGETS['mfu']:g}", mfu >= TARGETS["mfu"],
                        f"{flops / seconds / 1e9:.1f} GFLOP/s; {peak_name} matmul in turns {peak / 1e9:.0f} GFLOP/s"))
    return rows


# ---------------------------------------------------------------- peers

def denoiser_rows(engine: Engine, fmt: dict, repeats: int) -> list[Row]:
    """Our base denoiser's forward, at the batch and tokens it samples with, against a
    CogVideoX transformer of the same width, depth, heads and token count."""
    from studio.bench_reference import cogvideox_peer, parameter_count

    generate, _, _ = engine.load()
    ours = generate.transformer
    cfg, encoder = ours.config, generate.text_encoder
    video_shape, audio_shape = generate.latent_shapes(fmt["base_size"])
    g = torch.Generator().manual_seed(0)
    b = 2  # classifier-free guidance runs both branches in one batch
    pt, ph, pw = cfg.patch_size
    num_tokens = (video_shape[1] // pt) * (video_shape[2] // ph) * (video_shape[3] // pw)
    num_tokens += audio_shape[1] // cfg.audio_patch_size
    context_tokens = encoder.max_length + cfg.num_task_tokens
    peer, peer_shape = cogvideox_peer(ours, num_tokens, video_shape, context_tokens)
    peer_tokens = peer_shape[0] * (peer_shape[2] // ph) * (peer_shape[3] // pw)
    ours_inputs = (torch.randn(b, *video_shape, generator=g), torch.full((b,), 500.0),
                   torch.randn(b, encoder.max_length, cfg.text_dim, generator=g),
                   torch.ones(b, encoder.max_length, dtype=torch.bool),
                   torch.randn(b, cfg.pooled_text_dim, generator=g))
    ours_kwargs = dict(audio_latents=torch.randn(b, *audio_shape, generator=g),
                       video_cond=torch.randn(b, cfg.video_cond_channels, *video_shape[1:], generator=g))
    peer_inputs = (torch.randn(b, *peer_shape, generator=g), torch.randn(b, context_tokens, cfg.text_dim, generator=g),
                   torch.full((b,), 500))
    with torch.no_grad():
        rounds = np.array(take_turns([lambda: ours(*ours_inputs, **ours_kwargs), lambda: peer(*peer_inputs)],
                                     4 * repeats, warmup=2))
    ratio = float(np.median(rounds[:, 0] / rounds[:, 1]))
    return [
        Row("denoiser forward (ours)", 1000 * float(np.median(rounds[:, 0])), "ms",
            note=f"batch {b}, {num_tokens} tokens, width {cfg.hidden_size}, depth {cfg.depth}, {cfg.num_heads} heads, "
                 f"{parameter_count(ours) / 1e6:.2f} M params"),
        Row("diffusers CogVideoXTransformer3DModel forward", 1000 * float(np.median(rounds[:, 1])), "ms",
            note=f"same width/depth/heads, {peer_tokens} video tokens + {context_tokens} text, "
                 f"{parameter_count(peer) / 1e6:.2f} M params"),
        Row("  ratio ours / CogVideoX", ratio, "x", "<= 1", ratio <= 1, "median of forwards taking turns"),
    ]


def seed_rows(engine: Engine, fmt: dict, text_request, repeats: int, seed_steps: int) -> list[Row]:
    """The seed's reference sampler, taking turns with our text → clip request."""
    from studio.bench_reference import SeedReferenceSampler, random_context

    seed = SeedReferenceSampler(fmt, steps=seed_steps)
    context = random_context(1, torch.Generator().manual_seed(0))
    seed_parts, our_sampling = defaultdict(list), []
    timer = instrument(engine)

    def ours():
        timer.seconds.clear()
        text_request(seed=0)
        our_sampling.append(timer.seconds["base sampling"] + timer.seconds["sound again"] + timer.seconds["upsampler"])

    def reference():
        start = time.perf_counter()
        video, audio = seed.sample_base(context)
        seed_parts["base sampling"].append(time.perf_counter() - start)
        start = time.perf_counter()
        video = seed.sample_upsampler(context, video, audio)
        seed_parts["upsampler"].append(time.perf_counter() - start)
        start = time.perf_counter()
        seed.decode(video, audio)
        seed_parts["decoders"].append(time.perf_counter() - start)

    reference()  # warm-up (our request is warm already)
    seed_parts.clear()
    try:
        rounds = np.array(take_turns([ours, reference], repeats, warmup=0))
    finally:
        timer.restore()
    seed_sampling = np.array(seed_parts["base sampling"]) + np.array(seed_parts["upsampler"])
    ratio = float(np.median(rounds[:, 0] / rounds[:, 1]))
    base_tokens, up_tokens = seed.tokens
    return [
        Row(f"seed reference sampler (DDPM {seed_steps}+{seed_steps} steps)", float(np.median(rounds[:, 1])), "s",
            note=f"width 256, depth 4, 4 heads; {base_tokens} / {up_tokens} tokens; decoders included, "
                 "text encoder not"),
        *[Row(f"  seed {stage}", float(np.median(values)), "s") for stage, values in seed_parts.items()],
        Row("  ratio text → clip end to end / seed reference", ratio, "x", "< 1", ratio < 1,
            "taking turns; ours includes text encoding and mp4 writing"),
        Row("  ratio our sampling / seed sampling", float(np.median(np.array(our_sampling) / seed_sampling)), "x",
            note="base, sound again and upsampler stages only"),
    ]


# ---------------------------------------------------------------- the table

def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_table(rows: list[Row]) -> str:
    width = max(len(r.label) for r in rows) + 2
    lines = [f"{'figure':<{width}}{'median':>12}  {'unit':<10}{'target':<9}{'holds':<7}notes"]
    for r in rows:
        holds = "" if r.holds is None else ("yes" if r.holds else "NO")
        value = f"{r.value:.3f}" if abs(r.value) < 100 else f"{r.value:.1f}"
        lines.append(f"{r.label:<{width}}{value:>12}  {r.unit:<10}{r.target:<9}{holds:<7}{r.note}")
    return "\n".join(lines)


def model_source(model: str | None, scratch: Path) -> tuple[Path, str]:
    """The checkpoint folder to benchmark and what it is."""
    if model is not None:
        folder = Path(model)
        if not (folder / "model_index.json").is_file():
            raise SystemExit(f"error: {folder} is not a Flipbook checkpoint (no model_index.json)")
        return folder, f"{folder}"
    if (DEFAULT_MODEL_DIR / "model_index.json").is_file():
        return DEFAULT_MODEL_DIR, f"{DEFAULT_MODEL_DIR} (shipped)"
    from models.pipelines import save_components
    from models.presets import build_components

    components, fmt = build_components("shapes")
    components["edit_transformer"] = type(components["transformer"]).from_config(components["transformer"].config)
    folder = scratch / "shapes_fresh"
    save_components(folder, components, fmt)
    return folder, "fresh untrained `shapes` preset (assets/shapes does not exist yet)"


def run(args: argparse.Namespace) -> str:
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder, described = model_source(args.model, scratch)
        rows = [Row("model load (in process)", median_of(lambda: Engine(folder).load(), repeats), "s",
                    note="checkpoint → both pipelines, warm file cache")]
        engine = Engine(folder)
        fmt = dict(engine.load()[0].config)
        kinds = requests(engine, scratch)
        rows += request_rows(engine, kinds, repeats)
        rows += serving_rows(folder, 1 if args.quick else 3, 3 if args.quick else 6, args.threads)
        peaks = matmul_peaks(MATMUL_SIZES[:2] if args.quick else MATMUL_SIZES, repeats)
        peak_name = max(peaks, key=lambda name: peaks[name][0])
        for name, (rate, n) in peaks.items():
            note = f"best at {n}x{n}" + ("; MFU divides by this matmul, timed in turns with each step"
                                         if name == peak_name else "")
            rows.append(Row(f"matmul peak {name} (torch.mm)", rate / 1e9, "GFLOP/s", note=note))
        generate, edit, _ = engine.load()
        components = {name: getattr(generate, name) for name in COMPONENTS}
        components["edit_transformer"] = edit.transformer
        rows += training_rows(components, fmt, repeats, MATMUL_DTYPES[peak_name], peaks[peak_name][1], peak_name)
        rows += denoiser_rows(engine, fmt, repeats)
        rows += seed_rows(engine, fmt, kinds["text → clip"], repeats, 2 if args.quick else 50)
    header = (f"Flipbook benchmark · model: {described}\n"
              f"{cpu_name()} · {os.cpu_count()} cores · torch {torch.__version__} with {torch.get_num_threads()} "
              f"threads · load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after\n"
              f"medians of {repeats} run(s) after a warm-up"
              + (" · QUICK smoke run, not figures" if args.quick else ""))
    return header + "\n" + format_table(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint folder (default: assets/shapes, else a fresh shapes preset)")
    parser.add_argument("--repeats", type=int, default=5, help="measured runs per figure (default 5)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    parser.add_argument("--quick", action="store_true", help="smoke run: one repeat, few peer steps")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    print(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
