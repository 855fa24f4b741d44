"""The training loop every stage shares: Accelerate (one CPU process to many GPUs), gradient
accumulation, EMA, rotating checkpoints with `--resume latest`, TensorBoard, a loss-curve PNG
and validation samples.

A stage supplies the modules to train and a loss; the loop owns everything else. Batches are
a pure function of (seed, step, micro-step): every process draws the same global batch and
takes its slice, so N processes train exactly as one process with the same global batch,
and a resumed run continues the same run.

Checkpoints hold no pickle that could run code: weights and EMA weights are safetensors, and
what Accelerate pickles (optimizer, scheduler, RNG states) it reads back with
`torch.load(weights_only=True)`. EMA is saved here rather than registered with Accelerate,
whose custom-object loader unpickles with `weights_only=False`.
"""

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from accelerate import Accelerator  # noqa: E402
from accelerate.utils import (  # noqa: E402
    DataLoaderConfiguration,
    DistributedDataParallelKwargs,
    ProjectConfiguration,
    set_seed,
)
from diffusers.training_utils import EMAModel  # noqa: E402
from safetensors.torch import load_file, safe_open, save_file  # noqa: E402
from tqdm import tqdm  # noqa: E402

from models.pipelines.studio_pipeline import fast_bf16  # noqa: E402
from training.config import StageConfig  # noqa: E402

CHECKPOINT = re.compile(r"^step_(\d{7})$")
COMPLETE_MARKER = "complete"
EMA_FILE = "ema.safetensors"


@dataclass
class Batch:
    """Where this process's slice of the global batch lies, and the step's random source."""

    step: int
    micro: int
    generator: torch.Generator  # the same on every process for the same (seed, step, micro)
    global_size: int
    start: int  # this process's slice: [start, start + size)
    size: int

    def take(self, tensor: torch.Tensor) -> torch.Tensor:
        """This process's part of a tensor drawn for the whole global batch."""
        return tensor[self.start: self.start + self.size]


@dataclass
class Stage:
    """What a stage states: the modules it trains, its loss, and what it does at validation
    and at the end."""

    modules: dict[str, torch.nn.Module]
    loss: Callable  # (modules, Batch) -> (loss tensor, {name: float})
    validate: Callable | None = None  # (modules with EMA weights, step, folder) -> None
    finish: Callable | None = None  # (modules with EMA weights) -> None, on the main process


def mixed_precision_here(requested: str) -> str:
    """The config's precision, but "no" (fp32) for bf16 where the hardware only emulates it: a
    CPU without AVX512-BF16 or AMX (on an AVX2-only EPYC a generator step under bf16 autocast
    trained at 0.68 samples/s against 9.2 in fp32, README, Training), or a GPU before Ampere."""
    if requested != "bf16":
        return requested
    native = torch.cuda.is_bf16_supported(including_emulation=False) if torch.cuda.is_available() else fast_bf16()
    return requested if native else "no"


def make_accelerator(cfg: StageConfig) -> Accelerator:
    """On a machine without GPUs, processes must be told they are CPU processes, or each
    trains alone, unsynchronised (seen here): hence cpu=True then.

    Seeds every generator too, before the stage builds its modules: torch's default seed
    differs per process, so unseeded initial weights would differ between a run and its
    restart after a crash before the first checkpoint."""
    set_seed(cfg.seed)
    precision = mixed_precision_here(cfg.mixed_precision)
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=precision,
        gradient_accumulation_steps=cfg.grad_accum,
        # A step's batch is already the global batch (`batch_for` slices it), so the learning
        # rate schedule advances once per step, not once per process.
        dataloader_config=DataLoaderConfiguration(split_batches=True),
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(cfg.output_path),
                                            logging_dir=str(cfg.output_path / "logs")),
        # Stages leave some inputs blank (no source audio when generating), so some
        # conditioning weights get no gradient in a step; DDP must not wait for them.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    if precision != cfg.mixed_precision:
        accelerator.print(f"{cfg.stage}: training in fp32, not {cfg.mixed_precision}: this "
                          f"{'GPU' if torch.cuda.is_available() else 'CPU'} has no native bf16")
    return accelerator


# ---------------------------------------------------------------- checkpoints

def latest_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint that finished saving; a torn one (no marker) is never picked."""
    if not folder.is_dir():
        return None
    done = [p for p in folder.iterdir() if CHECKPOINT.match(p.name) and (p / COMPLETE_MARKER).is_file()]
    return max(done, key=lambda p: p.name, default=None)


def save_ema(ema: EMAModel, path: Path) -> None:
    """The EMA weights as tensors and its counters as JSON metadata, in one safetensors file."""
    state = ema.state_dict()
    shadow = state.pop("shadow_params")
    save_file({f"shadow.{i}": p.detach().contiguous() for i, p in enumerate(shadow)}, str(path),
              metadata={"state": json.dumps(state)})


def load_ema(ema: EMAModel, path: Path) -> None:
    with safe_open(str(path), "pt") as f:
        state = json.loads(f.metadata()["state"])
    tensors = load_file(str(path))
    ema.load_state_dict({**state, "shadow_params": [tensors[f"shadow.{i}"] for i in range(len(tensors))]})


def load_checkpoint(accelerator: Accelerator, folder: Path, ema: EMAModel) -> int:
    """Restore a complete checkpoint; returns its step."""
    accelerator.load_state(str(folder))
    load_ema(ema, folder / EMA_FILE)
    ema.to(device=accelerator.device)
    return int(CHECKPOINT.match(folder.name).group(1))


def save_checkpoint(accelerator: Accelerator, folder: Path, step: int, keep: int, ema: EMAModel) -> None:
    """Save to a temporary folder, mark it complete, then rename: a kill at any moment leaves
    either the old set of checkpoints or the new one."""
    final = folder / f"step_{step:07d}"
    tmp = folder / f"tmp_step_{step:07d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    if accelerator.is_main_process:
        save_ema(ema, tmp / EMA_FILE)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / COMPLETE_MARKER).write_text(str(step))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        done = sorted(p for p in folder.iterdir() if CHECKPOINT.match(p.name))
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


# ---------------------------------------------------------------- logging

def append_log(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def read_log(path: Path, up_to_step: int) -> list[dict]:
    """The records up to a step; a line a kill cut short is left out (its step is redone)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return [r for r in records if r["step"] <= up_to_step]


def write_log(path: Path, records: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, path)


def plot_losses(records: list[dict], path: Path) -> None:
    if not records:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in sorted({k for r in records for k in r if k.startswith("loss")}):
        points = [(r["step"], r[key]) for r in records if key in r]
        ax.plot(*zip(*points), label=key, linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


# ---------------------------------------------------------------- the loop

def batch_for(cfg: StageConfig, accelerator: Accelerator, step: int, micro: int) -> Batch:
    per_process = cfg.batch_size // accelerator.num_processes
    generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 101 + micro)
    return Batch(step, micro, generator, cfg.batch_size, accelerator.process_index * per_process, per_process)


def optimiser_and_ema(cfg: StageConfig, params: list) -> tuple[torch.optim.AdamW, EMAModel]:
    """What every stage steps (and the benchmark times): AdamW and an EMA of the weights. The
    fused AdamW kernel updates every parameter in one pass instead of a loop of small ops per
    parameter (README, Speed: generator steps 7 % shorter, edit steps 3 % on a 2-vCPU Xeon)."""
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    return optimizer, EMAModel(params, decay=cfg.ema_decay)


def learning_rate_factor(cfg: StageConfig, step: int) -> float:
    """Warm-up, a constant rate, then a linear cool-down to zero over the last `decay_steps`
    (warmup-stable-decay): the cool-down settles the loss where a constant rate had plateaued,
    and a checkpoint from the constant phase can be trained on to a later `max_steps`."""
    if step < cfg.warmup_steps:
        return step / cfg.warmup_steps
    return min(1.0, max(0.0, (cfg.max_steps - step) / cfg.decay_steps)) if cfg.decay_steps else 1.0


def train(cfg: StageConfig, stage: Stage, accelerator: Accelerator) -> None:
    if cfg.batch_size % accelerator.num_processes:
        raise ValueError(f"batch_size {cfg.batch_size} must divide among {accelerator.num_processes} processes")
    if min(cfg.warmup_steps, cfg.decay_steps) < 0 or cfg.warmup_steps + cfg.decay_steps > cfg.max_steps:
        raise ValueError(f"warmup_steps {cfg.warmup_steps} and decay_steps {cfg.decay_steps} must be >= 0 and fit "
                         f"in max_steps {cfg.max_steps}")
    set_seed(cfg.seed)
    out = cfg.output_path
    out.mkdir(parents=True, exist_ok=True)
    names = list(stage.modules)
    if cfg.compile:
        for module in stage.modules.values():
            module.compile()  # in place: parameter names, checkpoints and EMA are unchanged
    params = [p for m in stage.modules.values() for p in m.parameters() if p.requires_grad]
    optimizer, ema = optimiser_and_ema(cfg, params)
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(cfg, step))
    *prepared, optimizer, lr_scheduler = accelerator.prepare(*stage.modules.values(), optimizer, lr_scheduler)
    modules = dict(zip(names, prepared))

    step = 0
    checkpoints = out / "checkpoints"
    resume_from = latest_checkpoint(checkpoints) if cfg.resume == "latest" else None
    if resume_from is not None:
        step = load_checkpoint(accelerator, resume_from, ema)
    log_path = out / "log.jsonl"
    if accelerator.is_main_process:
        write_log(log_path, read_log(log_path, step))
    accelerator.init_trackers(out.name)

    bar = tqdm(total=cfg.max_steps, initial=step, desc=out.name, disable=not accelerator.is_local_main_process)
    while step < cfg.max_steps:
        for module in modules.values():
            module.train()
        logs, lr = {}, lr_scheduler.get_last_lr()[0]  # this step's learning rate
        for micro in range(cfg.grad_accum):
            with accelerator.accumulate(*modules.values()):
                loss, parts = stage.loss(modules, batch_for(cfg, accelerator, step, micro))
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.max_grad_norm:
                    accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            for k, v in {"loss": loss.item(), **parts}.items():
                logs[k] = logs.get(k, 0.0) + v / cfg.grad_accum
        ema.step(params)
        step += 1
        bar.update()
        bar.set_postfix(loss=f"{logs['loss']:.4f}")
        if step % cfg.log_every == 0:
            logs = {k if k.startswith("loss") else f"loss/{k}": v for k, v in logs.items()}
            accelerator.log({**logs, "lr": lr}, step=step)
            if accelerator.is_main_process:
                append_log(log_path, {"step": step, **logs, "lr": lr, "precision": accelerator.mixed_precision})
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
            save_checkpoint(accelerator, checkpoints, step, cfg.keep_checkpoints, ema)
        validating = cfg.validate_every and step % cfg.validate_every == 0
        if (validating or step == cfg.max_steps) and accelerator.is_main_process:
            plot_losses(read_log(log_path, step), out / "loss.png")
            if stage.validate is not None:
                with ema_weights(ema, params):
                    stage.validate(unwrapped(accelerator, modules), step, out / "samples" / f"step_{step:07d}")
    bar.close()
    write_parameter_digest(out / f"rank_{accelerator.process_index}.json", params, step)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process and stage.finish is not None:
        with ema_weights(ema, params):
            stage.finish(unwrapped(accelerator, modules))
    accelerator.end_training()


def write_parameter_digest(path: Path, params: list, step: int) -> None:
    """Each process records what it ended with, so anyone can check the ranks stayed in sync."""
    digest = hashlib.sha256(b"".join(p.detach().float().numpy().tobytes() for p in params)).hexdigest()
    path.write_text(json.dumps({"step": step, "parameters_sha256": digest,
                                "parameters_sum": float(sum(p.detach().double().sum() for p in params))}))


def unwrapped(accelerator: Accelerator, modules: dict) -> dict:
    result = {k: accelerator.unwrap_model(m) for k, m in modules.items()}
    for module in result.values():
        module.eval()
    return result


class ema_weights:
    """Swap the EMA weights in for validation and the final save, then restore."""

    def __init__(self, ema: EMAModel, params: list):
        self.ema, self.params = ema, params

    def __enter__(self):
        self.ema.store(self.params)
        self.ema.copy_to(self.params)

    def __exit__(self, *exc):
        self.ema.restore(self.params)
