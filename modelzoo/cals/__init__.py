"""CALS (arXiv 2305.19556): Audio-to-Lip transformer, Lip-to-Face generator, sync critic."""
