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

import numpy as np

from modelzoo.errors import UserError

EXIT_USER_ERROR = 2
MOUTH_SIZE, FACE_SIZE = 96, 128  # default crop sides: AV-RelScore ROI, SyncTalkFace/CALS face


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
    from modelzoo.pipelines.corrupt import corrupt

    params = parse_corruption_params(_read_text_arg(args.params, "--params"))
    info = probe(args.input)
    expected = ".mp4" if info.has_video else ".wav"
    if args.out.suffix.lower() != expected:
        raise UserError(
            f"--out: {args.input.name} gives a {expected} file; name the output *{expected}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out.parent, prefix=".corrupt-") as tmp:
        written, *_mask = corrupt(  # the media file, then corruption.json
            args.input,
            params,
            Path(tmp),
            info=info,
            noise_file=args.noise_file,
            occluders=args.occluders,
        )
        shutil.move(written, args.out)
    print(json.dumps({"output": str(args.out), "params": params.as_json()}, indent=2))
    return 0


def add_crops(subparsers) -> None:
    parser = subparsers.add_parser(
        "crops", help="track the face and write its mouth or face crops with per-frame landmarks"
    )
    parser.add_argument("media", type=Path, help="video or still image with a face")
    parser.add_argument(
        "--kind",
        required=True,
        choices=("mouth", "face"),
        help="mouth: AV-RelScore grey mouth ROIs; face: Wav2Lip-style RGB face crops",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for the output files")
    parser.add_argument("--size", type=int, help="crop side in pixels (mouth 96, face 128)")
    parser.set_defaults(func=run_crops)


def run_crops(args: argparse.Namespace) -> int:
    """Writes crops.mp4 (25 fps), crops.npy and landmarks.json into --out; prints a summary."""
    from modelzoo.media.io import FPS
    from modelzoo.media.probe import probe

    size = args.size or (MOUTH_SIZE if args.kind == "mouth" else FACE_SIZE)
    # H.264 yuv420p needs even sides; an odd one would make the video differ from crops.npy.
    if size < 16 or size % 2:
        raise UserError(f"--size: {size} must be an even number of pixels, 16 or more")
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out: {args.out} exists and is not a folder")
    info = probe(args.media)
    if not info.has_video:
        raise UserError(f"{args.media.name}: has no video or image; crops need a face to see")
    args.out.mkdir(parents=True, exist_ok=True)
    audio = args.media if info.has_audio else None
    write = _write_mouth_crops if args.kind == "mouth" else _write_face_crops
    track = write(args.media, args.out, size, audio)
    landmarks = {"kind": args.kind, "fps": FPS, "input": str(args.media), **track.to_dict()}
    (args.out / "landmarks.json").write_text(json.dumps(landmarks))
    summary = {
        "video": str(args.out / "crops.mp4"),
        "arrays": str(args.out / "crops.npy"),
        "landmarks": str(args.out / "landmarks.json"),
        "frames": len(track),
        "frames_with_face": int(track.has_face.sum()),
        "gaps": [list(gap) for gap in track.gaps],
    }
    print(json.dumps(summary, indent=2))
    return 0


def _write_mouth_crops(media: Path, out: Path, size: int, audio: Path | None):
    """Grey mouth patches (black inside long gaps), streamed into the video; the face track."""
    from modelzoo.media import io as media_io
    from modelzoo.media.crops import MouthCropper

    cropper = MouthCropper(size=size, name=media.name)
    patches = []
    with media_io.VideoWriter(out / "crops.mp4", size, size, audio=audio) as writer:
        for chunk in media_io.iter_frames(media):
            for frame in chunk:
                done = [crop.image for crop in cropper.push(frame)]
                patches += done
                for image in done:
                    writer.write(np.repeat(image[:, :, None], 3, axis=2))
        rest, track = cropper.finish()
        for crop in rest:
            patches.append(crop.image)
            writer.write(np.repeat(crop.image[:, :, None], 3, axis=2))
    np.save(out / "crops.npy", np.stack(patches))  # (T, size, size) uint8
    return track


def _write_face_crops(media: Path, out: Path, size: int, audio: Path | None):
    """RGB face crops (boxes bridged across long gaps), streamed to disk; the face track."""
    from modelzoo.media import io as media_io
    from modelzoo.media.crops import face_crops_video
    from modelzoo.media.faces import track_video

    track = track_video(media)
    # A memory-mapped .npy keeps a long video's crops out of RAM (15,000 crops are 700 MB).
    arrays = np.lib.format.open_memmap(
        out / "crops.npy", mode="w+", dtype=np.uint8, shape=(len(track), size, size, 3)
    )
    with media_io.VideoWriter(out / "crops.mp4", size, size, audio=audio) as writer:
        for index, (_, _, crop) in enumerate(face_crops_video(media, track, size)):
            arrays[index] = crop
            writer.write(crop)
    arrays.flush()
    del arrays
    return track


def add_synthgrid(subparsers) -> None:
    parser = subparsers.add_parser(
        "synthgrid",
        help="make a synthetic GRID-like talking-face corpus (espeak-ng and flite speech)",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="write clips, transcripts, crops and file lists")
    build.add_argument("out", type=Path, help="corpus folder (created; must be empty if present)")
    build.add_argument("--utterances", type=int, default=1000, help="clips to make")
    build.add_argument("--seed", type=int, default=0, help="seed of sentences, voices and faces")
    build.add_argument("--workers", type=int, default=2, help="processes making clips")
    build.set_defaults(func=run_synthgrid_build)


def run_synthgrid_build(args: argparse.Namespace) -> int:
    from modelzoo.synthgrid.build import build

    corpus = build(args.out, utterances=args.utterances, seed=args.seed, workers=args.workers)
    print(json.dumps({"clips": corpus.clips, "seconds": corpus.seconds, "out": str(args.out)}))
    return 0


def add_generate(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="lip-sync a face video or photo to speech with an alm or cals model"
    )
    parser.add_argument("--model", required=True, help="zoo model id or a saved model folder")
    parser.add_argument("--face", required=True, type=Path, help="face video or photo")
    speech = parser.add_mutually_exclusive_group(required=True)
    speech.add_argument("--audio", type=Path, help="speech: wav, mp3, m4a or any audio file")
    speech.add_argument("--text", help="speech: text spoken by espeak-ng")
    parser.add_argument("--voice", default="en-us", help="espeak-ng voice for --text")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per model call")
    parser.add_argument("--out", required=True, type=Path, help="output .mp4 file")
    parser.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    """Prints {"output", "duration" (s), "frames", "seconds" (wall time of the generation)}."""
    import contextlib
    import io
    import time

    import ffmpeg

    from modelzoo.pipelines.generate import generate
    from modelzoo.zoo.loading import load_for_inference

    if args.out.suffix.lower() != ".mp4":
        raise UserError(f"--out: {args.out.name} must be an .mp4 file")
    # The Hub mixin prints while loading; stdout must stay one JSON document.
    with contextlib.redirect_stdout(io.StringIO()):
        model = load_for_inference(args.model)  # the fused copy that workers serve
    start = time.perf_counter()
    out = generate(
        model,
        args.face,
        args.audio,
        args.out,
        text=args.text,
        voice=args.voice,
        batch_size=args.batch_size,
    )
    seconds = time.perf_counter() - start
    facts = ffmpeg.probe(str(out))
    (video,) = [s for s in facts["streams"] if s["codec_type"] == "video"]
    report = {
        "output": str(out),
        "duration": float(facts["format"]["duration"]),
        "frames": int(video["nb_frames"]),
        "seconds": round(seconds, 2),
    }
    print(json.dumps(report, indent=2))
    return 0


def add_transcribe(subparsers) -> None:
    parser = subparsers.add_parser(
        "transcribe", help="speech recognition of a video or audio file with an avrelscore model"
    )
    parser.add_argument("--model", required=True, help="zoo model id or a saved model folder")
    parser.add_argument("media", type=Path, help="video (with or without audio) or audio file")
    parser.add_argument("--decoder", choices=("greedy", "beam"), default="greedy")
    parser.add_argument("--beam-size", type=int, default=10, help="hypotheses kept (1-64)")
    parser.add_argument("--ctc-weight", type=float, default=0.1, help="CTC share of beam scores")
    parser.set_defaults(func=run_transcribe)


def run_transcribe(args: argparse.Namespace) -> int:
    """Prints the Transcription JSON: text, mode, notice, per-frame reliability, timings."""
    from modelzoo import load
    from modelzoo.avrelscore.inference import check_decoding, transcribe
    from modelzoo.avrelscore.model import AVRelScore

    settings = {"decoder": args.decoder, "beam_size": args.beam_size, "ctc_weight": args.ctc_weight}
    check_decoding(**settings)  # before the model loads, so that a typo fails at once
    if not args.media.is_file():
        raise UserError(f"{args.media}: file not found")
    model = load(args.model)
    if not isinstance(model, AVRelScore):
        raise UserError(f"--model: {args.model} is not a speech recognition (avrelscore) model")
    print(json.dumps(transcribe(model, args.media, **settings).as_json(), indent=2))
    return 0


def add_score(subparsers) -> None:
    parser = subparsers.add_parser(
        "score", help="lip-sync, image and lip-reading metrics of one talking-face video"
    )
    parser.add_argument("video", type=Path, help="talking-face video with its audio")
    parser.add_argument("--syncnet", default="syncnet-demo", help="zoo SyncNet that judges sync")
    parser.add_argument("--text", help="the words spoken, for the lip reader's WER (lip_wer)")
    parser.add_argument("--reference", type=Path, help="the real video: psnr, ssim and lmd")
    parser.set_defaults(func=run_score)


def run_score(args: argparse.Namespace) -> int:
    """Prints {"lse_c", "lse_d", "offset", ..., "protocol"}: see modelzoo.metrics.clip."""
    import contextlib
    import io

    from modelzoo.metrics.clip import ClipMedia, Judges, score_clip

    clip = ClipMedia.read(args.video)
    reference = ClipMedia.read(args.reference) if args.reference else None
    with contextlib.redirect_stdout(io.StringIO()):  # the Hub mixin prints while loading
        judges = Judges.load(args.syncnet, "auto" if args.text is not None else None)
    scores = score_clip(clip, judges, reference=reference, spoken=args.text)
    print(json.dumps({**scores, "protocol": judges.protocol()}, indent=2))
    return 0


def add_evaluate(subparsers) -> None:
    from modelzoo.evaluation.corpus import DEFAULT_LIMIT

    parser = subparsers.add_parser(
        "evaluate", help="score zoo models on a corpus; write report.json, report.md and plots"
    )
    parser.add_argument("--model", action="append", required=True, help="zoo id (repeatable)")
    parser.add_argument("--corpus", required=True, type=Path, help="SynthGrid or LRS-style folder")
    parser.add_argument("--out", required=True, type=Path, help="folder for the report")
    parser.add_argument("--split", default="test", help="file list to read (default: test)")
    parser.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"clips (default {DEFAULT_LIMIT})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the corruptions")
    parser.add_argument("--syncnet", default="syncnet-demo", help="zoo SyncNet that judges sync")
    parser.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """Writes the report into --out, progress on stderr; prints {"report", "rows"}."""
    from modelzoo.evaluation import evaluate

    def progress(fraction: float, message: str) -> None:
        print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)

    result = evaluate(
        args.model,
        args.corpus,
        args.out,
        split=args.split,
        limit=args.limit,
        seed=args.seed,
        syncnet=args.syncnet,
        progress=progress,
    )
    print(json.dumps({"report": str(args.out / "report.json"), "rows": len(result["rows"])}))
    return 0


def add_zoo(subparsers) -> None:
    from modelzoo.zoo.cli import add_zoo as add_zoo_actions

    add_zoo_actions(subparsers)


VERBS = (
    add_probe,
    add_corrupt,
    add_crops,
    add_synthgrid,
    add_generate,
    add_transcribe,
    add_score,
    add_evaluate,
    add_zoo,
)


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
