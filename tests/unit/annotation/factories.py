"""Helpers that build annotation test data: stimulus grids and ratings loaded as long CSV."""

import csv
import io

from annotation import imports, services


def grid(study, systems, utterances, **extra):
    """Add a stimulus (no media) for every system x utterance."""
    return [
        services.stimulus_add(study=study, path=None, system=s, utterance_id=u, **extra)
        for s in systems
        for u in utterances
    ]


def load_votes(study, rows, verdicts=None):
    """Load (rater, system, utterance, question, value) rows as imported completed sessions."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rater", "system", "utterance_id", "question", "value", "qc_verdict"])
    for rater, system, utterance, question, value in rows:
        writer.writerow(
            [rater, system, utterance, question, value, (verdicts or {}).get(rater, "")]
        )
    return imports.import_long_csv(study=study, text=out.getvalue())
