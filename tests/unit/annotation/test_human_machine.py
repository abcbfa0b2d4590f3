"""Human beside machine on the dashboard: each system's human word accuracy beside the machine lip
reader's on the same clips, and Spearman's rank correlation of the two (hand-worked case)."""

import uuid

import pytest

from annotation import analysis, imports, services

REFERENCE = "bin blue at f two now"
# system: (what a rater wrote, what the machine read); word accuracies by hand (6 words):
# human a 6/6 > b 5/6 > c 4/6 > d 2/6, machine a 6/6 > c 3/6 > b 1/6 > d 0/6.
HEARD = {
    "a": ("bin blue at f two now", "bin blue at f two now"),
    "b": ("bin blue at f two", "bin"),
    "c": ("bin blue at f", "bin blue at"),
    "d": ("bin blue", ""),
}


@pytest.fixture
def study(db, tiny_clip):
    study = services.study_create(slug="hm", title="Human and machine", kind="transcribe")
    for system, (_, read) in HEARD.items():
        stimulus = services.stimulus_add(
            study=study,
            path=tiny_clip,
            system=system,
            utterance_id="u0",
            reference_text=REFERENCE,
            source_job=uuid.uuid4(),
        )
        stimulus.set_machine_reading(text=read, reader="avsr-video-demo", revision="r1")
    lines = ["rater,system,utterance_id,question,transcript,reference_text"]
    lines += [f"r-{s},{s},u0,transcript,{human},{REFERENCE}" for s, (human, _) in HEARD.items()]
    imports.import_long_csv(study=study, text="\n".join(lines))
    return study


def test_machine_word_accuracy_sits_beside_the_human_one_per_system(study):
    found = analysis.study_results(study)["human_machine"]
    rows = {r["system"]: r for r in found["rows"]}
    assert rows["b"]["human_word_accuracy"] == pytest.approx(5 / 6)
    assert rows["b"]["machine_word_accuracy"] == pytest.approx(1 / 6)
    assert rows["b"]["machine_wer"] == pytest.approx(5 / 6)
    assert rows["d"]["machine_word_accuracy"] == 0.0
    assert all(r["machine_clips"] == 1 for r in rows.values())
    assert found["readers"] == ["avsr-video-demo"]


def test_spearman_rho_of_human_and_machine_ranks_is_the_hand_worked_value(study):
    found = analysis.study_results(study)["human_machine"]
    # ranks 1 2 3 4 against 1 3 2 4: rho = 1 - 6 * (1 + 1) / (4 * 15) = 0.8
    assert found["spearman_rho"] == pytest.approx(0.8)
    assert found["systems"] == 4
    assert 0 < found["spearman_p"] < 1


def test_unread_clips_are_pending_and_leave_their_system_without_a_machine_figure(study):
    services.study_lipread(study=study)  # clears the readings; a worker would read them again
    found = analysis.study_results(study)["human_machine"]
    assert found["pending"] == 4
    assert found["spearman_rho"] is None
    assert all(r["machine_word_accuracy"] is None for r in found["rows"])


def test_a_study_without_clips_from_generation_jobs_has_no_such_table(db):
    study = services.study_create(slug="plain", title="Plain", kind="transcribe")
    assert "human_machine" not in analysis.study_results(study)


def test_dashboard_shows_the_table_and_rho(study, admin_client):
    page = admin_client.get("/study/dashboard/hm/").content.decode()
    assert 'id="human-machine"' in page
    assert "Spearman ρ = 0.800" in page


def test_asking_to_read_a_study_without_clips_is_a_400_naming_the_problem(db, admin_client):
    services.study_create(slug="empty", title="Empty", kind="transcribe")
    response = admin_client.post("/study/dashboard/empty/lipread/")
    assert response.status_code == 400
    assert b"no clip to read" in response.content
