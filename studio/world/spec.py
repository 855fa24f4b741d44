"""Constants of the Shapes World contract (shared/specs/shapes-world.md, v1).

Everything that knows the world (renderer, captions, edits, the judge) reads its numbers
from here, so the contract is written down once.
"""

NUM_FRAMES = 16
FPS = 8
SAMPLE_RATE_HZ = 16_000
NUM_SAMPLES = 32_000  # 2.0 s of audio
SAMPLES_PER_FRAME = NUM_SAMPLES // NUM_FRAMES  # 2000
REFERENCE_SIZE_PX = 64  # every length below is at this frame size and scales with it

SHAPES = ("circle", "square", "triangle")
SIZE_PX = {"small": 12.0, "large": 20.0}
MOTIONS = ("left", "right", "up", "down", "still")
SPEED_PX_PER_FRAME = 1.5
MOTION_DIRECTION = {  # (dx, dy) per frame, image coordinates (y grows downwards)
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "still": (0.0, 0.0),
}

COLOURS = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 180, 70),
    "cyan": (40, 200, 220),
    "blue": (40, 70, 220),
    "purple": (150, 60, 210),
    "white": (245, 245, 245),
}
BACKGROUNDS = {
    "black": (15, 15, 15),
    "gray": (120, 120, 120),
    "navy": (25, 35, 90),
    "beige": (225, 210, 170),
}
MARKER_MAGENTA = (255, 0, 255)  # the `segment` edit paints the object with this

# Audio: f(t) = BASE_PITCH_HZ * 4 ** (1 - y(t) / H); amplitude by size.
BASE_PITCH_HZ = 220.0
PITCH_RANGE_FACTOR = 4.0
WAVEFORM = {"circle": "sine", "square": "square", "triangle": "triangle"}
AMPLITUDE = {"small": 0.25, "large": 0.45}

TASKS = ("generate", "recolor", "reshape", "background", "remove", "add", "segment", "style", "reverse")
EDIT_TASKS = TASKS[1:]


def pitch_hz(y_centre_px: float, frame_size_px: float) -> float:
    """The spec's pitch for an object whose vertical centre is `y_centre_px` from the top."""
    return BASE_PITCH_HZ * PITCH_RANGE_FACTOR ** (1.0 - y_centre_px / frame_size_px)


def luma(rgb):
    """Grayscale value of the `style` edit (works on arrays with a trailing RGB axis)."""
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
