"""The studio's web app (Gradio Blocks): one module per tab or concern; `app.py` assembles them."""

from studio.ui.app import build_app, build_ui, launch

__all__ = ["build_app", "build_ui", "launch"]
