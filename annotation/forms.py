"""Forms of the rater pages: crowd-platform entry parameters, and one trial's answers."""

from urllib.parse import urlsplit

from django import forms

from .models import Question, Study

MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
# externalSubmit goes back to MTurk only: any other host would make the page an open redirect.
MTURK_HOSTS = {"www.mturk.com", "workersandbox.mturk.com"}


class ProlificEntryForm(forms.Form):
    PROLIFIC_PID = forms.CharField(max_length=200)
    STUDY_ID = forms.CharField(max_length=200, required=False)
    SESSION_ID = forms.CharField(max_length=200, required=False)

    def identity(self) -> dict:
        data = self.cleaned_data
        return {
            "external_id": data["PROLIFIC_PID"],
            "platform_session_id": data["SESSION_ID"],
            "hit_id": data["STUDY_ID"],
        }


class MTurkEntryForm(forms.Form):
    workerId = forms.CharField(max_length=200, required=False)  # MTurk names its parameters
    assignmentId = forms.CharField(max_length=200)
    hitId = forms.CharField(max_length=200, required=False)
    turkSubmitTo = forms.URLField(max_length=200, required=False, assume_scheme="https")

    def clean_turkSubmitTo(self):
        url = self.cleaned_data["turkSubmitTo"]
        if url and (urlsplit(url).scheme != "https" or urlsplit(url).hostname not in MTURK_HOSTS):
            raise forms.ValidationError("turkSubmitTo must be an https address of MTurk")
        return url

    def clean(self):
        data = super().clean()
        if data.get("assignmentId") != MTURK_PREVIEW and not data.get("workerId"):
            raise forms.ValidationError("workerId is missing")
        return data

    @property
    def is_preview(self) -> bool:
        return self.cleaned_data.get("assignmentId") == MTURK_PREVIEW

    def identity(self) -> dict:
        data = self.cleaned_data
        return {
            "external_id": data["workerId"],
            "assignment_id": data["assignmentId"],
            "hit_id": data["hitId"],
            "turk_submit_to": data["turkSubmitTo"],
        }


ENTRY_FORMS = {Study.Platform.PROLIFIC: ProlificEntryForm, Study.Platform.MTURK: MTurkEntryForm}


class TrialForm(forms.Form):
    """The answers to one clip: a field per question plus the time spent on it.

    Plays and played-to-end are not fields: the server keeps its own record of the player.
    """

    time_on_item_s = forms.FloatField(min_value=0, max_value=86400, required=False)

    def __init__(self, *args, questions, **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = questions
        for q in questions:
            if q.kind == Question.Kind.TEXT:
                self.fields[q.key] = forms.CharField(max_length=2000, required=False)
            elif q.kind == Question.Kind.TOKENS:
                self.fields[q.key] = forms.MultipleChoiceField(
                    choices=[(t, t) for t in q.anchors], required=False
                )
            else:
                self.fields[q.key] = forms.TypedChoiceField(
                    choices=q.choices(), coerce=int, widget=forms.RadioSelect
                )

    def answers(self) -> dict:
        return {q.key: self.cleaned_data[q.key] for q in self.questions}

    def first_error(self) -> str:
        for field, errors in self.errors.items():
            return f"{field}: {errors[0]}" if field != "__all__" else errors[0]
        return ""


class QualificationForm(forms.Form):
    """What the qualification page measured (display) and what the rater typed (audio)."""

    screen_width = forms.FloatField(required=False)
    screen_height = forms.FloatField(required=False)
    refresh_hz = forms.FloatField(required=False)
    heard_number = forms.CharField(max_length=20, required=False)

    def __init__(self, *args, checks, **kwargs):
        super().__init__(*args, **kwargs)
        if "audio" in checks:
            self.fields["heard_number"].required = True


class JobStimulusForm(forms.Form):
    """One finished generation job offered as a stimulus in the admin; added when ticked."""

    job = forms.UUIDField(widget=forms.HiddenInput)
    add = forms.BooleanField(required=False)
    system = forms.CharField(max_length=100)
    utterance_id = forms.CharField(max_length=200, required=False)
    reference_text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 1, "cols": 40})
    )


JobStimulusFormSet = forms.formset_factory(JobStimulusForm, extra=0)


class LipsyncStudyForm(forms.Form):
    """The lip-sync paper study's own settings in the admin's one-step form."""

    title = forms.CharField(max_length=200)
    slug = forms.SlugField()
    template = forms.ChoiceField(
        choices=[("B", "P.910 Template B: beside the real video"), ("A", "Template A: alone")]
    )
    platform = forms.ChoiceField(choices=Study.Platform.choices, initial=Study.Platform.PROLIFIC)
