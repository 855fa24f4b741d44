"""TextEncoder on tiny CLIP / T5 / BERT folders built here, and on the bundled MiniLM; no network."""

import json
import shutil
from functools import partial

import numpy as np
import pytest
import torch
from transformers import (BertConfig, BertModel, CLIPModel, CLIPTextModel, CLIPTextModelWithProjection, T5Config,
                          T5EncoderModel)

from models.text_encoder import TextEmbeddings, TextEncoder, default_text_encoder_path
from tests.tiny_models import save_tiny_clip, word_tokenizer

WORDS = "a small large red blue circle square moving left right staying still on navy beige background".split()
PROMPTS = ["a small red circle moving left on a navy background", "blue square"]
NUM_WORDS = [10, 2]
MINILM_TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
SPECIALS_PER_FAMILY = {"clip": 2, "t5": 1, "bert": 2}  # start/end tokens each tokenizer adds


@pytest.fixture(autouse=True)
def offline(no_network):
    """Every test here runs with the network refused."""


def save_tiny_t5(folder):
    tokenizer = word_tokenizer(WORDS, ["<pad>", "</s>", "<unk>"], "$A </s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(0)
    T5EncoderModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def save_tiny_bert(folder):
    """A tiny BERT behind the real MiniLM WordPiece tokenizer."""
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    for name in MINILM_TOKENIZER_FILES:
        shutil.copy(default_text_encoder_path() / name, folder / name)


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("encoders")
    folders = {}
    for family, save in (("clip", partial(save_tiny_clip, words=WORDS)), ("t5", save_tiny_t5), ("bert", save_tiny_bert)):
        folders[family] = root / family
        folders[family].mkdir()
        save(folders[family])
    return folders


@pytest.fixture(scope="module")
def encoders(tiny_folders):
    return {family: TextEncoder.from_pretrained(folder, max_length=16) for family, folder in tiny_folders.items()}


def copy_folder(source, target):
    shutil.copytree(source, target)
    return target


# ---------------------------------------------------------------- one interface for every family


@pytest.mark.parametrize("family", ["clip", "t5", "bert"])
def test_encode_shapes_and_padding_mask(encoders, family):
    encoder = encoders[family]
    out = encoder.encode(PROMPTS)
    assert isinstance(out, TextEmbeddings)
    assert out.tokens.shape == (2, 16, 32) and out.tokens.dtype == torch.float32
    assert encoder.hidden_size == 32
    assert out.pooled.shape == (2, encoder.pooled_size)
    assert out.mask.dtype == torch.bool
    lengths = [n + SPECIALS_PER_FAMILY[family] for n in NUM_WORDS]
    assert out.mask.sum(1).tolist() == lengths
    for row, length in enumerate(lengths):
        assert out.mask[row, :length].all() and not out.mask[row, length:].any()
        assert torch.all(out.tokens[row, length:] == 0)
        assert out.tokens[row, :length].abs().sum(-1).gt(0).all()


@pytest.mark.parametrize("family", ["clip", "t5", "bert"])
def test_encode_is_deterministic_and_frozen(encoders, family):
    encoder = encoders[family]
    encoder.train()  # a parent switching to training mode must not turn dropout on
    first, second = encoder.encode(PROMPTS), encoder.encode(PROMPTS)
    assert not encoder.model.training
    assert not any(p.requires_grad for p in encoder.parameters())
    assert torch.equal(first.tokens, second.tokens) and torch.equal(first.pooled, second.pooled)
    assert not first.tokens.requires_grad
    assert not torch.allclose(first.pooled[0], first.pooled[1])


@pytest.mark.parametrize("family", ["t5", "bert"])
def test_mean_pooled_families_pool_only_real_tokens(encoders, family):
    out = encoders[family].encode(PROMPTS)
    for row in range(2):
        real = out.tokens[row, out.mask[row]]
        torch.testing.assert_close(out.pooled[row], real.mean(0))


def test_clip_pooled_is_the_projected_end_token(encoders, tiny_folders):
    encoder = encoders["clip"]
    assert encoder.pooled_size == 24
    clip = CLIPModel.from_pretrained(tiny_folders["clip"], use_safetensors=True)
    input_ids, mask = encoder.tokenize(PROMPTS)
    expected = clip.get_text_features(input_ids=input_ids, attention_mask=mask.long()).pooler_output
    torch.testing.assert_close(encoder.encode(PROMPTS).pooled, expected)


@pytest.mark.parametrize("text_class", [CLIPTextModelWithProjection, CLIPTextModel])
def test_standalone_clip_text_tower(tiny_folders, encoders, tmp_path, text_class):
    """A text-only CLIP folder (as in Stable Diffusion's `text_encoder`) pools like its class does."""
    text_class.from_pretrained(tiny_folders["clip"], use_safetensors=True).save_pretrained(tmp_path)
    encoders["clip"].tokenizer.save_pretrained(tmp_path)
    encoder = TextEncoder.from_pretrained(tmp_path, max_length=16)
    out, full = encoder.encode(PROMPTS), encoders["clip"].encode(PROMPTS)
    torch.testing.assert_close(out.tokens, full.tokens)
    if text_class is CLIPTextModelWithProjection:
        assert encoder.pooled_size == 24
        torch.testing.assert_close(out.pooled, full.pooled)
    else:
        assert encoder.pooled_size == 32 and out.pooled.shape == (2, 32)
    with pytest.raises(ValueError, match="no vision tower"):
        encoder.encode_images(np.zeros((1, 32, 32, 3), np.uint8))


def test_long_prompt_is_truncated_to_max_length(encoders):
    out = encoders["bert"].encode([" ".join(["red circle"] * 40)])
    assert out.tokens.shape == (1, 16, 32) and out.mask.all()


def test_embeddings_to_casts_floats_but_keeps_mask_bool(encoders):
    out = encoders["t5"].encode(PROMPTS).to("cpu", torch.float16)
    assert out.tokens.dtype == torch.float16 and out.pooled.dtype == torch.float16
    assert out.mask.dtype == torch.bool


def test_prompts_must_be_a_list_of_strings(encoders):
    for bad in ("a red circle", [], [3]):
        with pytest.raises(ValueError, match="list of strings"):
            encoders["t5"].encode(bad)


def test_sentence_transformers_layout_loads_its_transformer_subfolder(tiny_folders, tmp_path):
    copy_folder(tiny_folders["bert"], tmp_path / "0_Transformer")
    modules = [{"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"}]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    reference = TextEncoder.from_pretrained(tiny_folders["bert"], max_length=16).encode(PROMPTS)
    loaded = TextEncoder.from_pretrained(tmp_path, max_length=16).encode(PROMPTS)
    assert torch.equal(loaded.tokens, reference.tokens)


# ---------------------------------------------------------------- CLIP image features


def test_clip_image_features(encoders):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 48, 64, 3), dtype=np.uint8)
    features = encoders["clip"].encode_images(images)
    assert features.shape == (3, 24)
    assert torch.equal(features, encoders["clip"].encode_images(torch.from_numpy(images)))
    assert not torch.allclose(features[0], features[1])


def test_image_features_need_a_vision_tower(encoders):
    with pytest.raises(ValueError, match="no vision tower"):
        encoders["t5"].encode_images(np.zeros((1, 32, 32, 3), np.uint8))


def test_image_features_reject_float_images(encoders):
    with pytest.raises(ValueError, match="uint8"):
        encoders["clip"].encode_images(np.zeros((1, 32, 32, 3), np.float32))


# ---------------------------------------------------------------- loading errors name the path


def test_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match="nowhere"):
        TextEncoder.from_pretrained(missing)


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path}.* is empty"):
        TextEncoder.from_pretrained(tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_safetensors(tiny_folders, tmp_path, damage):
    folder = copy_folder(tiny_folders["t5"], tmp_path / "t5")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(b"definitely not safetensors" if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"cannot load text encoder weights from {folder}"):
        TextEncoder.from_pretrained(folder)


def test_pickled_weights_are_refused(tiny_folders, tmp_path):
    folder = copy_folder(tiny_folders["t5"], tmp_path / "t5")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ValueError, match="no .safetensors weights"):
        TextEncoder.from_pretrained(folder)


def test_weights_missing_tensors_are_refused(tiny_folders, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_folder(tiny_folders["t5"], tmp_path / "t5")
    state = load_file(folder / "model.safetensors")
    del state[next(k for k in state if "block.1." in k)]
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="lack 1 tensors"):
        TextEncoder.from_pretrained(folder)


def test_unsupported_model_type(tiny_folders, tmp_path):
    folder = copy_folder(tiny_folders["bert"], tmp_path / "bert")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        TextEncoder.from_pretrained(folder)


def test_max_length_beyond_positions(tiny_folders):
    with pytest.raises(ValueError, match="exceeds"):
        TextEncoder.from_pretrained(tiny_folders["clip"], max_length=64)


# ---------------------------------------------------------------- the bundled default


def test_default_minilm_loads_offline_and_tells_left_from_right():
    encoder = TextEncoder.from_pretrained(default_text_encoder_path())
    assert encoder.hidden_size == 384 and encoder.model_type == "bert"
    out = encoder.encode(["a red circle moving left", "a red circle moving right", "a red circle moving left"])
    assert out.tokens.shape == (3, 32, 384) and out.mask.sum(1).tolist() == [7, 7, 7]
    left, right = out.tokens[0, 5], out.tokens[1, 5]  # [CLS] a red circle moving {left|right} [SEP]
    assert torch.nn.functional.cosine_similarity(left, right, dim=0) < 0.9
    assert torch.equal(out.tokens[0], out.tokens[2])
    assert not torch.allclose(out.pooled[0], out.pooled[1])
