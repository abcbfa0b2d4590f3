"""`python -m modelzoo zoo ACTION`: list, info, pull, convert, push and verify zoo weights.

Registered by `modelzoo.__main__` as its `zoo` verb; each action prints JSON on stdout. Bad input
raises UserError, which the CLI turns into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from modelzoo.errors import UserError
from modelzoo.zoo import loading
from modelzoo.zoo.registry import (
    REGISTRY,
    ZooEntry,
    bundled_folder,
    entry,
)

CARD_FILE = "README.md"


def add_zoo(subparsers) -> None:
    parser = subparsers.add_parser("zoo", help="list, fetch, convert, publish and check weights")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="every registry entry, with whether it can load")
    listing.set_defaults(func=run_list)

    info = actions.add_parser("info", help="one entry in full, and where its weights are")
    info.add_argument("model_id", metavar="ID")
    info.set_defaults(func=run_info)

    pull = actions.add_parser("pull", help="download an entry to the Hub cache at its revision")
    pull.add_argument("model_id", metavar="ID")
    pull.set_defaults(func=run_pull)

    convert = actions.add_parser("convert", help="authors' checkpoint -> a zoo folder")
    convert.add_argument("checkpoint", type=Path, metavar="CKPT")
    convert.add_argument("--format", required=True, choices=("avsr", "synctalkface"))
    convert.add_argument("--model", required=True, metavar="ID", help="registry id it is for")
    convert.add_argument("--out", required=True, type=Path, help="new or empty folder")
    convert.set_defaults(func=run_convert)

    push = actions.add_parser("push", help="upload a zoo folder and its card to a Hub repo")
    push.add_argument("folder", type=Path, metavar="DIR")
    push.add_argument("--repo", required=True, help="Hub repo id, e.g. synclab/avrelscore-lrs3")
    push.add_argument("--revision", help="branch to commit to (created if absent; default main)")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.set_defaults(func=run_push)

    verify = actions.add_parser("verify", help="check checksums and load strictly")
    verify.add_argument("target", metavar="ID_OR_DIR")
    verify.set_defaults(func=run_verify)


def _print(value) -> int:
    print(json.dumps(value, indent=2))
    return 0


def run_list(args: argparse.Namespace) -> int:
    return _print(
        [
            {
                "id": e.id,
                "architecture": e.architecture,
                "kind": e.kind,
                "licence": e.licence,
                "revision": e.revision,
                "available": loading.weights_available(e),
            }
            for e in REGISTRY.values()
        ]
    )


def run_info(args: argparse.Namespace) -> int:
    e = entry(args.model_id)
    bundled = bundled_folder(e)
    weights = {
        "available": loading.weights_available(e),
        "bundled_folder": str(bundled) if bundled else None,
        "hub": f"https://huggingface.co/{e.repo_id}"
        + (f"/tree/{e.revision}" if e.revision else ""),
        "where_to_get": e.where_to_get,
    }
    return _print({**dataclasses.asdict(e), "weights": weights})


def run_pull(args: argparse.Namespace) -> int:
    e = entry(args.model_id)
    bundled = bundled_folder(e)
    if e.revision is None and bundled is not None and bundled.is_dir():
        # Nothing to download: the weights ship with the package.
        return _print({"id": e.id, "source": "bundled", "folder": str(bundled)})
    folder = loading.fetch(e)
    return _print({"id": e.id, "source": "hub", "revision": e.revision, "folder": str(folder)})


def run_convert(args: argparse.Namespace) -> int:
    from modelzoo.zoo.convert import convert_checkpoint

    e = entry(args.model)
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise UserError(f"--out: {args.out} exists and is not an empty folder")
    model, report = convert_checkpoint(args.checkpoint, args.format, e)
    loading.save(model, args.out, architecture=e.architecture, model_id=e.id)
    return _print({**report.as_json(), "out": str(args.out)})


def run_push(args: argparse.Namespace) -> int:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    folder = args.folder
    missing = [
        name
        for name in (loading.CONFIG_FILE, loading.WEIGHTS_FILE, CARD_FILE)
        if not (folder / name).is_file()
    ]
    if missing:
        raise UserError(f"{folder} is not a zoo folder with a model card: no {', '.join(missing)}")
    loading.load_folder(folder)  # never publish weights that do not load strictly
    api = HfApi()
    try:
        api.create_repo(args.repo, private=args.private, exist_ok=True)
        if args.revision:
            api.create_branch(args.repo, branch=args.revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=args.repo,
            folder_path=folder,
            revision=args.revision,
            commit_message=f"Upload {folder.name} with synclab zoo push",
        )
    except HfHubHTTPError as err:
        raise UserError(f"upload to {args.repo} failed: {err}") from None
    # What a registry entry pins: the commit and the digests of the files it holds.
    sha256 = {
        name: loading.file_sha256(folder / name)
        for name in (loading.CONFIG_FILE, loading.WEIGHTS_FILE)
    }
    return _print(
        {"repo": args.repo, "revision": commit.oid, "url": commit.commit_url, "sha256": sha256}
    )


def run_verify(args: argparse.Namespace) -> int:
    folder = Path(args.target)
    if folder.is_dir():
        e = _entry_of_folder(folder)
        architecture = None
    else:
        e = entry(args.target)
        folder = _local_weights(e)
        architecture = e.architecture
    checked = e.sha256 if e else {}
    loading.verify(folder, checked)
    model = loading.load_folder(folder, architecture=architecture)
    return _print(
        {
            "folder": str(folder),
            "model_id": e.id if e else None,
            "checksums_verified": sorted(checked),
            "architecture": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "strict_load": "ok",
        }
    )


def _entry_of_folder(folder: Path) -> ZooEntry | None:
    """The registry entry that the folder's synclab.json names, whose checksums then apply."""
    meta = folder / loading.SYNCLAB_FILE
    if not meta.is_file():
        return None
    try:
        model_id = json.loads(meta.read_text()).get("model_id")
    except (json.JSONDecodeError, AttributeError) as err:
        raise UserError(f"{meta} is not a JSON object: {err}") from None
    return REGISTRY.get(model_id) if model_id else None


def _local_weights(e: ZooEntry) -> Path:
    """`e`'s bundled folder or Hub-cache snapshot, never downloaded: verify checks what is here."""
    bundled = bundled_folder(e)
    if bundled is not None and bundled.is_dir():
        return bundled
    if e.revision is None:
        raise UserError(f"{e.id} has no weights here. {e.where_to_get}")
    return loading.fetch(e, local_only=True)
