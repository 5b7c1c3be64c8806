"""digits-train: models, data, augmentation, loop, checkpoints, CLI. Real MNIST, small and seeded."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import BAD_CHECKPOINTS, assert_one_line_error, launch, run_cli, stop, write_bad_checkpoint
from digits.edge.contract import IMAGE_SIZE
from digits.edge.normalize import normalize_digit
from digits.train.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_checkpoint
from digits.train.drawn import render_drawn_digits
from digits.train.data import Augmentation, load_data, load_mnist, to_float
from digits.train.config import TrainConfig
from digits.train.loop import fit, make_optimizer
from digits.train.models import predict
from digits.train.negatives import KINDS, render_negatives, training_style
from digits.train.models import ARCHITECTURES, build_model, count_multiply_adds, model_config, standardize


@pytest.fixture(scope="module")
def mnist(mnist_root):
    return load_mnist(mnist_root, download=False)


def small_config(tmp_path: Path, mnist_root: Path, **changes) -> TrainConfig:
    base = TrainConfig(arch="lenet5", epochs=1, batch_size=64, lr=3e-3, augment=False, limit_train=1024,
                       limit_test=500, data=str(mnist_root), out=str(tmp_path / "run"), progress=False, device="cpu")
    return replace(base, **changes)


def test_registry_holds_the_zoo_with_the_specified_shapes():
    assert {"mlp", "deep-mlp", "mlp4", "simple-cnn", "lenet5", "digitnet"} <= set(ARCHITECTURES)
    linear = lambda arch: [(m.in_features, m.out_features) for m in build_model(arch).modules() if isinstance(m, torch.nn.Linear)]  # noqa: E731
    assert linear("mlp") == [(784, 256), (256, 10)]
    assert linear("deep-mlp") == [(784, 400), (400, 200), (200, 100), (100, 10)]
    assert linear("mlp4") == [(784, 256), (256, 128), (128, 64), (64, 10)]
    assert linear("lenet5") == [(400, 120), (120, 84), (84, 10)]
    assert linear("simple-cnn") == [(30 * 12 * 12, 100), (100, 10)]
    # mlp4 ends in logits: nothing after the last affine layer
    assert isinstance(list(build_model("mlp4").modules())[-1], torch.nn.Linear)


def test_our_cnn_stays_within_the_edge_budget():
    assert count_multiply_adds(build_model("digitnet")) <= 4_300_000
    assert count_multiply_adds(build_model("digitnet", width=16)) <= 2_000_000
    assert count_multiply_adds(build_model("lenet5")) == 416_520  # the classic figure for a 28x28 LeNet-5


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_learns_real_digits(arch, mnist):
    torch.manual_seed(0)
    train, _ = mnist
    x, y = standardize(to_float(train.images[:256])), train.labels[:256]
    model = build_model(arch)
    optimizer = make_optimizer(model, TrainConfig(lr=1e-3, weight_decay=0))
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert model(x).shape == (256, 10)
    assert build_model(arch, reject=True)(x).shape == (256, 11)  # every architecture takes the not-a-digit class
    assert losses[-1] < 0.7 * losses[0], losses


def test_short_run_beats_chance_by_far_and_writes_its_report(tmp_path, mnist_root):
    result = fit(small_config(tmp_path, mnist_root, limit_train=3000, epochs=2), log=lambda _: None)
    assert result.history[-1].test_accuracy > 0.85  # chance is 0.10
    run = result.run_dir
    for name in ("best.pth", "last.pth", "metrics.json", "curves.png", "confusion.png", "misclassified.png"):
        assert (run / name).stat().st_size > 0, name
    assert cv2.imread(str(run / "confusion.png")) is not None


def test_same_seed_same_result(tmp_path, mnist_root):
    a = fit(small_config(tmp_path / "a", mnist_root, augment=True, arch="digitnet", limit_train=256), log=lambda _: None)
    b = fit(small_config(tmp_path / "b", mnist_root, augment=True, arch="digitnet", limit_train=256), log=lambda _: None)
    sa, sb = (load_checkpoint(r.run_dir / "last.pth")["state_dict"] for r in (a, b))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, mnist):
    torch.manual_seed(1)
    model = build_model("digitnet").eval()
    images = mnist[1].images[:100]
    path = tmp_path / "model.pth"
    save_checkpoint(path, {"arch": "digitnet", "model_config": model_config(model), "state_dict": model.state_dict()})
    restored = model_from_checkpoint(load_checkpoint(path))
    assert torch.equal(predict(model, images), predict(restored, images))


@pytest.mark.slow
def test_ctrl_c_saves_last_and_resume_continues_identically(tmp_path, mnist_root):
    # Every epoch-dependent draw in it: new non-digits and drawn digits each epoch, elastic warps; and
    # the weight average, whose own state (the average and its step count) must come back too.
    config = small_config(tmp_path / "straight", mnist_root, epochs=2, arch="digitnet", augment=True, limit_train=512,
                          fresh_negatives=True, negative_mix="hard", drawn_digits=0.1, elastic=0.5, ema=0.9)
    straight = fit(config, log=lambda _: None)

    def interrupt_after_first_epoch(line: str) -> None:
        if line.startswith("epoch   1/2"):
            raise KeyboardInterrupt

    stopped = fit(replace(config, out=str(tmp_path / "resumed")), log=interrupt_after_first_epoch)
    assert stopped.interrupted
    last = tmp_path / "resumed" / "last.pth"
    assert load_checkpoint(last)["epoch"] == 1
    resumed = fit(TrainConfig(), resume=last, log=lambda _: None)
    assert [h.epoch for h in resumed.history] == [1, 2]
    a = load_checkpoint(straight.run_dir / "last.pth")
    b = load_checkpoint(last)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert all(torch.equal(a["trained_state_dict"][k], b["trained_state_dict"][k]) for k in a["state_dict"])
    assert a["average_steps"] == b["average_steps"] > 0  # counted across the interruption
    assert a["history"][-1]["train_loss"] == b["history"][-1]["train_loss"]
    # What is saved as the model (and exported) is the average, not the last step's weights.
    assert not torch.equal(a["state_dict"]["features.0.0.weight"], a["trained_state_dict"]["features.0.0.weight"])


def test_augmentation_distorts_on_the_device_and_keeps_the_digit(mnist):
    x = to_float(mnist[0].images[:512])
    generator = torch.Generator().manual_seed(0)
    y = Augmentation()(x, generator)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().mean() > 0.02  # it changes the pictures...
    ink_ratio = y.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert 0.5 < ink_ratio.median() < 1.6  # ...but the digit stays in the frame
    again = Augmentation()(x, torch.Generator().manual_seed(0))
    assert torch.equal(y, again)


def test_elastic_warp_bends_strokes_smoothly_and_only_when_asked(mnist):
    x = to_float(mnist[0].images[:256])
    plain = Augmentation(rotate_deg=0, scale=0, shift=0, shear_deg=0, thickness_p=0, blur_p=0)
    assert torch.allclose(plain(x, torch.Generator().manual_seed(0)), x, atol=1e-5)  # no warp: the digits as they were
    warped = Augmentation(rotate_deg=0, scale=0, shift=0, shear_deg=0, thickness_p=0, blur_p=0, elastic_p=1.0)(
        x, torch.Generator().manual_seed(0))
    moved = (warped - x).abs().mean((1, 2, 3))
    assert (moved > 0.01).float().mean() > 0.9  # every digit bent...
    assert 0.7 < float((warped.sum((1, 2, 3)) / x.sum((1, 2, 3))).median()) < 1.3  # ...not cut or smeared away


def test_degrade_blurs_and_bolds_digits_as_a_webcam_and_a_marker_do_only_when_asked(mnist):
    """--degrade: a share of each batch blurred by a Gaussian of its own width, half of it made bolder
    first, its strongest ink back at 1; none of it without the option."""
    x = to_float(mnist[0].images[:256])
    still = dict(rotate_deg=0, scale=0, shift=0, shear_deg=0, thickness_p=0, blur_p=0)
    assert torch.allclose(Augmentation(**still)(x, torch.Generator().manual_seed(0)), x, atol=1e-5)
    worse = Augmentation(**still, degrade_p=1.0)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(worse.amax((1, 2, 3)), torch.ones(256))  # the strongest ink at 1, as the reader brings it
    soft = ((worse > 0.1) & (worse < 0.6)).float().sum((1, 2, 3)) / ((x > 0.1) & (x < 0.6)).float().sum((1, 2, 3))
    assert float(soft.median()) > 2  # far wider soft rims than MNIST's own
    ink = worse.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert float(ink.min()) > 0.99 and 0.3 < float((ink > 1.6).float().mean()) < 0.7  # no less ink; about half much bolder
    half = Augmentation(**still, degrade_p=0.5)(x, torch.Generator().manual_seed(0))
    assert 0.3 < float((half - x).abs().amax((1, 2, 3)).gt(1e-5).float().mean()) < 0.7


def test_refit_frames_distorted_digits_as_the_reader_frames_a_candidate(mnist):
    """--refit: after rotation, shear, scale and shift, each digit is fitted back into the frame the
    edge's normalize_digit gives every candidate (ink box to 20x20, centre of mass at the centre)."""
    x = to_float(mnist[0].images[:256])
    distorted = Augmentation()(x, torch.Generator().manual_seed(0))
    refitted = Augmentation(refit_p=1.0)(x, torch.Generator().manual_seed(0))
    as_reader = np.stack([normalize_digit(np.where(d > 0.1, d, 0)) for d in distorted[:, 0].numpy()])
    assert np.abs(distorted[:, 0].numpy() - as_reader).mean() > 0.05  # the distortions moved them out of that frame...
    assert np.abs(refitted[:, 0].numpy() - as_reader).mean() < 0.015  # ...and refit puts them back
    half = Augmentation(refit_p=0.5)(x, torch.Generator().manual_seed(0))
    refitted_share = float(torch.isclose(half, refitted, atol=1e-6).all(dim=(1, 2, 3)).float().mean())
    assert 0.3 < refitted_share < 0.7


def test_non_digits_come_in_every_kind_and_the_hard_mix_draws_the_slow_kinds_more_often(mnist):
    digits = mnist[0].images[:300].numpy()
    images, kinds = render_negatives(2000, seed=3, style=training_style("default"), digits=digits)
    _, hard = render_negatives(2000, seed=3, style=training_style("hard"), digits=digits)
    _, signs = render_negatives(2000, seed=3, style=training_style("signs"), digits=digits)
    assert images.dtype == np.uint8 and images.shape == (2000, 28, 28) and images.max(axis=(1, 2)).min() > 0
    assert set(kinds) == set(hard) == set(KINDS) - {"symbol"}  # the shipped model's mixes: no signs
    _, hard_signs = render_negatives(2000, seed=3, style=training_style("hard-signs"), digits=digits)
    assert set(signs) == set(hard_signs) == set(KINDS)
    assert hard_signs.count("clip") > 1.2 * signs.count("clip") and hard_signs.count("symbol") > signs.count("symbol")
    for kind in ("pen", "clip", "face", "scribble"):
        assert hard.count(kind) > 1.2 * kinds.count(kind), kind
    for kind in ("texture", "blob"):
        assert hard.count(kind) < 0.7 * kinds.count(kind), kind


def test_drawn_digits_are_centred_digits_of_every_class_and_repeat_with_their_seed():
    images, labels = render_drawn_digits(600, seed=5)
    again, labels_again = render_drawn_digits(600, seed=5)
    assert images.shape == (600, IMAGE_SIZE, IMAGE_SIZE) and images.dtype == np.uint8
    assert np.array_equal(images, again) and np.array_equal(labels, labels_again)
    assert set(labels.tolist()) == set(range(10))
    assert images.reshape(600, -1).max(axis=1).min() == 255  # every one has ink, its core at full white
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    mass = images.astype(np.float64).sum((1, 2))
    centre = (IMAGE_SIZE - 1) / 2
    assert np.abs((images * xs).sum((1, 2)) / mass - centre).max() < 1.0  # normalised as MNIST (and the edge) does
    assert np.abs((images * ys).sum((1, 2)) / mass - centre).max() < 1.0
    assert not np.array_equal(render_drawn_digits(50, seed=6)[0], images[:50])


def test_image_folder_tree_trains(tmp_path, mnist):
    train, test = mnist
    for split, data, per_class in (("train", train, 30), ("test", test, 6)):
        counts = {d: 0 for d in range(10)}
        for image, label in zip(data.images.numpy(), data.labels.tolist()):
            if counts[label] >= per_class:
                continue
            folder = tmp_path / "tree" / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            # Photographed-style: dark ink on light paper, larger than 28x28; the loader normalises it.
            cv2.imwrite(str(folder / f"{counts[label]}.png"), cv2.resize(255 - image, (56, 56)))
            counts[label] += 1
    loaded_train, loaded_test = load_data(tmp_path / "tree")
    assert loaded_train.images.shape == (300, IMAGE_SIZE, IMAGE_SIZE) and len(loaded_test) == 60
    assert loaded_train.images.float().mean() < 60  # inverted to white ink on black, as MNIST
    result = run_cli("digits-train", "--arch", "mlp", "--epochs", "8", "--data", str(tmp_path / "tree"),
                     "--out", str(tmp_path / "run"), "--no-progress", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "300 train + 60 rendered non-digits / 60 test" in result.stdout
    assert load_checkpoint(tmp_path / "run" / "best.pth")["metrics"]["test_accuracy"] > 0.4


def test_an_image_folder_of_tiny_scans_is_loaded_light_ink_on_dark(tmp_path, mnist):
    # USPS-size scans (16x16, dark on light) are mostly their digit; the edge's local polarity guess
    # took 9 of these 200 for light ink, and they were loaded inverted (the 20x20 box bright).
    from digits.train.render import tiny_scan

    train, _ = mnist
    for split in ("train", "test"):
        for i, (image, label) in enumerate(zip(train.images[:200].numpy(), train.labels[:200].tolist())):
            folder = tmp_path / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{i}.png"), tiny_scan(image))
    loaded, _ = load_data(tmp_path)
    means = loaded.images.float().mean((1, 2)) / 255
    assert len(means) == 200 and int((means > 0.28).sum()) == 0, sorted(means.tolist())[-5:]


def test_hostile_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "hostile.pth"
    write_bad_checkpoint(path, "hostile")
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(path)
    result = run_cli("digits-train", "--resume", str(path))
    assert_one_line_error(result, 2, "refused to load")
    assert not marker.exists()


@pytest.mark.parametrize("kind", BAD_CHECKPOINTS)
def test_bad_checkpoints_exit_2_with_one_line(kind, tmp_path, mnist_root):
    path = tmp_path / "bad.pth"
    good = None
    if kind == "truncated":
        good = fit(small_config(tmp_path / "good", mnist_root, arch="mlp", limit_train=256), log=lambda _: None).run_dir / "last.pth"
    write_bad_checkpoint(path, kind, good)
    result = run_cli("digits-train", "--resume", str(path))
    assert_one_line_error(result, 2, str(path))
    assert not (tmp_path / "pwned").exists()


def test_resume_refuses_to_change_settings(tmp_path, mnist_root):
    result = fit(small_config(tmp_path, mnist_root, arch="mlp", epochs=2, limit_train=256), log=lambda _: None)
    outcome = run_cli("digits-train", "--resume", str(result.run_dir / "last.pth"), "--lr", "0.1")
    assert_one_line_error(outcome, 2, "--lr")


@pytest.mark.slow
def test_bad_flags_and_missing_data_are_one_line_errors(tmp_path, mnist_root):
    assert_one_line_error(run_cli("digits-train", "--epochs", "0"), 2, "--epochs")
    assert_one_line_error(run_cli("digits-train", "--data", str(mnist_root), "--limit-train", "10", "--epochs", "1",
                                  "--out", str(tmp_path / "run")), 2, "at least 4 steps")
    assert_one_line_error(run_cli("digits-train", "--arch", "resnet"), 2, "--arch")
    assert_one_line_error(run_cli("digits-train", "--ema", "1"), 2, "--ema")  # a decay of 1 never moves
    empty = tmp_path / "tree"
    (empty / "train").mkdir(parents=True)
    (empty / "test").mkdir()
    assert_one_line_error(run_cli("digits-train", "--data", str(empty), "--no-progress"), 2, "no images")


@pytest.mark.slow
def test_sigint_during_training_saves_last_checkpoint(tmp_path, mnist_root):
    # Far more epochs than the test waits for: a busy machine must not let the run end first.
    process = launch("digits-train", "--arch", "mlp", "--epochs", "5000", "--limit-train", "2000", "--limit-test", "200",
                     "--data", str(mnist_root), "--out", str(tmp_path / "run"), "--no-progress", "--device", "cpu")
    for line in process.stdout:
        if line.startswith("epoch   2/"):
            break
    stdout, stderr = stop(process, signal.SIGINT)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: saved" in stdout
    assert load_checkpoint(tmp_path / "run" / "last.pth")["epoch"] >= 2


@pytest.mark.parametrize("command", ["digits-train", "digits-export", "digits-edge"])
def test_help_of_every_command(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout and len(result.stdout.splitlines()) > 10


@pytest.mark.parametrize("command", ["digits-train", "digits-export", "digits-edge"])
def test_version_of_every_command_is_the_package_version(command):
    from importlib.metadata import version

    result = run_cli(command, "--version")
    assert result.returncode == 0 and result.stdout.strip() == f"{command} (digits-toolkit) {version('digits-toolkit')}"


def _scan_tree(root: Path, data, per_class: int) -> None:
    """An ImageFolder of USPS-like 16x16 scans (our renders of MNIST digits), dark on light."""
    from digits.train.render import tiny_scan

    counts = {d: 0 for d in range(10)}
    for image, label in zip(data.images.numpy(), data.labels.tolist()):
        if counts[label] < per_class:
            folder = root / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{counts[label]}.png"), tiny_scan(image))
            counts[label] += 1


@pytest.mark.slow
def test_init_from_starts_from_the_checkpoint_and_mixes_mnist_in(tmp_path, mnist_root, mnist):
    base = fit(small_config(tmp_path / "base", mnist_root, arch="mlp", epochs=2, limit_train=4096, reject=False),
               log=lambda _: None)
    start = base.run_dir / "last.pth"
    train, test = mnist
    _scan_tree(tmp_path / "tree" / "train", train, 10)
    _scan_tree(tmp_path / "tree" / "test", test, 5)
    env = {**os.environ, "DIGITS_DATA": str(mnist_root)}

    # A learning rate too small to move anything: the weights are the checkpoint's.
    still = run_cli("digits-train", "--init-from", str(start), "--data", str(tmp_path / "tree"), "--epochs", "1",
                    "--lr", "1e-12", "--out", str(tmp_path / "still"), "--batch-size", "32", "--no-progress", "--device", "cpu", env=env)
    assert still.returncode == 0, still.stderr
    assert f"weights from {start}" in still.stdout and "MNIST digits drawn afresh each epoch" in still.stdout
    a, b = load_checkpoint(start), load_checkpoint(tmp_path / "still" / "last.pth")
    assert b["arch"] == "mlp" and b["reject"] is False and b["train_config"]["init_from"] == str(start)
    assert all(torch.allclose(a["state_dict"][k].float(), b["state_dict"][k].float(), atol=1e-6) for k in a["state_dict"])

    tuned = run_cli("digits-train", "--init-from", str(start), "--data", str(tmp_path / "tree"), "--epochs", "3",
                    "--lr", "1e-3", "--out", str(tmp_path / "tuned"), "--batch-size", "32", "--no-progress", "--device", "cpu", env=env)
    assert tuned.returncode == 0, tuned.stderr
    assert "MNIST test" in tuned.stdout
    metrics = json.loads((tmp_path / "tuned" / "metrics.json").read_text())
    assert metrics["resolved"]["mix_mnist"] == 0.5 and metrics["resolved"]["mnist_digits_per_epoch"] == 100
    before = base.history[-1].test_accuracy  # on 500 MNIST test digits
    assert before > 0.8
    assert all(epoch["mnist_accuracy"] > before - 0.05 for epoch in metrics["history"])  # it has not forgotten MNIST

    alone = run_cli("digits-train", "--init-from", str(start), "--data", str(tmp_path / "tree"), "--epochs", "1",
                    "--mix-mnist", "0", "--out", str(tmp_path / "alone"), "--batch-size", "32", "--no-progress", "--device", "cpu", env=env)
    assert alone.returncode == 0, alone.stderr
    assert "MNIST" not in alone.stdout.splitlines()[0]


@pytest.mark.slow
def test_distill_keeps_the_starting_models_answers_while_it_learns_new_hands(tmp_path, mnist_root, mnist):
    start = fit(small_config(tmp_path / "base", mnist_root, arch="simple-cnn", epochs=2, limit_train=4096),
                log=lambda _: None).run_dir / "last.pth"
    _, test = mnist
    digits = test.images[:500]
    runs, lines = {}, []
    for weight in (0.0, 5.0):  # the same fine-tune, as hard on the new hands, without and with the teacher
        out = tmp_path / f"distill-{weight:g}"
        fit(small_config(out, mnist_root, init_from=str(start), epochs=2, lr=1e-2, drawn_digits=1.0, distill=weight),
            log=lines.append)
        runs[weight] = model_from_checkpoint(load_checkpoint(out / "run" / "last.pth"))
    before = predict(model_from_checkpoint(load_checkpoint(start)), digits).softmax(1)

    def moved(model):  # mean KL(start || tuned) on MNIST test digits
        return (before * (before.log() - predict(model, digits).log_softmax(1))).sum(1).mean().item()

    assert moved(runs[5.0]) < 0.5 * moved(runs[0.0]), (moved(runs[5.0]), moved(runs[0.0]))
    assert any("answers kept" in line and "distill 5" in line for line in lines)
    assert_one_line_error(run_cli("digits-train", "--distill", "1", "--data", str(mnist_root)), 2, "--init-from")


@pytest.mark.slow
def test_init_from_refuses_another_architecture_and_resume_of_a_finished_run_says_what_to_do(tmp_path, mnist_root):
    done = fit(small_config(tmp_path, mnist_root, arch="mlp", epochs=1, limit_train=256), log=lambda _: None)
    last = str(done.run_dir / "last.pth")
    assert_one_line_error(run_cli("digits-train", "--init-from", last, "--arch", "lenet5"), 2, "--arch")
    assert_one_line_error(run_cli("digits-train", "--resume", last), 2, f"--init-from {last}")
    assert_one_line_error(run_cli("digits-train", "--init-from", str(tmp_path / "none.pth"), "--data", str(mnist_root)), 2,
                          "none.pth")
