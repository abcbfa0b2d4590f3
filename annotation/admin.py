"""Admin for crowd studies: design studies and stimuli (uploads, or clips of finished generation
jobs); responses are read-only (append-only)."""

from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from . import design, errors, selectors, services, study_templates
from .forms import JobStimulusFormSet, LipsyncStudyForm
from .models import Question, Rater, Response, Session, SessionItem, Stimulus, Study


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0


def _suggested_utterance(job) -> str:
    """The job's utterance id if its params name one, else the stem of its audio's file name."""
    audio = (job.inputs or {}).get("audio", {}).get("name", "")
    return str((job.params or {}).get("utterance_id") or Path(audio).stem)


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "kind", "platform", "is_open", "created_at"]
    list_filter = ["kind", "platform", "is_open"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [QuestionInline]

    def get_urls(self):
        view = self.admin_site.admin_view(self.stimuli_from_jobs_view)
        lipsync = self.admin_site.admin_view(self.lipsync_view)
        own = [
            path("<int:study_id>/from-jobs/", view, name="annotation_study_from_jobs"),
            path("lipsync/", lipsync, name="annotation_study_lipsync"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        study = self.get_object(request, object_id)
        warnings = design.design_warnings(study) if study is not None else []
        extra = {**(extra_context or {}), "design_warnings": warnings}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.is_open:
            # Before raters arrive: say what the design will do to the checks and the analysis.
            for warning in design.design_warnings(obj):
                self.message_user(request, f"Design warning: {warning}", messages.WARNING)

    def lipsync_view(self, request):
        """Create the lip-sync paper study in one step from ticked generation jobs."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        jobs = [
            job for job in selectors.generation_jobs(limit=200) if "video" in (job.inputs or {})
        ]
        initial = [
            {
                "job": job.pk,
                "system": job.model_id or "generated",
                "utterance_id": _suggested_utterance(job),
            }
            for job in jobs
        ]
        form = LipsyncStudyForm(request.POST or None)
        formset = JobStimulusFormSet(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid() and formset.is_valid():
            items = [f.cleaned_data for f in formset if f.cleaned_data.get("add")]
            try:
                study = study_templates.lipsync_study_create(**form.cleaned_data, items=items)
            except errors.AnnotationError as exc:
                self.message_user(request, f"No study was created: {exc}.", messages.ERROR)
            else:
                self.message_user(request, f"Created {study}.", messages.SUCCESS)
                return redirect("admin:annotation_study_change", study.pk)
        by_id = {str(job.pk): job for job in jobs}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Create a lip-sync paper study from generation jobs",
            "form": form,
            "formset": formset,
            "rows": [(by_id.get(str(f["job"].value())), f) for f in formset],
        }
        return TemplateResponse(request, "admin/annotation/study/lipsync.html", context)

    def stimuli_from_jobs_view(self, request, study_id):
        """Tick finished generation jobs and add their clips as stimuli, all or none."""
        study = get_object_or_404(Study, pk=study_id)
        if not self.has_change_permission(request, study):
            raise PermissionDenied
        jobs = list(selectors.generation_jobs_to_offer(study))
        initial = [
            {
                "job": job.pk,
                "system": job.model_id or "generated",
                "utterance_id": _suggested_utterance(job),
            }
            for job in jobs
        ]
        formset = JobStimulusFormSet(request.POST or None, initial=initial)
        if request.method == "POST" and formset.is_valid():
            items = [form.cleaned_data for form in formset if form.cleaned_data.get("add")]
            try:
                if not items:
                    raise errors.AnnotationError("tick at least one job")
                stored = services.stimuli_add_from_jobs(study=study, items=items)
            except errors.AnnotationError as exc:
                self.message_user(request, f"Nothing was added: {exc}.", messages.ERROR)
            else:
                self.message_user(request, f"Added {len(stored)} stimuli.", messages.SUCCESS)
                return redirect("admin:annotation_study_change", study.pk)
        by_id = {str(job.pk): job for job in jobs}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Add stimuli from generation jobs to {study}",
            "study": study,
            "formset": formset,
            "rows": [(by_id.get(str(form["job"].value())), form) for form in formset],
        }
        return TemplateResponse(request, "admin/annotation/study/from_jobs.html", context)


class StimulusForm(forms.ModelForm):
    """The admin's stimulus form (its fields come from StimulusAdmin), with the service's check
    that lip-reading items carry the words they are scored against."""

    def clean(self):
        data = super().clean()
        if data.get("study") is not None:
            try:
                services.stimulus_check_expected_words(
                    study=data["study"],
                    role=data.get("role", ""),
                    reference_text=data.get("reference_text", ""),
                    gold_answers=data.get("gold_answers") or {},
                    name=f"{data.get('system')}/{data.get('utterance_id')}",
                )
            except errors.AnnotationError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return data


@admin.register(Stimulus)
class StimulusAdmin(admin.ModelAdmin):
    form = StimulusForm
    list_display = ["study", "system", "utterance_id", "role", "is_real", "duration_s"]
    list_filter = ["study", "role", "is_real", "system"]
    search_fields = ["utterance_id", "system"]
    readonly_fields = ["duration_s", "source_job"]

    def save_model(self, request, obj, form, change):
        # An uploaded clip goes through the same cleaning as the API's: no metadata, a random
        # name, no audio for lip reading.
        upload = form.cleaned_data.get("media") if "media" in form.changed_data else None
        if upload is not None and hasattr(upload, "temporary_file_path"):
            obj.media = Stimulus._meta.get_field("media").get_default()
            super().save_model(request, obj, form, change)
            services.stimulus_set_media(stimulus=obj, path=upload.temporary_file_path())
        else:
            super().save_model(request, obj, form, change)


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = ["external_id", "platform", "study", "created_at"]
    list_filter = ["study", "platform"]
    search_fields = ["external_id"]


class SessionItemInline(admin.TabularInline):
    model = SessionItem
    extra = 0
    readonly_fields = ["stimulus", "position", "token"]
    can_delete = False


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "rater", "block", "status", "qc_verdict", "consented_at"]
    list_filter = ["study", "status", "qc_verdict"]
    readonly_fields = ["id", "rater", "study", "block", "consented_at", "started_at", "finished_at"]
    inlines = [SessionItemInline]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["session", "stimulus", "question", "value", "played_to_end", "created_at"]
    list_filter = ["question__study", "question"]

    # Responses are evidence: staff read them, nobody edits them in place.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
