"""Crowd-study rows: studies, questions, stimuli, raters, sessions and append-only responses.

Shape after DESIGN.md 'Annotation data model' and annotation-research.md §9 (P.808/P.910 crowd
tests, Label Studio's task/annotation split). Everything reported (MOS, CIs, WER, agreement) is
derived from `Response` rows by `annotation.analysis`; nothing here caches a statistic.
"""

import secrets
import uuid
from datetime import timedelta

from django.db import models
from django.urls import reverse
from django.utils import timezone


def new_code() -> str:
    return secrets.token_hex(4).upper()


def new_token() -> str:
    return secrets.token_urlsafe(18)


def stimulus_upload_to(stimulus, filename: str) -> str:
    # A random file name: the stored path never carries the system or utterance.
    return f"annotation/{stimulus.study_id}/{uuid.uuid4().hex}.mp4"


class Study(models.Model):
    class Kind(models.TextChoices):
        ACR = "acr", "ACR rating"
        TRANSCRIBE = "transcribe", "Lip-reading transcription"

    class Platform(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "Amazon MTurk"
        LINK = "link", "Plain link"
        IMPORT = "import", "Imported ratings"

    class CIConvention(models.TextChoices):
        T = "t", "Student t (ITU-T P.1401)"
        Z = "z", "Normal z = 1.96 (P.808/P.910 toolkits, sureal)"

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ACR)
    platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.LINK)
    consent_text = models.TextField(blank=True)
    instructions_text = models.TextField(blank=True)
    votes_per_stimulus = models.PositiveIntegerField(default=10)
    stimuli_per_session = models.PositiveIntegerField(default=20)
    gold_per_session = models.PositiveIntegerField(default=0)
    traps_per_session = models.PositiveIntegerField(default=0)
    max_plays = models.PositiveIntegerField(
        default=3, help_text="Plays allowed per clip, counted on the server; 0: no limit."
    )
    require_played_to_end = models.BooleanField(
        default=True,
        help_text="Refuse an answer unless the server saw the clip play to its end.",
    )
    # One code for every finished session, as Prolific expects; blank gives each session its own.
    completion_code = models.CharField(max_length=32, blank=True, default=new_code)
    session_ttl_minutes = models.PositiveIntegerField(
        "session timeout (minutes)",
        default=60,
        help_text="A session not finished this long after consent is abandoned: its block goes "
        "to other raters, its answers leave the metrics and it cannot be resumed.",
    )
    qc_config = models.JSONField(default=dict, blank=True)
    ci_convention = models.CharField(
        "95% CI convention",
        max_length=1,
        choices=CIConvention.choices,
        default=CIConvention.T,
        help_text="Which interval the reports lead with; both are always computed.",
    )
    # What the consent page tells a rater before they agree (annotation-research.md §6).
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    pay_text = models.CharField("pay", max_length=200, blank=True, help_text="e.g. £2.50")
    contact = models.CharField(
        max_length=300, blank=True, help_text="Who answers questions: a name and an email address."
    )
    withdrawal_text = models.TextField(
        blank=True, help_text="How to withdraw; a sentence on closing the page is shown if blank."
    )
    # {"display": {"min_width": 1280, "min_height": 720, "min_refresh_hz": 30}, "audio": {}}:
    # the checks a rater passes before the instructions; empty: none.
    qualification = models.JSONField(default=dict, blank=True)
    screenout_code = models.CharField(
        max_length=32,
        blank=True,
        help_text="Platform code for raters who fail the qualification (Prolific 'screened out').",
    )
    is_open = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("annotation:entry", args=[self.slug])


class Question(models.Model):
    class Kind(models.TextChoices):
        SCALE = "scale", "Rating scale"
        TEXT = "text", "Free text"
        TOKENS = "tokens", "Problem tokens (tick any)"
        PREFERENCE = "preference", "A/B preference (left or right)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="questions")
    key = models.SlugField(max_length=50)
    prompt = models.CharField(max_length=300)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.SCALE)
    scale_min = models.IntegerField(default=1)
    scale_max = models.IntegerField(default=5)
    # Labels from scale_min upwards, e.g. ["Bad", "Poor", "Fair", "Good", "Excellent"].
    # Problem tokens: the labels to tick.
    anchors = models.JSONField(default=list, blank=True)
    order = models.PositiveIntegerField(default=0)
    section = models.SlugField(
        max_length=30,
        default="main",
        help_text="The part of the study it belongs to; a clip is asked its section's questions.",
    )
    sound = models.BooleanField(
        default=True, help_text="Play the clip with sound (off for lip reading)."
    )
    help = models.TextField(blank=True, help_text="Instructions and an example for this question.")

    class Meta:
        ordering = ["study", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="annotation_question_unique_key")
        ]

    def __str__(self):
        return f"{self.study.slug}:{self.key}"

    def choices(self) -> list[tuple[int, str]]:
        if self.kind == self.Kind.PREFERENCE:
            left, right = [*self.anchors, "", ""][:2] if self.anchors else ["", ""]
            return [(0, left or "Left"), (1, right or "Right")]
        values = range(self.scale_min, self.scale_max + 1)
        labels = list(self.anchors) + [""] * len(values)
        return [(v, labels[i] or str(v)) for i, v in enumerate(values)]


class Stimulus(models.Model):
    class Role(models.TextChoices):
        REGULAR = "regular", "Regular"
        GOLD = "gold", "Gold (known answer)"
        TRAP = "trap", "Trap (asks for a given answer)"
        PRACTICE = "practice", "Practice"
        TRAINING = "training", "Training (answered, with feedback)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="stimuli")
    media = models.FileField(upload_to=stimulus_upload_to, max_length=300, blank=True)
    system = models.CharField(max_length=100, help_text="System or condition; never shown.")
    utterance_id = models.CharField(max_length=200)
    reference_text = models.TextField(blank=True, help_text="Staff only.")
    is_real = models.BooleanField(default=False)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.REGULAR)
    # {"realness": 5}: the answer a gold item expects, or the answer a trap asks for.
    gold_answers = models.JSONField(default=dict, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    section = models.SlugField(max_length=30, default="main")
    # A side-by-side clip: `system` plays on the left, this one on the right (the real video
    # for P.910 Template B, another system for an A/B preference). Blank: a single clip.
    beside_system = models.CharField(max_length=100, blank=True)
    feedback = models.TextField(blank=True, help_text="Shown after a training clip's answer.")
    source_job = models.UUIDField(null=True, blank=True)
    # What the machine lip reader read from the clip: {"text", "reader", "revision"}, or
    # {"error"} when it could not (workers.tasks.lipread_study). Empty: not read yet.
    machine_reading = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "stimuli"
        ordering = ["study", "utterance_id", "system"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "section", "system", "beside_system", "utterance_id"],
                condition=models.Q(role="regular"),
                name="annotation_stimulus_unique_regular",
            )
        ]

    def __str__(self):
        return f"{self.system}/{self.utterance_id} ({self.role})"

    def set_machine_reading(
        self, *, text: str = "", reader: str = "", revision: str = "", error: str = ""
    ) -> None:
        """Store what the machine lip reader read from the clip (or why it could not)."""
        self.machine_reading = (
            {"error": error} if error else {"text": text, "reader": reader, "revision": revision}
        )
        self.save(update_fields=["machine_reading"])


class Rater(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="raters")
    platform = models.CharField(max_length=16, choices=Study.Platform.choices)
    external_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One participation per rater per study, whatever the browser does.
            models.UniqueConstraint(
                fields=["study", "platform", "external_id"], name="annotation_rater_once"
            )
        ]

    def __str__(self):
        return f"{self.platform}:{self.external_id}"


class Session(models.Model):
    class Status(models.TextChoices):
        CONSENTED = "consented"
        ACTIVE = "active"
        COMPLETED = "completed"
        ABANDONED = "abandoned"
        SCREENED_OUT = "screened_out"

    # The statuses of a session the rater may still work on.
    LIVE = {Status.CONSENTED, Status.ACTIVE}

    class Verdict(models.TextChoices):
        PENDING = "pending"
        ACCEPT = "accept", "Accept (paid, used)"
        EXCLUDE = "exclude", "Exclude (paid, data left out)"
        REJECT = "reject", "Reject (not paid, data left out)"

    # The random id doubles as the bearer token of the rater's pages.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="sessions")
    rater = models.OneToOneField(Rater, on_delete=models.CASCADE, related_name="session")
    block = models.IntegerField(default=0, help_text="Latin-square block of the assignment.")
    platform_session_id = models.CharField(max_length=200, blank=True)
    assignment_id = models.CharField(max_length=200, blank=True)
    hit_id = models.CharField(max_length=200, blank=True)
    turk_submit_to = models.URLField(blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.CONSENTED, db_index=True
    )
    consented_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    completion_code = models.CharField(max_length=32, blank=True)
    qc_verdict = models.CharField(max_length=8, choices=Verdict.choices, default=Verdict.PENDING)
    # [{"check": "played_to_end", "action": "reject", "detail": "2 of 10 clips"}]
    qc_reasons = models.JSONField(default=list, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # The qualification's record: the spoken number, the display measured, the answers given.
    qualification = models.JSONField(default=dict, blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-consented_at"]
        indexes = [models.Index(fields=["study", "block", "status"])]

    def __str__(self):
        return f"session {self.id} ({self.status})"

    def get_absolute_url(self):
        return reverse("annotation:session", args=[self.id])

    @property
    def is_used(self) -> bool:
        """Whether the session's responses enter the metrics."""
        return self.status == self.Status.COMPLETED and self.qc_verdict in {
            self.Verdict.ACCEPT,
            self.Verdict.PENDING,
        }

    def is_overdue(self, now=None) -> bool:
        """Whether a live session has run past its study's timeout (it is then abandoned)."""
        limit = timedelta(minutes=self.study.session_ttl_minutes)
        return self.status in self.LIVE and (now or timezone.now()) - self.consented_at > limit

    def mark_started(self) -> None:
        if self.started_at is None and self.status in self.LIVE:
            self.started_at = timezone.now()
            self.status = self.Status.ACTIVE
            self.save(update_fields=["started_at", "status"])


class SessionItem(models.Model):
    """One stimulus in one session's playlist, reached through an opaque token."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="items")
    stimulus = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()
    token = models.CharField(max_length=40, unique=True, default=new_token)
    # The player's record as the server saw it: a rater's form cannot claim plays it never made.
    plays = models.PositiveIntegerField(default=0)
    last_play_at = models.DateTimeField(null=True, blank=True)
    played_to_end = models.BooleanField(default=False)

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "stimulus"], name="annotation_item_once_per_session"
            ),
            models.UniqueConstraint(
                fields=["session", "position"], name="annotation_item_unique_position"
            ),
        ]

    def __str__(self):
        return f"{self.session_id}#{self.position}"


class Response(models.Model):
    """One answer: append-only, one per session x stimulus x question."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="responses")
    stimulus = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="responses")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="responses")
    value = models.FloatField(null=True, blank=True)
    transcript = models.TextField(blank=True)
    tokens = models.JSONField(default=list, blank=True)
    # Imported data sets may hold a rater's repeated votes on one clip (sureal's repetitions).
    repeat = models.PositiveSmallIntegerField(default=0)
    play_count = models.PositiveIntegerField(default=0)
    played_to_end = models.BooleanField(default=False)
    time_on_item_s = models.FloatField(null=True, blank=True)
    position = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "position", "question__order"]
        constraints = [
            # A double submit (two clicks, a retried POST) stores once.
            models.UniqueConstraint(
                fields=["session", "stimulus", "question", "repeat"],
                name="annotation_response_once",
            )
        ]

    def __str__(self):
        return f"{self.session_id} {self.stimulus_id} {self.question_id}"
