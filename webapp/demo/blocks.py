"""The demo's Gradio Blocks, built on a backend: the site's jobs, or in-process in a Space."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import gradio as gr
from anyio.to_thread import run_sync

from modelzoo.corruption.params import NOISE_KINDS, VIDEO_KINDS, AudioNoiseParams
from modelzoo.media.probe import MediaInfo
from webapp.demo.examples import example_photo, example_speech_clip
from webapp.jobs.kinds import GenerateParams, TranscribeParams, field_range, models_for_kind

AUDIO_NOISES = ["none", *NOISE_KINDS]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
VOICES = ["en-us", "en", "en-us+f3", "en+m3", "en-gb-x-rp"]
# About ten seconds of espeak-ng speech in the GRID grammar the demo models were trained on.
EXAMPLE_TEXT = (
    "Bin blue at F two now. Place red by G nine soon. Lay green with H four please. "
    "Set white in J one again. Bin red at K six now."
)
VIDEO_CORRUPTIONS = ["none", *VIDEO_KINDS]
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
POLL_SECONDS = 0.5
# Events of one tab that run at once. A submission's handler queues its job and then waits in an
# asyncio sleep that holds no thread, so this bounds memory, not work: Gradio's default of one at a
# time made every visitor's job wait for a stranger's job to finish before it was even queued.
EVENT_CONCURRENCY = 200
# The controls offer what the job kinds accept (webapp.jobs.kinds), read from their one definition.
SNR_DB = field_range(AudioNoiseParams, "snr_db")
BEAM_SIZES = field_range(TranscribeParams, "beam_size")
MAX_TEXT_CHARS = field_range(GenerateParams, "text")[1]


@dataclass
class JobUpdate:
    """One look at a running job, as the page shows it."""

    job_id: str
    status: str
    progress: float
    message: str
    error: str = ""
    outputs: list[Path] = field(default_factory=list)
    ahead: int | None = None  # queued jobs before this one on its worker queue, where known

    @property
    def finished(self) -> bool:
        return self.status in {"succeeded", "failed", "cancelled"}


class Backend(Protocol):
    def submit(
        self,
        kind: str,
        model: str,
        params: dict,
        files: dict[str, str],
        request,
        probes: dict[str, MediaInfo] | None = None,
    ) -> str:
        """Validate and queue a job; return its id without waiting for it to run. `probes` has
        the page's probe of a file by role, which the backend checks rather than probing again.

        Bad input raises gr.Error with a message naming the problem."""

    def poll(self, job_id: str) -> JobUpdate:
        """The job as it stands now."""

    def list_jobs(self, request) -> list[list]:
        """Rows [id, kind, model, status, progress, message, created] of the requester's jobs."""

    def models(self, kind: str) -> list[tuple[str, str]]:
        """(label, model id) choices for a job kind."""


def model_choices(kind: str) -> list[tuple[str, str]]:
    """(label, id) of the registry's models for a job kind that have weights here, with their
    kind of weights (paper or demo) and licence in the label."""
    from modelzoo.zoo.loading import weights_available

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
    if update.status == "queued" and update.ahead is not None:
        waiting = {0: "nobody", 1: "1 job"}.get(update.ahead, f"{update.ahead} jobs")
        return (
            f"**Queued**: number {update.ahead + 1} in the queue ({waiting} ahead of yours; "
            f"job `{update.job_id}`)"
        )
    state = f"**{update.status.capitalize()}** {update.progress:.0%}"
    return f"{state}: {update.message} (job `{update.job_id}`)"


async def _updates(
    backend: Backend,
    kind: str,
    model: str,
    params: dict,
    files: dict[str, str],
    request,
    probes: dict[str, MediaInfo] | None = None,
) -> AsyncIterator[JobUpdate]:
    """Submit a job, then poll it until it finishes. The backend's calls run in threads (they
    touch the database and ffprobe); the waiting between polls holds none."""
    submit = functools.partial(backend.submit, probes=probes)
    job_id = await run_sync(submit, kind, model, params, files, request)
    while True:
        update = await run_sync(backend.poll, job_id)
        yield update
        if update.finished:
            return
        await asyncio.sleep(POLL_SECONDS)


async def _follow(
    updates: AsyncIterator[JobUpdate], progress: gr.Progress, results: Callable
) -> AsyncIterator[tuple]:
    """Turn job updates into (status markdown, *results(update)) for a tab's result components;
    `results` gets the update once the job has finished and None (empty results) before; it runs
    in a thread, as it may read files and draw plots."""
    async for update in updates:
        progress(update.progress, desc=update.message or update.status)
        yield _status_line(update), *await run_sync(results, update if update.finished else None)


def _media_file(path: str) -> tuple[dict[str, str], dict[str, MediaInfo]]:
    """A corrupt or transcribe upload by its role, a 'video' when it has a video stream, else
    'audio'; with the probe that told, for the backend's check to reuse (none when the probe
    failed: the backend's check then names the problem with this file)."""
    from modelzoo.errors import UserError
    from modelzoo.media.probe import probe

    try:
        info = probe(path)
    except UserError:
        return {"video": path}, {}
    role = "video" if info.has_video else "audio"
    return {role: path}, {role: info}


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


def build_demo(
    backend: Backend, *, title: str = "SyncLab", event_concurrency: int | None = EVENT_CONCURRENCY
) -> gr.Blocks:
    """`event_concurrency`: how many visitors' events of one tab run at once (None: no limit)."""
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {title}\nTalking-face generation (CALS, Audio-Lip Memory) and robust audio-visual "
            "speech recognition (AV-RelScore). Your jobs are private to this browser session."
        )
        with gr.Tab("Generate", id="generate"):
            _generate_tab(backend, event_concurrency)
        with gr.Tab("Transcribe", id="transcribe"):
            _transcribe_tab(backend, event_concurrency)
        with gr.Tab("Corrupt", id="corrupt"):
            _corrupt_tab(backend, event_concurrency)
        with gr.Tab("Jobs", id="jobs"):
            table, rows = _jobs_tab(backend)
        demo.load(rows, None, table)
    return demo


def _corrupt_tab(backend: Backend, concurrency: int | None) -> None:
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
            snr = gr.Slider(*SNR_DB, value=5, step=0.5, label="SNR (dB)", elem_id="corrupt-snr")
            partial = gr.Checkbox(
                False, label="Noise on parts of the clip only (paper's partial noise)"
            )
            visual = gr.Dropdown(VIDEO_CORRUPTIONS, value="none", label="Visual corruption")
            fraction = gr.Slider(0.05, 1.0, value=0.3, step=0.05, label="Share of frames corrupted")
            seed = gr.Number(0, precision=0, label="Seed")
            run = gr.Button("Corrupt", variant="primary", elem_id="corrupt-run")
        with gr.Column():
            results = _result_components("corrupt")

    async def submit(
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
        files, probes = await run_sync(_media_file, path)
        updates = _updates(backend, "corrupt", "", params, files, request, probes)
        async for outputs in _follow(updates, progress, _media_results):
            yield outputs

    run.click(
        submit,
        [media, noise, snr, partial, visual, fraction, seed],
        list(results),
        concurrency_limit=concurrency,
    )


def _model_picker(choices: list[tuple[str, str]], what: str):
    if not choices:
        gr.Markdown(f"*No {what} model is installed on this server yet.*")
    return gr.Dropdown(
        choices, value=choices[0][1] if choices else None, label="Model", elem_id=None
    )


def _generate_tab(backend: Backend, concurrency: int | None) -> None:
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
                label="...or text to speak",
                lines=2,
                max_length=MAX_TEXT_CHARS,
                elem_id="generate-text",
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

    async def submit(
        model_id, face_path, audio_path, text, voice, request: gr.Request, progress=gr.Progress()
    ):
        params, files = _generate_request(face_path, audio_path, text, voice)
        updates = _updates(backend, "generate", model_id or "", params, files, request)
        async for outputs in _follow(updates, progress, _media_results):
            yield outputs

    run.click(
        submit, [model, face, audio, text, voice], list(results), concurrency_limit=concurrency
    )
    _compare_section(backend, choices, [face, audio, text, voice], concurrency)


def _generate_request(face_path, audio_path, text, voice) -> tuple[dict, dict[str, str]]:
    """(params, files by role) of a generate job from the Generate tab's inputs."""
    if not face_path:
        raise gr.Error("Upload a face video or photo.")
    if not audio_path and not (text or "").strip():
        raise gr.Error("Upload speech audio or type the text to speak.")
    face_role = "image" if Path(face_path).suffix.lower() in IMAGE_SUFFIXES else "video"
    if audio_path:
        return {}, {face_role: face_path, "audio": audio_path}
    return {"text": text.strip(), "voice": voice}, {face_role: face_path}


def _first_of(choices: list[tuple[str, str]], architecture: str) -> str | None:
    """The first model id among `choices` with that architecture (alm, cals)."""
    from modelzoo.zoo.registry import entry

    return next((mid for _, mid in choices if entry(mid).architecture == architecture), None)


def _compare_section(
    backend: Backend, choices: list[tuple[str, str]], inputs: list, concurrency: int | None
) -> None:
    """Two generate jobs on the Generate tab's inputs, submitted together, shown side by side:
    Audio-Lip Memory on the left, CALS on the right, so that how CALS's phonetic context (its
    Audio-to-Lip stage reads the neighbouring phones) changes the lips can be seen."""
    with gr.Accordion(
        "Compare: Audio-Lip Memory and CALS side by side", open=False, elem_id="compare"
    ):
        gr.Markdown(
            "Runs two models on the face and speech above as two jobs started together, and "
            "shows their videos side by side."
        )
        with gr.Row():
            sides = [
                gr.Dropdown(choices, value=_first_of(choices, arch), label=label,
                            elem_id=f"compare-{side}-model")
                for side, arch, label in [("left", "alm", "Left model"),
                                          ("right", "cals", "Right model")]
            ]  # fmt: skip
        run = gr.Button("Generate both", interactive=bool(choices), elem_id="compare-run")
        status = gr.Markdown("", elem_id="compare-status")
        with gr.Row():
            videos = [
                gr.Video(label=f"{side.capitalize()} model", interactive=False,
                         elem_id=f"compare-{side}-video")
                for side in ("left", "right")
            ]  # fmt: skip

    async def submit(
        left, right, face_path, audio_path, text, voice, request: gr.Request,
        progress=gr.Progress(),
    ):  # fmt: skip
        if not left or not right:
            raise gr.Error("Choose a model for each side.")
        params, files = _generate_request(face_path, audio_path, text, voice)
        # both jobs are queued before either is waited on
        jobs = [await run_sync(backend.submit, "generate", m, params, files, request)
                for m in (left, right)]  # fmt: skip
        while True:
            updates = [await run_sync(backend.poll, job) for job in jobs]
            progress(sum(u.progress for u in updates) / 2, desc="generating with both models")
            pairs = zip((left, right), updates, strict=True)
            lines = "\n\n".join(f"`{m}`: {_status_line(u)}" for m, u in pairs)
            videos = [await run_sync(_media_results, u if u.finished else None) for u in updates]
            yield lines, *(v[0] for v in videos)
            if all(u.finished for u in updates):
                return
            await asyncio.sleep(POLL_SECONDS)

    run.click(submit, [*sides, *inputs], [status, *videos], concurrency_limit=concurrency)


def _transcribe_tab(backend: Backend, concurrency: int | None) -> None:
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
            beam_size = gr.Slider(*BEAM_SIZES, value=10, step=1, label="Beam size (beam decoding)")
            with gr.Accordion("Corrupt, then transcribe", open=False):
                corrupt_first = gr.Checkbox(
                    False,
                    label="Corrupt the clip first (as the Corrupt tab does) and shade the "
                    "corrupted stretches on the plot",
                    elem_id="transcribe-corrupt-first",
                )
                noise = gr.Dropdown(AUDIO_NOISES, value="babble", label="Audio noise")
                snr = gr.Slider(*SNR_DB, value=0, step=0.5, label="SNR (dB)")
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

    async def submit(
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
            files, probes = await run_sync(_media_file, media_path)
            corrupting = _updates(backend, "corrupt", "", settings, files, request, probes)
            async for update in corrupting:
                progress(update.progress, desc=f"corrupting: {update.message or update.status}")
                yield f"Corrupting first. {_status_line(update)}", "", "", None, None
                corrupted = update
            if corrupted is None or corrupted.status != "succeeded":
                return
            media_path, corruption = _corrupted_media(corrupted.outputs)
        files, probes = await run_sync(_media_file, media_path)
        updates = _updates(backend, "transcribe", model_id or "", params, files, request, probes)
        results = functools.partial(_transcript_results, corruption=corruption)
        async for outputs in _follow(updates, progress, results):
            yield outputs

    run.click(
        submit,
        [model, video, decoder, beam_size, corrupt_first, noise, snr, partial, visual, fraction,
         seed],
        [status, transcript, notice, plot, files],
        concurrency_limit=concurrency,
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
