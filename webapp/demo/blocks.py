"""The Gradio Blocks of the demo, built from a backend: the Django site's jobs, or in-process in a Space."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import gradio as gr

AUDIO_NOISES = ["none", "white", "pink", "babble"]
VIDEO_CORRUPTIONS = ["none", "gaussian", "blur", "occlusion"]
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}


@dataclass
class JobUpdate:
    """One look at a running job, as the page shows it."""

    job_id: str
    status: str
    progress: float
    message: str
    error: str = ""
    outputs: list[Path] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in {"succeeded", "failed", "cancelled"}


class Backend(Protocol):
    def submit(
        self, kind: str, model: str, params: dict, files: dict[str, str], request
    ) -> Iterator[JobUpdate]:
        """Validate, run or enqueue, and yield updates until the job finishes; raise gr.Error on bad input."""

    def list_jobs(self, request) -> list[list]:
        """Rows [id, kind, model, status, progress, message, created] of the requester's jobs."""

    def models(self, kind: str) -> list[tuple[str, str]]:
        """(label, model id) choices for a job kind."""


def corruption_params(
    noise: str, snr_db: float, partial: bool, visual: str, fraction: float, seed: int
) -> dict:
    params: dict = {"seed": int(seed)}
    if noise != "none":
        params["audio"] = {"noise": noise, "snr_db": float(snr_db), "partial": bool(partial)}
    if visual != "none":
        params["video"] = {"kind": visual, "fraction": float(fraction)}
    return params


def _status_line(update: JobUpdate) -> str:
    if update.status == "failed":
        return f"**Failed** (job `{update.job_id}`): {update.error}"
    if update.status == "succeeded":
        return f"**Done** (job `{update.job_id}`)."
    return f"**{update.status.capitalize()}** {update.progress:.0%}: {update.message} (job `{update.job_id}`)"


def _follow(updates: Iterator[JobUpdate], progress: gr.Progress) -> Iterator[tuple]:
    """Turn job updates into (status markdown, video, audio, files) for the result components."""
    for update in updates:
        progress(update.progress, desc=update.message or update.status)
        if not update.finished:
            yield _status_line(update), None, None, None
            continue
        video = next((str(p) for p in update.outputs if p.suffix in VIDEO_SUFFIXES), None)
        audio = next((str(p) for p in update.outputs if p.suffix in {".wav", ".mp3", ".m4a"}), None)
        files = [str(p) for p in update.outputs] or None
        yield _status_line(update), video, audio, files


def _media_role(path: str) -> str:
    """A corrupt upload is a 'video' when it has a video stream, else 'audio'."""
    from modelzoo.errors import UserError
    from modelzoo.media.probe import probe

    try:
        return "video" if probe(path).has_video else "audio"
    except UserError:
        return "video"  # validation then names the problem with this file


def _result_components(tab: str):
    status = gr.Markdown("", elem_id=f"{tab}-status")
    video = gr.Video(label="Result video", interactive=False, elem_id=f"{tab}-video")
    audio = gr.Audio(
        label="Result audio", interactive=False, type="filepath", elem_id=f"{tab}-audio"
    )
    files = gr.File(
        label="Download", file_count="multiple", interactive=False, elem_id=f"{tab}-files"
    )
    return status, video, audio, files


def build_demo(backend: Backend, *, title: str = "SyncLab") -> gr.Blocks:
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {title}\nTalking-face generation (CALS, Audio-Lip Memory) and robust audio-visual "
            "speech recognition (AV-RelScore). Your jobs are private to this browser session."
        )
        with gr.Tab("Generate", id="generate"):
            _generate_tab(backend)
        with gr.Tab("Transcribe", id="transcribe"):
            _transcribe_tab(backend)
        with gr.Tab("Corrupt", id="corrupt"):
            _corrupt_tab(backend)
        with gr.Tab("Jobs", id="jobs"):
            table, rows = _jobs_tab(backend)
        demo.load(rows, None, table)
    return demo


def _corrupt_tab(backend: Backend) -> None:
    gr.Markdown("Add audio noise at an exact SNR and/or visual noise, blur or occlusion to a clip.")
    with gr.Row():
        with gr.Column():
            media = gr.File(
                label="Video (with audio) or audio file",
                file_types=["video", "audio"],
                elem_id="corrupt-media",
            )
            noise = gr.Dropdown(
                AUDIO_NOISES, value="white", label="Audio noise", elem_id="corrupt-noise"
            )
            snr = gr.Slider(-10, 30, value=5, step=0.5, label="SNR (dB)", elem_id="corrupt-snr")
            partial = gr.Checkbox(
                False, label="Noise on parts of the clip only (paper's partial noise)"
            )
            visual = gr.Dropdown(VIDEO_CORRUPTIONS, value="none", label="Visual corruption")
            fraction = gr.Slider(0.05, 1.0, value=0.3, step=0.05, label="Share of frames corrupted")
            seed = gr.Number(0, precision=0, label="Seed")
            run = gr.Button("Corrupt", variant="primary", elem_id="corrupt-run")
        with gr.Column():
            results = _result_components("corrupt")

    def submit(
        path,
        noise,
        snr_db,
        partial,
        visual,
        fraction,
        seed,
        request: gr.Request,
        progress=gr.Progress(),
    ):
        if not path:
            raise gr.Error("Upload a video or audio file first.")
        params = corruption_params(noise, snr_db, partial, visual, fraction, seed)
        yield from _follow(
            backend.submit("corrupt", "", params, {_media_role(path): path}, request), progress
        )

    run.click(submit, [media, noise, snr, partial, visual, fraction, seed], list(results))


def _generate_tab(backend: Backend) -> None:
    choices = backend.models("generate")
    gr.Markdown(
        "Speech audio and a face (video or photo) in; a talking-face video out."
        + ("" if choices else "\n\n*No generation model is installed on this server yet.*")
    )
    with gr.Row():
        with gr.Column():
            model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Model")
            face = gr.File(label="Face video or photo", file_types=["video", "image"])
            audio = gr.File(label="Speech audio", file_types=["audio"])
            run = gr.Button("Generate", variant="primary", interactive=bool(choices))
        with gr.Column():
            results = _result_components("generate")

    def submit(model_id, face_path, audio_path, request: gr.Request, progress=gr.Progress()):
        if not face_path or not audio_path:
            raise gr.Error("Upload a face video or photo and a speech audio file.")
        face_role = (
            "image" if Path(face_path).suffix.lower() in {".png", ".jpg", ".jpeg"} else "video"
        )
        files = {face_role: face_path, "audio": audio_path}
        yield from _follow(backend.submit("generate", model_id or "", {}, files, request), progress)

    run.click(submit, [model, face, audio], list(results))


def _transcribe_tab(backend: Backend) -> None:
    choices = backend.models("transcribe")
    gr.Markdown(
        "A speaking-face video in; a transcript with per-frame audio and visual reliability out."
        + ("" if choices else "\n\n*No speech recognition model is installed on this server yet.*")
    )
    with gr.Row():
        with gr.Column():
            model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Model")
            video = gr.File(label="Video of a speaking face", file_types=["video"])
            run = gr.Button("Transcribe", variant="primary", interactive=bool(choices))
        with gr.Column():
            results = _result_components("transcribe")

    def submit(model_id, video_path, request: gr.Request, progress=gr.Progress()):
        if not video_path:
            raise gr.Error("Upload a video first.")
        updates = backend.submit("transcribe", model_id or "", {}, {"video": video_path}, request)
        yield from _follow(updates, progress)

    run.click(submit, [model, video], list(results))


def _jobs_tab(backend: Backend):
    table = gr.Dataframe(
        headers=["id", "kind", "model", "status", "progress", "message", "created"],
        interactive=False,
        elem_id="jobs-table",
    )
    refresh = gr.Button("Refresh", elem_id="jobs-refresh")

    def rows(request: gr.Request):
        return backend.list_jobs(request)

    refresh.click(rows, None, table)
    return table, rows
