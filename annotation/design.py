"""A study's design: the Latin-square blocks of stimuli that sessions are given, and the warnings
shown in the admin and on the dashboard before a study opens.

Blocks follow annotation-research.md §9: balanced blocks as in P.808's `balanced_block`, a Latin
square across blocks (block g shows utterance u under system (u + g) mod S, so no rater meets one
utterance under two systems).

Each warning names a trap a published study fell into (issue 19): too few clips per rater for the QC
checks the study runs (a 3-clip pilot whose low-variance check excluded honest raters; three
stimuli from three systems, one clip per rater), and questions whose answers nothing analyses
(a transcript collected with the sound on, transcripts without reference words, an A/B choice on
clips that are not side by side).
"""

from collections import defaultdict

from . import qc
from .models import Question, Stimulus, Study

MIN_CLIPS_FOR_VARIANCE = 5


def _section_blocks(rows, size: int) -> list[list[int]]:
    """Latin-square blocks of one section's (pk, system, utterance) rows."""
    grid = defaultdict(dict)
    for pk, system, utterance in rows:
        grid[utterance][system] = pk
    systems = sorted({s for row in grid.values() for s in row})
    utterances = sorted(grid)
    chunks = [utterances[i : i + size] for i in range(0, len(utterances), size)]
    blocks = []
    for g in range(len(systems)):
        for chunk_start, chunk in zip(range(0, len(utterances), size), chunks, strict=True):
            block = []
            for offset, utterance in enumerate(chunk):
                system = systems[(chunk_start + offset + g) % len(systems)]
                if system in grid[utterance]:
                    block.append(grid[utterance][system])
            if block:
                blocks.append(block)
    return blocks


def study_blocks(study: Study) -> list[list[int]]:
    """The study's regular stimuli split into Latin-square blocks (lists of stimulus ids).

    Within a section, block (g, c) holds, for the c-th chunk of utterances, utterance i under
    system (i + g) mod S: every stimulus lies in exactly one block and every block shows an
    utterance at most once. A study with several sections (a rating part and a lip-reading
    part) joins the k-th block of each section, cycling through a section's blocks when it has
    fewer, so every session covers every section.
    """
    rows = defaultdict(list)
    for pk, system, utterance, section in Stimulus.objects.filter(
        study=study, role=Stimulus.Role.REGULAR
    ).values_list("pk", "system", "utterance_id", "section"):
        rows[section].append((pk, system, utterance))
    size = max(1, study.stimuli_per_session)
    per_section = [_section_blocks(rows[name], size) for name in sorted(rows)]
    per_section = [blocks for blocks in per_section if blocks]
    if len(per_section) <= 1:
        return per_section[0] if per_section else []
    count = max(len(blocks) for blocks in per_section)
    return [[pk for blocks in per_section for pk in blocks[g % len(blocks)]] for g in range(count)]


def design_warnings(study) -> list[str]:
    warnings = []
    blocks = study_blocks(study)
    stimuli = list(study.stimuli.filter(role=Stimulus.Role.REGULAR))
    config = qc.checks_config(study)
    rating_sections = {q.section for q in study.questions.all() if q.kind == Question.Kind.SCALE}
    if blocks:
        section_of = {s.pk: s.section for s in stimuli}
        rated = min(sum(section_of[pk] in rating_sections for pk in b) for b in blocks)
        clips = min(len(b) for b in blocks)
        if clips == 1:
            warnings.append(
                "Each rater sees only 1 clip: the Latin square gives every rater one utterance "
                "per system, so add utterances (or fewer systems per study)."
            )
        if (
            rating_sections
            and config["min_variance"] is not None
            and (rated < MIN_CLIPS_FOR_VARIANCE)
        ):
            warnings.append(
                f"Some raters rate only {rated} clip{'s' if rated != 1 else ''}: with fewer "
                f"than {MIN_CLIPS_FOR_VARIANCE}, an honest rater may give them all one rating "
                "and the low-variance check excludes them (below 3 it cannot run at all). Give "
                'raters more clips or switch it off: qc_config {"min_variance": null}.'
            )
        loo = config["loo_correlation"]
        if rating_sections and loo is not None and rated < loo["min_common"]:
            warnings.append(
                f"The leave-one-out check needs {loo['min_common']} rated clips per rater; "
                f"with {rated} it skips every rater."
            )
    elif study.questions.exists():
        warnings.append("The study has no regular clips yet.")
    warnings += _question_warnings(study, stimuli)
    return warnings


def _question_warnings(study, stimuli) -> list[str]:
    warnings = []
    by_section = {}
    for s in stimuli:
        by_section.setdefault(s.section, []).append(s)
    for q in study.questions.all():
        clips = by_section.get(q.section, [])
        if stimuli and not clips:
            warnings.append(f"Question {q.key!r}: no clip is in its section {q.section!r}.")
            continue
        if q.kind == Question.Kind.TEXT and q.sound:
            warnings.append(
                f"Question {q.key!r} collects transcripts with the sound on: the lip-reading "
                "analysis would count heard words as read from the lips. Set its sound off, "
                "or drop it."
            )
        if q.kind == Question.Kind.TEXT and any(not s.reference_text.strip() for s in clips):
            warnings.append(
                f"Question {q.key!r}: clips without reference words; their transcripts are "
                "never analysed."
            )
        if q.kind == Question.Kind.TEXT and clips and not any(s.is_real for s in clips):
            warnings.append(
                f"Question {q.key!r}: no real clips in its section, so no relative word accuracy."
            )
        if q.kind == Question.Kind.PREFERENCE and any(not s.beside_system for s in clips):
            warnings.append(
                f"Question {q.key!r} is an A/B choice, but some of its clips are not side by "
                "side: those answers are never analysed."
            )
    return warnings
