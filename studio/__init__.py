"""Flipbook studio: the command line, media I/O, the Shapes World, data preparation,
evaluation and the app's UI."""
