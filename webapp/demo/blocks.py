"""The demo's Gradio Blocks, built on a backend: the site's jobs, or in-process in a Space."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import gradio as gr

from webapp.demo.examples import example_photo, example_speech_clip

AUDIO_NOISES = ["none", "white", "pink", "babble"]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
VOICES = ["en-us", "en", "en-us+f3", "en+m3", "en-gb-x-rp"]
# About ten seconds of espeak-ng speech in the GRID grammar the demo models were trained on.
EXAMPLE_TEXT = (
    "Bin blue at F two now. Place red by G nine soon. Lay green with H four please. "
    "Set white in J one again. Bin red at K six now."
)
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
        """Validate, run or enqueue, and yield updates until the job finishes.

        Bad input raises gr.Error with a message naming the problem."""

    def list_jobs(self, request) -> list[list]:
        """Rows [id, kind, model, status, progress, message, created] of the requester's jobs."""

    def models(self, kind: str) -> list[tuple[str, str]]:
        """(label, model id) choices for a job kind."""


def model_choices(kind: str) -> list[tuple[str, str]]:
    """(label, id) of the registry's models for a job kind that have weights here, with their
    kind of weights (paper or demo) and licence in the label."""
    from modelzoo.zoo.loading import weights_available
    from modelzoo.zoo.registry import models_for_kind

    return [
        (f"{e.id} ({e.kind} weights, licence {e.licence})", e.id)
        for e in models_for_kind(kind)
        if weights_available(e)
    ]


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
    state = f"**{update.status.capitalize()}** {update.progress:.0%}"
    return f"{state}: {update.message} (job `{update.job_id}`)"


def _follow(updates: Iterator[JobUpdate], progress: gr.Progress, results) -> Iterator[tuple]:
    """Turn job updates into (status markdown, *results(update)) for a tab's result components;
    `results` gets the update once the job has finished and None (empty results) before."""
    for update in updates:
        progress(update.progress, desc=update.message or update.status)
        yield _status_line(update), *results(update if update.finished else None)


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
            backend.submit("corrupt", "", params, {_media_role(path): path}, request),
            progress,
            _media_results,
        )

    run.click(submit, [media, noise, snr, partial, visual, fraction, seed], list(results))


def _model_picker(choices: list[tuple[str, str]], what: str):
    if not choices:
        gr.Markdown(f"*No {what} model is installed on this server yet.*")
    return gr.Dropdown(
        choices, value=choices[0][1] if choices else None, label="Model", elem_id=None
    )


def _generate_tab(backend: Backend) -> None:
    choices = backend.models("generate")
    gr.Markdown(
        "A face (video or photo) and speech (an audio file, or text spoken by espeak-ng) in; "
        "a talking-face video with that speech out."
    )
    with gr.Row():
        with gr.Column():
            model = _model_picker(choices, "generation")
            face = gr.File(
                label="Face video or photo", file_types=["video", "image"], elem_id="generate-face"
            )
            audio = gr.File(
                label="Speech audio (wav, mp3, m4a)", file_types=["audio"], elem_id="generate-audio"
            )
            text = gr.Textbox(
                label="...or text to speak", lines=2, max_length=500, elem_id="generate-text"
            )
            voice = gr.Dropdown(VOICES, value=VOICES[0], label="Voice (for text)")
            run = gr.Button(
                "Generate", variant="primary", interactive=bool(choices), elem_id="generate-run"
            )
            gr.Examples(
                [[str(example_photo()), None, EXAMPLE_TEXT]],
                [face, audio, text],
                label="Example: scikit-image's astronaut photograph",
                elem_id="generate-examples",
            )
        with gr.Column():
            results = _result_components("generate")

    def submit(
        model_id, face_path, audio_path, text, voice, request: gr.Request, progress=gr.Progress()
    ):
        if not face_path:
            raise gr.Error("Upload a face video or photo.")
        if not audio_path and not (text or "").strip():
            raise gr.Error("Upload speech audio or type the text to speak.")
        face_role = "image" if Path(face_path).suffix.lower() in IMAGE_SUFFIXES else "video"
        files = {face_role: face_path}
        params: dict = {}
        if audio_path:
            files["audio"] = audio_path
        else:
            params = {"text": text.strip(), "voice": voice}
        updates = backend.submit("generate", model_id or "", params, files, request)
        yield from _follow(updates, progress, _media_results)

    run.click(submit, [model, face, audio, text, voice], list(results))


def _transcribe_tab(backend: Backend) -> None:
    choices = backend.models("transcribe")
    gr.Markdown(
        "A speaking-face video in; its transcript out, with how much the model relied on the "
        "audio and on the lips in each frame (AV-RelScore's reliability scores). A video with no "
        "face is transcribed from audio alone, one with no audio from the lips alone."
    )
    with gr.Row():
        with gr.Column():
            model = _model_picker(choices, "speech recognition")
            video = gr.File(
                label="Video of a speaking face (or an audio file)",
                file_types=["video", "audio"],
                elem_id="transcribe-media",
            )
            decoder = gr.Radio(
                ["greedy", "beam"], value="greedy", label="Decoding", elem_id="transcribe-decoder"
            )
            beam_size = gr.Slider(2, 40, value=10, step=1, label="Beam size (beam decoding)")
            with gr.Accordion("Corrupt, then transcribe", open=False):
                corrupt_first = gr.Checkbox(
                    False,
                    label="Corrupt the clip first (as the Corrupt tab does) and shade the "
                    "corrupted stretches on the plot",
                    elem_id="transcribe-corrupt-first",
                )
                noise = gr.Dropdown(AUDIO_NOISES, value="babble", label="Audio noise")
                snr = gr.Slider(-10, 30, value=0, step=0.5, label="SNR (dB)")
                partial = gr.Checkbox(True, label="Noise on parts of the clip only")
                visual = gr.Dropdown(
                    VIDEO_CORRUPTIONS, value="occlusion", label="Visual corruption"
                )
                fraction = gr.Slider(0.05, 1.0, value=0.4, step=0.05, label="Share of frames")
                seed = gr.Number(0, precision=0, label="Seed")
            run = gr.Button(
                "Transcribe", variant="primary", interactive=bool(choices), elem_id="transcribe-run"
            )
            clip, sentence = example_speech_clip()
            gr.Examples(
                [[str(clip)]],
                [video],
                label=f"Example: a SynthGrid clip held out from the demo model's training, "
                f"saying “{sentence}”",
                elem_id="transcribe-examples",
            )
        with gr.Column():
            status = gr.Markdown("", elem_id="transcribe-status")
            transcript = gr.Textbox(
                label="Transcript", interactive=False, elem_id="transcribe-text"
            )
            notice = gr.Markdown("", elem_id="transcribe-notice")
            plot = gr.Image(
                type="filepath",
                interactive=False,
                label="Reliability scores of each stream, frame by frame",
                elem_id="transcribe-plot",
            )
            files = gr.File(
                label="Download",
                file_count="multiple",
                interactive=False,
                elem_id="transcribe-files",
            )

    def submit(
        model_id,
        media_path,
        decoder,
        beam_size,
        corrupt_first,
        noise,
        snr_db,
        partial,
        visual,
        fraction,
        seed,
        request: gr.Request,
        progress=gr.Progress(),
    ):
        if not media_path:
            raise gr.Error("Upload a video first.")
        params = {"decoder": decoder}
        if decoder == "beam":
            params["beam_size"] = int(beam_size)
        corruption = None
        if corrupt_first:
            corrupted = None
            settings = corruption_params(noise, snr_db, partial, visual, fraction, seed)
            job = backend.submit("corrupt", "", settings, {_media_role(media_path): media_path},
                                 request)  # fmt: skip
            for update in job:
                progress(update.progress, desc=f"corrupting: {update.message or update.status}")
                yield f"Corrupting first. {_status_line(update)}", "", "", None, None
                corrupted = update
            if corrupted is None or corrupted.status != "succeeded":
                return
            media_path, corruption = _corrupted_media(corrupted.outputs)
        role = _media_role(media_path)
        updates = backend.submit("transcribe", model_id or "", params, {role: media_path}, request)
        yield from _follow(
            updates, progress, lambda update: _transcript_results(update, corruption)
        )

    run.click(
        submit,
        [model, video, decoder, beam_size, corrupt_first, noise, snr, partial, visual, fraction,
         seed],
        [status, transcript, notice, plot, files],
    )  # fmt: skip


def _corrupted_media(outputs: list[Path]) -> tuple[str, dict | None]:
    """The corrupted clip of a finished corrupt job and its corruption.json (where it is)."""
    media = next(p for p in outputs if p.name.startswith("corrupted."))
    stretches = next((p for p in outputs if p.name == "corruption.json"), None)
    return str(media), json.loads(stretches.read_text()) if stretches else None


def _media_results(update: JobUpdate | None) -> tuple:
    """(video, audio, files) of a finished job whose outputs are media."""
    if update is None:
        return None, None, None
    video = next((str(p) for p in update.outputs if p.suffix in VIDEO_SUFFIXES), None)
    audio = next((str(p) for p in update.outputs if p.suffix in {".wav", ".mp3", ".m4a"}), None)
    return video, audio, [str(p) for p in update.outputs] or None


def _transcript_results(update: JobUpdate | None, corruption: dict | None = None) -> tuple:
    """(transcript, notice, reliability plot PNG, files) of a finished transcribe job;
    `corruption` (a corruption.json) shades the stretches a corrupt job corrupted."""
    from webapp.demo.reliability import reliability_figure

    found = [p for p in update.outputs if p.name == "transcript.json"] if update else []
    if not found:
        return "", "", None, ([str(p) for p in update.outputs] or None) if update else None
    result = json.loads(found[0].read_text())
    plot = reliability_figure(result, corruption, found[0].with_name("reliability.png"))
    return (
        result["text"],
        _mode_line(result),
        str(plot) if plot else None,
        [str(p) for p in update.outputs],
    )


def _mode_line(result: dict) -> str:
    line = f"Mode: **{result['mode']}**."
    return f"{line} {result['notice']}" if result.get("notice") else line


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
