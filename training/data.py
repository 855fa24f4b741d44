"""Training data, prepared once: VAE latents and text embeddings cached to safetensors shards
so training steps never re-encode.

A dataset folder is what `python -m studio world` or `python -m studio prepare` writes
(`manifest.jsonl` plus media). Kinds of cached data:
- `clips`: t2v and i2v samples (video at base and full size, first frame as a one-frame
  video, audio, several captions each: the full one and, for Shapes World clips, partial ones);
- `edits`: source and target clips with every wording of the instruction and the task;
- `image_edits`: single-frame edits as one-frame videos (Movie Gen Edit stage I);
- `animated_edits`: an image edit's two frames moved by one random affine sequence into a pair
  of short videos (stage II).
Each shard carries its own table of unique texts; samples point into it.
"""

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from models.pipelines.studio_pipeline import encode_audio, encode_video, frames_to_tensor
from studio import media
from studio.world.captions import partial_caption
from studio.world.scene import Scene
from studio.world.spec import TASKS

SHARD_SIZE = 1024
ENCODE_BATCH = 16
PARTIAL_CAPTIONS = 3
KIND_RECORDS = {"clips": ("t2v", "i2v"), "edits": ("edit",), "image_edits": ("image_edit",),
                "animated_edits": ("image_edit",)}


@dataclass
class Encoders:
    text_encoder: object
    video_vae: object
    audio_vae: object
    clip_format: dict  # base_size, size, num_frames, fps, sample_rate_hz, num_samples
    fingerprint: str  # changes when the VAEs or the text encoder change


# ---------------------------------------------------------------- reading samples

def ensure_dataset(cfg) -> Path:
    """The configured dataset folder; an empty default one is filled with Shapes World samples."""
    dataset = cfg.data_path
    if not (dataset / "manifest.jsonl").is_file():
        if cfg.data:
            raise ValueError(f"{dataset} has no manifest.jsonl: not a dataset folder")
        from studio.world.dataset import write_world_dataset
        from studio.world.scene import DEFAULT_HOLDOUT, Holdout

        holdout = DEFAULT_HOLDOUT if cfg.holdout == ["default"] else Holdout.parse(cfg.holdout)
        write_world_dataset(dataset, cfg.world_count, cfg.world_seed, holdout=holdout)
    return dataset


def read_records(dataset: Path, kinds: tuple[str, ...]) -> list[dict]:
    manifest = dataset / "manifest.jsonl"
    if not manifest.is_file():
        raise ValueError(f"{dataset} has no manifest.jsonl: not a dataset folder")
    records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    return [r for r in records if r["kind"] in kinds]


def clip_paths(record: dict) -> tuple[str, str | None]:
    """(video, audio) of a clip record, or of an edit record's target; audio is None when the
    video carries the sound."""
    return record.get("video") or record["target_video"], record.get("audio") or record.get("target_audio")


def read_clip(dataset: Path, video: str, audio: str | None, fmt: dict) -> tuple[np.ndarray, np.ndarray]:
    clip, _ = media.read_video(dataset / video, fps=fmt["fps"], num_frames=fmt["num_frames"], size=fmt["size"],
                               sample_rate_hz=fmt["sample_rate_hz"])
    samples = media.read_wav(dataset / audio)[0] if audio else clip.audio
    return clip.frames, fit_samples(samples, fmt)


def read_audio(dataset: Path, video: str, audio: str | None, fmt: dict) -> np.ndarray:
    """A clip's samples alone: its wav when it names one (no video decoding), else its video's sound."""
    if not audio:
        return read_clip(dataset, video, None, fmt)[1]
    return fit_samples(media.read_wav(dataset / audio)[0], fmt)


def fit_samples(samples: np.ndarray, fmt: dict) -> np.ndarray:
    """Zero-padded or cut to the clip format's length, float32."""
    return np.pad(samples, (0, max(0, fmt["num_samples"] - len(samples))))[: fmt["num_samples"]].astype(np.float32)


def random_affine_sequence(rng: np.random.Generator, num_frames: int, size: int) -> list[tuple]:
    """PIL affine coefficients per frame, easing from identity to a random zoom, rotation and
    shift: one camera move, applied alike to both frames of an edit pair."""
    angle = np.deg2rad(rng.uniform(-20, 20))
    zoom = rng.uniform(0.8, 1.25)
    shift = rng.uniform(-0.15, 0.15, size=2) * size
    centre = size / 2
    coefficients = []
    for k in range(num_frames):
        a = k / max(num_frames - 1, 1)
        theta, s = a * angle, 1 + a * (zoom - 1)
        cos, sin = np.cos(theta) / s, np.sin(theta) / s
        dx, dy = a * shift
        # Output pixel (x, y) samples input at the inverse transform around the centre.
        coefficients.append((cos, sin, centre - cos * (centre + dx) - sin * (centre + dy),
                             -sin, cos, centre + sin * (centre + dx) - cos * (centre + dy)))
    return coefficients


def animate(frame: np.ndarray, coefficients: list[tuple]) -> np.ndarray:
    """(H, W, 3) -> (T, H, W, 3): the frame under each affine transform; uncovered areas take
    the corner colour (the background)."""
    image = Image.fromarray(frame)
    fill = tuple(int(v) for v in frame[0, 0])
    return np.stack([np.asarray(image.transform(image.size, Image.AFFINE, c, resample=Image.BILINEAR,
                                                fillcolor=fill)) for c in coefficients])


# ---------------------------------------------------------------- building shards

def sample_texts(record: dict, rng: np.random.Generator) -> list[str]:
    if record["kind"] in ("t2v", "i2v"):
        texts = [record["caption"]]
        if "scene" in record:
            scene = Scene.from_dict(record["scene"])
            texts += [partial_caption(rng, scene) for _ in range(PARTIAL_CAPTIONS)]
        return texts
    if record["kind"] == "edit":
        return record["wordings"]
    return [record["instruction"]]


def encode_sample_media(dataset: Path, record: dict, kind: str, enc: Encoders, rng: np.random.Generator) -> dict:
    """Pixel-space tensors of one sample, to be encoded in batches: name -> (frames, size) or audio."""
    fmt = enc.clip_format
    if kind == "clips":
        frames, audio = read_clip(dataset, record["video"], record.get("audio"), fmt)
        image = media.read_image(dataset / record["image"], size=fmt["size"]) if "image" in record else frames[0]
        return {"video": frames, "image": image[None], "audio": audio}
    if kind == "edits":
        source, source_audio = read_clip(dataset, record["source_video"], record.get("source_audio"), fmt)
        target, target_audio = read_clip(dataset, record["target_video"], record.get("target_audio"), fmt)
        return {"source": source, "target": target, "source_audio": source_audio, "target_audio": target_audio}
    source = media.read_image(dataset / record["source_image"], size=fmt["size"])
    target = media.read_image(dataset / record["target_image"], size=fmt["size"])
    if kind == "image_edits":
        return {"source": source[None], "target": target[None]}
    moves = random_affine_sequence(rng, fmt["num_frames"], fmt["size"])
    return {"source": animate(source, moves), "target": animate(target, moves)}


@torch.no_grad()
def encode_batch(items: list[dict], enc: Encoders) -> dict[str, torch.Tensor]:
    """Latents of a batch: every video-like entry at base and full size, audio as is."""
    out = {}
    for name in items[0]:
        stacked = np.stack([item[name] for item in items])
        if stacked.ndim == 2:  # (N, samples)
            out[name] = encode_audio(enc.audio_vae, stacked)
            continue
        for suffix, size in (("base", enc.clip_format["base_size"]), ("full", enc.clip_format["size"])):
            out[f"{name}_{suffix}"] = encode_video(enc.video_vae, frames_to_tensor(stacked, size))
    return out


def build_shard(dataset: Path, records: list[dict], kind: str, enc: Encoders, path: Path, seed: int) -> None:
    texts: dict[str, int] = {"": 0}  # index 0 is the empty text, for condition dropout
    text_ids, task_ids, latents, pending = [], [], {}, []

    def flush():
        for name, value in encode_batch(pending, enc).items():
            latents.setdefault(name, []).append(value.half())
        pending.clear()

    for record in tqdm(records, desc=f"cache {kind}", unit="sample", leave=False):
        rng = np.random.default_rng([seed, zlib.crc32(record["id"].encode())])
        ids = [texts.setdefault(t, len(texts)) for t in sample_texts(record, rng)]
        text_ids.append(ids)
        task_ids.append(TASKS.index(record.get("task", "generate")))
        pending.append(encode_sample_media(dataset, record, kind, enc, rng))
        if len(pending) == ENCODE_BATCH:
            flush()
    if pending:
        flush()
    width = max(len(ids) for ids in text_ids)
    tensors = {name: torch.cat(parts) for name, parts in latents.items()}
    tensors["text_ids"] = torch.tensor([ids + [-1] * (width - len(ids)) for ids in text_ids])
    tensors["task_ids"] = torch.tensor(task_ids)
    strings = list(texts)
    embedded = [enc.text_encoder.encode(strings[i:i + 64]) for i in range(0, len(strings), 64)]
    tensors["text_tokens"] = torch.cat([e.tokens for e in embedded]).half()
    tensors["text_mask"] = torch.cat([e.mask for e in embedded]).to(torch.uint8)
    tensors["text_pooled"] = torch.cat([e.pooled for e in embedded]).half()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp),
              metadata={"fingerprint": enc.fingerprint, "records": str(len(records))})
    tmp.replace(path)


def shard_paths(cache: Path, kind: str, count: int) -> list[Path]:
    return [cache / f"{kind}-{i:05d}.safetensors" for i in range((count + SHARD_SIZE - 1) // SHARD_SIZE)]


def shard_is_current(path: Path, fingerprint: str) -> bool:
    if not path.is_file():
        return False
    with safe_open(str(path), "pt") as f:
        return f.metadata().get("fingerprint") == fingerprint


def ensure_cache(dataset: Path, cache: Path, kind: str, enc: Encoders, seed: int) -> list[Path]:
    """Build whatever shards of `kind` are missing or stale; return all shard paths."""
    records = read_records(dataset, KIND_RECORDS[kind])
    if not records:
        raise ValueError(f"{dataset} has no samples for '{kind}' (record kinds {KIND_RECORDS[kind]})")
    paths = shard_paths(cache, kind, len(records))
    for i, path in enumerate(paths):
        if not shard_is_current(path, enc.fingerprint):
            build_shard(dataset, records[i * SHARD_SIZE:(i + 1) * SHARD_SIZE], kind, enc, path, seed)
    return paths


# ---------------------------------------------------------------- reading shards

class CachedData:
    """All shards of a kind in memory (float32), with text lookups across shard tables."""

    def __init__(self, paths: list[Path]):
        from safetensors.torch import load_file

        shards = [load_file(str(p)) for p in paths]
        self.tensors, offset, text_ids = {}, 0, []
        for shard in shards:
            ids = shard.pop("text_ids")
            text_ids.append(torch.where(ids >= 0, ids + offset, ids))
            offset += shard["text_tokens"].shape[0]
        for name in shards[0]:
            if name == "text_mask":
                self.tensors[name] = torch.cat([s[name] for s in shards]).bool()
            elif name == "task_ids":
                self.tensors[name] = torch.cat([s[name] for s in shards])
            else:
                self.tensors[name] = torch.cat([s[name] for s in shards]).float()
        width = max(t.shape[1] for t in text_ids)
        self.text_ids = torch.cat([torch.nn.functional.pad(t, (0, width - t.shape[1]), value=-1) for t in text_ids])
        self.empty_text_ids = torch.tensor([0])  # every shard's table starts with ""

    def __len__(self) -> int:
        return self.text_ids.shape[0]

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.tensors[name]

    def pick_texts(self, indices: torch.Tensor, generator: torch.Generator, dropout: float = 0.0):
        """A random text of each sample (one of its captions or wordings); with probability
        `dropout` the empty text instead. Returns (tokens, mask, pooled)."""
        ids = self.text_ids[indices]  # (B, K)
        counts = (ids >= 0).sum(1)
        choice = (torch.rand(len(indices), generator=generator) * counts).long()
        chosen = ids[torch.arange(len(indices)), choice]
        dropped = torch.rand(len(indices), generator=generator) < dropout
        chosen = torch.where(dropped, self.empty_text_ids.expand_as(chosen), chosen)
        return self.tensors["text_tokens"][chosen], self.tensors["text_mask"][chosen], self.tensors["text_pooled"][chosen]
