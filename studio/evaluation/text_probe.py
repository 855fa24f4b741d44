"""Do frozen MiniLM token features carry the Shapes World attributes when prompts are paraphrased?

The joint transformer reads prompts only through the text encoder's token features, so a prompt
worded differently from the training captions works only if those features already place, say,
"crimson disc" near "red circle". This probe measures that: one learned-query cross-attention
pooling layer with a linear head per attribute (colour, shape, size, motion, background) is
trained on single-object captions and tested on wordings it never saw. Two training sets: the
spec's canonical captions alone, and canonical plus ten paraphrase templates with half of each
synonym table. Two test sets: the ten held-out templates with the training synonyms, and the
held-out templates with the held-out synonyms. The baseline is the same probe over an embedding of
the same WordPiece ids learned from scratch (token + position embedding, trained with the probe).

Run: python -m studio.evaluation.text_probe   (1-2 minutes on one CPU thread)
"""

import argparse
import functools
import itertools
import time

import numpy as np
import torch
from torch import nn

from models.text_encoder import TextEncoder, default_text_encoder_path
from studio.world import spec
from studio.world.captions import caption
from studio.world.scene import Scene, WorldObject

ATTRIBUTES = ("colour", "shape", "size", "motion", "background")
CLASSES = {
    "colour": tuple(spec.COLOURS),
    "shape": spec.SHAPES,
    "size": tuple(spec.SIZE_PX),
    "motion": spec.MOTIONS,
    "background": tuple(spec.BACKGROUNDS),
}
MAX_LENGTH = 24  # the longest possible paraphrase is 23 WordPiece tokens; less padding, faster encoding

# value -> (wordings used in training, wordings held out for test)
SYNONYMS = {
    "size": {
        "small": (["small", "tiny"], ["little", "miniature"]),
        "large": (["large", "big"], ["huge", "giant"]),
    },
    "colour": {
        "red": (["red", "scarlet"], ["crimson", "ruby"]),
        "orange": (["orange", "tangerine"], ["amber", "apricot"]),
        "yellow": (["yellow", "golden"], ["lemon", "mustard"]),
        "green": (["green", "emerald"], ["lime", "jade"]),
        "cyan": (["cyan", "turquoise"], ["aqua", "teal"]),
        "blue": (["blue", "cobalt"], ["azure", "sapphire"]),
        "purple": (["purple", "violet"], ["lavender", "plum"]),
        "white": (["white", "snowy"], ["ivory", "pearl"]),
    },
    "shape": {
        "circle": (["circle", "ball"], ["disc", "orb"]),
        "square": (["square", "box"], ["block", "tile"]),
        "triangle": (["triangle", "wedge"], ["pyramid", "triangular shape"]),
    },
    "motion": {
        "left": (["moving left", "going left", "heading left"], ["drifting leftward", "sliding to the left"]),
        "right": (["moving right", "going right", "heading right"], ["drifting rightward", "sliding to the right"]),
        "up": (["moving up", "rising", "going up"], ["drifting upward", "climbing"]),
        "down": (["moving down", "falling", "going down"], ["sinking", "drifting downward"]),
        "still": (["staying still", "not moving", "standing still"], ["resting motionless", "holding its position"]),
    },
    "background": {
        "black": (["black", "jet black"], ["ebony", "pitch dark"]),
        "gray": (["gray", "grey"], ["silver", "ashen"]),
        "navy": (["navy", "dark blue"], ["midnight blue", "indigo"]),
        "beige": (["beige", "sand"], ["tan", "cream"]),
    },
}
TRAIN_TEMPLATES = (
    "there is a {size} {colour} {shape} {motion} against a {background} backdrop",
    "{background} background with a {size} {colour} {shape} {motion}",
    "a {colour} {shape}, {size}, {motion} on {background}",
    "video of a {size} {colour} {shape} {motion}, {background} background",
    "on a {background} background a {size} {colour} {shape} is {motion}",
    "one {size} {shape} in {colour}, {motion}, over a {background} backdrop",
    "the scene shows a {size} {colour} {shape} {motion} on {background}",
    "{size} {colour} {shape} {motion}; background {background}",
    "a {colour} {size} {shape} {motion} in front of a {background} wall",
    "a {size} {shape} that is {colour} and {motion}, set on {background}",
)
TEST_TEMPLATES = (
    "a {size} {colour} {shape} {motion} over a {background} backdrop",
    "we see a {size} {shape}, coloured {colour}, {motion} on a {background} field",
    "against {background}, a {size} {colour} {shape} is {motion}",
    "clip: {size} {colour} {shape}, {motion}, {background} backdrop",
    "here a {colour} {shape} of {size} size is {motion} across a {background} canvas",
    "{motion}, a {size} {colour} {shape} sits on a {background} background",
    "a {size} {shape} painted {colour}, {motion} before a {background} backdrop",
    "the {colour} {shape} is {size} and {motion}; the backdrop is {background}",
    "animation of a {size} {colour} {shape} {motion} on {background}",
    "picture a {size} {colour} {shape} {motion} upon a {background} surface",
)


# ---------------------------------------------------------------- captions


def all_combos() -> list[dict]:
    values = [CLASSES[a] for a in ATTRIBUTES]
    return [dict(zip(ATTRIBUTES, combo)) for combo in itertools.product(*values)]


def canonical(combo: dict) -> str:
    obj = WorldObject(combo["shape"], combo["colour"], combo["size"], combo["motion"], x0=32.0, y0=32.0)
    return caption(Scene(combo["background"], (obj,)))


def paraphrase(rng: np.random.Generator, combo: dict, templates, synonym_split: int) -> str:
    """`synonym_split` 0 picks training wordings, 1 held-out ones."""
    words = {a: rng.choice(SYNONYMS[a][combo[a]][synonym_split]) for a in ATTRIBUTES}
    return rng.choice(templates).format(**words)


def labels(combos: list[dict]) -> torch.Tensor:
    return torch.tensor([[CLASSES[a].index(c[a]) for a in ATTRIBUTES] for c in combos])  # (N, A)


# ---------------------------------------------------------------- probe


class AttributeProbe(nn.Module):
    """One learned query per attribute cross-attends over the tokens; a linear head reads each."""

    def __init__(self, token_dim: int, width: int = 128, num_heads: int = 4):
        super().__init__()
        self.norm = nn.LayerNorm(token_dim)
        self.project = nn.Linear(token_dim, width)
        self.queries = nn.Parameter(0.02 * torch.randn(len(ATTRIBUTES), width))
        self.attention = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.heads = nn.ModuleList(nn.Linear(width, len(CLASSES[a])) for a in ATTRIBUTES)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        keys = self.project(self.norm(tokens))  # (B, L, W)
        queries = self.queries.expand(len(tokens), -1, -1)  # (B, A, W)
        pooled, _ = self.attention(queries, keys, keys, key_padding_mask=~mask)  # (B, A, W)
        return [head(pooled[:, i]) for i, head in enumerate(self.heads)]


class ScratchEmbedding(nn.Module):
    """Token + position embedding of the WordPiece ids, learned with the probe (the baseline).

    Ids are renumbered over the tokens that occur in any caption: the rows of the other 30k
    tokens would never be read, and updating them made each Adam step ~50x slower.
    """

    def __init__(self, vocab_size: int, dim: int, max_length: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim)
        self.positions = nn.Embedding(max_length, dim)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.tokens(input_ids) + self.positions.weight[: input_ids.shape[1]]  # (B, L, D)


def train_and_test(make_features, train_x, train_mask, train_y, tests, steps: int, seed: int) -> dict:
    """Trains features (identity over frozen tokens, or a scratch embedding) + probe; per-attribute test accuracy."""
    torch.manual_seed(seed)
    features = make_features()
    probe = AttributeProbe(token_dim=384)
    optimizer = torch.optim.Adam([*probe.parameters(), *features.parameters()], lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randint(len(train_y), (64,), generator=generator)
        logits = probe(features(train_x[batch]), train_mask[batch])
        loss = sum(nn.functional.cross_entropy(lg, train_y[batch, i]) for i, lg in enumerate(logits))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    accuracies = {}
    with torch.no_grad():
        for name, (x, mask, y) in tests.items():
            logits = probe(features(x), mask)
            accuracies[name] = [(lg.argmax(-1) == y[:, i]).float().mean().item() for i, lg in enumerate(logits)]
    return accuracies


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    rng = np.random.default_rng(args.seed)

    combos = all_combos()  # 960 single-object scenes
    test_combos = [combos[i] for i in rng.permutation(len(combos))[: len(combos) // 2]]
    texts = {
        "canonical": [canonical(c) for c in combos],
        "paraphrased": [paraphrase(rng, c, TRAIN_TEMPLATES, 0) for c in combos],
        "new templates": [paraphrase(rng, c, TEST_TEMPLATES, 0) for c in test_combos],
        "new templates+words": [paraphrase(rng, c, TEST_TEMPLATES, 1) for c in test_combos],
    }
    targets = {"canonical": labels(combos), "paraphrased": labels(combos)}
    targets.update({name: labels(test_combos) for name in ("new templates", "new templates+words")})

    encoder = TextEncoder.from_pretrained(default_text_encoder_path(), max_length=MAX_LENGTH)
    ids, masks, minilm = {}, {}, {}
    for name, prompts in texts.items():
        ids[name], masks[name] = encoder.tokenize(prompts)
        if masks[name][:, -1].any():
            raise ValueError(f"a {name} caption fills all {MAX_LENGTH} tokens; raise MAX_LENGTH")
        minilm[name] = torch.cat([encoder.encode(prompts[i : i + 128]).tokens for i in range(0, len(prompts), 128)])
    vocabulary, compact = torch.unique(torch.cat(list(ids.values())), return_inverse=True)
    compact_ids = dict(zip(ids, compact.split([len(x) for x in ids.values()])))
    print(f"encoded {sum(map(len, texts.values()))} captions in {time.time() - start:.0f} s")
    print("example held-out wording:", texts["new templates+words"][0])

    training_sets = {"canonical": ["canonical"], "canonical+paraphrased": ["canonical", "paraphrased"]}
    test_names = ("new templates", "new templates+words")
    header = f"{'features':<10} {'trained on':<22} {'tested on':<20} " + " ".join(f"{a:>10}" for a in ATTRIBUTES)
    print(header + f" {'mean':>6}")
    for feature_name in ("MiniLM", "scratch"):
        for train_name, parts in training_sets.items():
            source = minilm if feature_name == "MiniLM" else compact_ids
            tests = {n: (source[n], masks[n], targets[n]) for n in test_names}
            train_x = torch.cat([source[p] for p in parts])
            train_mask = torch.cat([masks[p] for p in parts])
            train_y = torch.cat([targets[p] for p in parts])
            if feature_name == "MiniLM":
                make_features = nn.Identity
            else:
                make_features = functools.partial(ScratchEmbedding, len(vocabulary), 384, MAX_LENGTH)
            accuracies = train_and_test(make_features, train_x, train_mask, train_y, tests, args.steps, args.seed)
            for test_name in test_names:
                row = accuracies[test_name]
                cells = " ".join(f"{a:>10.2f}" for a in row)
                print(f"{feature_name:<10} {train_name:<22} {test_name:<20} {cells} {np.mean(row):>6.2f}")
    chance = " ".join(f"{1 / len(CLASSES[a]):>10.2f}" for a in ATTRIBUTES)
    print(f"{'chance':<54}{chance}")
    print(f"total {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
