"""One trainer for the course's neural networks (chapters 7 and 8).

:class:`Trainer` fits any model that follows a small protocol -- the model takes the batch made
by ``collate_fn`` and returns normalised predictions ``(B, T)`` (regression) or log-probabilities
``(B, C)`` (classification, ``model.classification = True``); the batch has ``.to(device)`` and a
``.target`` tensor ``(B, T)`` -- such as :class:`course_lib.cgcnn.CGCNN` with
:func:`course_lib.graphs.collate_graphs`. It provides

- a reproducible train/validation/test split (:func:`split_indices`, seeded);
- a target normaliser (:class:`Normalizer`; stored in the model when it has ``set_normalizer``);
- Adam or SGD, a learning-rate schedule (step decay at milestones as in the original CGCNN
  code, or cosine), early stopping on the validation MAE;
- a checkpoint after every epoch and exact resumption after an interruption (same weights,
  same history as an uninterrupted run, on the same hardware);
- CUDA when present, optional mixed precision (``amp=True``, CUDA only);
- a :class:`History` that plots as learning curves, and parity plots of the test set;
- several processes/GPUs with ``torchrun`` (DistributedDataParallel), with no code change.

Running on several GPUs: put the training code in a script and start it with
``torchrun --nproc_per_node=4 train.py``. Each process trains on its share of every epoch
(:class:`~torch.utils.data.distributed.DistributedSampler`); gradients are averaged; process 0
writes the checkpoints and shows the progress bar.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["History", "Normalizer", "Trainer", "TrainingConfig", "select_device", "split_indices"]

logger = logging.getLogger(__name__)


# ============================================================================================
# Small pieces
# ============================================================================================
def split_indices(n: int, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0):
    """Random train/validation/test split of ``range(n)``, reproducible from ``seed``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(train, val, test)`` indices, disjoint, covering ``0..n-1``. Sizes:
        ``round(n * test_fraction)`` test, ``round(n * val_fraction)`` validation, the rest train.
    """
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise ValueError(f"{name} must be in [0, 1), got {f}")
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    if n - n_test - n_val < 1:
        raise ValueError(f"no training data left: {n} entries, {n_val} validation and {n_test} test; "
                         "use smaller fractions or more data")
    order = np.random.default_rng(seed).permutation(n)
    return order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test]


class Normalizer:
    """Standardise targets, ``(y - mean) / std`` per column, and undo it.

    The original CGCNN code trains on standardised targets and stores ``mean`` and ``std`` in its
    checkpoints; so does :class:`Trainer`. ``std`` is the sample standard deviation (``n - 1``,
    as :func:`torch.std`); a constant column gets ``std = 1``.
    """

    def __init__(self, mean=0.0, std=1.0) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)

    @classmethod
    def fit(cls, targets) -> Normalizer:
        """Mean and standard deviation of ``targets`` (``(n,)`` or ``(n, T)``)."""
        t = torch.as_tensor(np.asarray(targets), dtype=torch.float64)
        t = t.reshape(len(t), -1)
        if len(t) < 2:
            raise ValueError("a normaliser needs at least 2 targets")
        std = t.std(dim=0)
        std[std == 0] = 1.0
        return cls(t.mean(dim=0), std)

    def norm(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.mean.to(y.device)) / self.std.to(y.device)

    def denorm(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.std.to(y.device) + self.mean.to(y.device)

    def state_dict(self) -> dict:
        return {"mean": self.mean.clone(), "std": self.std.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.mean = torch.as_tensor(state["mean"], dtype=torch.float32).reshape(-1)
        self.std = torch.as_tensor(state["std"], dtype=torch.float32).reshape(-1)

    def __repr__(self) -> str:
        return f"Normalizer(mean={self.mean.tolist()}, std={self.std.tolist()})"


def select_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``device`` if given, else CUDA when available, else the CPU.

    Under ``torchrun`` with CUDA, each process takes GPU number ``LOCAL_RANK``.
    """
    if device is not None:
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device='cuda' was requested but PyTorch sees no GPU (torch.cuda.is_available() "
                               "is False); use device='cpu' or device=None to choose automatically")
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    return torch.device("cpu")


@dataclass
class History:
    """Per-epoch record of a training run.

    Columns: ``epoch`` (1-based), ``lr``, ``train_loss``, ``val_loss``, ``train_mae`` and
    ``val_mae`` (regression, target units) or ``train_accuracy`` and ``val_accuracy``
    (classification), ``seconds``.
    """

    records: list[dict] = field(default_factory=list)

    def append(self, record: dict) -> None:
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, column: str) -> list:
        return [r.get(column, math.nan) for r in self.records]

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.records)

    def plot(self, ax=None, metric: str | None = None, units: str = "", title: str = ""):
        """Learning curves: ``metric`` (default ``mae`` or ``accuracy``) of train and validation per epoch."""
        import matplotlib.pyplot as plt

        if not self.records:
            raise ValueError("the history is empty: train first")
        if metric is None:
            metric = "mae" if "val_mae" in self.records[0] else "accuracy"
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        epochs = self["epoch"]
        for split, style in (("train", "-"), ("val", "--")):
            ax.plot(epochs, self[f"{split}_{metric}"], style, marker="o", ms=3,
                    label={"train": "training", "val": "validation"}[split])
        best = self.best_epoch
        if best is not None:
            ax.axvline(best, color="grey", lw=0.8, ls=":", label=f"best epoch ({best})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{metric.upper() if metric == 'mae' else metric}{f' ({units})' if units else ''}")
        if metric in ("mae", "loss"):
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        if title:
            ax.set_title(title)
        return ax

    @property
    def best_epoch(self) -> int | None:
        """Epoch with the lowest validation MAE (regression) or loss (classification)."""
        key = "val_mae" if self.records and "val_mae" in self.records[0] else "val_loss"
        vals = [(r.get(key, math.nan), r["epoch"]) for r in self.records]
        vals = [v for v in vals if not math.isnan(v[0])]
        return min(vals)[1] if vals else None


@dataclass
class TrainingConfig:
    """Settings of a :class:`Trainer` (every field can also be passed to it as a keyword).

    Attributes
    ----------
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Structures per batch (per process under torchrun). A last training batch of a single
        structure is dropped (each epoch draws another one), because batch normalisation cannot
        train on one crystal with one atom.
    optimizer : str
        ``"adam"`` or ``"sgd"`` (SGD with ``momentum``, as in the original CGCNN code).
    lr, momentum, weight_decay : float
        Optimiser settings.
    scheduler : str or None
        ``"multistep"`` (multiply the learning rate by ``lr_gamma`` at each epoch in
        ``lr_milestones``, the original code's schedule), ``"cosine"`` (cosine decay to 0 over
        ``epochs``) or None (constant).
    lr_milestones : tuple of int
    lr_gamma : float
    val_fraction, test_fraction : float
        Split fractions (see :func:`split_indices`).
    split : tuple or None
        Explicit ``(train, val, test)`` index arrays into the dataset (disjoint; validation and test
        may be empty). They replace the random split of ``val_fraction`` / ``test_fraction`` /
        ``seed``, e.g. to keep one fixed test set while the training set changes.
    seed : int
        Seed of the random split and of the shuffling of the training batches. It does *not* seed
        torch's global generator, so neither the weight initialisation nor dropout: call
        ``torch.manual_seed`` before building the model (and before :meth:`Trainer.fit` for
        dropout). Resuming restores the global generator's state of the interrupted run.
    patience : int or None
        Stop after this many epochs without improvement of the validation MAE (classification:
        validation loss) by more than ``min_delta``; None trains all epochs.
    min_delta : float
    restore_best : bool
        At the end, load the weights of the best validation epoch.
    normalize_targets : bool
        Train a regression model on standardised targets.
    amp : bool
        Mixed precision (float16 autocast and gradient scaling) on CUDA; ignored on the CPU.
    device : str or None
        None: CUDA when available, else CPU (:func:`select_device`).
    num_workers : int
        DataLoader worker processes.
    checkpoint_dir : str or None
        Folder for ``last.pt`` (written after every epoch) and ``best.pt`` (the best model,
        loadable with ``CGCNN.from_checkpoint``). None: no checkpoints.
    resume : bool
        Continue from ``checkpoint_dir/last.pt`` when it exists. The optimiser and the schedule
        continue from the checkpoint, so a resumed run must use the settings it was started
        with: a changed ``optimizer``, ``lr``, ``momentum``, ``weight_decay``, ``scheduler``,
        ``lr_milestones`` or ``lr_gamma`` is refused (``ValueError``; the checkpoint would
        silently override it), and so is a changed ``epochs`` with the cosine schedule (its
        period is ``epochs``: the learning rate would climb back after the old end). A larger
        ``epochs`` without a schedule or with ``"multistep"`` trains on (the way to train longer);
        a changed ``batch_size`` is accepted with a warning (the run is then no longer the same
        as an uninterrupted one). A model with ``hparams`` (e.g. :class:`~course_lib.crysatom.CrysAtom`)
        whose settings differ from the checkpoint's is refused, since same-shaped weights would
        load silently; another architecture is refused with the checkpoint's ``model_config``.
    progress : bool
        Progress bar over epochs.
    """

    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str | None = None
    lr_milestones: tuple = ()
    lr_gamma: float = 0.1
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split: tuple | None = None
    seed: int = 0
    patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = True
    normalize_targets: bool = True
    amp: bool = False
    device: str | None = None
    num_workers: int = 0
    checkpoint_dir: str | os.PathLike | None = None
    resume: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.optimizer.lower() not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.scheduler not in (None, "multistep", "cosine"):
            raise ValueError(f"scheduler must be None, 'multistep' or 'cosine', got {self.scheduler!r}")
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be None or a positive integer, got {self.patience}")
        self.lr_milestones = tuple(int(m) for m in self.lr_milestones)
        if self.split is not None:
            self.split = _check_split(self.split)
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = os.fspath(self.checkpoint_dir)


def _check_split(split) -> tuple:
    """``(train, val, test)`` as tuples of ints; clear errors for a malformed or overlapping split."""
    if isinstance(split, (str, bytes)) or not hasattr(split, "__len__") or len(split) != 3:
        raise ValueError("split must be three index arrays (train, val, test), e.g. the output of split_indices")
    parts = []
    for name, part in zip(("train", "val", "test"), split):
        arr = np.asarray(part)
        if arr.size and (arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0):
            raise ValueError(f"split[{name}] must be a 1-d array of non-negative integer indices")
        parts.append(tuple(int(i) for i in arr.reshape(-1)))
    if not parts[0]:
        raise ValueError("split has an empty training set")
    seen: set[int] = set()
    for name, part in zip(("train", "val", "test"), parts):
        if len(set(part)) != len(part) or seen & set(part):
            raise ValueError(f"split[{name}] repeats an index or shares one with an earlier part; the three "
                             "parts must be disjoint")
        seen |= set(part)
    return tuple(parts)


class _Subset(torch.utils.data.Dataset):
    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, [int(i) for i in indices]

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.dataset[self.indices[i]]


def _targets_of(dataset) -> torch.Tensor:
    t = getattr(dataset, "targets", None)
    if t is None:
        t = torch.stack([torch.as_tensor(dataset[i][1], dtype=torch.float32).reshape(-1) for i in range(len(dataset))])
    t = torch.as_tensor(t, dtype=torch.float32)
    if t.numel() == 0:
        raise ValueError("the dataset has no targets; build it with targets=... to train")
    return t.reshape(len(dataset), -1)


def _plain(value):
    """Tuples and lists compare equal (a checkpoint stores a tuple setting as a list)."""
    return list(value) if isinstance(value, (tuple, list)) else value


def _check_finite_targets(targets: torch.Tensor, split) -> None:
    """Refuse NaN or infinite targets in the rows a run uses (they would make every loss NaN)."""
    used = np.concatenate([np.asarray(part, dtype=np.int64) for part in split])
    bad_rows = used[~torch.isfinite(targets[torch.as_tensor(used)]).all(dim=1).numpy()]
    if bad_rows.size:
        bad_rows = np.sort(bad_rows)
        shown = ", ".join(str(int(i)) for i in bad_rows[:10]) + (", ..." if bad_rows.size > 10 else "")
        raise ValueError(f"{bad_rows.size} target(s) are NaN or infinite, in dataset rows {shown}; the normaliser "
                         "and every loss would become NaN. Drop those rows (e.g. df.dropna() before building the "
                         "dataset) or leave them out of the split")


# ============================================================================================
# The trainer
# ============================================================================================
class Trainer:
    """Train a model on a dataset with a seeded split, checkpoints, early stopping and DDP.

    Parameters
    ----------
    model
        A :class:`torch.nn.Module` following the protocol in the module docstring, e.g.
        :class:`~course_lib.cgcnn.CGCNN`. Initialise its weights (``torch.manual_seed``) before.
    dataset
        A map-style dataset returning ``(input, target)`` items, e.g.
        :class:`~course_lib.graphs.CrystalGraphDataset`.
    config
        A :class:`TrainingConfig`; keyword arguments override its fields.
    collate_fn
        Batches items (default :func:`course_lib.graphs.collate_graphs`).
    callbacks
        Functions ``f(trainer, record)`` called after every epoch with that epoch's history
        record (an exception raised there stops training, after the epoch's checkpoint).

    Examples
    --------
    >>> trainer = Trainer(model, dataset, epochs=50, lr=1e-3, checkpoint_dir="runs/n")  # doctest: +SKIP
    >>> history = trainer.fit()                                                          # doctest: +SKIP
    >>> history.plot(); trainer.parity_plot("test", units="eV/atom")                     # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, dataset, config: TrainingConfig | None = None, *,
                 collate_fn: Callable | None = None, callbacks: Sequence[Callable] = (), **overrides) -> None:
        config = dataclasses.replace(config or TrainingConfig(), **overrides)
        self.config = config
        if collate_fn is None:
            from .graphs import collate_graphs as collate_fn
        self.collate_fn = collate_fn
        self.callbacks = list(callbacks)
        self.dataset = dataset
        self.classification = bool(getattr(model, "classification", False))

        # --- processes and device
        self.device = select_device(config.device)
        self.world_size, self.rank = 1, 0
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 or (torch.distributed.is_available() and torch.distributed.is_initialized()):
            import torch.distributed as dist

            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)  # one GPU per process (LOCAL_RANK)
            if not dist.is_initialized():  # torchrun sets MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.world_size, self.rank = dist.get_world_size(), dist.get_rank()
        self.amp = bool(config.amp and self.device.type == "cuda")
        if config.amp and not self.amp and self.is_main:
            logger.warning("amp=True has no effect on %s: mixed precision is used on CUDA only", self.device)

        # --- data
        if config.split is None:
            self.split = split_indices(len(dataset), config.val_fraction, config.test_fraction, config.seed)
        else:
            self.split = tuple(np.asarray(part, dtype=np.int64) for part in config.split)
            largest = max(int(part.max()) for part in self.split if part.size)
            if largest >= len(dataset):
                raise ValueError(f"split index {largest} is out of range for a dataset of {len(dataset)} entries")
        targets = _targets_of(dataset)
        _check_finite_targets(targets, self.split)
        self.targets = targets
        if self.classification:
            labels = targets[:, 0]
            if not torch.all((labels == 0) | (labels == 1)):
                raise ValueError("a classification model needs targets 0 or 1")
            self.normalizer = Normalizer(0.0, 1.0)
        elif config.normalize_targets:
            self.normalizer = Normalizer.fit(targets[self.split[0]])
        else:
            self.normalizer = Normalizer(torch.zeros(targets.shape[1]), torch.ones(targets.shape[1]))
        if hasattr(model, "set_normalizer") and not self.classification:
            model.set_normalizer(self.normalizer.mean, self.normalizer.std)

        # --- model, optimiser, schedule
        self.model = model.to(self.device)
        self.ddp_model = self.model
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = DistributedDataParallel(self.model, device_ids=ids)
        params = self.model.parameters()
        if config.optimizer.lower() == "adam":
            self.optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
        if config.scheduler == "multistep":
            self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(config.lr_milestones), config.lr_gamma)
        elif config.scheduler == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=config.epochs)
        else:
            self.scheduler = None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

        # --- state
        self.history = History()
        self.epoch = 0
        self.best_metric = math.inf
        self.best_state: dict | None = None
        self.bad_epochs = 0
        self.stopped_early = False
        self.test_metrics: dict | None = None
        self.checkpoint_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
        if self.checkpoint_dir is not None and config.resume and (self.checkpoint_dir / "last.pt").exists():
            self._load_checkpoint(self.checkpoint_dir / "last.pt")

    # ------------------------------------------------------------------ helpers
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _loader(self, which: int, train: bool, epoch: int = 0):
        subset = _Subset(self.dataset, self.split[which])
        kw = dict(batch_size=self.config.batch_size, collate_fn=self.collate_fn, num_workers=self.config.num_workers,
                  pin_memory=self.device.type == "cuda")
        if train:
            # batch norm in training mode fails on a batch of one crystal with one atom: never make
            # a last batch of a single crystal (the same decision on every process)
            n_local = math.ceil(len(subset) / self.world_size)
            kw["drop_last"] = n_local % self.config.batch_size == 1 and n_local > 1
        if train and self.world_size > 1:
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(subset, self.world_size, self.rank, shuffle=True, seed=self.config.seed)
            sampler.set_epoch(epoch)
            return torch.utils.data.DataLoader(subset, sampler=sampler, **kw)
        if train:
            # the shuffle depends only on (seed, epoch): a resumed run sees the same batches
            g = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
            return torch.utils.data.DataLoader(subset, shuffle=True, generator=g, **kw)
        return torch.utils.data.DataLoader(subset, shuffle=False, **kw)

    def _loss_and_stats(self, out: torch.Tensor, target: torch.Tensor):
        """(loss, sum of absolute errors in target units or of correct labels, count)."""
        out = out.float()
        if self.classification:
            labels = target[:, 0].long()
            loss = nn.functional.nll_loss(out, labels)
            return loss, (out.argmax(1) == labels).sum().item(), len(labels)
        loss = nn.functional.mse_loss(out, self.normalizer.norm(target))
        err = (self.normalizer.denorm(out.detach()) - target).abs().sum().item()
        return loss, err, target.numel()

    def _sync_buffers(self) -> None:
        """Give every process the batch-norm statistics of process 0 (so they evaluate alike)."""
        if self.world_size > 1:
            import torch.distributed as dist

            for b in self.model.buffers():
                dist.broadcast(b.data, 0)

    def _all_reduce(self, values: list[float]) -> list[float]:
        if self.world_size == 1:
            return values
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        return t.tolist()

    # ------------------------------------------------------------------ training
    def train_one_epoch(self, epoch: int) -> tuple[float, float]:
        """One pass over the training split; returns (mean loss, MAE or accuracy)."""
        self.ddp_model.train()
        total_loss = total_stat = count = n_batches = 0.0
        for batch in self._loader(0, train=True, epoch=epoch):
            batch = batch.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                out = self.ddp_model(batch)
            loss, stat, n = self._loss_and_stats(out, batch.target)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total_loss += loss.item() * n
            total_stat += stat
            count += n
            n_batches += 1
        total_loss, total_stat, count = self._all_reduce([total_loss, total_stat, count])
        self._sync_buffers()
        return total_loss / count, total_stat / count

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict:
        """Loss and MAE (target units) or accuracy on ``"train"``, ``"val"`` or ``"test"``.

        Returns
        -------
        dict
            ``loss``, ``mae`` or ``accuracy``, ``y_true`` and ``y_pred`` (numpy; for a
            classifier ``y_pred`` is the probability of class 1).
        """
        which = {"train": 0, "val": 1, "test": 2}[split]
        if len(self.split[which]) == 0:
            return {"loss": math.nan, "accuracy" if self.classification else "mae": math.nan,
                    "y_true": np.zeros(0), "y_pred": np.zeros(0)}
        self.model.eval()
        total_loss = total_stat = count = 0.0
        y_true, y_pred = [], []
        for batch in self._loader(which, train=False):
            batch = batch.to(self.device)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                out = self.model(batch)
            loss, stat, n = self._loss_and_stats(out, batch.target)
            total_loss += loss.item() * n
            total_stat += stat
            count += n
            y_true.append(batch.target.cpu())
            y_pred.append(out.float().exp()[:, 1:] if self.classification else self.normalizer.denorm(out.float()))
        y_true = torch.cat(y_true).numpy()
        y_pred = torch.cat([p.cpu() for p in y_pred]).numpy()
        key = "accuracy" if self.classification else "mae"
        return {"loss": total_loss / count, key: total_stat / count,
                "y_true": y_true[:, 0] if y_true.shape[1] == 1 else y_true,
                "y_pred": y_pred[:, 0] if y_pred.shape[1] == 1 else y_pred}

    def fit(self) -> History:
        """Train until ``epochs`` or early stopping; returns the :class:`History`.

        Resumes from ``checkpoint_dir/last.pt`` if one was found. At the end (with
        ``restore_best``) the model holds the weights of the best validation epoch, and
        :attr:`test_metrics` the test-set metrics.
        """
        from tqdm.auto import tqdm

        cfg = self.config
        key = "accuracy" if self.classification else "mae"
        stop_key = "val_loss" if self.classification else "val_mae"
        bar = tqdm(total=cfg.epochs, initial=self.epoch, desc="Training", disable=not (cfg.progress and self.is_main))
        while self.epoch < cfg.epochs and not self.stopped_early:
            epoch = self.epoch + 1
            start = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss, train_stat = self.train_one_epoch(epoch)
            if self.scheduler is not None:
                self.scheduler.step()
            val = self.evaluate("val")
            record = {"epoch": epoch, "lr": lr, "train_loss": train_loss, "val_loss": val["loss"],
                      f"train_{key}": train_stat, f"val_{key}": val[key],
                      "seconds": time.perf_counter() - start}
            self.history.append(record)
            metric = record[stop_key] if not math.isnan(record[stop_key]) else record["train_loss"]
            if metric < self.best_metric - cfg.min_delta or self.best_state is None:
                self.best_metric = metric
                self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in self.model.state_dict().items()})
                self.bad_epochs = 0
                self._save_best()
            else:
                self.bad_epochs += 1
                if cfg.patience is not None and self.bad_epochs >= cfg.patience:
                    self.stopped_early = True
            self.epoch = epoch
            self._save_checkpoint()
            bar.set_postfix({"train_loss": f"{train_loss:.3g}", f"val_{key}": f"{val[key]:.3g}"}, refresh=False)
            bar.update(1)
            for callback in self.callbacks:
                callback(self, record)
        bar.close()
        if cfg.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.test_metrics = self.evaluate("test")
        if self.is_main and self.checkpoint_dir is not None:
            logger.info("trained %d epochs%s; checkpoints in %s", self.epoch,
                        " (stopped early)" if self.stopped_early else "", self.checkpoint_dir)
        return self.history

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {
            "format": "course_lib.training",
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "model_config": getattr(self.model, "config", None),
            "model_hparams": getattr(self.model, "hparams", None),  # e.g. CrysAtom's settings
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "history": self.history.records,
            "best_metric": self.best_metric,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
            "normalizer": self.normalizer.state_dict(),
            "split": [torch.as_tensor(s) for s in self.split],
            "config": dataclasses.asdict(self.config),
            "torch_rng": torch.get_rng_state(),  # dropout draws from it
        }

    def _write(self, obj, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        torch.save(obj, tmp)
        os.replace(tmp, path)  # atomic: an interruption never leaves a half-written checkpoint

    def _save_checkpoint(self) -> None:
        if self.checkpoint_dir is not None and self.is_main:
            self._write(self._state(), self.checkpoint_dir / "last.pt")
        self._barrier()

    def _save_best(self) -> None:
        if self.checkpoint_dir is None or not self.is_main:
            return
        if getattr(self.model, "config", None) is not None:
            self._write({"format": "course_lib.cgcnn", "model_config": self.model.config,
                         "state_dict": self.best_state, "epoch": self.epoch + 1}, self.checkpoint_dir / "best.pt")
        else:
            self._write({"state_dict": self.best_state, "epoch": self.epoch + 1}, self.checkpoint_dir / "best.pt")

    def _barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()

    def _load_checkpoint(self, path: Path) -> None:
        from .cgcnn import load_checkpoint_file  # safe load; a truncated file gets an error naming the fix

        state = load_checkpoint_file(path)
        if not isinstance(state, dict) or state.get("format") != "course_lib.training":
            raise ValueError(f"{path} is not a resume checkpoint of course_lib.training.Trainer (a model file such as "
                             "best.pt or an original .pth.tar cannot be resumed); move it out of checkpoint_dir, use "
                             "another checkpoint_dir, or pass resume=False")
        split = [s.numpy() for s in state["split"]]
        if any(len(a) != len(b) or not np.array_equal(a, b) for a, b in zip(split, self.split)):
            raise ValueError(f"{path} was written for another dataset or split (seed, fractions); "
                             "use another checkpoint_dir or resume=False")
        self._check_resumed_config(path, state.get("config") or {})
        saved_hp, now_hp = state.get("model_hparams"), getattr(self.model, "hparams", None)
        if saved_hp is not None and now_hp is not None:
            changed = {k: (saved_hp.get(k), v) for k, v in now_hp.items()
                       if k in saved_hp and _plain(saved_hp[k]) != _plain(v)}
            if changed:
                listed = ", ".join(f"{k}={a!r} -> {b!r}" for k, (a, b) in changed.items())
                raise ValueError(f"{path} was written by a model with other settings ({listed}); the weights would "
                                 "load but mean something else. Build the model with the checkpoint's settings, or "
                                 "use another checkpoint_dir or resume=False")
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            detail = " ".join(str(err).split())[:300]
            raise ValueError(f"{path} was written by a model of another architecture ({detail}); build the model "
                             f"with the checkpoint's settings (model_config: {state.get('model_config')}), or use "
                             "another checkpoint_dir or resume=False to start afresh") from None
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.history = History(list(state["history"]))
        self.epoch = int(state["epoch"])
        self.best_metric = float(state["best_metric"])
        self.best_state = state["best_state"]
        self.bad_epochs = int(state["bad_epochs"])
        self.stopped_early = bool(state["stopped_early"])
        self.normalizer.load_state_dict(state["normalizer"])
        torch.set_rng_state(state["torch_rng"])
        if self.is_main:
            logger.info("resumed from %s at epoch %d", path, self.epoch)

    #: settings the optimiser and schedule state of a checkpoint would silently override on resume
    _RESUME_FIXED = ("optimizer", "lr", "momentum", "weight_decay", "scheduler", "lr_milestones", "lr_gamma")

    def _check_resumed_config(self, path: Path, saved: dict) -> None:
        """Refuse a resume whose optimiser or schedule settings differ from the checkpoint's (see ``resume``)."""
        now = dataclasses.asdict(self.config)

        def same(key):
            a, b = saved.get(key, now[key]), now[key]
            if key == "optimizer":
                return str(a).lower() == str(b).lower()
            if key == "lr_milestones":
                return tuple(a) == tuple(b)
            return a == b

        changed = [k for k in self._RESUME_FIXED if not same(k)]
        if self.config.scheduler == "cosine" and not same("epochs"):
            changed.append("epochs (the cosine schedule's period)")
        if changed:
            listed = ", ".join(f"{k.split()[0]}={saved.get(k.split()[0])!r} -> {now[k.split()[0]]!r}" for k in changed)
            raise ValueError(f"resuming from {path} with changed settings ({listed}): the checkpoint's optimiser and "
                             "schedule would override them silently. Resume with the original values, or start "
                             "afresh with another checkpoint_dir or resume=False")
        if not same("batch_size") and self.is_main:
            warnings.warn(f"resuming from {path} with batch_size {now['batch_size']} instead of "
                          f"{saved.get('batch_size')}: the run is no longer the same as an uninterrupted one",
                          stacklevel=3)

    # ------------------------------------------------------------------ plots
    def parity_plot(self, split: str = "test", ax=None, units: str = "", label: str = ""):
        """Predicted against true values on a split (regression), with the MAE."""
        from .plotting import parity_plot

        if self.classification:
            raise ValueError("a parity plot needs a regression model; for a classifier look at evaluate(split)['accuracy']")
        res = self.evaluate(split)
        if res["y_true"].ndim != 1:
            raise ValueError("parity_plot draws one target; this model has several")
        return parity_plot(res["y_true"], res["y_pred"], ax=ax, units=units, label=label, title=f"{split} set")
