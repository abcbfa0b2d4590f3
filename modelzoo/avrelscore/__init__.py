"""AV-RelScore audio-visual speech recognition (arXiv 2303.08536): model, decoding, converter."""

from modelzoo.avrelscore.model import CONFIGS, AVRelScore, AVRelScoreConfig

__all__ = ["CONFIGS", "AVRelScore", "AVRelScoreConfig"]
