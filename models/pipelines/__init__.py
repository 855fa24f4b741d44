"""Sampling pipelines: generation (text, or text and image, to video with audio) and editing."""

from models.pipelines.edit_pipeline import EditPipeline
from models.pipelines.generate_pipeline import GeneratePipeline
from models.pipelines.studio_pipeline import ClipOutput, load_components, save_components

__all__ = ["ClipOutput", "EditPipeline", "GeneratePipeline", "load_components", "save_components"]
