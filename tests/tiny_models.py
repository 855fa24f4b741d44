"""Tiny pretrained-format models built locally (nothing can be downloaded here), for testing
the real loading code of text encoders, CLIP scorers and captioners."""

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, PreTrainedTokenizerFast

TINY_TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)


def word_tokenizer(words: list[str], specials: list[str], template: str, **special_names) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer over `words`; `template` places the special tokens."""
    vocab = {token: i for i, token in enumerate(specials + words)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=special_names["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    used = [(s, vocab[s]) for s in specials if s in template]
    tokenizer.post_processor = processors.TemplateProcessing(single=template, special_tokens=used)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **special_names)


def save_tiny_clip(folder, words: list[str]) -> None:
    """A CLIP (text and vision towers, projection 24) with its tokenizer and image processor."""
    tokenizer = word_tokenizer(words, ["<pad>", "<unk>", "<start>", "<end>"], "<start> $A <end>", pad_token="<pad>",
                               unk_token="<unk>", bos_token="<start>", eos_token="<end>")
    text = dict(TINY_TOWER, vocab_size=len(tokenizer), max_position_embeddings=32, pad_token_id=0, bos_token_id=2,
                eos_token_id=3, projection_dim=24)
    vision = dict(TINY_TOWER, image_size=32, patch_size=8, projection_dim=24)
    torch.manual_seed(0)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
