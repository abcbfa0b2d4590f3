"""Staff dashboard: the study list; per study progress, MOS charts, lip reading (human beside
machine), agreement, QC.

The pages only read `annotation.analysis` and `annotation.selectors`, as djangoproject.com's
dashboard reads its metrics; charts are drawn in the browser by the vendored Chart.js.
"""

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import analysis, design, errors, paper, qc, selectors, services
from .models import Study


@staff_member_required
def index(request):
    studies = [(study, selectors.session_counts(study)) for study in Study.objects.all()]
    return render(request, "annotation/dashboard/index.html", {"studies": studies})


@staff_member_required
def study(request, slug):
    study = get_object_or_404(Study, slug=slug)
    results = analysis.study_results(study)
    scales = {q.key: [q.scale_min, q.scale_max] for q in study.questions.all()}
    chart = [
        {
            "question": r["question"],
            "system": r["system"],
            "mos": r["mean"],
            "ci95": r["ci95"],
            "ci95_crowdmos": r["ci95_crowdmos"],
            "scale": scales[r["question"]],
        }
        for r in results.get("mos", [])
    ]
    context = {
        "study": study,
        "results": results,
        "progress": selectors.study_progress(study),
        "raters": analysis.rater_table(study),
        "chart": chart,
        "exports": ["long.csv", "stimuli.csv", "raters.csv", "full.json", "paper.md", "paper.tex"],
        "paper_markdown": paper.markdown(study),
        "warnings": design.design_warnings(study),
        "scale_questions": study.questions.filter(kind="scale"),
    }
    return render(request, "annotation/dashboard/study.html", context)


@staff_member_required
@require_POST
def qc_rerun(request, slug):
    study = get_object_or_404(Study, slug=slug)
    qc.verdicts_rerun(study=study)
    return redirect("annotation:dashboard-study", study.slug)


@staff_member_required
@require_POST
def lipread(request, slug):
    study = get_object_or_404(Study, slug=slug)
    try:
        services.study_lipread(study=study)
    except errors.AnnotationError as err:
        return HttpResponseBadRequest(str(err))
    return redirect("annotation:dashboard-study", study.slug)
