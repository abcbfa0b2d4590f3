import torch
import torch.nn.functional as F

from modelzoo.alm.model import ALMConfig, AudioLipMemory, AudioLipMemoryModel, QualityDiscriminator

TINY = ALMConfig(width=32, num_slots=8)


def memory_and_inputs(seed=0):
    torch.manual_seed(seed)
    memory = AudioLipMemory(TINY).eval()  # dropout off so outputs are comparable
    return memory, torch.randn(6, 32), torch.randn(6, 32)


def windowed_inputs(batch=1, frames=5):
    return (
        torch.randn(batch, frames, 1, 80, 16),
        torch.randn(batch, 6, frames, 128, 128),
        torch.randn(batch, frames, 3, 5, 128, 128),
    )


def test_key_address_is_softmax_over_slots_of_16_times_cosine():
    memory, audio, lip = memory_and_inputs()
    cosine = F.normalize(memory.q_embd(audio), dim=1) @ F.normalize(memory.key, dim=1).t()
    expected = torch.softmax(16.0 * cosine, dim=1)
    torch.testing.assert_close(memory(audio).key_address, expected)


def test_value_address_compares_embedded_lip_feature_with_value_slots():
    memory, audio, lip = memory_and_inputs()
    cosine = F.normalize(memory.v_embd(lip), dim=1) @ F.normalize(memory.value, dim=1).t()
    torch.testing.assert_close(memory(audio, lip).value_address, torch.softmax(16.0 * cosine, 1))


def test_key_path_reads_the_value_memory_at_the_audio_address():
    memory, audio, _ = memory_and_inputs()
    out = memory(audio)
    recalled = out.key_address @ memory.value
    torch.testing.assert_close(out.z_key, memory.fusion(torch.cat([audio, recalled], 1)))


def test_align_loss_is_kl_from_lip_address_to_audio_address_per_batch():
    memory, audio, lip = memory_and_inputs()
    out = memory(audio, lip)
    p_lip, p_aud = out.value_address, out.key_address
    forward_kl = (p_lip * (p_lip.log() - p_aud.log())).sum() / len(audio)
    reverse_kl = (p_aud * (p_aud.log() - p_lip.log())).sum() / len(audio)
    torch.testing.assert_close(out.align_loss, forward_kl, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(out.align_loss, reverse_kl, rtol=1e-3)


def test_align_loss_moves_the_audio_address_but_not_the_lip_address():
    memory, audio, lip = memory_and_inputs()
    memory(audio, lip).align_loss.backward()
    assert memory.q_embd.weight.grad.abs().sum() > 0 and memory.key.grad.abs().sum() > 0
    assert memory.v_embd.weight.grad is None
    assert memory.value.grad is None


def test_store_loss_pulls_the_stored_feature_not_its_target():
    memory, audio, lip = memory_and_inputs()
    memory(audio, lip).store_loss.backward()
    got = memory.v_embd.bias.grad.clone()
    memory.zero_grad()
    query = memory.v_embd(lip)
    stored = memory.address(query, memory.value) @ memory.value
    F.mse_loss(stored, query.detach()).backward()
    torch.testing.assert_close(got, memory.v_embd.bias.grad)
    memory.zero_grad()
    query = memory.v_embd(lip)
    F.mse_loss(memory.address(query, memory.value) @ memory.value, query).backward()
    assert not torch.allclose(got, memory.v_embd.bias.grad)


def test_training_forward_gives_both_paths_in_wav2lip_shapes_and_backpropagates():
    model = AudioLipMemoryModel(TINY)
    out = model(*windowed_inputs(batch=2))
    assert out.key_frames.shape == out.value_frames.shape == (2, 3, 5, 128, 128)
    assert out.key_address.shape == out.value_address.shape == (2, 5, 8)
    assert out.lip_embedding.shape == (2, 5, 32)
    (out.key_frames.mean() + out.value_frames.mean() + out.store_loss + out.align_loss).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_inference_runs_the_key_path_without_the_lip_encoder():
    model = AudioLipMemoryModel(TINY).eval()
    mels, faces, lips = windowed_inputs()
    calls = []
    model.lip_encoder.register_forward_hook(lambda *_: calls.append(1))
    per_frame = model.generate(mels[0], faces[0].transpose(0, 1))  # (5, 3, 128, 128)
    assert calls == []
    with torch.no_grad():
        training_key = model(mels, faces, lips).key_frames[0].transpose(0, 1)
    torch.testing.assert_close(per_frame, training_key)


def test_visual_sync_critic_is_a_frozen_copy_of_the_lip_encoder():
    model = AudioLipMemoryModel(TINY)
    frames = torch.rand(2, 3, 5, 128, 128, requires_grad=True)
    stats = model.lip_encoder[2].conv_block[1].running_mean.clone()
    model.lip_sync_embedding(frames).sum().backward()
    assert all(p.grad is None for p in model.lip_encoder.parameters())
    assert frames.grad[:, :, :, 64:].abs().sum() > 0
    assert frames.grad[:, :, :, :64].abs().sum() == 0  # the upper half is masked out
    torch.testing.assert_close(model.lip_encoder[2].conv_block[1].running_mean, stats)


def test_quality_discriminator_judges_the_lower_half_only():
    disc = QualityDiscriminator(TINY).eval()
    frames = torch.rand(1, 3, 2, 128, 128) * 2 - 1
    changed = frames.clone()
    changed[:, :, :, :64] = 0
    assert disc(frames).shape == (2, 1)
    torch.testing.assert_close(disc(frames), disc(changed))


def test_generator_saves_and_loads_strictly_through_the_hub_mixin(tmp_path):
    model = AudioLipMemoryModel(TINY).eval()
    model.save_pretrained(tmp_path)
    loaded = AudioLipMemoryModel.from_pretrained(tmp_path, strict=True).eval()
    assert loaded.config == TINY
    for key, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], tensor)


def test_value_path_reads_the_value_memory_at_the_lip_address():
    memory, audio, lip = memory_and_inputs()
    out = memory(audio, lip)
    stored = out.value_address @ memory.value
    torch.testing.assert_close(out.z_value, memory.fusion(torch.cat([audio, stored], 1)))


def test_store_loss_is_mse_between_stored_and_embedded_lip_feature():
    memory, audio, lip = memory_and_inputs()
    out = memory(audio, lip)
    expected = ((out.value_address @ memory.value - memory.v_embd(lip)) ** 2).mean()
    torch.testing.assert_close(out.store_loss, expected)
