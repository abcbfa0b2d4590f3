import torch
import torch.nn.functional as F

from modelzoo.cals.model import (
    AudioToLip,
    CALSConfig,
    CALSModel,
    discriminative_vv_loss,
    masked_unit_loss,
)

TINY = CALSConfig(width=16, context=2, a2l_layers=1, a2l_heads=2, a2l_ffn=32, a2l_dropout=0.0)


def context_inputs(batch=1, frames=5, w=TINY.context):
    faces = torch.randn(batch, 6, frames, 128, 128)
    mels = torch.randn(batch, frames + 2 * w, 1, 80, 16)
    return faces, mels, torch.ones(batch, frames + 2 * w, dtype=torch.bool)


def test_masked_objective_counts_only_masked_positions():
    predicted, target = torch.zeros(1, 4, 3), torch.ones(1, 4, 3)
    predicted[0, 1] = 1.0  # a perfect prediction at an unmasked position changes nothing
    masked = torch.tensor([[True, False, False, True]])
    loss = masked_unit_loss(predicted, target, masked, "l1")
    predicted[0, 2] = 5.0
    assert loss == masked_unit_loss(predicted, target, masked, "l1") == 1.0


def test_pretraining_gradient_reaches_only_masked_tokens():
    model = CALSModel(TINY)
    w = TINY.context
    mels = torch.randn(2, 2 * w + 1, 1, 80, 16)
    valid = torch.ones(2, 2 * w + 1, dtype=torch.bool)
    frames = torch.randn(2, 3, 2 * w + 5, 128, 128)
    tokens = []

    def keep(module, inputs, output):
        output.retain_grad()
        tokens.append(output)

    model.audio_encoder.register_forward_hook(keep)
    masks = torch.Generator().manual_seed(3)
    loss, masked = model.a2l_pretraining_loss(mels, valid, frames, valid, masks)
    loss.backward()
    assert masked.any() and (~masked).any()
    # Masked tokens are replaced by the mask embedding, so no gradient reaches their audio.
    grads = tokens[0].grad.flatten(1).abs().sum(1).view(2, -1)
    assert (grads[masked] == 0).all()
    assert model.a2l.mask_embedding.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.lip_encoder.parameters())  # frozen unit targets


def test_a2l_unit_depends_on_context_within_plus_minus_w_only():
    torch.manual_seed(0)
    model = CALSModel(TINY).eval()
    faces, mels, valid = context_inputs(frames=1)
    base = model(faces, mels, valid)
    far = mels.clone()
    far[:, 0] += 1.0  # frame t-W: inside the window of frame t
    assert not torch.allclose(model(faces, far, valid), base)


def test_a2l_ignores_tokens_marked_off_the_clip():
    a2l = AudioToLip(TINY).eval()
    tokens = torch.randn(1, 5, 16)
    valid = torch.tensor([[False, True, True, True, True]])
    changed = tokens.clone()
    changed[0, 0] = 100.0
    torch.testing.assert_close(a2l(tokens, valid)[:, 1:], a2l(changed, valid)[:, 1:])


def test_lip_to_face_forward_and_backward_shapes():
    model = CALSModel(TINY)
    out = model(*context_inputs(batch=2))
    assert out.shape == (2, 3, 5, 128, 128)
    out.mean().backward()
    assert model.a2l.head.weight.grad is not None and model.fusion.weight.grad is not None


def test_per_frame_inference_matches_the_windowed_forward():
    model = CALSModel(TINY).eval()
    faces, mels, valid = context_inputs(frames=2)
    w = TINY.context
    per_frame_mels = torch.stack([mels[0, j : j + 2 * w + 1] for j in range(2)])
    per_frame_valid = torch.stack([valid[0, j : j + 2 * w + 1] for j in range(2)])
    with torch.no_grad():
        windowed = model(faces, mels, valid)[0].transpose(0, 1)
        per_frame = model(faces[0].transpose(0, 1), per_frame_mels, per_frame_valid)
    torch.testing.assert_close(per_frame, windowed)


def test_contrastive_vv_prefers_the_own_frame_over_other_frames():
    gt = torch.eye(4)
    matched = discriminative_vv_loss(gt.clone(), gt)
    shuffled = discriminative_vv_loss(gt[[1, 0, 3, 2]], gt)
    assert matched < shuffled


def test_contrastive_vv_counts_extra_negatives_and_pulls_only_generated():
    gt = torch.eye(3)
    generated = (gt + 0.1).requires_grad_()
    negative = gt[:1] + 0.05  # a near-copy of frame 0's lips from elsewhere in the clip
    target = gt.clone().requires_grad_()
    with_negative = discriminative_vv_loss(generated, target.detach(), negative)
    assert with_negative > discriminative_vv_loss(generated, gt)
    with_negative.backward()
    assert generated.grad.abs().sum() > 0 and target.grad is None


def test_vv_l1_form_is_syncTalkFace_plain_distance():
    a, b = torch.zeros(2, 4), torch.ones(2, 4)
    assert discriminative_vv_loss(a, b, form="l1") == 1.0


def test_cals_saves_and_loads_strictly_through_the_hub_mixin(tmp_path):
    model = CALSModel(TINY)
    model.save_pretrained(tmp_path)
    loaded = CALSModel.from_pretrained(tmp_path, strict=True)
    assert loaded.config == TINY
    for key, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], tensor)


def test_masks_fall_on_valid_tokens_only_at_about_the_configured_ratio():
    model = CALSModel(TINY)
    n = 2 * TINY.context + 1
    valid = torch.ones(64, n, dtype=torch.bool)
    valid[:, :2] = False  # tokens off the clip
    frames = torch.zeros(64, 3, n + 4, 128, 128)
    mels = torch.randn(64, n, 1, 80, 16)
    with torch.no_grad():
        _, masked = model.a2l_pretraining_loss(
            mels, valid, frames, valid, torch.Generator().manual_seed(0)
        )
    assert not masked[:, :2].any()
    assert abs(masked[:, 2:].float().mean().item() - TINY.mask_ratio) < 0.06


def test_positions_without_lip_targets_never_count_and_unmasked_ones_only_when_asked():
    predicted, target = torch.zeros(1, 3, 2), torch.ones(1, 3, 2)
    target[0, 2] = 9.0  # a position whose mouth window runs off the clip
    has_lips = torch.tensor([[True, True, False]])
    masked = torch.tensor([[True, False, True]])
    assert masked_unit_loss(predicted, target, masked & has_lips, "l1") == 1.0
    predicted[0, 1] = 3.0  # only seen when unmasked positions count too (masked_only=False)
    assert masked_unit_loss(predicted, target, has_lips, "l1") == 1.5


def test_contrastive_vv_is_cross_entropy_of_cosines_over_the_temperature():
    torch.manual_seed(0)
    generated, gt, negatives = torch.randn(3, 8), torch.randn(3, 8), torch.randn(2, 8)
    candidates = torch.cat([gt, negatives])
    cosines = F.cosine_similarity(generated[:, None], candidates[None], dim=-1)  # (3, 5)
    log_p = torch.log_softmax(cosines / 0.1, dim=1)
    expected = -log_p[torch.arange(3), torch.arange(3)].mean()
    got = discriminative_vv_loss(generated, gt, negatives, temperature=0.1)
    torch.testing.assert_close(got, expected)
