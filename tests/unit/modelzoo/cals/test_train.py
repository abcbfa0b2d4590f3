import torch

from modelzoo.alm.data import TalkingFaceDataset
from modelzoo.alm.loop import LoopConfig, fit, validate
from modelzoo.cals.model import CALSConfig, CALSModel
from modelzoo.cals.train import A2LTask, CALSLossWeights, L2FTask
from modelzoo.syncnet import SyncNet, SyncNetConfig
from tests.unit.modelzoo.talking_clips import one_thread, talking_clip

TINY = CALSConfig(width=16, context=2, a2l_layers=1, a2l_heads=2, a2l_ffn=32)
CLIPS = [talking_clip(seed=s) for s in range(2)]


def loop(steps, batch_size=2):
    return LoopConfig(steps, batch_size, val_every=1, val_batches=1, log_every=1)


def quiet(_):
    pass


def a2l_run(folder, steps, total=2):
    torch.manual_seed(0)
    task = A2LTask(CALSModel(TINY))
    train = TalkingFaceDataset(CLIPS, "a2l", total * 2, context=TINY.context)
    val = TalkingFaceDataset(CLIPS, "a2l", 2, context=TINY.context, seed=1)
    fit(task, train, val, folder, loop(steps), log=quiet)
    return task


def test_a2l_pretraining_step_leaves_the_lip_encoder_untouched(tmp_path):
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in CALSModel(TINY).lip_encoder.state_dict().items()}
    task = a2l_run(tmp_path, 1)
    for key, tensor in task.model.lip_encoder.state_dict().items():
        torch.testing.assert_close(tensor, before[key])
    assert CALSModel.from_pretrained(tmp_path / "best", strict=True).config == TINY


def test_resumed_a2l_run_draws_the_same_masks_as_an_uninterrupted_one(tmp_path):
    straight = a2l_run(tmp_path / "straight", 2)
    a2l_run(tmp_path / "resumed", 1)
    resumed = a2l_run(tmp_path / "resumed", 2)
    for key, tensor in straight.model.a2l.state_dict().items():
        torch.testing.assert_close(resumed.model.a2l.state_dict()[key], tensor)


def test_lip_to_face_step_trains_the_generator_with_a2l_frozen(tmp_path):
    torch.manual_seed(0)
    model = CALSModel(TINY)
    a2l_before = {k: v.clone() for k, v in model.a2l.state_dict().items()}
    decoder_before = model.output_block[1].weight.clone()
    task = L2FTask(model, SyncNet(SyncNetConfig(width=16)), CALSLossWeights())
    train = TalkingFaceDataset(CLIPS, "l2f", 1, context=TINY.context)
    val = TalkingFaceDataset(CLIPS, "l2f", 1, context=TINY.context, seed=1)
    [figures] = fit(task, train, val, tmp_path, loop(1, batch_size=1), log=quiet)
    assert {"l1", "av_sync", "vv_sync", "gan", "disc"} <= set(figures)
    assert not torch.equal(model.output_block[1].weight, decoder_before)
    for key, tensor in model.a2l.state_dict().items():
        torch.testing.assert_close(tensor, a2l_before[key])


def test_a_few_hundred_a2l_steps_lower_the_masked_unit_loss_clearly(tmp_path):
    torch.manual_seed(0)
    steps = 200
    task = A2LTask(CALSModel(TINY), lr=1e-3)
    run = LoopConfig(steps, batch_size=4, val_every=steps, val_batches=2, log_every=steps)
    train = TalkingFaceDataset(CLIPS, "a2l", steps * 4, context=TINY.context)
    val = TalkingFaceDataset(CLIPS, "a2l", 8, context=TINY.context, seed=1)
    with one_thread():
        before = validate(task, val, run)["loss"]
        fit(task, train, val, tmp_path, run, log=quiet)
        after = validate(task, val, run)["loss"]
    assert after < 0.25 * before, (before, after)


def test_a_hundred_lip_to_face_steps_lower_the_generator_loss_clearly(tmp_path):
    # 128 px frames make each step cost about half a CPU second, so the run is 100 steps with a
    # raised learning rate; without the GAN term, whose tiny discriminator wins within a few
    # steps and whose saturated BCE would then swamp the total.
    torch.manual_seed(0)
    steps, clips = 100, [talking_clip(seed=s) for s in range(4)]
    config = CALSConfig(width=32, context=2, a2l_layers=1, a2l_heads=2, a2l_ffn=32)
    weights = CALSLossWeights(gan=0.0, lr=1e-3)
    task = L2FTask(CALSModel(config), SyncNet(SyncNetConfig(width=16)), weights)
    train = TalkingFaceDataset(clips, "l2f", steps * 2, context=2)
    val = TalkingFaceDataset(clips, "l2f", 2, context=2, seed=1)
    run = LoopConfig(steps, batch_size=2, val_every=steps, val_batches=1, log_every=steps)
    with one_thread():
        history = fit(task, train, val, tmp_path, run, log=quiet)

    def mean(name, part):
        return sum(h[name] for h in part) / len(part)

    first, last = history[:10], history[-10:]
    assert mean("l1", last) < 0.5 * mean("l1", first)
    assert mean("loss", last) < 0.75 * mean("loss", first)
