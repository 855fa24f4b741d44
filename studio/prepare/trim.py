"""Stage 6: trim to the clip length, and the size filter.

The kept clip is the first `seconds` of the source at the training frame rate, centre-cropped
to `size` px, with mono audio at the training sample rate (silence, and a note, when the
source has none): exactly the format of a Shapes World clip. An image becomes a still clip.

The size rule is the seed's 20 MB limit, applied to the segment that is kept at the source's
own bitrate: it catches absurd bitrates (raw or intra-only captures that would take minutes
to decode), where a limit on whole files would throw out every long video.
"""

import numpy as np

from studio import media
from studio.prepare.config import PrepareConfig


def size_reason(record: dict, config: PrepareConfig) -> str | None:
    share = 1.0 if record["media"] == "image" else min(1.0, config.seconds / record["duration_s"])
    segment_mb = record["bytes"] * share / 1e6
    if segment_mb > config.max_clip_mb:
        return (f"the {config.seconds:g} s kept would be {segment_mb:.1f} MB at the source's bitrate "
                f"(limit {config.max_clip_mb:g} MB)")
    return None


def trimmed_clip(path: str, media_kind: str, config: PrepareConfig) -> tuple[media.Clip, list[str]]:
    """The training clip cut from the source, and notes on how it differs from the file."""
    if media_kind == "image":
        frame = media.read_image(path, size=config.size, fit="crop")  # (size, size, 3)
        frames = np.repeat(frame[None], config.num_frames, axis=0)  # (T, size, size, 3)
        num_samples = round(config.num_frames / config.fps * config.sample_rate_hz)
        notes = [f"still image held for {config.num_frames / config.fps:g} s", "no audio track: silence"]
        return media.Clip(frames, np.zeros(num_samples, np.float32), config.fps, config.sample_rate_hz), notes
    return media.read_video(path, fps=config.fps, num_frames=config.num_frames, size=config.size, fit="crop",
                            sample_rate_hz=config.sample_rate_hz)
