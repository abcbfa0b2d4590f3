"""Authors' checkpoint files -> a zoo model of a registry entry, with a report of what mapped.

The key tables live with each architecture (`modelzoo.avrelscore.convert` for ms-dot-k/AVSR,
`modelzoo.alm.convert` for SyncTalkFace); this module reads the file, picks the table for the
entry's architecture, loads the result strictly and counts what happened to each key. A key that
no rule maps is an error naming it (raised by those tables), so a finished report has none.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path

from modelzoo.errors import UserError
from modelzoo.zoo.registry import ZooEntry, architecture_class, named_config

# --format -> the architectures whose authors' layout it names
FORMATS = {"avsr": ("avrelscore",), "synctalkface": ("alm", "syncnet")}


@dataclass
class ConvertReport:
    format: str
    model_id: str
    variant: str  # which of the authors' models the file held
    config_matches_entry: bool  # False: the file's sizes differ from the entry's config
    renamed: int = 0  # tensors now under another key
    kept: int = 0  # tensors whose key was already ours
    dropped: list[str] = field(default_factory=list)  # authors' keys our model has no use for

    def as_json(self) -> dict:
        return {**asdict(self), "dropped": len(self.dropped), "dropped_keys": self.dropped}


def convert_checkpoint(path: Path, fmt: str, e: ZooEntry):
    """(model loaded strictly, report) for the authors' checkpoint file at `path`."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if e.architecture not in FORMATS[fmt]:
        raise UserError(
            f"--format {fmt} holds {' or '.join(FORMATS[fmt])} weights, but {e.id} is a "
            f"{e.architecture} model"
        )
    checkpoint = read_checkpoint(path)
    if fmt == "avsr":
        return _from_avsr(checkpoint, e)
    if e.architecture == "syncnet":
        return _from_wav2lip_syncnet(checkpoint, e, path)
    return _from_synctalkface(checkpoint, e, path)


def read_checkpoint(path: Path) -> dict:
    import pickle

    import torch

    if not path.is_file():
        raise UserError(f"checkpoint {path} not found")
    try:
        # weights_only: a checkpoint from the internet must not run code when it is read
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError) as err:
        raise UserError(f"{path} is not a readable PyTorch checkpoint: {err}") from None
    if not isinstance(checkpoint, dict):
        raise UserError(f"{path} holds a {type(checkpoint).__name__}, not a checkpoint dict")
    return checkpoint


def load_strictly(model, state_dict: dict, source: str, model_id: str):
    """`model` with `state_dict` loaded; a missing, unexpected or mis-sized key is an error."""
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        raise UserError(f"{source} does not fit {model_id}: {err}") from None
    return model.eval()


def _counts(source_keys: set[str], converted_keys: set[str]) -> dict:
    kept = len(converted_keys & source_keys)
    return {"kept": kept, "renamed": len(converted_keys) - kept}


def _from_avsr(checkpoint: dict, e: ZooEntry):
    from modelzoo.avrelscore.convert import convert

    source = checkpoint.get("state_dict", checkpoint)
    state_dict, conversion = convert(checkpoint)
    # The file's own sizes win: an LRS2 and an LRS3 checkpoint may differ from the entry's config.
    model = load_strictly(
        architecture_class("avrelscore")(conversion.config), state_dict, "checkpoint", e.id
    )
    report = ConvertReport(
        "avsr",
        e.id,
        conversion.variant,
        conversion.config == named_config(e.architecture, e.config),
        dropped=list(conversion.dropped),
        **_counts(set(source), set(state_dict)),
    )
    return model, report


def _from_synctalkface(checkpoint: dict, e: ZooEntry, path: Path):
    from modelzoo.alm.convert import convert

    converted, _ = convert(checkpoint, source=str(path))
    config = named_config(e.architecture, e.config)
    model = load_strictly(
        architecture_class(e.architecture)(config), converted["generator"], str(path), e.id
    )
    generator_keys = set(checkpoint["model_state_dict"]) | set(checkpoint["dec_state_dict"])
    # The quality discriminator only matters for training; the zoo keeps the generator.
    dropped = [f"disc_state_dict.{key}" for key in checkpoint.get("disc_state_dict", {})]
    report = ConvertReport(
        "synctalkface",
        e.id,
        "generator",
        True,  # the layout does not say its sizes; strict loading checked them against the entry
        dropped=dropped,
        **_counts(generator_keys, set(converted["generator"])),
    )
    return model, report


def _from_wav2lip_syncnet(checkpoint: dict, e: ZooEntry, path: Path):
    from modelzoo.alm.convert import convert_syncnet, syncnet_config_of

    state_dict, _ = convert_syncnet(checkpoint, source=str(path))
    config = syncnet_config_of(state_dict)
    model = load_strictly(architecture_class("syncnet")(config), state_dict, str(path), e.id)
    report = ConvertReport(
        "synctalkface",
        e.id,
        f"syncnet-{config.img_size}px",
        config == named_config(e.architecture, e.config),
        **_counts(set(checkpoint["state_dict"]), set(state_dict)),
    )
    return model, report
