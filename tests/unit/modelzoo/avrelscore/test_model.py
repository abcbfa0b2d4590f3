import pytest
import torch
import torch.nn.functional as F

from modelzoo.avrelscore import vocab
from modelzoo.avrelscore.model import (
    VARIANTS,
    AVRelScore,
    AVRelScoreConfig,
    ReliabilityScorer,
    relative_shift,
)

from .conftest import tiny_config

TARGETS = torch.tensor([[14, 15, 13, 16], [20, 21, vocab.IGNORE, vocab.IGNORE]])


def _model(**changes):
    torch.manual_seed(0)
    return AVRelScore(tiny_config(**changes)).eval()


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_shapes_of_every_variant(variant, inputs):
    model = _model(variant=variant)
    out = model(*inputs)
    assert out.encoded.hidden.shape == (2, 8, 16)
    assert out.ctc_logits.shape == (2, 8, vocab.EOS + 1)
    assert out.encoded.mask.tolist() == [[True] * 8, [True] * 5 + [False] * 3]
    scored = variant == "avrelscore"
    assert (out.encoded.video_scores is not None) == scored
    if scored:
        assert out.encoded.video_scores.shape == out.encoded.audio_scores.shape == (2, 8, 32)


def test_unimodal_variants_accept_a_missing_stream(inputs):
    video, audio, lengths = inputs
    assert _model(variant="audio_only")(None, audio, lengths).encoded.hidden.shape == (2, 8, 16)
    assert _model(variant="video_only")(video, None, lengths).encoded.hidden.shape == (2, 8, 16)


def test_loss_mixes_ctc_and_attention_by_ctc_weight(inputs):
    out = _model(ctc_weight=0.3)(*inputs, TARGETS)
    assert out.loss.item() == pytest.approx(0.3 * out.ctc_loss.item() + 0.7 * out.att_loss.item())


def test_attention_loss_without_smoothing_is_summed_cross_entropy_per_utterance(inputs):
    out = _model(label_smoothing=0.0)(*inputs, TARGETS)
    expected_out = torch.tensor([[14, 15, 13, 16, vocab.EOS], [20, 21, vocab.EOS, -1, -1]])
    ce = F.cross_entropy(out.att_logits.flatten(0, 1), expected_out.flatten(), ignore_index=-1)
    assert out.att_loss.item() == pytest.approx(ce.item() * 8 / 2, rel=1e-5)


def test_ctc_loss_is_summed_over_frames_and_averaged_over_utterances(inputs):
    video, audio, lengths = inputs
    out = _model()(video, audio, lengths, TARGETS)
    log_probs = out.ctc_logits.log_softmax(-1).transpose(0, 1)
    each = F.ctc_loss(
        log_probs, TARGETS.clamp(min=0), lengths, torch.tensor([4, 2]), reduction="none"
    )
    assert out.ctc_loss.item() == pytest.approx(each.mean().item(), rel=1e-5)


def test_untrained_attention_loss_is_near_uniform_guessing(inputs):
    out = _model(label_smoothing=0.0)(*inputs, TARGETS)
    uniform = 8 / 2 * torch.log(torch.tensor(41.0)).item()  # 8 tokens (with <eos>), 2 clips
    assert 0.5 * uniform < out.att_loss.item() < 2 * uniform


def test_backward_reaches_every_parameter(inputs):
    model = _model().train()
    model(*inputs, TARGETS).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == []


def test_reliability_scorer_returns_f_times_s_plus_f_with_per_frame_per_channel_scores():
    torch.manual_seed(0)
    scorer = ReliabilityScorer(6).eval()
    f = torch.randn(2, 5, 6)
    out, s = scorer(f)
    assert s.shape == f.shape
    assert ((s > 0) & (s < 1)).all()
    assert torch.allclose(out, f * s + f)
    assert s.std(dim=1).min() > 0  # scores vary over time, not one value per stream


def _first_layer_inputs(model, inputs):
    seen = {}
    hook = model.conformer[0].register_forward_pre_hook(lambda m, args: seen.update(args=args))
    with torch.no_grad():
        model.encode(*inputs)
    hook.remove()
    return seen["args"]


def test_encoder_sees_video_then_audio_tokens_with_the_padding_mask_twice(inputs):
    model = _model()
    x, pos, mask = _first_layer_inputs(model, inputs)
    video, audio, lengths = inputs
    with torch.no_grad():
        v, _ = model.video_scorer(model.video_frontend(video))
        a, _ = model.audio_scorer(model.audio_frontend(audio))
    scale = 16**0.5  # the relative positional encoding scales the embedded input by sqrt(d)
    assert torch.allclose(x[:, :8], model.embed(v) * scale, atol=1e-5)
    assert torch.allclose(x[:, 8:], model.embed(a) * scale, atol=1e-5)
    valid = [[True] * 8, [True] * 5 + [False] * 3]
    assert mask.tolist() == [row + row for row in valid]
    assert pos.shape == (1, 2 * 16 - 1, 16)  # offsets over the whole 2T sequence


def test_readout_keeps_only_the_video_positions(inputs):
    model = _model()
    seen = {}
    model.conformer[-1].register_forward_hook(lambda m, args, out: seen.update(out=out))
    with torch.no_grad():
        hidden = model.encode(*inputs).hidden
    assert seen["out"].shape[1] == 16
    assert torch.allclose(hidden, model.encoder_norm(seen["out"][:, :8]))


def test_av_concat_variant_skips_scoring(inputs):
    model = _model(variant="av_concat")
    x, _, _ = _first_layer_inputs(model, inputs)
    with torch.no_grad():
        v = model.video_frontend(inputs[0])
    assert not hasattr(model, "video_scorer")
    assert torch.allclose(x[:, :8], model.embed(v) * 16**0.5, atol=1e-5)


def test_relative_shift_puts_offset_i_minus_j_at_row_i_column_j():
    t = 4
    offsets = torch.arange(t - 1, -t, -1).float()  # T-1 .. -(T-1), as the encoder lays them out
    shifted = relative_shift(offsets.expand(1, 1, t, 2 * t - 1))
    i, j = torch.meshgrid(torch.arange(t), torch.arange(t), indexing="ij")
    assert torch.equal(shifted[0, 0], (i - j).float())


def test_hub_save_and_strict_load_round_trip(tmp_path, inputs):
    model = _model(variant="av_concat", ctc_weight=0.2)
    model.save_pretrained(tmp_path)
    loaded = AVRelScore.from_pretrained(tmp_path, strict=True)
    assert loaded.config == model.config
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert torch.equal(loaded.encode(*inputs).hidden, model.encode(*inputs).hidden)


@pytest.mark.parametrize(
    "changes",
    [
        {"variant": "lips"},
        {"d_model": 30, "heads": 4},
        {"conv_kernel": 4},
        {"audio_frontend": "x"},
        {"fusion": "x"},
    ],
)
def test_config_rejects_impossible_settings(changes):
    with pytest.raises(ValueError):
        AVRelScoreConfig(**changes)


def test_mel_front_end_gives_one_feature_per_video_frame_that_follows_the_audio(inputs):
    model = _model(audio_frontend="mel")
    out = model(*inputs)
    assert out.encoded.hidden.shape == (2, 8, 16)
    audio = inputs[1]
    features = model.audio_frontend(audio)  # (B, about T, C) before fitting to the video
    assert abs(features.size(1) - audio.size(1) // 640) <= 1
    assert features.size(2) == model.config.feature_dim
    silenced = audio.clone()
    silenced[:, 4 * 640 :] = 0.0  # the second half's features change, the first's barely
    changed = (model.audio_frontend(silenced) - features).abs().mean((0, 2))
    assert changed[6:].min() > 10 * changed[:2].max()


def test_sum_fusion_adds_the_streams_frame_by_frame_into_one_token_per_frame(inputs, monkeypatch):
    model = _model(fusion="sum")
    seen = []
    monkeypatch.setattr(model.embed, "forward", lambda x, **kw: seen.append(x) or x[..., :16])
    feats, _ = model.streams(*inputs[:2])
    model.encode(*inputs)
    assert seen[0].shape == (2, 8, 32)  # one token per frame, not two
    assert torch.allclose(seen[0], feats[0] + feats[1])


@pytest.mark.parametrize("training", [False, True])
def test_video_stem_computes_what_plain_conv3d_and_max_pool3d_do(inputs, training):
    stem = _model().video_frontend.stem.train(training)
    plain = torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False),
        torch.nn.BatchNorm3d(4),
        torch.nn.SiLU(),
        torch.nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
    ).train(training)
    plain.load_state_dict(stem.state_dict())
    video = inputs[0].transpose(1, 2)  # (B, 1, T, 88, 88)
    torch.testing.assert_close(stem(video), plain(video), rtol=1e-5, atol=1e-5)
