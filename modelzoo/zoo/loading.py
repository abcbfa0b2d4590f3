"""Build, save and strictly load zoo models: from a local folder, the Hub cache, or the Hub.

An id loads from its bundled folder (modelzoo/zoo/weights/<id>/), else from the Hub cache at its
pinned revision, else by download unless HF_HUB_OFFLINE is set. A saved folder holds the Hub
mixin's `config.json` + `model.safetensors` + `README.md`, and a small `synclab.json`
({"architecture", "model_id"}) written by `save()`, because config.json alone does not say which
model class it configures. A folder without synclab.json still loads when its config.json's fields
are exactly those of one architecture's config (the four configs differ).
"""

import contextlib
import copy
import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path

from modelzoo.errors import UserError
from modelzoo.zoo.registry import (
    ARCHITECTURES,
    REGISTRY,
    ZooEntry,
    architecture_class,
    bundled_folder,
    entry,
    named_config,
)

CONFIG_FILE, WEIGHTS_FILE, SYNCLAB_FILE = "config.json", "model.safetensors", "synclab.json"
SAVE_DTYPES = ("float32", "float16", "bfloat16")


def build(model_id: str):
    """The untrained model of `model_id`'s architecture and config."""
    e = entry(model_id)
    return architecture_class(e.architecture)(named_config(e.architecture, e.config))


def save(
    model, folder, *, architecture: str, model_id: str | None = None, dtype: str = "float32"
) -> Path:
    """Write `model` in zoo format (config, weights, model card, synclab.json) into `folder`.

    `dtype="float16"` (or "bfloat16") stores the floating-point tensors at half size; loading
    copies them into the model's float32 tensors.
    """
    if architecture not in ARCHITECTURES or not isinstance(model, ARCHITECTURES[architecture]):
        name = type(model).__name__
        raise UserError(f"{name} is not an instance of architecture {architecture!r}")
    if dtype not in SAVE_DTYPES:
        raise UserError(f"dtype {dtype!r} is not one of {', '.join(SAVE_DTYPES)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if model_id in REGISTRY:  # the mixin keeps an existing README.md, so this card wins
        model_card(REGISTRY[model_id]).save(folder / "README.md")
    if dtype != "float32":
        import torch

        # A copy, so the caller's model keeps full precision; .to(dtype) leaves integer buffers
        # (BatchNorm's num_batches_tracked) alone, and deepcopy keeps tied weights tied.
        model = copy.deepcopy(model).to(getattr(torch, dtype))
    model.save_pretrained(folder)
    meta = {"architecture": architecture, "model_id": model_id}
    (folder / SYNCLAB_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def model_card(e: ZooEntry):
    """A Hub model card whose front matter carries the entry's licence, data, kind and metrics."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        library_name="synclab",
        license=e.licence,
        datasets=[e.data] if e.data else None,
        tags=["synclab", e.architecture, f"{e.kind}-checkpoint"],
        synclab_metrics=e.metrics or None,  # free-form: these are not Hub eval results
    )
    body = f"# {e.id}\n\n{e.architecture}, {e.kind} checkpoint, data {e.data}.\n\n{e.licence_notes}"
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


def load(model_id_or_folder, device: str = "cpu"):
    """A ready (eval mode) model from a zoo folder, or a registry id via Hub cache / download."""
    path = Path(model_id_or_folder)
    if path.is_dir():
        return load_folder(path, device=device)
    if str(model_id_or_folder) not in REGISTRY and (path.suffix or os.sep in str(path)):
        raise UserError(f"{path} is not a folder and not a model id")
    e = entry(str(model_id_or_folder))
    return load_folder(weights_folder(e), device=device, architecture=e.architecture)


def weights_folder(e: ZooEntry) -> Path:
    """The folder `e` loads from: bundled, else the Hub snapshot; checksums verified."""
    bundled = bundled_folder(e)
    if bundled is not None and bundled.is_dir():
        verify(bundled, e.sha256)
        return bundled
    if e.revision is None and bundled is not None:
        raise UserError(f"{e.id}: no weights in {bundled}. {e.where_to_get}")
    return fetch(e)


def fetch(e: ZooEntry, *, local_only: bool = False) -> Path:
    """The snapshot folder of `e` at its pinned revision, checksums verified; downloaded into
    the Hub cache unless it is there already, HF_HUB_OFFLINE is set or `local_only`."""
    if e.revision is None:
        raise UserError(e.where_to_get or f"no weights are published for {e.id}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    offline = local_only or hub_offline()
    try:
        folder = snapshot_download(
            e.repo_id, revision=e.revision, cache_dir=hub_cache(), local_files_only=offline
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        where = "is not in the Hub cache" if offline else "cannot be fetched"
        raise UserError(f"{e.id} ({e.repo_id}@{e.revision}) {where}: {err}") from err
    verify(Path(folder), e.sha256)
    return Path(folder)


def verify(folder: Path, sha256: dict[str, str]) -> None:
    """Each listed file is in `folder` with its digest; a mismatch is an error, not a reload."""
    for name, expected in sha256.items():
        file = folder / name
        if not file.is_file():
            raise UserError(f"{file} is missing (the registry lists it with a checksum)")
        digest = file_sha256(file)
        if digest != expected:
            raise UserError(f"checksum mismatch for {file}: sha256 {digest}, expected {expected}")


def file_sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hub_cache() -> str | None:
    """HF_HUB_CACHE, else HF_HOME/hub, read now: huggingface_hub reads them once at import."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None  # huggingface_hub's default


def in_hub_cache(e: ZooEntry) -> bool:
    """Whether the Hub cache holds `e`'s config and weights at its pinned revision."""
    from huggingface_hub import try_to_load_from_cache

    return e.revision is not None and all(
        isinstance(
            try_to_load_from_cache(e.repo_id, name, cache_dir=hub_cache(), revision=e.revision),
            str,
        )
        for name in (CONFIG_FILE, WEIGHTS_FILE)
    )


def weights_available(e: ZooEntry) -> bool:
    """True when `e` can load without a download: its bundled folder holds the weights, or the
    Hub cache holds them at its pinned revision."""
    bundled = bundled_folder(e)
    if bundled is not None and (bundled / WEIGHTS_FILE).is_file():
        return True
    return in_hub_cache(e)


def hub_offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "")
    return env.upper() in {"1", "ON", "YES", "TRUE"} or constants.HF_HUB_OFFLINE


def load_for_inference(model_id: str, device: str = "cpu"):
    """`load(model_id)` ready to serve: for the face generators, their inference-only fused copy
    (batch norms folded, oneDNN layout), which is what makes the Audio-Lip Memory generator
    real-time on a CPU; for AV-RelScore, dense layers run by the fastest CPU matrix library.
    Workers, the Space, the CLI and evaluation all serve models this way."""
    from modelzoo.alm import inference as alm_inference
    from modelzoo.alm.model import FaceGenerator
    from modelzoo.avrelscore import inference as avrelscore_inference
    from modelzoo.avrelscore.model import AVRelScore

    model = load(model_id, device=device)
    if isinstance(model, FaceGenerator):
        model = alm_inference.optimize_for_inference(model, inplace=True)
    if isinstance(model, AVRelScore):
        model = avrelscore_inference.optimize_for_inference(model, inplace=True)
    return model


def load_folder(folder: Path, *, device: str = "cpu", architecture: str | None = None):
    """Strictly load a zoo folder: exact config fields, no missing or unexpected weight keys."""
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise UserError(f"{folder} has no {name}: not a zoo model folder")
    try:
        fields = json.loads((folder / CONFIG_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{folder / CONFIG_FILE} is not valid JSON: {err}") from err
    if not isinstance(fields, dict):
        raise UserError(f"{folder / CONFIG_FILE} is not a JSON object")
    architecture = architecture or folder_architecture(folder, fields)
    config = parse_config(architecture, fields, folder / CONFIG_FILE)
    cls = architecture_class(architecture)
    try:
        # The mixin's default is strict=False, which would leave missing weights at their init.
        with mixin_prints_to_stderr():
            return cls.from_pretrained(folder, config=config, strict=True, map_location=device)
    except RuntimeError as err:
        raise UserError(f"{folder / WEIGHTS_FILE} does not match {cls.__name__}: {err}") from err


@contextlib.contextmanager
def mixin_prints_to_stderr():
    """The Hub mixin prints "Loading weights from local directory" to stdout, which would break
    the JSON that CLI verbs print; stderr keeps the line out of it without losing other output."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def folder_architecture(folder: Path, fields: dict) -> str:
    """synclab.json's architecture, else the one architecture whose config has exactly `fields`."""
    meta_file = folder / SYNCLAB_FILE
    if meta_file.is_file():
        try:
            return json.loads(meta_file.read_text())["architecture"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise UserError(f"{meta_file} has no valid 'architecture': {err}") from err
    matches = [a for a in ARCHITECTURES if set(fields) == config_fields(a)]
    if len(matches) != 1:
        raise UserError(
            f"{folder} has no {SYNCLAB_FILE} and its {CONFIG_FILE} fields match "
            f"{len(matches)} architectures; write {SYNCLAB_FILE} with modelzoo.zoo.loading.save"
        )
    return matches[0]


def config_class(architecture: str) -> type:
    return type(next(iter(ARCHITECTURES.module(architecture).CONFIGS.values())))


def config_fields(architecture: str) -> set[str]:
    return {f.name for f in dataclasses.fields(config_class(architecture))}


def parse_config(architecture: str, fields: dict, source: Path):
    """The config dataclass from `fields`, which must be exactly its fields."""
    expected = config_fields(architecture)
    unknown, missing = sorted(set(fields) - expected), sorted(expected - set(fields))
    if unknown or missing:
        raise UserError(
            f"{source} does not match the {architecture} config: "
            f"unknown fields {unknown or 'none'}, missing fields {missing or 'none'}"
        )
    try:
        return config_class(architecture)(**fields)
    except (TypeError, ValueError) as err:
        raise UserError(f"{source}: {err}") from err
