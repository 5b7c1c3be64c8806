"""Bad inputs and faults on digits-train and digits-export (issue 10): one line and exit 2 (130/143
for Ctrl-C/SIGTERM), never a traceback, and nothing the user had lost, overwritten or half-written.
Real MNIST, real runs, real subprocesses."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from conftest import assert_one_line_error, launch, run_cli, stop
from digits.train.checkpoint import load_checkpoint, save_checkpoint
from digits.train.config import TrainConfig
from digits.train.loop import default_run_dir, fit


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, mnist_root) -> Path:
    """A real, finished two-epoch run (small MLP) whose folder the tests must never damage."""
    out = tmp_path_factory.mktemp("finished") / "run"
    config = TrainConfig(arch="mlp", epochs=2, batch_size=64, limit_train=512, limit_test=200, data=str(mnist_root),
                         out=str(out), progress=False, device="cpu")
    fit(config, log=lambda _: None)
    return out


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _small(mnist_root: Path, out: Path, *extra: str) -> list[str]:
    return ["digits-train", "--arch", "mlp", "--epochs", "1", "--limit-train", "512", "--limit-test", "100",
            "--data", str(mnist_root), "--out", str(out), "--no-progress", "--device", "cpu", *extra]


def test_out_an_existing_run_is_refused_and_the_run_kept(finished_run, mnist_root):
    before = _digest(finished_run)
    assert_one_line_error(run_cli(*_small(mnist_root, finished_run)), contains="already holds files")
    assert _digest(finished_run) == before


def test_force_lets_a_new_run_replace_a_folder(tmp_path, finished_run, mnist_root):
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in finished_run.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    result = run_cli(*_small(mnist_root, copy, "--force"))
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(copy / "last.pth")["epoch"] == 1


def test_default_run_folders_of_the_same_second_differ(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first, second = default_run_dir("mlp"), default_run_dir("mlp")
    assert first != second and first.is_dir() and second.is_dir()


def test_an_out_that_cannot_be_written_fails_before_training(tmp_path, mnist_root):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    result = run_cli(*_small(mnist_root, tmp_path / "file.txt" / "run"))
    assert_one_line_error(result, contains="cannot write the run")
    assert "epoch" not in result.stdout


def test_a_diverging_run_stops_with_one_line_and_keeps_no_nan_checkpoint(tmp_path, mnist_root):
    out = tmp_path / "run"
    result = run_cli(*_small(mnist_root, out, "--optimizer", "sgd", "--lr", "1e30"))
    assert_one_line_error(result, contains="diverged")
    assert not (out / "last.pth").exists()


@pytest.mark.parametrize("flag, value", [("--lr", "inf"), ("--lr", "nan"), ("--label-smoothing", "nan"),
                                         ("--weight-decay", "inf"), ("--negatives", "nan")])
def test_non_finite_settings_are_refused(flag, value):
    assert_one_line_error(run_cli("digits-train", flag, value), contains=flag)


@pytest.mark.slow
def test_the_parity_gate_fails_a_model_with_nan_weights(tmp_path, finished_run, mnist_root):
    payload = load_checkpoint(finished_run / "last.pth")
    first = next(iter(payload["state_dict"]))
    payload["state_dict"][first] = torch.full_like(payload["state_dict"][first], float("nan"))
    save_checkpoint(tmp_path / "nan.pth", {k: v for k, v in payload.items() if k not in ("format", "format_version")})
    for extra in ([], ["--int8"]):
        result = run_cli("digits-export", str(tmp_path / "nan.pth"), str(tmp_path / "nan.onnx"), "--data", str(mnist_root), *extra)
        assert_one_line_error(result, contains="nan")
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".digits-export-*"))


def test_export_never_writes_over_its_checkpoint_a_link_or_a_device(tmp_path, finished_run):
    checkpoint = tmp_path / "m.pth"
    checkpoint.write_bytes((finished_run / "last.pth").read_bytes())
    before = checkpoint.read_bytes()
    assert_one_line_error(run_cli("digits-export", str(checkpoint), str(checkpoint)), contains=".onnx")
    link = tmp_path / "m.onnx"
    link.symlink_to(checkpoint)
    assert_one_line_error(run_cli("digits-export", str(checkpoint), str(link)))
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    assert_one_line_error(run_cli("digits-export", str(checkpoint), str(fifo)), contains="not a regular file")
    assert_one_line_error(run_cli("digits-export", str(checkpoint), str(tmp_path / "model.bin")), contains=".onnx")
    assert checkpoint.read_bytes() == before and link.is_symlink()


def test_export_checks_the_report_before_writing_the_model(tmp_path, finished_run, mnist_root):
    (tmp_path / "model.parity.json").mkdir()
    result = run_cli("digits-export", str(finished_run / "last.pth"), str(tmp_path / "model.onnx"), "--data", str(mnist_root))
    assert_one_line_error(result, contains="parity.json")
    assert not (tmp_path / "model.onnx").exists() and not list(tmp_path.glob(".digits-export-*"))


def test_export_report_names_the_checkpoint_relative_to_itself(tmp_path, finished_run, mnist_root):
    import json

    result = run_cli("digits-export", str(finished_run / "last.pth"), str(tmp_path / "model.onnx"), "--data", str(mnist_root))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "model.parity.json").read_text())
    assert not os.path.isabs(report["checkpoint"]) and (tmp_path / report["checkpoint"]).resolve() == (finished_run / "last.pth").resolve()


@pytest.mark.parametrize("damage", ["no-optimizer", "no-rng", "no-train-config", "bogus-model-config", "negative-width",
                                    "list-state-dict", "epoch-text"])
def test_crafted_checkpoints_are_one_line(tmp_path, finished_run, damage):
    payload = {k: v for k, v in load_checkpoint(finished_run / "last.pth").items() if k not in ("format", "format_version")}
    payload["epoch"] = 1  # resumable
    if damage == "no-optimizer":
        del payload["optimizer"]
    elif damage == "no-rng":
        del payload["rng"]
    elif damage == "no-train-config":
        del payload["train_config"]
    elif damage == "bogus-model-config":
        payload["model_config"] = {"colour": "blue"}
    elif damage == "negative-width":
        payload["arch"], payload["model_config"] = "digitnet", {"width": -1}
    elif damage == "list-state-dict":
        payload["state_dict"] = list(payload["state_dict"].values())
    elif damage == "epoch-text":
        payload["epoch"] = "one"
    path = tmp_path / "crafted.pth"
    save_checkpoint(path, payload)
    assert_one_line_error(run_cli("digits-train", "--resume", str(path)),
                          contains="model_config" if damage in ("bogus-model-config", "negative-width") else "crafted.pth")
    if damage in ("bogus-model-config", "negative-width", "list-state-dict"):
        assert_one_line_error(run_cli("digits-export", str(path), str(tmp_path / "x.onnx")))


@pytest.mark.parametrize("option", ["width=0", "width=-1", "dropout=2"])
def test_impossible_architecture_options_are_one_line(option, tmp_path, mnist_root):
    result = run_cli(*_small(mnist_root, tmp_path / "run"), "--arch", "digitnet", "--arch-option", option)
    assert_one_line_error(result, contains="digitnet")


def test_wrong_weights_say_why(tmp_path, finished_run):
    payload = {k: v for k, v in load_checkpoint(finished_run / "last.pth").items() if k not in ("format", "format_version")}
    payload["arch"] = "deep-mlp"
    save_checkpoint(tmp_path / "wrong.pth", payload)
    result = run_cli("digits-export", str(tmp_path / "wrong.pth"), str(tmp_path / "x.onnx"))
    assert_one_line_error(result, contains="do not fit")
    assert not result.stderr.strip().endswith(":")


def test_a_file_that_is_no_checkpoint_is_not_called_a_hostile_pickle(tmp_path):
    path = tmp_path / "photo.pth"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    result = run_cli("digits-export", str(path), str(tmp_path / "x.onnx"))
    assert_one_line_error(result, contains="not a PyTorch checkpoint")
    assert "could run code" not in result.stderr


def test_checkpoints_follow_the_umask(finished_run):
    mask = os.umask(0)
    os.umask(mask)
    assert (finished_run / "last.pth").stat().st_mode & 0o777 == 0o666 & ~mask


def test_an_image_folder_without_test_and_a_mistyped_data_create_nothing(tmp_path):
    tree = tmp_path / "my_digits"
    (tree / "train" / "3").mkdir(parents=True)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert_one_line_error(run_cli("digits-train", "--data", str(tree), "--no-progress"), contains="test/ is missing")
    assert_one_line_error(run_cli("digits-train", "--data", str(tmp_path / "my_digts"), "--no-progress"), contains="does not exist")
    stranger = tmp_path / "photos"
    stranger.mkdir()
    (stranger / "cat.txt").write_text("meow")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert_one_line_error(run_cli("digits-train", "--data", str(stranger), "--no-progress"), contains="neither MNIST")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.slow
def test_ctrl_c_before_the_first_epoch_ends_saves_nothing(tmp_path, mnist_root):
    out = tmp_path / "run"
    process = launch("digits-train", "--arch", "digitnet", "--epochs", "3", "--data", str(mnist_root), "--out", str(out),
                     "--no-progress", "--device", "cpu")
    process.stdout.readline()  # the header: data loaded, training starts (an epoch of full MNIST takes far longer)
    time.sleep(3)  # inside the first epoch
    stdout, stderr = stop(process, signal.SIGINT, timeout=120)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert "nothing saved" in stdout and not (out / "last.pth").exists()


@pytest.mark.slow
def test_sigterm_saves_the_last_epoch_and_leaves_no_temporaries(tmp_path, mnist_root):
    out = tmp_path / "run"
    process = launch("digits-train", "--arch", "mlp", "--epochs", "5000", "--limit-train", "2000", "--limit-test", "200",
                     "--data", str(mnist_root), "--out", str(out), "--no-progress", "--device", "cpu")
    for line in process.stdout:
        if line.startswith("epoch   2/"):
            break
    stdout, stderr = stop(process, signal.SIGTERM)
    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    assert load_checkpoint(out / "last.pth")["epoch"] >= 2
    import json

    assert json.loads((out / "metrics.json").read_text())["epochs_done"] >= 2  # written every epoch
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
