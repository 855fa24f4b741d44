"""Edit stage III, backtranslation: the stage II model edits the dataset's clips; each output
the judge accepts becomes a pair (edited clip, inverse instruction) -> original clip, trained
on mixed with the earlier tasks; starts from stage II.

    accelerate launch -m training.edit_stage3 --config training/configs/shapes.yaml

With `start_from_saved: true` the stage trains the run's saved edit transformer on, and that
transformer makes the pairs itself (iterated backtranslation: each further run, a config
section of its own read with `--section`, edits with the model the run before it made).

The pairs are written as a dataset of their own (RUN_DIR/backtranslation/<maker's fingerprint>,
the seed layout) and cached like any other, so a rerun with the same maker reuses them.
"""

import json

import numpy as np
from tqdm import tqdm

from models.joint_transformer import JointDenoisingTransformer
from models.pipelines import EditPipeline
from studio import media
from studio.evaluation.judge import judge_clip
from studio.evaluation.scoring import expected_after, score
from studio.world.edits import propose_edit
from studio.world.scene import Scene
from training.data import CachedData, Encoders, ensure_cache, read_clip, read_records
from training.diffusion import folder_fingerprint
from training.edit import final_folder, run_edit_stage

INVERTIBLE = ("recolor", "reshape", "background", "add", "remove", "reverse")


def backtranslate(cfg, components: dict, fmt: dict) -> dict[str, CachedData]:
    maker = cfg.checkpoint_path / "edit_transformer" if cfg.start_from_saved else final_folder(cfg, "edit_stage2")
    key = folder_fingerprint(maker)
    folder = cfg.run_path / "backtranslation" / key
    if not (folder / "manifest.jsonl").is_file():
        write_backtranslation(cfg, components, fmt, folder, maker)
    if not read_records(folder, ("edit",)):
        print("backtranslation: the judge accepted no edit; stage III trains without it")
        return {}
    enc = Encoders(components["text_encoder"], components["video_vae"], components["audio_vae"], fmt,
                   folder_fingerprint(cfg.checkpoint_path / "video_vae", cfg.checkpoint_path / "audio_vae"))
    cache = cfg.run_path / "cache_backtranslation" / key  # one per maker, so the maker need not be hashed again
    return {"backtranslation": CachedData(ensure_cache(folder, cache, "edits", enc, cfg.seed))}


def write_backtranslation(cfg, components: dict, fmt: dict, folder, maker) -> None:
    # float(): a run folder rebuilt from assets/ holds fp16 weights
    transformer = JointDenoisingTransformer.from_pretrained(maker, use_safetensors=True).float().eval()
    pipe = EditPipeline(components["text_encoder"], components["video_vae"], components["audio_vae"], transformer,
                        components["scheduler"], None, **fmt)
    pipe.set_progress_bar_config(disable=True)
    clips = [r for r in read_records(cfg.data_path, ("t2v", "i2v")) if "scene" in r][: cfg.backtranslation_count]
    rng = np.random.default_rng(cfg.seed)
    (folder / "edit_pairs").mkdir(parents=True, exist_ok=True)
    records, tried = [], 0
    for k, record in enumerate(tqdm(clips, desc="backtranslation", unit="clip")):
        edit = propose_edit(rng, str(rng.choice(INVERTIBLE)), Scene.from_dict(record["scene"]))
        if edit is None:
            continue
        tried += 1
        frames, audio = read_clip(cfg.data_path, record["video"], record.get("audio"), fmt)
        out = pipe(frames, audio, edit.random_wording(rng), task=edit.task, num_inference_steps=cfg.sample_steps,
                   seed=k, keep_unedited_pixels=False)  # whole regenerated clips, as the shipped rounds' pairs were
        edited = media.Clip(out.frames[0], out.audio[0], fmt["fps"], fmt["sample_rate_hz"])
        if not score(judge_clip(edited), expected_after(edit)).all_ok:
            continue
        original = media.Clip(frames, audio, fmt["fps"], fmt["sample_rate_hz"])
        stems = {}
        for role, clip in (("source", edited), ("target", original)):
            media.write_video(folder / "edit_pairs" / f"{role}_{k}.mp4", clip, crf=10)
            media.write_wav(folder / "edit_pairs" / f"{role}_{k}.wav", clip.audio)
            stems[role] = f"edit_pairs/{role}_{k}"
        records.append({"id": f"backtranslation/{k}", "kind": "edit", "task": edit.inverse_task,
                        "wordings": edit.inverse_wordings(), "instruction": edit.inverse_instruction,
                        "forward_task": edit.task, "source_video": stems["source"] + ".mp4",
                        "source_audio": stems["source"] + ".wav", "target_video": stems["target"] + ".mp4",
                        "target_audio": stems["target"] + ".wav", "original": record["id"]})
    print(f"backtranslation: the judge accepted {len(records)} of {tried} edits")
    tmp = folder / "manifest.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    tmp.replace(folder / "manifest.jsonl")


if __name__ == "__main__":
    run_edit_stage("edit_stage3", __doc__.splitlines()[0], start_from="edit_stage2", extra_data=backtranslate)
