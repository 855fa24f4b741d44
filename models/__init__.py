"""Flipbook's networks: modules and their `forward` only (no noise schedules, losses or files)."""
