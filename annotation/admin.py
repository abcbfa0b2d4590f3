"""Admin for crowd studies: design studies and stimuli; responses are read-only (append-only)."""

from django.contrib import admin

from . import services
from .models import Question, Rater, Response, Session, SessionItem, Stimulus, Study


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "kind", "platform", "is_open", "created_at"]
    list_filter = ["kind", "platform", "is_open"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [QuestionInline]


@admin.register(Stimulus)
class StimulusAdmin(admin.ModelAdmin):
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
