import torch

from modelzoo.syncnet import SyncNet, SyncNetConfig, cosine_bce

TINY = SyncNetConfig(width=32)


def test_128px_critic_embeds_audio_and_lower_faces_as_unit_vectors():
    a, v = SyncNet(TINY)(torch.randn(3, 1, 80, 16), torch.rand(3, 15, 64, 128))
    assert a.shape == v.shape == (3, 32)
    torch.testing.assert_close(v.norm(dim=1), torch.ones(3))


def test_128px_critic_has_the_extra_stride_two_stage_over_the_96px_one():
    faces = {
        size: len(SyncNet(SyncNetConfig(img_size=size, width=32)).face_encoder)
        for size in (96, 128)
    }
    assert faces == {96: 17, 128: 19}


def test_96px_option_takes_48_by_96_lower_halves():
    a, v = SyncNet(SyncNetConfig(img_size=96, width=32))(
        torch.randn(2, 1, 80, 16), torch.rand(2, 15, 48, 96)
    )
    assert v.shape == (2, 32)


def test_stack_lower_half_puts_frames_on_channels_frame_major():
    frames = torch.arange(5.0).view(1, 1, 5, 1, 1).expand(1, 3, 5, 4, 4)
    stacked = SyncNet.stack_lower_half(frames)
    assert stacked.shape == (1, 15, 2, 4)
    assert stacked[0, :, 0, 0].tolist() == [f for f in range(5) for _ in range(3)]


def test_cosine_bce_rewards_aligned_pairs_labelled_in_sync():
    a = torch.tensor([[1.0, 0.0]])
    close, far = torch.tensor([[0.9, 0.1]]), torch.tensor([[0.1, 0.9]])
    assert cosine_bce(a, close, torch.ones(1)) < cosine_bce(a, far, torch.ones(1))
    assert cosine_bce(a, far, torch.zeros(1)) < cosine_bce(a, close, torch.zeros(1))


def test_critic_saves_and_loads_strictly_through_the_hub_mixin(tmp_path):
    model = SyncNet(TINY).eval()
    model.save_pretrained(tmp_path)
    loaded = SyncNet.from_pretrained(tmp_path, strict=True).eval()
    assert loaded.config == TINY
    mel, faces = torch.randn(1, 1, 80, 16), torch.rand(1, 15, 64, 128)
    torch.testing.assert_close(model(mel, faces), loaded(mel, faces))
