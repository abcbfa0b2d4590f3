"""Design warnings before a study opens, the paper-ready table (Markdown and LaTeX), and the
admin's one-step lip-sync study."""

import pytest

from annotation import design, errors, paper, questions, services, study_templates
from annotation.models import Stimulus, Study

from .factories import finished_job, grid, load_votes


def test_three_stimuli_from_three_systems_warn_of_one_clip_per_rater(acr_study):
    grid(acr_study, ["a", "b", "c"], ["u0"])
    warnings = " ".join(design.design_warnings(acr_study))
    assert "Each rater sees only 1 clip" in warnings
    assert "low-variance check excludes them" in warnings
    assert "leave-one-out check needs 5" in warnings


def test_a_large_enough_design_has_no_warning(acr_study):
    grid(acr_study, ["a", "b"], [f"u{i}" for i in range(12)])
    acr_study.stimuli_per_session = 6
    acr_study.save()
    assert design.design_warnings(acr_study) == []


def test_switching_the_variance_check_off_silences_its_warning(acr_study):
    grid(acr_study, ["a"], ["u0", "u1", "u2"])
    acr_study.qc_config = {"min_variance": None, "loo_correlation": None}
    acr_study.save()
    assert not [w for w in design.design_warnings(acr_study) if "variance" in w]


def test_a_transcript_collected_with_sound_on_is_flagged(db):
    study = services.study_create(
        slug="mixed",
        title="Mixed",
        questions=[
            {"key": "realness", "prompt": "Real?"},
            {"key": "transcript", "prompt": "Words?", "kind": "text"},  # sound on by default
        ],
    )
    for i in range(6):  # as an import leaves them: no reference words
        Stimulus.objects.create(study=study, system="a", utterance_id=f"u{i}")
    warnings = " ".join(design.design_warnings(study))
    assert "collects transcripts with the sound on" in warnings
    assert "clips without reference words" in warnings
    assert "no real clips" in warnings


def test_a_preference_question_on_single_clips_is_flagged(db):
    study = services.study_create(slug="ab", title="AB", questions=[questions.preference()])
    grid(study, ["a"], ["u0", "u1"])
    assert "not side by side" in " ".join(design.design_warnings(study))


@pytest.fixture
def rated(acr_study):
    grid(acr_study, ["real", "gen"], ["u0", "u1", "u2"])
    rows = [
        (f"r{r}", s, u, q, (5 if s == "real" else 2) - (r + i) % 2)
        for r in range(4)
        for s in ["real", "gen"]
        for i, u in enumerate(["u0", "u1", "u2"])
        for q in ["realness", "lipsync"]
    ]
    load_votes(acr_study, rows)
    return acr_study


def test_paper_table_marks_systems_that_differ_from_the_reference(rated):
    table = paper.paper_table(rated)
    assert table["reference"] == "real"
    gen = next(r for r in table["rows"] if r["system"] == "gen")
    assert gen["cells"]["realness"]["mean"] == pytest.approx(1.5)
    assert gen["cells"]["realness"]["significant"]
    text = paper.markdown(rated)
    assert "| System | lipsync | realness |" in text
    assert "| gen | 1.50 ± " in text and "†" in text
    assert "Student t" not in text and "t(0.975, n - 1)" in text
    assert "4 raters kept." in text


def test_paper_table_follows_the_z_convention_and_writes_latex(rated):
    rated.ci_convention = Study.CIConvention.Z
    rated.save()
    t_rows = paper.paper_table(rated)
    tex = paper.latex(rated, reference="gen")
    assert "\\begin{tabular}{lcc}" in tex and "\\toprule" in tex
    assert "real & $4.50 \\pm" in tex and "^{\\dagger}$" in tex
    assert "gen (ref.)" in tex and "1.96" in tex
    cell = next(r for r in t_rows["rows"] if r["system"] == "real")["cells"]["realness"]
    # Six 4s and six 5s: sample SD sqrt(12 * 0.25 / 11); z half-width 1.96 SD / sqrt(12).
    assert cell["ci"] == pytest.approx(1.959964 * (3 / 11) ** 0.5 / 12**0.5, rel=1e-6)


def test_paper_table_is_exported_through_the_api(rated, admin_client):
    md = admin_client.get(f"/study/api/studies/{rated.slug}/export/paper.md")
    tex = admin_client.get(f"/study/api/studies/{rated.slug}/export/paper.tex?reference=gen")
    assert md.status_code == tex.status_code == 200
    assert md.content.decode().startswith("| System |")
    assert "gen (ref.)" in tex.content.decode()


def test_paper_table_carries_relative_word_accuracy(db):
    study = services.study_create(slug="lr", title="LR", kind="transcribe")
    for system in ["real", "gen"]:
        for u in ["u0", "u1"]:
            services.stimulus_add(
                study=study,
                path=None,
                system=system,
                utterance_id=u,
                reference_text="one two three four",
                is_real=system == "real",
            )
    from annotation import imports

    lines = ["rater,system,utterance_id,question,transcript"]
    lines += [f"r{r},real,u{u},transcript,one two three four" for r in range(2) for u in range(2)]
    lines += [f"r{r + 2},gen,u{u},transcript,one two three" for r in range(2) for u in range(2)]
    imports.import_long_csv(study=study, text="\n".join(lines), run_qc=False)
    text = paper.markdown(study)
    assert "Word accuracy | Relative to real (95% CI)" in text
    assert "| gen | 75.0% | 75.0% [75.0–75.0] |" in text


def video_jobs(clip, utterances=("u0", "u1")):
    """Finished generation jobs driven by a video (the real recording) as well as their audio."""
    jobs = []
    for u in utterances:
        job = finished_job(clip, "wav2lip")
        (job.directory / "input").mkdir()
        (job.directory / "input/video.mp4").write_bytes(clip.read_bytes())
        job.inputs = {"video": {"path": "input/video.mp4", "name": f"{u}.mp4"}}
        job.save()
        jobs.append(job)
    return jobs


def test_template_a_rates_the_generated_clip_alone_on_eight_statements(db, tiny_clip):
    items = [
        {"job": job, "utterance_id": u, "reference_text": "one two"}
        for job, u in zip(video_jobs(tiny_clip), ["u0", "u1"], strict=True)
    ]
    study = study_templates.lipsync_study_create(slug="a", title="A", items=items, template="A")
    rating = study.questions.filter(section="rating", kind="scale")
    assert rating.count() == 8 + 1  # Template A's statements and the lip-sync MOS
    assert not study.stimuli.filter(section="rating").exclude(beside_system="").exists()
    assert not study.questions.get(key="transcript").sound


def test_admin_creates_the_lipsync_study_in_one_step(admin_client, tiny_clip):
    jobs = video_jobs(tiny_clip)
    page = admin_client.get("/admin/annotation/study/lipsync/")
    assert page.status_code == 200 and str(jobs[0].pk) in page.content.decode()
    form = {
        "title": "Lip sync",
        "slug": "ls",
        "template": "B",
        "platform": "prolific",
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
    }
    for i, (job, u) in enumerate(zip(jobs, ["u0", "u1"], strict=True)):
        form |= {
            f"form-{i}-job": str(job.pk),
            f"form-{i}-add": "on",
            f"form-{i}-system": "wav2lip",
            f"form-{i}-utterance_id": u,
            f"form-{i}-reference_text": f"words of {u}",
        }
    response = admin_client.post("/admin/annotation/study/lipsync/", form)
    assert response.status_code == 302, response.content.decode()[-1500:]
    study = Study.objects.get(slug="ls")
    regular = study.stimuli.filter(role="regular")
    assert set(regular.values_list("section", "system", "utterance_id")) == {
        ("rating", "wav2lip", "u0"),
        ("lipreading", "wav2lip", "u1"),
        ("lipreading", "real", "u1"),
    }
    assert regular.get(section="rating").beside_system == "real"
    assert study.stimuli.filter(role=Stimulus.Role.TRAINING).count() == 1
    assert study.stimuli.filter(role=Stimulus.Role.TRAP).count() == 1
    change = admin_client.get(f"/admin/annotation/study/{study.pk}/change/").content.decode()
    assert "Design warning:" in change


def test_lipsync_template_needs_two_sentences(db, tiny_clip):
    job = finished_job(tiny_clip, "wav2lip")
    job.inputs = {"video": {"path": "output/out.mp4", "name": "u0.mp4"}}
    job.save()
    with pytest.raises(errors.AnnotationError, match="at least two sentences"):
        study_templates.lipsync_study_create(
            slug="one", title="One", items=[{"job": job, "utterance_id": "u0"}]
        )
