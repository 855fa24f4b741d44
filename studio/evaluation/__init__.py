"""Evaluation: reading clips back into Shapes World attributes to score the models."""

from studio.evaluation.judge import (
    AudioAgreement,
    ClipReport,
    ObjectReport,
    audio_matches,
    expected_pitch_hz,
    judge_clip,
)

__all__ = ["AudioAgreement", "ClipReport", "ObjectReport", "audio_matches", "expected_pitch_hz", "judge_clip"]
