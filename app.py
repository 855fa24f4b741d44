"""Flipbook studio: `python app.py [--model FOLDER]`, then open the address it prints.

It serves on GRADIO_SERVER_NAME / GRADIO_SERVER_PORT when set (a Hugging Face Space sets
them); the checkpoint folder is --model, else $FLIPBOOK_MODEL, else the shipped assets/shapes;
FLIPBOOK_CONCURRENCY (default 1) is how many requests sample at once; FLIPBOOK_UNSAFE_LIST names
the safety filter's list (studio/prompts.py); FLIPBOOK_OUTPUT_MAX_AGE_S how long outputs are kept.
"""

import argparse

from studio.engine import model_dir_from_env
from studio.engine_process import EngineProcess

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the Flipbook studio.")
    parser.add_argument("--model", help="checkpoint folder (default: $FLIPBOOK_MODEL, else assets/shapes)")
    engine = EngineProcess(model_dir_from_env(parser.parse_args().model))  # loading from now on
    from studio.ui import launch  # gradio's import (about 3 s) runs while the engine loads

    launch(engine)
