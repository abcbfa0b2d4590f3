"""Typed pipelines, one per task: media paths and typed settings in, files out, progress through
`progress(fraction in [0, 1], short message)`, `modelzoo.errors.UserError` for what a user can fix.

`corrupt`, `generate`, `transcribe` and `evaluate` know nothing of jobs: the job layer
(`webapp.jobs.kinds`) and the CLI call them with settings they have already checked.
"""
