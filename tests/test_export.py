"""digits-export: real exports of every architecture through the parity gate, int8, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from conftest import BAD_CHECKPOINTS, assert_one_line_error, run_cli, write_bad_checkpoint
from digits.edge import contract
from digits.edge.session import DigitModel
from digits.export import pipeline
from digits.export.config import ExportConfig
from digits.export.convert import to_onnx
from digits.export.parity import ParityError, check_parity
from digits.train.checkpoint import load_checkpoint, model_from_checkpoint, sha256_of
from digits.train.data import load_mnist
from digits.train.config import TrainConfig
from digits.train.loop import fit
from digits.train.models import predict
from digits.train.models import ARCHITECTURES


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, mnist_root) -> dict[str, Path]:
    """One small but real training run per architecture (1,500 digits, one epoch)."""
    root = tmp_path_factory.mktemp("runs")
    paths = {}
    for arch in ARCHITECTURES:
        config = TrainConfig(arch=arch, epochs=1, batch_size=64, augment=False, limit_train=1500, limit_test=200,
                             data=str(mnist_root), out=str(root / arch), progress=False, device="cpu")
        paths[arch] = fit(config, log=lambda _: None).run_dir / "best.pth"
    return paths


@pytest.fixture(scope="module")
def cnn_6000(tmp_path_factory, mnist_root) -> Path:
    """A simple CNN trained one epoch on 6,000 digits (93 % accurate): int8 is judged on a model that has
    learnt something, with room below the drop limit. The 1,500-digit models above are ~67 % accurate,
    and int8 moves their many borderline answers: the LeNet-5 among them lost under 2 points on one
    host's CPU and 2.64 on another (top-1 agreement 0.89), the same code and seed; a LeNet-5 at 96 % still
    loses 1.2-1.4 points to int8 (measured 2026-12-07), this CNN 0.36."""
    config = TrainConfig(arch="simple-cnn", epochs=1, batch_size=64, augment=False, limit_train=6000, limit_test=200,
                         data=str(mnist_root), out=str(tmp_path_factory.mktemp("int8") / "cnn"), progress=False,
                         device="cpu")
    return fit(config, log=lambda _: None).run_dir / "best.pth"


@pytest.fixture(scope="module")
def test_digits(mnist_root):
    return load_mnist(mnist_root, download=False)[1]


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_exports_with_parity_on_all_test_digits(arch, checkpoints, tmp_path, mnist_root, test_digits):
    destination = tmp_path / f"{arch}.onnx"
    result = pipeline.export_checkpoint(checkpoints[arch], destination, ExportConfig(data=str(mnist_root)), log=lambda _: None)
    parity = result.parity
    assert parity.passed and parity.inputs == "mnist-test" and parity.samples == 10_000
    assert parity.top1_agreement == 1.0 and parity.max_abs_probability_diff <= 1e-4 and parity.max_abs_logit_diff <= 1e-4
    assert parity.onnx_test_accuracy > 0.5  # trained a little: far above chance (0.1)
    report = json.loads(result.report_path.read_text())
    assert report["parity"]["top1_agreement"] == 1.0 and report["architecture"] == arch

    # The dynamic batch really is dynamic: N = 1, 2, 7, 64 against torch.
    model = model_from_checkpoint(load_checkpoint(checkpoints[arch]))
    onnx_model = DigitModel(destination)
    for n in (1, 2, 7, 64):
        images = test_digits.images[100 : 100 + n]
        probabilities, logits = onnx_model.run(images.unsqueeze(1).float().div(255).numpy())
        reference = predict(model, images)
        assert probabilities.shape == (n, 11)  # trained with the not-a-digit class (the default)
        np.testing.assert_allclose(logits, reference.numpy(), atol=1e-4)
        np.testing.assert_allclose(probabilities, torch.softmax(reference, 1).numpy(), atol=1e-5)


def test_a_model_without_the_reject_class_exports_ten_columns_and_the_edge_reads_it(tmp_path, mnist_root):
    config = TrainConfig(arch="mlp", epochs=1, batch_size=64, reject=False, limit_train=1500, limit_test=200,
                         data=str(mnist_root), out=str(tmp_path / "run"), progress=False, device="cpu")
    checkpoint = fit(config, log=lambda _: None).run_dir / "last.pth"
    destination = tmp_path / "plain.onnx"
    pipeline.export_checkpoint(checkpoint, destination, ExportConfig(data=str(mnist_root)), log=lambda _: None)
    onnx_model = DigitModel(destination)
    assert onnx_model.metadata[contract.META_REJECT_INDEX] == "" and onnx_model.reject_index is None
    assert onnx_model.probabilities(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)
    # A contract-1 file, as digits-export wrote before the reject class, is read as before.
    proto = onnx.load(str(destination))
    kept = [p for p in proto.metadata_props if p.key not in (contract.META_REJECT_INDEX, contract.META_REJECT_FIGURES)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    next(p for p in proto.metadata_props if p.key == contract.META_CONTRACT).value = "1"
    onnx.save(proto, str(tmp_path / "v1.onnx"))
    old = DigitModel(tmp_path / "v1.onnx")
    assert old.reject_index is None and old.metadata[contract.META_CONTRACT] == "1"


@pytest.mark.slow
def test_graph_follows_the_contract_and_metadata_round_trips(checkpoints, tmp_path, mnist_root):
    destination = tmp_path / "m.onnx"
    result = pipeline.export_checkpoint(checkpoints["digitnet"], destination, ExportConfig(data=str(mnist_root)), log=lambda _: None)
    proto = onnx.load(str(destination))
    onnx.checker.check_model(proto, full_check=True)
    # The lowest IR version opset 18 allows, so older onnxruntimes (1.17 reads IR <= 9) load it.
    assert proto.ir_version == 8 and [(o.domain, o.version) for o in proto.opset_import] == [("", 18)]
    (graph_input,) = proto.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    assert graph_input.name == contract.INPUT_NAME and dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    assert [o.name for o in proto.graph.output] == [contract.PROBABILITIES_NAME, contract.LOGITS_NAME]
    meta = DigitModel(destination).metadata
    assert meta[contract.META_ARCHITECTURE] == "digitnet"
    assert meta[contract.META_CHECKPOINT_SHA256] == sha256_of(checkpoints["digitnet"])
    assert json.loads(meta[contract.META_CLASSES]) == list(range(10))
    assert meta[contract.META_CONTRACT] == "2" and meta[contract.META_REJECT_INDEX] == str(contract.REJECT_INDEX)
    figures = json.loads(meta[contract.META_REJECT_FIGURES])
    assert figures["negatives"] == 2000 and 0 <= figures["negatives_rejected"] <= 1 and figures["digits"] == 10_000
    assert float(meta[contract.META_TEST_ACCURACY]) == pytest.approx(result.parity.onnx_test_accuracy, abs=1e-6)
    assert json.loads(meta[contract.META_PARITY])["top1_agreement"] == 1.0
    for key in (contract.META_TORCH_VERSION, contract.META_ONNX_VERSION, contract.META_TOOLKIT_VERSION, contract.META_CREATED, contract.META_INPUT):
        assert meta[key], key


def test_a_graph_that_differs_from_torch_fails_the_gate_and_leaves_nothing(checkpoints, tmp_path, mnist_root, monkeypatch):
    def skewed_export(model, opset):
        broken = model_from_checkpoint(load_checkpoint(checkpoints["lenet5"]))
        with torch.no_grad():
            broken.net[-1].bias[3] += 0.05  # a small drift in one logit, as a faulty exporter might make
        return to_onnx(broken, opset)

    monkeypatch.setattr(pipeline, "to_onnx", skewed_export)
    destination = tmp_path / "out" / "model.onnx"
    destination.parent.mkdir()
    destination.write_bytes(b"the user's previous model")
    with pytest.raises(ParityError, match="max \\|dlogit\\| 5.00e-02"):
        pipeline.export_checkpoint(checkpoints["lenet5"], destination, ExportConfig(data=str(mnist_root)), log=lambda _: None)
    assert destination.read_bytes() == b"the user's previous model"
    assert sorted(p.name for p in destination.parent.iterdir()) == ["model.onnx"]


def test_parity_gate_catches_disagreement_in_top1(checkpoints, tmp_path, mnist_root, test_digits):
    good = tmp_path / "good.onnx"
    pipeline.export_checkpoint(checkpoints["mlp"], good, ExportConfig(data=str(mnist_root)), log=lambda _: None)
    other = model_from_checkpoint(load_checkpoint(checkpoints["deep-mlp"]))
    with pytest.raises(ParityError, match="top-1 agreement"):
        check_parity(other, DigitModel(good), test_digits.images[:500], atol=1.0)


def test_without_mnist_parity_uses_random_inputs_with_a_note(checkpoints, tmp_path):
    result = run_cli("digits-export", str(checkpoints["mlp"]), str(tmp_path / "m.onnx"), "--data", str(tmp_path / "nothing"))
    assert result.returncode == 0, result.stderr
    assert "note: MNIST not found" in result.stdout and "random inputs" in result.stdout
    assert json.loads((tmp_path / "m.parity.json").read_text())["parity"]["inputs"] == "random"


@pytest.mark.slow
def test_int8_export_reports_accuracy_size_and_speed(cnn_6000, tmp_path, mnist_root):
    result = run_cli("digits-export", str(cnn_6000), str(tmp_path / "m.onnx"), "--data", str(mnist_root),
                     "--int8", "--max-drop", "2.0", "--calibration-digits", "200")
    assert result.returncode == 0, result.stderr
    assert "int8: accuracy" in result.stdout
    report = json.loads((tmp_path / "m.parity.json").read_text())["int8"]
    assert report["int8_bytes"] < report["fp32_bytes"] / 2
    assert abs(report["drop_points"]) <= 2.0
    int8 = DigitModel(tmp_path / "m.int8.onnx")
    assert json.loads(int8.metadata[contract.META_QUANTIZATION])["calibration_digits"] == 200
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(str(tmp_path / "m.int8.onnx")).graph.node)
    # sizes are the files' own; the int8 file carries its own parity figures, not the fp32 model's
    whole = json.loads((tmp_path / "m.parity.json").read_text())
    assert whole["onnx_bytes"] == (tmp_path / "m.onnx").stat().st_size
    assert report["int8_bytes"] == (tmp_path / "m.int8.onnx").stat().st_size and report["written"]
    own = json.loads(int8.metadata[contract.META_PARITY])
    assert own["reference"] == "fp32 onnx" and own["samples"] == 10000
    assert own["onnx_test_accuracy"] == pytest.approx(float(int8.metadata[contract.META_TEST_ACCURACY]), abs=1e-6)
    assert own != json.loads(DigitModel(tmp_path / "m.onnx").metadata[contract.META_PARITY])
    assert 0.9 < own["top1_agreement"] <= 1 and own["max_abs_probability_diff"] > 0


@pytest.mark.slow
def test_int8_over_the_drop_limit_fails_and_keeps_only_the_fp32_model(checkpoints, tmp_path, mnist_root):
    # One calibration digit gives a poor activation range; with --max-drop 0 any accuracy lost fails
    # the gate. Which of the small one-epoch models loses accuracy varies with their training, so
    # the first that does is the case (int8 can also gain a little on such a weak model).
    for arch in ("lenet5", "simple-cnn", "digitnet", "mlp4", "deep-mlp", "mlp"):
        out = tmp_path / arch
        out.mkdir()
        result = run_cli("digits-export", str(checkpoints[arch]), str(out / "m.onnx"), "--data", str(mnist_root),
                         "--int8", "--max-drop", "0", "--calibration-digits", "1")
        if result.returncode != 0:
            assert_one_line_error(result, 2, "int8 accuracy drop")
            assert "fp32 model passed its gate and was written" in result.stderr
            assert sorted(p.name for p in out.iterdir()) == ["m.onnx", "m.parity.json"]  # no int8 file, no temporaries
            assert json.loads((out / "m.parity.json").read_text())["int8"]["written"] is False
            DigitModel(out / "m.onnx")  # the fp32 model is whole and loads
            return
    pytest.fail("no model lost accuracy with one calibration digit")


@pytest.mark.parametrize("kind", BAD_CHECKPOINTS)
def test_bad_checkpoint_inputs(kind, checkpoints, tmp_path):
    source = tmp_path / "in.pth"
    write_bad_checkpoint(source, kind, checkpoints["mlp"])
    destination = tmp_path / "out.onnx"
    result = run_cli("digits-export", str(source), str(destination))
    assert_one_line_error(result, 2, str(source))
    assert not destination.exists() and not (tmp_path / "pwned").exists()
    assert [p.name for p in tmp_path.iterdir()] == ([] if kind == "missing" else ["in.pth"])


def test_bad_destinations(checkpoints, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert_one_line_error(run_cli("digits-export", str(checkpoints["mlp"]), str(tmp_path / "no" / "dir" / "m.onnx")), 2, "no such directory")
    assert_one_line_error(run_cli("digits-export", str(checkpoints["mlp"]), str(a_file / "m.onnx")), 2, "no such directory")
    assert_one_line_error(run_cli("digits-export", str(checkpoints["mlp"]), str(tmp_path)), 2, "is a directory")
    assert_one_line_error(run_cli("digits-export", str(checkpoints["mlp"]), str(tmp_path / "m.onnx"), "--opset", "9"), 2, "--opset")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
