"""SynthGrid: a synthetic GRID-like talking-face corpus (espeak-ng speech, animated still face)."""
