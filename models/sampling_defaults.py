"""The sampling settings a request gets when it names none, and the largest seed it may
name: one place for the pipelines, the engine, the CLI and the app. Plain numbers with no
imports, so the studio can read them before the heavy libraries load.

Step counts were chosen by measuring the judge's scores and the time per clip at several
counts (README, Speed).
"""

STEPS = 12  # flow-matching steps of the base stage: judged as well as 16 object by object (README)
EDIT_STEPS = 12  # an edit samples three guidance branches a step: fewer steps keep it within a second
UPSAMPLER_STEPS = 6  # and of the upsampler: judged as well as 8 (README, "The cascade loses shape")
GUIDANCE = 4.0  # classifier-free guidance of generation
AUDIO_GUIDANCE = 2.0  # of its sound, which follows heights no prompt names (README, Audio guidance)
EDIT_GUIDANCE = 2.5  # an edit's text guidance (base and upsampler): best of 1.5 / 2.5 / 4 (README, Edits)
VIDEO_GUIDANCE = 1.5  # an edit's pull towards the source clip (InstructPix2Pix's image guidance)
MAX_SEED = 2**63 - 1  # the largest seed a torch generator takes
