"""The research CLI, `python -m modelzoo VERB` (also `synclab`): verbs print JSON or write files.

Each verb is a pair: `add_<verb>(subparsers)` declares its arguments and points `func` at
`run_<verb>(args) -> int`. Add a verb by writing the pair and listing its `add_` in VERBS. A
UserError ends the command with its one-line message on stderr and exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from modelzoo.errors import UserError

EXIT_USER_ERROR = 2


def add_probe(subparsers) -> None:
    parser = subparsers.add_parser("probe", help="print a media file's streams, size and rate")
    parser.add_argument("file", type=Path, help="audio, video or image file")
    parser.set_defaults(func=run_probe)


def run_probe(args: argparse.Namespace) -> int:
    from modelzoo.media.probe import probe

    print(json.dumps(probe(args.file).as_json(), indent=2))
    return 0


def add_corrupt(subparsers) -> None:
    parser = subparsers.add_parser(
        "corrupt", help="add audio noise and/or visual corruption to a video or audio file"
    )
    parser.add_argument("input", type=Path, help="video (with or without audio) or audio file")
    parser.add_argument(
        "--params",
        required=True,
        help='JSON, e.g. \'{"audio": {"noise": "babble", "snr_db": 5}, "seed": 0}\', or @FILE',
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="output file: .mp4 for video, .wav for audio"
    )
    parser.add_argument("--noise-file", type=Path, help="noise recording to use for babble")
    parser.add_argument("--occluders", type=Path, help="folder of occluder image + mask pairs")
    parser.set_defaults(func=run_corrupt)


def run_corrupt(args: argparse.Namespace) -> int:
    from modelzoo.corruption.params import parse_corruption_params
    from modelzoo.media.probe import probe
    from modelzoo.pipelines import corrupt

    params = parse_corruption_params(_read_text_arg(args.params, "--params"))
    info = probe(args.input)
    expected = ".mp4" if info.has_video else ".wav"
    if args.out.suffix.lower() != expected:
        raise UserError(
            f"--out: {args.input.name} gives a {expected} file; name the output *{expected}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out.parent, prefix=".corrupt-") as tmp:
        (written,) = corrupt(
            args.input,
            params,
            Path(tmp),
            noise_file=args.noise_file,
            occluders=args.occluders,
        )
        shutil.move(written, args.out)
    print(json.dumps({"output": str(args.out), "params": params.as_json()}, indent=2))
    return 0


VERBS = (add_probe, add_corrupt)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synclab", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for add in VERBS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR


def _read_text_arg(value: str, name: str) -> str:
    """`value` itself, or the text of the file it names as @FILE."""
    if not value.startswith("@"):
        return value
    path = Path(value[1:])
    if not path.is_file():
        raise UserError(f"{name}: file {path} not found")
    return path.read_text()


if __name__ == "__main__":
    sys.exit(main())
