"""The optional pretrained models of the pipeline, loaded from local folders only.

A CLIP-like model (anything with `get_image_features` / `get_text_features`: CLIP, SigLIP, ...)
gives key-frame embeddings for deduplication and zero-shot safety scores; an image-to-text
model (BLIP, GIT, a vision-encoder-decoder, ...) writes captions. Both load with
`local_files_only=True` and safetensors only: a path that is not a complete model folder is a
clear error, never a download. Image processors use the PIL backend, as torchvision is never
installed.
"""

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _check_folder(path: str, role: str) -> Path:
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{role} {path} is not a model folder (no config.json); models are never downloaded")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(f"{role} {path} has no .safetensors weights (pickled weights are never loaded)")
    return folder


def _load(model_class, folder: Path, role: str):
    try:
        model, info = model_class.from_pretrained(folder, local_files_only=True, use_safetensors=True,
                                                  output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise ValueError(f"cannot load {role} from {folder}: {error}") from error
    if info["missing_keys"]:
        raise ValueError(f"{role} weights in {folder} lack {len(info['missing_keys'])} tensors, "
                         f"e.g. {sorted(info['missing_keys'])[:3]}")
    return model.eval().requires_grad_(False)


def _features(output) -> torch.Tensor:
    # transformers 5 returns a model output whose pooler_output is the projected embedding.
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _unit(vectors: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.normalize(vectors.float(), dim=-1).numpy()


class ClipModel:
    """Unit-length image and text embeddings in one space, and the model's logit scale."""

    def __init__(self, path: str):
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        folder = _check_folder(path, "--clip-model")
        self.model = _load(AutoModel, folder, "--clip-model")
        if not hasattr(self.model, "get_image_features") or not hasattr(self.model, "get_text_features"):
            raise ValueError(f"--clip-model {path} ({type(self.model).__name__}) does not embed both images "
                             "and text")
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.image_processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True, backend="pil")
        scale = getattr(self.model, "logit_scale", None)
        self.logit_scale = float(scale.exp()) if scale is not None else 100.0

    @torch.inference_mode()
    def embed_images(self, frames: list[np.ndarray]) -> np.ndarray:
        """(N, D) unit vectors for N (H, W, 3) uint8 frames."""
        pixels = self.image_processor(images=[Image.fromarray(f) for f in frames], return_tensors="pt")
        return _unit(_features(self.model.get_image_features(pixel_values=pixels["pixel_values"])))

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """(N, D) unit vectors."""
        tokens = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        inputs = {key: tokens[key] for key in ("input_ids", "attention_mask") if key in tokens}
        return _unit(_features(self.model.get_text_features(**inputs)))


class Captioner:
    """Captions for frames from an image-to-text model."""

    def __init__(self, path: str, max_words: int):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        folder = _check_folder(path, "--caption-model")
        self.model = _load(AutoModelForImageTextToText, folder, "--caption-model")
        self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        self.max_words = max_words

    @torch.inference_mode()
    def caption(self, frames: list[np.ndarray]) -> list[str]:
        inputs = self.processor(images=[Image.fromarray(f) for f in frames], return_tensors="pt")
        tokens = self.model.generate(pixel_values=inputs["pixel_values"], max_new_tokens=2 * self.max_words,
                                     do_sample=False)
        texts = self.processor.batch_decode(tokens, skip_special_tokens=True)
        return [" ".join(text.split()[: self.max_words]) for text in texts]
