"""Every set of weights the zoo knows: architecture, config, pinned Hub revision, licence."""

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from modelzoo.errors import UserError


class LazyClasses(Mapping):
    """name -> class, each imported on first access so `import modelzoo` does not pull in torch."""

    def __init__(self, paths: dict[str, str]):
        self.paths = paths  # name -> "module:attribute"

    def __getitem__(self, name: str) -> type:
        module, attr = self.paths[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def module(self, name: str):
        """The module defining architecture `name` (it holds that architecture's CONFIGS)."""
        return importlib.import_module(self.paths[name].split(":")[0])


ARCHITECTURES = LazyClasses(
    {
        "avrelscore": "modelzoo.avrelscore.model:AVRelScore",
        "alm": "modelzoo.alm.model:AudioLipMemoryModel",
        "cals": "modelzoo.cals.model:CALSModel",
        "syncnet": "modelzoo.syncnet.model:SyncNet",
    }
)

CONVERT_OR_TRAIN = (
    "No weights are published for {id}: convert the authors' official checkpoint with "
    "`python -m modelzoo zoo convert` or train your own, then `modelzoo.load(FOLDER)`."
)


BUILD_DEMO = (
    "The demo weights of {id} are built here, from synthetic data: run "
    "`python -m modelzoo.synthgrid.train_demo`, which writes modelzoo/zoo/weights/{id}/."
)
# Bundled weights ship inside the package, next to this file (ZooEntry.bundled is relative to it).
WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ZooEntry:
    """One set of weights; `revision` is None while none are published on the Hub.

    `bundled` names a folder under WEIGHTS_DIR holding the same files as the Hub revision would
    (checked against `sha256`); it is read first, so a demo needs neither network nor cache.
    """

    id: str
    architecture: str  # a key of ARCHITECTURES
    config: str  # a key of that architecture's module-level CONFIGS
    repo_id: str
    revision: str | None  # 40-hex Hub commit; pinned so a re-push cannot change what loads
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> hex digest
    licence: str = "cc-by-nc-4.0"
    licence_notes: str = ""
    data: str = ""
    metrics: dict = field(default_factory=dict)
    kind: Literal["paper", "demo"] = "paper"
    where_to_get: str = ""
    bundled: str = ""  # folder relative to WEIGHTS_DIR, "" when the weights only come from the Hub


NON_COMMERCIAL = "Trained on {data}, licensed for non-commercial research only; so are the weights."
SYNTHGRID = (
    "synthgrid: synthetic GRID-style sentences spoken by espeak-ng (v2 adds flite), on faces made "
    "from scikit-image's public-domain astronaut photograph (v2 adds matplotlib's public-domain "
    "Grace Hopper portrait); each model's training.json names the corpus it used"
)
DEMO_NOTES = (
    "Trained here on synthetic data only ({data}); no LRS2, LRS3 or LRW clip was used, so the data "
    "carry no licence restriction and the weights fall under SyncLab's own licence. They are small "
    "and narrow: for demos and tests of the pipeline, not for real speech or faces."
)


# Demos that are not their architecture's "demo" config: the AV-RelScore baselines.
DEMO_VARIANTS = {
    "avsr-av": ("avrelscore", "demo-av-concat"),
    "avsr-audio": ("avrelscore", "demo-audio-only"),
    "avsr-video": ("avrelscore", "demo-video-only"),
}


def demo_entry(name: str, sha256: dict[str, str]) -> ZooEntry:
    """The entry of the small demo checkpoint `<name>-demo`, bundled with the package; `sha256`
    is written by the trainer (modelzoo.synthgrid.train_demo) with the weights."""
    model_id = f"{name}-demo"
    architecture, config = DEMO_VARIANTS.get(name, (name, "demo"))
    return ZooEntry(
        id=model_id,
        architecture=architecture,
        config=config,
        repo_id=f"synclab/{model_id}",
        revision=None,  # not on the Hub yet: the bundled folder is the copy
        sha256=sha256,
        licence="other",
        licence_notes=DEMO_NOTES.format(data=SYNTHGRID),
        data="synthgrid",
        metrics={},  # measured on held-out synthgrid clips by the trainer; none are claimed here
        kind="demo",
        where_to_get=BUILD_DEMO.format(id=model_id),
        bundled=model_id,
    )


REGISTRY: dict[str, ZooEntry] = {
    e.id: e
    for e in (
        ZooEntry(
            id="avrelscore-lrs2",
            architecture="avrelscore",
            config="paper",
            repo_id="synclab/avrelscore-lrs2",
            revision=None,
            licence_notes=NON_COMMERCIAL.format(data="LRS2 (BBC)"),
            data="LRS2",
            # ms-dot-k/AVSR README, released checkpoint: beam 40, CTC 0.1, LM 0.5
            metrics={"wer_clean_percent": 4.129},
            where_to_get=CONVERT_OR_TRAIN.format(id="avrelscore-lrs2")
            + " Official checkpoints: github.com/ms-dot-k/AVSR (`--format avsr`).",
        ),
        ZooEntry(
            id="avrelscore-lrs3",
            architecture="avrelscore",
            config="paper",
            repo_id="synclab/avrelscore-lrs3",
            revision=None,
            licence_notes=NON_COMMERCIAL.format(data="LRS3 (TED)"),
            data="LRS3",
            # ms-dot-k/AVSR README, released checkpoint, clean
            metrics={"wer_clean_percent": 2.770},
            where_to_get=CONVERT_OR_TRAIN.format(id="avrelscore-lrs3")
            + " Official checkpoints: github.com/ms-dot-k/AVSR (`--format avsr`).",
        ),
        ZooEntry(
            id="alm-lrw",
            architecture="alm",
            config="paper",
            repo_id="synclab/alm-lrw",
            revision=None,
            licence_notes=NON_COMMERCIAL.format(data="LRW (BBC)"),
            data="LRW",
            where_to_get=CONVERT_OR_TRAIN.format(id="alm-lrw")
            + " SyncTalkFace checkpoints convert with `--format synctalkface`.",
        ),
        ZooEntry(
            id="cals-lrs2",
            architecture="cals",
            config="lrs2",
            repo_id="synclab/cals-lrs2",
            revision=None,
            licence_notes=NON_COMMERCIAL.format(data="LRS2 (BBC)"),
            data="LRS2",
            where_to_get=CONVERT_OR_TRAIN.format(id="cals-lrs2")
            + " No official CALS checkpoint is public: train with `modelzoo.cals.train`.",
        ),
        demo_entry(
            "avrelscore",
            sha256={
                "config.json": "54f24b900538525a1c590246c0d8378ee32153a73ab6757c18549e8da1e1857e",
                "model.safetensors": "ee6f016cda9cb4e02ddc9f7835b8385064814f4fe34a4969cd086ac3061ce729",
            },
        ),
        demo_entry(
            "alm",
            sha256={
                "config.json": "0e517733bb28d3a8d0c098c861646265f9d4ba00fbcb2598847fdb04927f5994",
                "model.safetensors": "e521b277dc57f60289e5db094eb370e02d27ed17020451c88081009d081c4648",
            },
        ),
        demo_entry(
            "cals",
            sha256={
                "config.json": "f7412d4f555a9aca1a4fa9289b0d447c6fc85e41ac07a83485664a2b714c9e0c",
                "model.safetensors": "7dbf6c5589186374d33cc64f2e2282c265fb8f991cba259f8014e09b022aabeb",
            },
        ),
        demo_entry(
            "avsr-av",
            sha256={
                "config.json": "0dcfba08cad315d63ed764dc909a4946be7ce5c1a3c3f9787e92805abe1dc18e",
                "model.safetensors": "dcce327ccfa04e463173ed59d20dbbc87c174b4afe23c300e30bb95692db8bf3",
            },
        ),
        demo_entry(
            "avsr-audio",
            sha256={
                "config.json": "a57a1cc4fd4ec3f407b7eaa5d782e019d4c3924b0e8dcfdadb596799ad1d165f",
                "model.safetensors": "63c95c3299940b0a42a72e759dba544b1ff8d01012a9e66e613365128393e6f4",
            },
        ),
        demo_entry(
            "avsr-video",
            sha256={
                "config.json": "f39d112274590f259232547525cafc247d8ec87b979b5a4a30e5417381498533",
                "model.safetensors": "06b5a5d549a2391b654a58de401332a1ab77272509cfb09169a77079e3e74f7a",
            },
        ),
        demo_entry(
            "syncnet",
            sha256={
                "config.json": "5b70e4fe29393a7c997ddfcaa7d97fa925d4ef44402e708612835add4e203f87",
                "model.safetensors": "90cf771c947549b932763bb00ec8ddf6ad54c6f45a2c9b50e6baa3b6293f612d",
            },
        ),
    )
}


def entry(model_id: str) -> ZooEntry:
    """The registry entry of `model_id`; an unknown id is an error listing the known ones."""
    try:
        return REGISTRY[model_id]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UserError(f"unknown model id {model_id!r}; known ids: {known}") from None


def architecture_class(name: str) -> type:
    """The model class of an architecture name, imported now."""
    if name not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise UserError(f"unknown architecture {name!r}; known architectures: {known}")
    return ARCHITECTURES[name]


def named_config(name: str, config: str):
    """The config dataclass instance `config` of architecture `name` (its module's CONFIGS)."""
    configs = ARCHITECTURES.module(name).CONFIGS
    if config not in configs:
        raise UserError(f"architecture {name!r} has no config {config!r}: {', '.join(configs)}")
    return configs[config]


def bundled_folder(e: ZooEntry) -> Path | None:
    """Where `e`'s bundled weights belong (they may be absent); None if it has none."""
    return WEIGHTS_DIR / e.bundled if e.bundled else None


def pinned_revision(e: ZooEntry) -> str:
    """What a job records as the revision of the weights it ran: the Hub commit, else for
    bundled weights "bundled:" and the start of their checksum (empty until the trainer lists it).
    """
    if e.revision:
        return e.revision
    if e.bundled:
        return "bundled:" + e.sha256.get("model.safetensors", "")[:16]
    return ""
