"""course_lib.training: learning, seeded splits, exact resume, early stopping, the normaliser, device
selection and the DistributedDataParallel path with 2 CPU processes (gloo)."""

import math
import os
import re
import socket

import numpy as np
import pytest
import torch

from course_lib.cgcnn import CGCNN
from course_lib.graphs import CrystalGraphDataset
from course_lib.training import History, Normalizer, Trainer, TrainingConfig, select_device, split_indices

torch.set_num_threads(1)
N = 40


@pytest.fixture(scope="module")
def dataset():
    """40 matbench_dielectric crystals, target: refractive index n (dimensionless)."""
    from course_lib.data import load_dataset

    df = load_dataset("matbench_dielectric", limit=N, progress=False)
    return CrystalGraphDataset(df["structure"], df["n"], radius=6.0, max_neighbors=8, progress=False)


def tiny_model(ds, seed=0, **kw):
    torch.manual_seed(seed)
    return CGCNN(ds.atom_feature_dim, ds.edge_feature_dim, atom_fea_len=8, n_conv=1, h_fea_len=8,
                 graph_settings=ds.settings, **kw)


FAST = dict(batch_size=8, lr=0.01, val_fraction=0.2, test_fraction=0.1, progress=False)


def test_split_is_seeded_disjoint_and_complete():
    a = split_indices(100, 0.1, 0.2, seed=3)
    b = split_indices(100, 0.1, 0.2, seed=3)
    c = split_indices(100, 0.1, 0.2, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert [len(x) for x in a] == [70, 10, 20]
    assert sorted(np.concatenate(a).tolist()) == list(range(100))
    with pytest.raises(ValueError, match="no training data"):
        split_indices(3, 0.5, 0.5)
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(10, 1.5, 0.1)


def test_explicit_split_is_used_and_checked(dataset, tmp_path):
    train, val, test = np.arange(5, 25), np.array([0, 1, 2]), np.arange(30, 40)
    trainer = Trainer(tiny_model(dataset), dataset, epochs=2, split=(train, val, test), checkpoint_dir=tmp_path,
                      **FAST)
    assert [s.tolist() for s in trainer.split] == [train.tolist(), val.tolist(), test.tolist()]
    trainer.fit()
    assert len(trainer.evaluate("test")["y_true"]) == 10
    assert np.isclose(trainer.normalizer.mean.item(), dataset.targets[train].mean().item(), rtol=1e-5)
    # resuming with the same explicit split works; with another one it is refused
    again = Trainer(tiny_model(dataset), dataset, epochs=3, split=(train, val, test), checkpoint_dir=tmp_path, **FAST)
    assert again.fit() is not None and again.epoch == 3
    with pytest.raises(ValueError, match="another dataset or split"):
        Trainer(tiny_model(dataset), dataset, epochs=4, split=(train[1:], val, test), checkpoint_dir=tmp_path,
                **FAST).fit()
    with pytest.raises(ValueError, match="disjoint"):
        TrainingConfig(split=([0, 1, 2], [2], []))
    with pytest.raises(ValueError, match="empty training set"):
        TrainingConfig(split=([], [1], [2]))
    with pytest.raises(ValueError, match="three index arrays"):
        TrainingConfig(split=([0, 1], [2]))
    with pytest.raises(ValueError, match="integer indices"):
        TrainingConfig(split=([0.5, 1], [], []))
    with pytest.raises(ValueError, match="out of range"):
        Trainer(tiny_model(dataset), dataset, split=([0, 1], [], [N]), **FAST)


def test_normalizer_round_trip():
    y = torch.tensor([[1.0, 10.0], [2.0, 10.0], [4.0, 10.0]])
    norm = Normalizer.fit(y)
    assert torch.allclose(norm.mean, torch.tensor([7 / 3, 10.0]))
    assert np.isclose(norm.std[0].item(), np.std([1, 2, 4], ddof=1)) and norm.std[1].item() == 1.0
    z = norm.norm(y)
    assert torch.allclose(z[:, 0].mean(), torch.tensor(0.0), atol=1e-6)
    assert torch.allclose(norm.denorm(z), y, atol=1e-6)
    other = Normalizer()
    other.load_state_dict(norm.state_dict())
    assert torch.equal(other.norm(y), z)


def test_loss_goes_down_and_predictions_in_target_units(dataset, tmp_path):
    model = tiny_model(dataset)
    trainer = Trainer(model, dataset, epochs=12, checkpoint_dir=tmp_path, **FAST)
    history = trainer.fit()
    losses = history["train_loss"]
    assert len(history) == 12 and losses[-1] < 0.5 * losses[0]
    # the model stores the normaliser: predict() gives refractive indices, like evaluate()
    test = trainer.evaluate("test")
    pred = model.predict([dataset.graphs[i] for i in trainer.split[2]])
    assert np.allclose(pred, test["y_pred"], atol=1e-5)
    assert np.isclose(np.abs(pred - test["y_true"]).mean(), test["mae"], rtol=1e-5)
    assert np.isclose(trainer.normalizer.mean.item(), dataset.targets[trainer.split[0]].mean().item(), rtol=1e-5)
    # best.pt is a loadable model; plots work
    best = CGCNN.from_checkpoint(tmp_path / "best.pt")
    assert np.allclose(best.predict(dataset.graphs[:3]), model.predict(dataset.graphs[:3]), atol=1e-6)
    ax = history.plot(units="")
    assert len(ax.lines) >= 2
    ax = trainer.parity_plot("test")
    assert "MAE" in ax.get_legend().get_texts()[0].get_text()
    assert set(history.to_dataframe().columns) >= {"epoch", "train_loss", "val_mae", "lr"}


class Interrupt(Exception):
    pass


def test_resume_after_interruption_is_exact(dataset, tmp_path):
    cfg = TrainingConfig(epochs=5, optimizer="sgd", scheduler="multistep", lr_milestones=(3,), **FAST)
    full = Trainer(tiny_model(dataset, classification=False), dataset, cfg, checkpoint_dir=tmp_path / "a")
    full.fit()

    def stop_after_2(trainer, record):
        if record["epoch"] == 2:
            raise Interrupt

    first = Trainer(tiny_model(dataset), dataset, cfg, checkpoint_dir=tmp_path / "b", callbacks=[stop_after_2])
    with pytest.raises(Interrupt):
        first.fit()
    # a new process would build a fresh model (other random weights) and resume from last.pt
    second = Trainer(tiny_model(dataset, seed=99), dataset, cfg, checkpoint_dir=tmp_path / "b")
    assert second.epoch == 2 and len(second.history) == 2
    second.fit()
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, second.model.state_dict()[k]), k
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h.records]  # noqa: E731
    assert strip(full.history) == strip(second.history)
    assert [r["lr"] for r in full.history.records] == [0.01, 0.01, 0.01, 0.001, 0.001]
    # a checkpoint from another split is refused
    with pytest.raises(ValueError, match="another dataset or split"):
        Trainer(tiny_model(dataset), dataset, cfg, checkpoint_dir=tmp_path / "b", seed=5)


def test_early_stopping_keeps_the_best_weights(dataset, tmp_path):
    # min_delta is huge: no epoch after the first counts as an improvement
    trainer = Trainer(tiny_model(dataset), dataset, epochs=20, patience=2, min_delta=1e9,
                      checkpoint_dir=tmp_path, **FAST)
    history = trainer.fit()
    assert trainer.stopped_early and len(history) == 3 and history.best_epoch in (1, 2, 3)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == 1
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, best["state_dict"][k])
    assert trainer.test_metrics is not None and math.isfinite(trainer.test_metrics["mae"])


def test_classification_training(dataset):
    labels = (dataset.targets[:, 0] > dataset.targets[:, 0].median()).float()
    ds = CrystalGraphDataset.__new__(CrystalGraphDataset)
    ds.__dict__.update(dataset.__dict__, targets=labels[:, None])
    trainer = Trainer(tiny_model(ds, classification=True), ds, epochs=3, **FAST)
    history = trainer.fit()
    assert 0 <= history["val_accuracy"][-1] <= 1 and "val_mae" not in history.records[0]
    p = trainer.evaluate("test")["y_pred"]
    assert ((p >= 0) & (p <= 1)).all()
    with pytest.raises(ValueError, match="targets 0 or 1"):
        Trainer(tiny_model(dataset, classification=True), dataset, epochs=1, **FAST)


def test_single_atom_crystals_never_form_a_batch_of_one():
    from pymatgen.core import Lattice, Structure

    cells = [Structure(Lattice.cubic(a), ["Cu"], [[0, 0, 0]]) for a in np.linspace(2.3, 3.2, 10)]
    ds = CrystalGraphDataset(cells, np.linspace(2.3, 3.2, 10), radius=5.0, max_neighbors=6, progress=False)
    # 10 training crystals in batches of 3: a last batch of one one-atom crystal would break batch norm
    trainer = Trainer(tiny_model(ds), ds, epochs=2, batch_size=3, val_fraction=0.0, test_fraction=0.0, progress=False)
    history = trainer.fit()
    assert len(history) == 2 and math.isnan(history["val_mae"][0]) and math.isfinite(history["train_loss"][1])


def test_device_selection_and_config_errors(dataset):
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert select_device().type == "cpu"
        with pytest.raises(RuntimeError, match="no GPU"):
            select_device("cuda")
    with pytest.raises(ValueError, match="optimizer"):
        TrainingConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="scheduler"):
        TrainingConfig(scheduler="exponential")
    with pytest.raises(TypeError):
        Trainer(tiny_model(dataset), dataset, not_an_option=1)
    with pytest.raises(ValueError, match="history is empty"):
        History().plot()


# ----------------------------------------------------------------------------- DistributedDataParallel


def _ddp_worker(rank, world_size, port, dataset, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    model = tiny_model(dataset, seed=rank)  # different initial weights: DDP must broadcast rank 0's
    trainer = Trainer(model, dataset, epochs=8, checkpoint_dir=os.path.join(out_dir, "ckpt"), device="cpu", **FAST)
    history = trainer.fit()
    torch.save({"state": trainer.model.state_dict(), "history": history.records, "world": trainer.world_size,
                "test_mae": trainer.test_metrics["mae"]}, os.path.join(out_dir, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_distributed_data_parallel_two_cpu_processes(dataset, tmp_path):
    import torch.multiprocessing as mp

    # fork (Linux) skips re-importing torch and pymatgen in the children; torchrun starts fresh
    # interpreters instead, but each process then runs the same Trainer code as here
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(_ddp_worker, args=(2, _free_port(), dataset, str(tmp_path)), nprocs=2, join=True,
                       start_method=method)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["world"] == 2 and r1["world"] == 2
    for k, v in r0["state"].items():  # both processes hold the same model
        assert torch.equal(v, r1["state"][k]), k
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(r0["history"]) == strip(r1["history"])  # losses are all-reduced over processes
    losses = [r["train_loss"] for r in r0["history"]]
    assert losses[-1] < 0.7 * losses[0]
    model = CGCNN.from_checkpoint(tmp_path / "ckpt" / "best.pt")
    pred = model.predict(dataset.graphs[:5])
    assert np.isfinite(pred).all() and 1.0 < pred.mean() < 4.0  # refractive indices


# ----------------------------------------------------------------------------- bad input and checkpoints


def _with_targets(dataset, targets):
    ds = CrystalGraphDataset.__new__(CrystalGraphDataset)
    ds.__dict__.update(dataset.__dict__, targets=torch.as_tensor(targets, dtype=torch.float32).reshape(-1, 1))
    return ds


def test_nan_and_inf_targets_are_refused_with_their_rows(dataset):
    y = dataset.targets[:, 0].clone()
    y[7], y[23] = math.nan, math.inf
    ds = _with_targets(dataset, y)
    with pytest.raises(ValueError, match=r"2 target\(s\) are NaN or infinite, in dataset rows 7, 23"):
        Trainer(tiny_model(ds), ds, epochs=1, **FAST)
    # rows left out of an explicit split do not matter: training is finite
    rows = [i for i in range(N) if i not in (7, 23)]
    trainer = Trainer(tiny_model(ds), ds, epochs=1, split=(rows[:30], rows[30:], []), **FAST)
    assert math.isfinite(trainer.normalizer.mean.item()) and math.isfinite(trainer.fit()["train_loss"][0])


def test_resume_with_changed_optimiser_or_schedule_is_refused(dataset, tmp_path):
    base = dict(FAST, optimizer="sgd", scheduler="cosine")
    Trainer(tiny_model(dataset), dataset, epochs=2, checkpoint_dir=tmp_path, **base).fit()
    for change, name in [({"lr": 0.05}, "lr=0.01 -> 0.05"), ({"epochs": 4}, "epochs=2 -> 4"),
                         ({"scheduler": None}, "scheduler='cosine' -> None"), ({"optimizer": "adam"}, "optimizer"),
                         ({"weight_decay": 1e-4}, "weight_decay")]:
        kw = {**base, "epochs": 2, **change}
        with pytest.raises(ValueError, match=f"changed settings.*{re.escape(name)}.*resume=False"):
            Trainer(tiny_model(dataset), dataset, checkpoint_dir=tmp_path, **kw)
    # the same settings resume; another batch size resumes with a warning
    assert Trainer(tiny_model(dataset), dataset, epochs=2, checkpoint_dir=tmp_path, **base).epoch == 2
    with pytest.warns(UserWarning, match="batch_size 4 instead of 8"):
        Trainer(tiny_model(dataset), dataset, epochs=2, checkpoint_dir=tmp_path, **{**base, "batch_size": 4})
    # without a cosine schedule, more epochs is the way to train longer: accepted
    Trainer(tiny_model(dataset), dataset, epochs=2, checkpoint_dir=tmp_path / "const", **FAST).fit()
    longer = Trainer(tiny_model(dataset), dataset, epochs=3, checkpoint_dir=tmp_path / "const", **FAST)
    longer.fit()
    assert longer.epoch == 3 and len(longer.history) == 3


def test_checkpoint_errors_name_the_fix(dataset, tmp_path):
    Trainer(tiny_model(dataset), dataset, epochs=1, checkpoint_dir=tmp_path, **FAST).fit()
    last, best = tmp_path / "last.pt", tmp_path / "best.pt"
    # the resume checkpoint is not a model file
    with pytest.raises(ValueError, match="resume checkpoint.*load best.pt"):
        CGCNN.from_checkpoint(last)
    # another architecture in the same folder
    with pytest.raises(ValueError, match=r"another architecture.*model_config.*resume=False"):
        torch.manual_seed(0)
        wider = CGCNN(dataset.atom_feature_dim, dataset.edge_feature_dim, atom_fea_len=16, n_conv=1, h_fea_len=8,
                      graph_settings=dataset.settings)
        Trainer(wider, dataset, epochs=2, checkpoint_dir=tmp_path, **FAST)
    # a model file put where last.pt belongs
    other = tmp_path / "other"
    other.mkdir()
    (other / "last.pt").write_bytes(best.read_bytes())
    with pytest.raises(ValueError, match="not a resume checkpoint.*resume=False"):
        Trainer(tiny_model(dataset), dataset, epochs=2, checkpoint_dir=other, **FAST)
    # truncated files, for the trainer and for from_checkpoint
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="last.pt cannot be read.*truncated.*resume=False"):
        Trainer(tiny_model(dataset), dataset, epochs=2, checkpoint_dir=tmp_path, **FAST)
    assert Trainer(tiny_model(dataset), dataset, epochs=1, checkpoint_dir=tmp_path, resume=False, **FAST).epoch == 0
    data = best.read_bytes()
    best.write_bytes(data[:100])
    with pytest.raises(ValueError, match="best.pt cannot be read.*truncated.*download it again"):
        CGCNN.from_checkpoint(best)
