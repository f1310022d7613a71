"""Tests for the trainer: schedules, protocol, determinism, checkpoints, divergence, CLI errors."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ablate.data import DataConfig, DeviceLoader, load_dataset
from ablate.errors import AblateError, ConfigError
from ablate.models import ModelConfig
from ablate.train import LRSchedule, TrainConfig, TrialConfig, evaluate, parameter_groups, run_trial

REPO = Path(__file__).resolve().parents[1]
# A small network keeps each trial to a second or two of CPU time.
SMALL_MODEL = {"unit": "full_preactivation", "depth": 8, "widths": [8, 8, 8]}
TIMING_KEYS = ("epoch_seconds", "images_per_second")


def without_timing(history: list[dict]) -> list[dict]:
    return [{key: value for key, value in metrics.items() if key not in TIMING_KEYS} for metrics in history]


# -- protocol and schedules ---------------------------------------------------------------------


def test_he2016_schedule_on_cifar_sized_data():
    config = TrainConfig(protocol="he2016").resolve(50_000)
    assert (config.epochs, config.batch_size, config.momentum, config.weight_decay) == (164, 128, 0.9, 1e-4)
    schedule = LRSchedule.from_config(config, 50_000 // 128)
    expected = {0: 0.01, 399: 0.01, 400: 0.1, 31_999: 0.1, 32_000: 0.01, 47_999: 0.01, 48_000: 0.001}
    for iteration, lr in expected.items():
        assert schedule(iteration) == pytest.approx(lr, rel=1e-12), iteration


def test_he2016_scaled_epochs_scale_milestones():
    config = TrainConfig(protocol="he2016", epochs=20).resolve(50_000)
    # 20 epochs of 390 iterations = 7,800 iterations, 0.121875 of 64k.
    assert config.milestones == [3900, 5850]
    assert config.warmup_iterations == 400
    overridden = TrainConfig(protocol="he2016", epochs=20, lr=0.05, milestones=[10, 15], milestone_unit="epoch")
    resolved = overridden.resolve(50_000)
    assert (resolved.lr, resolved.milestones, resolved.milestone_unit) == (0.05, [10, 15], "epoch")


def test_he2016_milestones_in_epochs():
    # 32k and 48k iterations at 390 iterations per epoch are epochs 82 and 123.
    assert TrainConfig(protocol="he2016", milestone_unit="epoch").resolve(50_000).milestones == [82, 123]
    # Scaled to 20 epochs: iterations 3,900 and 5,850 are epochs 10 and 15.
    scaled = TrainConfig(protocol="he2016", milestone_unit="epoch", epochs=20).resolve(50_000)
    assert scaled.milestones == [10, 15]


def test_protocol_survives_dump_round_trip():
    config = TrainConfig(protocol="he2016", epochs=10)
    again = TrainConfig.model_validate(config.model_dump())
    assert again.resolve(1437).schedule == "step"
    assert again.resolve(1437).warmup_lr == 0.01


def test_cosine_with_linear_warmup():
    schedule = LRSchedule("cosine", lr=0.2, total_iterations=110, warmup_iterations=10, warmup_lr=0.0, warmup="linear")
    assert schedule(0) == 0.0
    assert schedule(5) == pytest.approx(0.1)
    assert schedule(10) == pytest.approx(0.2)
    assert schedule(60) == pytest.approx(0.1)
    assert schedule(110) == pytest.approx(0.0)


def test_step_milestones_in_epochs():
    config = TrainConfig(schedule="step", milestones=[2, 3], epochs=4, gamma=0.5).resolve(1437)
    schedule = LRSchedule.from_config(config, 11)
    assert [schedule(i) for i in (21, 22, 32, 33)] == [0.1, 0.05, 0.05, 0.025]


def test_nesterov_needs_momentum():
    with pytest.raises(ConfigError, match="Nesterov momentum needs momentum > 0"):
        TrainConfig(nesterov=True, momentum=0.0).resolve(1000)


# -- optimizer groups and evaluation ------------------------------------------------------------


def test_no_decay_exempts_bn_bias_gates():
    model = ModelConfig(unit="exclusive_gating", depth=8).build(num_classes=10, in_channels=1)
    decayed, exempt = parameter_groups(model, 1e-4, no_decay=True)
    exempt_ids = {id(param) for param in exempt["params"]}
    names = {name for name, param in model.named_parameters() if id(param) in exempt_ids}
    assert exempt["weight_decay"] == 0.0
    assert any(".gate." in name for name in names)
    for name, param in model.named_parameters():
        module = model.get_submodule(name.rsplit(".", 1)[0])
        is_exempt = isinstance(module, torch.nn.BatchNorm2d) or name.endswith("bias") or ".gate." in name
        assert (id(param) in exempt_ids) == is_exempt, name
    assert len(parameter_groups(model, 1e-4, no_decay=False)) == 1


def test_evaluation_keeps_bn_statistics():
    splits = load_dataset(DataConfig(), "cpu")
    torch.manual_seed(0)
    model = ModelConfig(**SMALL_MODEL).build(num_classes=10, in_channels=1)
    model.train()
    loader = DeviceLoader(splits.train, 64, mean=splits.mean, std=splits.std, train=True, pad=1,
                          generator=torch.Generator().manual_seed(0))
    for images, _ in loader:  # move the running statistics away from their initial values
        model(images)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    test_loader = DeviceLoader(splits.test, 100, mean=splits.mean, std=splits.std)
    loss, error = evaluate(model, model, test_loader, lambda: torch.autocast("cpu", enabled=False))
    assert math.isfinite(loss)
    assert 0 <= error <= 100
    assert model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


# -- whole trials -------------------------------------------------------------------------------


def small_trial(**train) -> dict:
    return {"model": SMALL_MODEL, "train": {"epochs": 2, "batch_size": 64, "device": "cpu", **train}, "seed": 3}


def test_same_seed_bit_identical():
    reports = []
    first = run_trial(small_trial(), lambda metrics, directory: reports.append((metrics, directory)))
    second = run_trial(small_trial())
    assert without_timing(first.history) == without_timing(second.history)
    assert [metrics["status"] for metrics, _ in reports] == ["running", "completed"]
    assert all(directory is not None and not directory.exists() for _, directory in reports)
    assert set(first.final) == {"epoch", "train_loss", "train_error", "test_loss", "test_error", "lr",
                                "epoch_seconds", "images_per_second", "num_parameters", "macs", "device",
                                "status"}
    assert first.final["device"] == "cpu"
    assert first.final["num_parameters"] == first.num_parameters
    different = run_trial({**small_trial(epochs=1), "seed": 4})
    assert different.history[0]["train_loss"] != first.history[0]["train_loss"]


def test_validation_metrics_reported():
    result = run_trial({**small_trial(epochs=1), "data": {"validation": 0.1}})
    assert {"val_loss", "val_error"} <= set(result.final)
    # 144 validation images: every error is a multiple of 100/144.
    assert (result.final["val_error"] * 144 / 100) == pytest.approx(round(result.final["val_error"] * 1.44))


RESUME_SCRIPT = textwrap.dedent("""
    import json, sys
    from ablate.train import run_trial
    config = json.loads(sys.argv[1])
    result = run_trial(config, restore_from=sys.argv[2])
    print(json.dumps(result.history))
""")


def test_restore_in_new_process_matches(tmp_path):
    config = small_trial(epochs=10, schedule="step", milestones=[4, 7], no_decay=True, nesterov=True)
    uninterrupted = run_trial(config)

    class Stop(Exception):
        pass

    def stop_after_five(metrics, directory):
        if metrics["epoch"] == 5:
            shutil.copytree(directory, tmp_path / "checkpoint")
            raise Stop

    with pytest.raises(Stop):
        run_trial(config, stop_after_five)

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", RESUME_SCRIPT, json.dumps(config), str(tmp_path / "checkpoint")],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )
    resumed = json.loads(completed.stdout.strip().splitlines()[-1])
    assert len(resumed) == 10
    assert without_timing(resumed) == without_timing(uninterrupted.history)


def test_restore_with_other_config_raises(tmp_path):
    saved = []
    run_trial(small_trial(epochs=1), lambda metrics, directory: saved.append(shutil.copytree(directory, tmp_path / "c")))
    with pytest.raises(AblateError, match="written by a trial with other settings"):
        run_trial({**small_trial(epochs=1), "seed": 9}, restore_from=tmp_path / "c")


def test_lr_50_diverges_keeping_curve():
    # Two healthy warm-up epochs at lr 0.1, then lr 50.
    reports = []
    result = run_trial(
        small_trial(epochs=6, lr=50, schedule="step", warmup_iterations=44, warmup_lr=0.1),
        lambda metrics, directory: reports.append((dict(metrics), directory)),
    )
    assert result.status == "diverged"
    assert 3 <= result.epochs_run <= 5
    assert [metrics["status"] for metrics, _ in reports][:2] == ["running", "running"]
    last, last_directory = reports[-1]
    assert last["status"] == "diverged"
    assert last_directory is None
    assert last["epoch"] == result.epochs_run
    assert last["test_error"] == reports[-2][0]["test_error"]
    assert all(math.isfinite(metrics["train_loss"]) for metrics in result.history)


def test_diverged_first_epoch_reports_nan():
    result = run_trial(small_trial(epochs=3, max_train_loss=1e-3))
    assert result.status == "diverged"
    assert result.epochs_run == 1
    assert math.isnan(result.final["test_error"])
    assert result.final["status"] == "diverged"


def test_channels_last_and_bf16_on_cpu():
    # These options target CUDA; on CPU the same code paths run (slowly), which is what is tested.
    result = run_trial({**small_trial(epochs=1, channels_last=True, bf16=True), "data": {"validation": 0.1}})
    assert result.status == "completed"
    assert math.isfinite(result.final["test_loss"])


def test_cuda_without_device_is_config_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ConfigError, match="no CUDA device is available"):
        run_trial(small_trial(device="cuda"))


@pytest.mark.slow
def test_resnet20_digits_error_below_5_percent():
    config = {"model": {"unit": "full_preactivation", "depth": 20},
              "train": {"epochs": 8, "batch_size": 64, "device": "cpu"}, "seed": 0}
    result = run_trial(config)
    assert result.status == "completed"
    assert result.final["test_error"] < 5.0
    assert result.num_parameters == 269_434


# -- YAML and the command line ------------------------------------------------------------------


SWEEP_YAML = """\
name: quick
seeds: [7, 8]
sampler: {name: tpe}
data: {dataset: digits}
model: {unit: full_preactivation, depth: 8, widths: [8, 8, 8]}
train: {epochs: 1, batch_size: 64, lr: 5e-2, device: cpu}
"""


def test_trial_config_from_sweep_yaml(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP_YAML)
    config = TrialConfig.from_yaml(path, ["train.epochs=3"])
    assert config.seed == 7
    assert config.train.epochs == 3
    assert config.train.lr == 0.05


def test_search_dimension_rejected(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP_YAML.replace("depth: 8", "depth: {grid: [8, 14]}"))
    with pytest.raises(ConfigError, match=r"sweep.yaml:5: model.depth: is a search dimension"):
        TrialConfig.from_yaml(path)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "ablate", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(("override", "message"), [
    ("train.lr=abc", "train.lr: Input should be a valid number"),
    ("data.dataset=mnist", "data.dataset: unknown dataset 'mnist'; registered: cifar10"),
    ("train.epochs=-3", "train.epochs: Input should be greater than or equal to 1 (got -3)"),
])
def test_cli_bad_value_exits_2(tmp_path, override, message):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP_YAML)
    completed = run_cli("train", str(path), "--set", override)
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert message in completed.stderr
    assert completed.stderr.startswith("error: ")
    assert completed.stderr.count("\n") == 1
    assert "Traceback" not in completed.stderr


def test_cli_train_prints_epochs(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP_YAML)
    completed = run_cli("train", str(path), "--set", "train.epochs=2")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("epoch   1/2  train loss ")
    assert lines[1].startswith("epoch   2/2  train loss ")
    assert lines[2].startswith("completed: 2 epochs, test error ")


def test_cli_datasets_lists_registry():
    completed = run_cli("datasets")
    assert completed.returncode == 0
    assert [line.split()[0] for line in completed.stdout.splitlines()] == [
        "cifar10", "cifar100", "digits", "image_folder", "svhn",
    ]
