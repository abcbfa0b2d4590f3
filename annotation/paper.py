"""A paper-ready results table, in Markdown and LaTeX, computed afresh from `annotation.analysis`.

One row per system: MOS ± 95% CI per rating question (the study's CI convention), a dagger where
the system differs from the chosen reference (paired t-test on per-utterance means, Holm-adjusted
over the comparisons with the reference, p < 0.05), and for lip reading the word accuracy and
the relative word accuracy to the real videos with its bootstrap CI. The notes under the table
name the conventions, the screening and the raters, so the table can be pasted as it is.
"""

from . import analysis

ALPHA = 0.05


def reference_tests(pairwise: list[dict], reference: str) -> dict:
    """{(question, system): Holm-adjusted p} of each system against `reference`."""
    by_question = {}
    for test in pairwise:
        if reference in (test["a"], test["b"]):
            other = test["b"] if test["a"] == reference else test["a"]
            by_question.setdefault(test["question"], []).append((other, test["p"]))
    result = {}
    for question, tests in by_question.items():
        for (system, _), p in zip(tests, analysis.holm([p for _, p in tests]), strict=True):
            result[(question, system)] = p
    return result


def paper_table(study, reference: str = "") -> dict:
    """Columns, rows and notes of the table (see the module docstring)."""
    results = analysis.study_results(study)
    mos = results.get("mos", [])
    lips = {r["system"]: r for r in results.get("lipreading", [])}
    questions = list(dict.fromkeys(r["question"] for r in mos))
    systems = sorted({r["system"] for r in mos} | set(lips))
    if not reference:
        reference = "real" if "real" in systems else (systems[0] if systems else "")
    p_ref = reference_tests(results.get("pairwise", []), reference)
    ci_key = "ci95" if study.ci_convention == "t" else "ci95_z"
    cells = {(r["question"], r["system"]): r for r in mos}
    rows = []
    for system in systems:
        row = {"system": system, "reference": system == reference, "cells": {}}
        for q in questions:
            r = cells.get((q, system))
            if r is None:
                row["cells"][q] = None
                continue
            p = p_ref.get((q, system))
            row["cells"][q] = {
                "mean": r["mean"],
                "ci": r[ci_key],
                "significant": p is not None and p < ALPHA,
            }
        lip = lips.get(system)
        row["word_accuracy"] = lip["word_accuracy"] if lip else None
        row["relative_pct"] = lip["relative_pct"] if lip else None
        row["relative_ci95"] = lip["relative_ci95"] if lip else None
        rows.append(row)
    raters = study.sessions.filter(status="completed", qc_verdict__in=["accept", "pending"])
    notes = [
        f"MOS ± {results['ci_convention_text']}.",
        f"† differs from {reference} (paired t-test on per-utterance means, Holm-adjusted, "
        f"p < {ALPHA:g})."
        if p_ref
        else "No significance test: no system shares utterances with the reference.",
        f"Screening: {results['screening']}.",
        f"{raters.count()} raters kept.",
    ]
    if lips:
        notes.append(
            "Word accuracy = 1 − WER on pooled counts (normalisation "
            f"{results['normalisation']}); relative = Acc(system) / Acc(real), bootstrap 95% CI."
        )
    return {
        "questions": questions,
        "rows": rows,
        "reference": reference,
        "lipreading": bool(lips),
        "notes": notes,
    }


def _mos_text(cell, latex: bool) -> str:
    if cell is None or cell["mean"] is None:
        return "–"
    ci = "" if cell["ci"] is None else f"{cell['ci']:.2f}"
    if latex:
        mark = "^{\\dagger}" if cell["significant"] else ""
        return f"${cell['mean']:.2f}" + (f" \\pm {ci}" if ci else "") + f"{mark}$"
    return f"{cell['mean']:.2f}" + (f" ± {ci}" if ci else "") + ("†" if cell["significant"] else "")


def _lip_cells(row, latex: bool) -> list[str]:
    pct = "\\%" if latex else "%"
    acc = "–" if row["word_accuracy"] is None else f"{100 * row['word_accuracy']:.1f}{pct}"
    if row["relative_pct"] is None:
        return [acc, "–"]
    low, high = row["relative_ci95"]
    dash = "--" if latex else "–"
    return [acc, f"{row['relative_pct']:.1f}{pct} [{low:.1f}{dash}{high:.1f}]"]


def _header(table) -> list[str]:
    header = ["System", *table["questions"]]
    if table["lipreading"]:
        header += ["Word accuracy", "Relative to real (95% CI)"]
    return header


def markdown(study, reference: str = "") -> str:
    table = paper_table(study, reference)
    header = _header(table)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table["rows"]:
        name = row["system"] + (" (reference)" if row["reference"] else "")
        cells = [_mos_text(row["cells"][q], latex=False) for q in table["questions"]]
        if table["lipreading"]:
            cells += _lip_cells(row, latex=False)
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(table["notes"]) + "\n"


LATEX_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {"~": "\\textasciitilde{}", "^": "\\^{}"}


def _tex(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(c, c) for c in str(text))


def latex(study, reference: str = "") -> str:
    table = paper_table(study, reference)
    header = _header(table)
    lines = [
        "% needs \\usepackage{booktabs}",
        "\\begin{tabular}{l" + "c" * (len(header) - 1) + "}",
        "\\toprule",
        " & ".join(_tex(h) for h in header) + " \\\\",
        "\\midrule",
    ]
    for row in table["rows"]:
        name = _tex(row["system"]) + (" (ref.)" if row["reference"] else "")
        cells = [_mos_text(row["cells"][q], latex=True) for q in table["questions"]]
        if table["lipreading"]:
            cells += _lip_cells(row, latex=True)
        lines.append(" & ".join([name, *cells]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    notes = [_tex(n).replace("†", "$^{\\dagger}$").replace("±", "$\\pm$") for n in table["notes"]]
    return "\n".join(lines) + "\n% " + "\n% ".join(notes) + "\n"
