"""The papers' evaluation metrics, one module per family, each pinning its protocol.

`text` (WER/CER under the one normalisation shared with the annotation app), `sync` (LSE-C, LSE-D
and the audio-visual offset, after syncnet_python), `landmarks` (LMD), `image` (PSNR, SSIM and a
no-reference mouth sharpness), `fid` (FID through torch-fidelity when its weights are local),
`lipreading` (machine lip-readability: a lip reader's WER on generated video), `reliability`
(AUROC of per-frame reliability scores against a known corruption mask) and `clip` (every metric
that applies to one video, as `python -m modelzoo score` prints them). A score is only comparable
with another under the same protocol, so each module exports a `PROTOCOL` dict that the reports
store beside the numbers.
"""
