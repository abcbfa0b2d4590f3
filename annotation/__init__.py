"""Crowd studies of talking-face videos: design, rater pages, quality control, metrics, exports."""
