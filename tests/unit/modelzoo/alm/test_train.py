import torch

from modelzoo.alm.data import TalkingFaceDataset
from modelzoo.alm.loop import LoopConfig, fit
from modelzoo.alm.model import ALMConfig, AudioLipMemoryModel
from modelzoo.alm.train import ALMLossWeights, ALMTask, generator_loss
from modelzoo.syncnet import SyncNet, SyncNetConfig
from tests.unit.modelzoo.talking_clips import one_thread, talking_clip

TINY = ALMConfig(width=16, num_slots=8)


def task_and_data(steps):
    torch.manual_seed(0)
    clips = [talking_clip(seed=s) for s in range(2)]
    task = ALMTask(TINY, SyncNet(SyncNetConfig(width=16)), ALMLossWeights())
    # Batch 2: the visual-visual critic normalises over the batch, as the reference code's does.
    loop = LoopConfig(steps=steps, batch_size=2, val_every=1, val_batches=1, log_every=1)
    train = TalkingFaceDataset(clips, "generator", steps * 2)
    val = TalkingFaceDataset(clips, "generator", 2, seed=1)
    return task, train, val, loop


def test_generator_loss_weighs_l1_by_10_and_the_other_terms_by_0_2_over_both_paths():
    task, train, _, _ = task_and_data(1)
    batch = torch.utils.data.default_collate([train[0], train[1]])
    total, _, figures = generator_loss(task.model, task.disc, task.syncnet, batch, ALMLossWeights())
    expected = 10 * figures["l1"] + 0.2 * sum(
        figures[k] for k in ("av_sync", "vv_sync", "gan", "memory")
    )
    assert abs(total.item() - expected) < 1e-4 * max(1.0, expected)
    assert figures["memory"] == torch.tensor(figures["align"] + figures["store"]).item()


def test_one_training_step_on_cpu_validates_checkpoints_and_exports(tmp_path):
    task, train, val, loop = task_and_data(1)
    history = fit(task, train, val, tmp_path, loop, log=lambda _: None)
    assert history[0]["step"] == 1 and history[0]["loss"] > 0
    assert (tmp_path / "last.pt").exists()
    assert AudioLipMemoryModel.from_pretrained(tmp_path / "best", strict=True).config == TINY


def test_a_hundred_steps_lower_the_reconstruction_and_memory_losses_clearly(tmp_path):
    # 128 px frames make each step cost about half a CPU second even at width 32, so the run is
    # 100 steps with a raised learning rate. The GAN term is off: the tiny discriminator wins
    # early, and on some CPUs its gradient held L1 at 0.95 of its start. Without it L1 ends at
    # 0.68-0.73 of its start on one machine and 0.87 on another (the kernels' rounding differs);
    # a model that does not learn stays at 1.
    torch.manual_seed(0)
    steps, clips = 100, [talking_clip(seed=s) for s in range(4)]
    task = ALMTask(
        ALMConfig(width=32, num_slots=8),
        SyncNet(SyncNetConfig(width=16)),
        ALMLossWeights(lr=2e-3, gan=0.0),
    )
    loop = LoopConfig(steps=steps, batch_size=2, val_every=steps, val_batches=1, log_every=steps)
    train = TalkingFaceDataset(clips, "generator", steps * 2)
    val = TalkingFaceDataset(clips, "generator", 2, seed=1)
    with one_thread():
        history = fit(task, train, val, tmp_path, loop, log=lambda _: None)

    def mean(name, part):
        return sum(h[name] for h in part) / len(part)

    first, last = history[:10], history[-10:]
    assert mean("l1", last) < 0.9 * mean("l1", first)
    assert mean("memory", last) < 0.6 * mean("memory", first)
