"""The Section 3 training: models, one epoch of each, failures as results, the report, the CLI."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from neural_ode.apps.training.models import MODELS, build_model, count_parameters, feature_side
from neural_ode.apps.training.results import load_results
from neural_ode.apps.training.run_config import TrainConfig
from neural_ode.apps.training.runs import run_all
from neural_ode.apps.training.stats import binomial_se, difference_se
from neural_ode.apps.training.table1 import PAPER_TABLE1, table1_configs
from neural_ode.apps.training.tolerance import tolerance_sweep
from neural_ode.apps.training.train import EpochRecord, IterationRecord, train
from neural_ode.cli import main as cli_main
from neural_ode.config import ConfigError
from neural_ode.data.idx import write_idx
from neural_ode.data.images import Dataset, load_digits
from neural_ode.reporting.claims.verdicts import VERDICTS

#: a tiny run: 64 training images in 2 batches, 32 test images, 8 channels
TINY = {"epochs": 1, "batch": 32, "width": 8, "train_limit": 64, "test_limit": 32}


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits()


@pytest.fixture(scope="module")
def tiny_results(digits):
    """One epoch of every model (memory probe on), by model name."""
    configs = {name: TrainConfig(model=name, **TINY) for name in MODELS}
    return {name: train(config, digits) for name, config in configs.items()}


def write_mnist(folder, train=20, test=10):
    """MNIST's four IDX files in ``folder`` with random pixels and labels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, count in (("train", train), ("t10k", test)):
        write_idx(folder / f"{stem}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, count, dtype=np.uint8))


def test_train_limit_leaves_the_test_set_whole(digits):
    result = train(TrainConfig(model="mlp", epochs=1, batch=32, train_limit=64, memory_probe=False), digits)
    assert len(result.iterations) == 2 and result.epochs[0].test_images == 360


def test_digits_split_is_fixed_and_stratified(digits):
    again = load_digits()
    assert torch.equal(digits.train_labels, again.train_labels)
    assert (len(digits.train_labels), len(digits.test_labels)) == (1437, 360)
    assert digits.train_images.shape[1:] == (1, 8, 8)
    assert torch.bincount(digits.test_labels).min() >= 35  # every class in the test set
    other = load_digits(seed=1)
    assert not torch.equal(digits.test_labels, other.test_labels)


@pytest.mark.parametrize(("side", "maps"), [(8, 4), (28, 6)])
def test_stem_makes_the_papers_feature_maps(side, maps):
    assert feature_side(side) == maps
    model = build_model("resnet1", side, channels=8)
    assert model.stem(torch.zeros(2, 1, side, side)).shape == (2, 8, maps, maps)
    assert model(torch.zeros(2, 1, side, side)).shape == (2, 10)


def test_parameter_counts():
    channels = 8
    per_block = 2 * 9 * channels * channels + 2 * 2 * channels  # two bias-free 3x3 convs, two group norms
    six, one = (count_parameters(build_model(n, 8, channels=channels)) for n in ("resnet6", "resnet1"))
    assert six - one == 5 * per_block
    ode = count_parameters(build_model("odenet", 8, channels=channels))
    rk = count_parameters(build_model("rknet", 8, channels=channels))
    assert ode == rk
    # the ODE field's convolutions see t as an extra input channel and have biases
    field = 2 * (9 * (channels + 1) * channels + channels) + 3 * 2 * channels
    assert ode - one == field - per_block
    assert count_parameters(build_model("mlp", 28)) == 784 * 300 + 300 + 300 * 10 + 10  # the paper's 0.24 M


@pytest.mark.parametrize("name", list(MODELS))
def test_one_epoch_of_each_model(tiny_results, name):
    result = tiny_results[name]
    assert result.status == "ok", result.error
    assert len(result.epochs) == 1 and len(result.iterations) == 2
    epoch = result.epochs[0]
    assert isinstance(epoch, EpochRecord) and all(isinstance(i, IterationRecord) for i in result.iterations)
    assert torch.isfinite(torch.tensor(epoch.train_loss)) and epoch.train_loss > 0
    assert 0 <= epoch.test_error <= 1 and epoch.time_epoch_s > 0
    assert epoch.saved_bytes > 0 and epoch.cpu_peak_bytes > 0 and epoch.cuda_peak_bytes is None
    assert result.params == count_parameters(result.model)
    spec = MODELS[name]
    if not spec.ode:
        assert epoch.nfe_forward == epoch.nfe_backward == epoch.nfe_test == 0
    elif result.config.method == "direct":
        # RK4 on 2 grid steps: 4 evaluations a step forward, none backward
        assert [i.nfe_forward for i in result.iterations] == [8, 8]
        assert [i.nfe_backward for i in result.iterations] == [0, 0]
        assert epoch.nfe_test == 8
    else:
        assert all(i.nfe_forward > 0 and i.nfe_backward > 0 for i in result.iterations)


def test_saved_bytes_never_exceed_the_peak_of_the_same_step(tiny_results):
    """The probe batch owns its storage and what existed before the forward pass is left out."""
    for name, result in tiny_results.items():
        epoch = result.epochs[0]
        if epoch.saved_bytes is not None and epoch.cpu_peak_bytes is not None:
            assert epoch.saved_bytes <= epoch.cpu_peak_bytes, name


def test_memory_ordering_of_the_papers_claims(tiny_results):
    saved = {name: result.epochs[0].saved_bytes for name, result in tiny_results.items()}
    assert saved["odenet"] < saved["rknet"]  # O(1) vs O(L~): RK-Net keeps its 8 evaluations
    assert saved["resnet1"] < saved["resnet6"]  # O(L)


def test_implicit_adams_run_counts_solver_warnings(digits):
    result = train(TrainConfig(model="odenet", solver="implicit_adams", steps=6, memory_probe=False, **TINY), digits)
    assert result.status == "ok", result.error
    assert isinstance(result.epochs[0].solver_warnings, int)
    assert all(i.nfe_forward > 0 and i.nfe_backward > 0 for i in result.iterations)


def test_diverging_run_is_recorded_not_raised(digits):
    poisoned = dataclasses.replace(digits, train_images=digits.train_images.clone())
    poisoned.train_images[40, 0, 3, 3] = float("nan")  # in the second batch of the first epoch
    config = TrainConfig(model="resnet1", seed=0, **{**TINY, "epochs": 2})
    order = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    first_batch_clean = 40 not in order[:32].tolist()
    result = train(config, poisoned)
    assert result.status == "non_finite"
    assert "non-finite training loss" in result.error
    assert result.failed_epoch == 1 and result.epochs == []
    assert len(result.iterations) == (1 if first_batch_clean else 0)


def test_step_cap_is_a_status(digits):
    result = train(TrainConfig(model="odenet", max_num_steps=1, memory_probe=False, **TINY), digits)
    assert result.status == "too_many_steps"
    assert "max_num_steps exceeded" in result.error


def test_tolerance_sweep_on_a_trained_odenet(tiny_results, digits):
    result = tiny_results["odenet"]
    records = tolerance_sweep(result, digits.subset(64, 32), tolerances=(1e-1, 1e-3, 1e-5), limit=32)
    assert [r.tolerance for r in records] == [1e-1, 1e-3, 1e-5]
    assert records[-1].nfe_forward > records[0].nfe_forward
    assert records[-1].numerical_error < records[0].numerical_error
    assert result.model.ode_block.rtol == 1e-3  # restored
    assert tolerance_sweep(tiny_results["rknet"], digits) == []  # fixed grid: no sweep


def test_config_validation():
    with pytest.raises(ConfigError, match="unknown model 'vgg'; allowed: resnet6, resnet1, rknet, odenet, mlp"):
        TrainConfig(model="vgg")
    with pytest.raises(ConfigError, match="--solver apply to the ODE models \\(rknet, odenet\\) only, not 'resnet6'"):
        TrainConfig(model="resnet6", solver="rk4")
    with pytest.raises(ConfigError, match="adaptive and takes no --steps"):
        TrainConfig(model="odenet", solver="dopri5", steps=4)
    with pytest.raises(ConfigError, match="walks a fixed grid and takes no tolerance"):
        TrainConfig(model="rknet", rtol=1e-3)
    with pytest.raises(ConfigError, match="unknown method 'backprop'"):
        TrainConfig(model="odenet", method="backprop")
    config = TrainConfig(model="odenet", solver="implicit_adams", steps=8)
    assert (config.method, config.rtol, config.name) == ("adjoint", 1e-3, "odenet-implicit_adams")
    assert TrainConfig(model="rknet").name == "rknet-rk4"
    sgd = TrainConfig(model="odenet", solver="implicit_adams", optimizer="sgd")
    assert (sgd.name, sgd.label) == ("odenet-implicit_adams-sgd", "ODE-Net (implicit_adams, SGD)")
    assert TrainConfig(model="mlp", optimizer="sgd").label == "1-layer MLP (SGD)"
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'; allowed: adam, sgd"):
        TrainConfig(optimizer="rmsprop")
    assert [c.name for c in table1_configs()] == [
        "resnet6",
        "resnet1",
        "rknet-rk4",
        "odenet-dopri5",
        "odenet-implicit_adams",
        "odenet-implicit_adams-sgd",
        "mlp",
    ]


def test_preset_renders_table_claims_and_figures(tmp_path, digits):
    configs = table1_configs(epochs=1, batch=32, width=4, train_limit=32, test_limit=16, memory_every=0)
    configs[3] = configs[3].replace(max_num_steps=1, name="odenet-capped")  # this one fails, the preset goes on
    configs.append(configs[3].replace(max_num_steps=1000))
    results = run_all(configs, tmp_path, data=digits, show_progress=False)
    assert [r.status for r in results] == ["ok", "ok", "ok", "too_many_steps", "ok", "ok", "ok", "ok"]
    for name in ("runs.csv", "epochs.csv", "iterations.csv", "tolerance.csv", "table1.csv", "claims.csv"):
        assert (tmp_path / name).is_file(), name
    for name in ("loss_curves.png", "figure3.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(tmp_path / "table1.csv")
    assert list(table["run"]) == [c.name for c in configs]
    assert table.loc[table["run"] == "odenet-capped", "status"].item() == "too_many_steps"
    assert table.loc[table["run"] == "resnet6", "paper_test_error_pct"].item() == PAPER_TABLE1["resnet6"].test_error_pct
    markdown = (tmp_path / "table1.md").read_text()
    for label in ("ResNet (6 blocks)", "ResNet (1 block)", "RK-Net (rk4)", "ODE-Net (dopri5)", "1-layer MLP"):
        assert label in markdown
    assert "0.42%" in markdown and "O(1)" in markdown and "O(L̃)" in markdown
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert set(claims["verdict"]) <= set(VERDICTS)
    assert claims["claim"].str.contains("Backward NFE is about half").any()
    tolerance = load_results(tmp_path).tolerance
    assert set(tolerance["run"]) == {"odenet-dopri5"}  # the capped run failed, implicit_adams is fixed-grid
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "too_many_steps" in html
    report = (tmp_path / "report.md").read_text()
    assert "![Figure 3](figure3.png)" in report and "## The claims, checked" in report
    (tmp_path / "report.html").unlink()
    assert cli_main(["train", "--render", str(tmp_path)]) == 0  # re-rendered from the tables alone
    assert (tmp_path / "report.html").read_text() == html


def test_standard_errors():
    assert binomial_se(0.1, 100) == pytest.approx(0.03)
    # pooled two-proportion test: 3/360 vs 8/360 wrong
    assert difference_se(3 / 360, 360, 8 / 360, 360) == pytest.approx((11 / 720 * (1 - 11 / 720) * 2 / 360) ** 0.5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "vgg"], "unknown model 'vgg'; allowed: resnet6, resnet1, rknet, odenet, mlp"),
        (["--model", "mlp", "--data", "cifar"], "unknown data 'cifar'; allowed: digits, mnist:PATH"),
        (["--model", "mlp", "--data", "mnist:/nonexistent"], "no such folder"),
        (["--preset", "table1", "--solver", "rk4"], "--solver configure a single --model run, not --preset table1"),
        (["--preset", "table2"], "unknown preset 'table2'; allowed: table1"),
        (["--model", "odenet", "--solver", "dopri5", "--steps", "3"], "adaptive and takes no --steps"),
        (["--render", "/nonexistent"], "not a training results folder"),
    ],
)
def test_cli_bad_input_exits_2(capsys, argv, message):
    assert cli_main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neural-ode-bench train: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_corrupt_mnist_exits_2(tmp_path, capsys):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    assert cli_main(["train", "--model", "mlp", "--data", f"mnist:{tmp_path}"]) == 2
    assert "train-images-idx3-ubyte: truncated" in capsys.readouterr().err


def test_cli_trains_one_model_on_mnist_files(tmp_path, capsys):
    write_mnist(tmp_path / "mnist", train=40, test=20)
    out = tmp_path / "out"
    argv = ["train", "--model", "resnet1", "--data", f"mnist:{tmp_path / 'mnist'}", "--epochs", "1", "--width", "4"]
    assert cli_main([*argv, "--batch", "20", "--out", str(out), "--quiet", "--no-sweep"]) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert runs["status"].tolist() == ["ok"] and runs["config_data"].tolist() == [f"mnist:{tmp_path / 'mnist'}"]
    assert len(pd.read_csv(out / "iterations.csv")) == 2
    assert "ResNet (1 block)" in capsys.readouterr().out


def test_console_exit_status_in_a_subprocess():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "neural_ode", "train", "--model", "mlp", "--epochs", "0"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--epochs: it takes positive integers, got '0'" in done.stderr
