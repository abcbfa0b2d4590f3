"""The demo's backend in a Hugging Face Space: jobs run in this process, with no Django or Celery.

Each job gets a folder under the work dir (input/ holds the uploads, output/ the results); its kind
runs (`webapp.jobs.kinds.run`, as the site's worker runs it) in a thread of its own, `runners` jobs
at a time (the rest wait their turn, and the page shows their place), and writes its progress on
the job, which the page polls. Jobs live in memory for the Jobs tab and belong to the browser's
Gradio session.
On ZeroGPU (`spaces` importable) the pipeline function is decorated with `spaces.GPU`.
"""

from __future__ import annotations

import contextvars
import dataclasses
import os
import tempfile
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import gradio as gr

from modelzoo.errors import UserError
from modelzoo.media.probe import MediaInfo, MediaLimits
from modelzoo.zoo.cache import ModelCache
from webapp.demo.blocks import JobUpdate, model_choices
from webapp.jobs import kinds

DEFAULT_MODEL_BUDGET = 4 * 2**30  # bytes of loaded weights kept between jobs
DEFAULT_RUNNERS = 1  # jobs computed at once: they share one device and its memory
GPU_SECONDS = 120  # ZeroGPU's time slot per job


def _run_pipeline(kind, model, params, files, probes, out_dir, progress):
    return kinds.run(
        kind,
        model=model,
        params=params,
        files=files,
        probes=probes,
        out_dir=out_dir,
        progress=progress,
    )


try:
    import spaces

    run_pipeline = spaces.GPU(duration=GPU_SECONDS)(_run_pipeline)
except ImportError:  # not on a ZeroGPU Space: run where the model is
    run_pipeline = _run_pipeline


@dataclass
class SpaceJob:
    id: str
    owner: str  # the Gradio session hash of the browser that submitted it
    kind: str
    model: str
    folder: Path
    inputs: dict[str, Path] = field(default_factory=dict)  # role -> our link to the upload
    probes: dict[str, MediaInfo] = field(default_factory=dict)  # role -> its probe at upload
    created: datetime = field(default_factory=datetime.now)
    update: JobUpdate | None = None

    def row(self) -> list:
        u = self.update
        return [
            self.id,
            self.kind,
            self.model,
            u.status,
            f"{u.progress:.0%}",
            u.error or u.message,
            self.created.strftime("%Y-%m-%d %H:%M:%S"),
        ]


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class InProcessBackend:
    """Backend protocol of webapp.demo.blocks, run in this process."""

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        budget_bytes: int = DEFAULT_MODEL_BUDGET,
        device: str | None = None,
        limits: MediaLimits | None = None,
        runners: int = DEFAULT_RUNNERS,
    ):
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="synclab-space-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.limits = limits or MediaLimits()
        self._device = device
        self.models_cache = ModelCache(self._load, budget_bytes)
        self._jobs: dict[str, SpaceJob] = {}
        self._lock = threading.Lock()  # Gradio runs handlers on several threads
        self._runners = threading.Semaphore(runners)

    def _load(self, model_id: str, revision: str):
        from modelzoo.zoo.loading import load_for_inference

        self._device = self._device or default_device()
        return load_for_inference(model_id, device=self._device)

    def models(self, kind: str) -> list[tuple[str, str]]:
        return model_choices(kind)

    def submit(self, kind, model, params, files, request, probes=None) -> str:
        try:
            uploads = self.check_uploads(files, probes or {})
            params = kinds.check_request(kind, model, params, uploads).params
        except UserError as err:
            raise gr.Error(str(err)) from None
        job = self._create(kind, model, uploads, request)
        work = contextvars.copy_context()  # ZeroGPU finds the request through context variables
        threading.Thread(target=work.run, args=(self._run, job, params), daemon=True).start()
        return job.id

    def poll(self, job_id: str) -> JobUpdate:
        with self._lock:
            job = self._jobs[job_id]
            update = job.update
            if update.status == "queued":
                ahead = sum(
                    1
                    for other in self._jobs.values()
                    if other.update.status == "queued" and other.created < job.created
                )
                update = dataclasses.replace(update, ahead=ahead)
        return update

    def check_uploads(
        self, files: dict[str, str], probes: dict[str, MediaInfo] | None = None
    ) -> dict[str, kinds.Upload]:
        """Each file probed (unless `probes` has it) and checked for its role, as the site
        checks its uploads."""
        probes = probes or {}
        return {
            role: kinds.check_upload(
                role, Path(path), name=Path(path).name, limits=self.limits, info=probes.get(role)
            )
            for role, path in files.items()
        }

    def _create(self, kind: str, model: str, uploads: dict[str, kinds.Upload], request) -> SpaceJob:
        job_id = uuid.uuid4().hex
        folder = self.work_dir / job_id
        (folder / "input").mkdir(parents=True)
        owner = getattr(request, "session_hash", None) or ""
        # Our own name for each input (a link where it can be): Gradio may delete its upload.
        inputs = {
            role: folder / "input" / f"{role}{upload.path.suffix.lower()}"
            for role, upload in uploads.items()
        }
        for role, upload in uploads.items():
            kinds.store_once(upload.path, inputs[role])
        probes = {role: upload.info for role, upload in uploads.items()}
        job = SpaceJob(job_id, owner, kind, model, folder, inputs, probes)
        job.update = JobUpdate(job_id, "queued", 0.0, "waiting to start")
        with self._lock:
            self._jobs[job_id] = job
        return job

    def _run(self, job: SpaceJob, params: dict) -> None:
        def report(update: JobUpdate) -> None:
            with self._lock:
                job.update = update

        def progress(fraction: float, message: str) -> None:
            report(JobUpdate(job.id, "running", float(fraction), message))

        out_dir = job.folder / "output"
        with self._runners:
            try:
                report(JobUpdate(job.id, "running", 0.0, "loading the model" if job.model else ""))
                model = self.models_cache.get(job.model) if job.model else None
                outputs = run_pipeline(
                    job.kind, model, params, job.inputs, job.probes, out_dir, progress
                )
                report(JobUpdate(job.id, "succeeded", 1.0, "done", outputs=list(outputs)))
            except UserError as err:
                report(JobUpdate(job.id, "failed", 0.0, "", error=str(err)))
            except Exception as err:  # noqa: BLE001 - the page must learn the job ended
                traceback.print_exc()
                report(JobUpdate(job.id, "failed", 0.0, "", error=f"internal error: {err}"))

    def list_jobs(self, request) -> list[list]:
        owner = getattr(request, "session_hash", None) or ""
        with self._lock:
            mine = [j for j in self._jobs.values() if j.owner == owner]
        return [j.row() for j in sorted(mine, key=lambda j: j.created, reverse=True)]


def work_dir_from_env() -> Path | None:
    """SYNCLAB_SPACE_WORK_DIR, where job folders go (a temporary folder when unset)."""
    value = os.environ.get("SYNCLAB_SPACE_WORK_DIR")
    return Path(value) if value else None
