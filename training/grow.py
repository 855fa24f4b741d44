"""Deepen a trained transformer without changing what it computes, to train it on bigger.

Each new block is a copy of the block before it whose two gates and cross-attention output
start at zero, so it adds nothing until training opens it (progressive stacking with
adaLN-Zero). The copy starts from features the model already computes rather than from random
weights, and its shut gates still get a gradient, since its branches are not zero. The
`generator_deep` stage trains on the run's generator grown this way (`grow_depth` in its config).
"""

from models.joint_transformer import JointDenoisingTransformer


def sources(old_depth: int, new_depth: int) -> list[int]:
    """For each block of the deeper model, the trained block it copies (in order)."""
    return [j * old_depth // new_depth for j in range(new_depth)]


def grow(model: JointDenoisingTransformer, depth: int) -> JointDenoisingTransformer:
    old = model.config.depth
    if depth < old:
        raise ValueError(f"cannot grow a {old}-block transformer to {depth} blocks")
    grown = JointDenoisingTransformer.from_config({**model.config, "depth": depth})
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("blocks.")}
    width = model.config.hidden_size
    order = sources(old, depth)
    for new, old_index in enumerate(order):
        block = {k: v.clone() for k, v in model.blocks[old_index].state_dict().items()}
        if new and order[new - 1] == old_index:  # a copy: shut its residual branches (ada_ln chunks 2 and 5: gates)
            for gate in (2, 5):
                block["ada_ln.1.weight"][gate * width:(gate + 1) * width] = 0
                block["ada_ln.1.bias"][gate * width:(gate + 1) * width] = 0
            block["cross_attn.to_out.weight"].zero_()
            block["cross_attn.to_out.bias"].zero_()
        state.update({f"blocks.{new}.{k}": v for k, v in block.items()})
    grown.load_state_dict(state)
    return grown
