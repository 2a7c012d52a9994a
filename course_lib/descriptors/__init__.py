"""Structural descriptors: Coulomb and sine matrices, ACSF, SOAP, and feature-space comparison.

Every function takes an :class:`ase.Atoms`, a :class:`pymatgen.core.Structure` or a
:class:`pymatgen.core.Molecule` and returns numpy arrays, with the definitions, defaults, units
(angstrom) and output ordering of dscribe 2.1.2 (Himanen et al., Comput. Phys. Commun. 247, 106949
(2020)); each module says where it deviates on purpose.

- :func:`coulomb_matrix` -- Rupp et al. (2012), for molecules;
- :func:`sine_matrix` -- Faber et al. (2015), its periodic analogue for crystals;
- :func:`acsf` -- Behler's atom-centred symmetry functions (2011), one row per atom;
- :func:`soap` -- the SOAP power spectrum (Bartók et al. 2013), per atom or averaged;
  :func:`soap_kernel` -- the normalised average-SOAP kernel between structures;
- :func:`featurize` -- many structures at once (vectorised, progress bar, optional processes);
- :func:`gfre` -- the global feature-space reconstruction error (Goscinski et al. 2021).
- chapter 9's density correlations (:mod:`course_lib.descriptors.correlations`):
  :func:`density_coefficients`, :func:`radial_spectrum` (ν = 1), :func:`power_spectrum` (ν = 2,
  equal to :func:`soap`), :func:`bispectrum` (ν = 3), :func:`lambda_soap` (equivariant), the
  coupling and rotation helpers :func:`clebsch_gordan`, :func:`real_clebsch_gordan`,
  :func:`wigner_d_real`, and the compression tools :func:`pca_radial_contraction`,
  :func:`contract`, :func:`alchemical_compression`, :func:`mix_species`, the feature count
  :func:`correlation_feature_count`, and
  :func:`featomic_hypers` (featomic set up with our radial basis, for cross-checks);
- :func:`mbtr` -- the many-body tensor representation (Huo & Rupp), k = 1, 2, 3, global;

Invalid input raises a :class:`ValueError` that names the problem: an element missing from
``species``, two atoms closer than :data:`MIN_DISTANCE` angstrom (naming both), an empty
structure, a non-positive cutoff, and so on.
"""

from . import _systems
from .acsf import acsf, acsf_n_features
from .batch import featurize
from .coulomb import coulomb_matrix
from .correlations import (
    alchemical_compression,
    bispectrum,
    bispectrum_from_coefficients,
    clebsch_gordan,
    contract,
    correlation_feature_count,
    density_coefficients,
    featomic_hypers,
    lambda_soap,
    lambda_soap_from_coefficients,
    mix_species,
    pca_radial_contraction,
    power_spectrum,
    power_spectrum_from_coefficients,
    radial_spectrum,
    real_clebsch_gordan,
    wigner_d_real,
)
from .gfre import gfre
from .mbtr import mbtr, mbtr_n_features
from .sine import sine_matrix
from .soap import soap, soap_kernel, soap_n_features

#: Two atoms (or an atom and a periodic image) closer than this, in angstrom, are rejected with a
#: :class:`ValueError` naming both: duplicated sites, wrong units or overlapping copies.
MIN_DISTANCE = _systems.MIN_DISTANCE

__all__ = [
    "MIN_DISTANCE",
    "acsf",
    "acsf_n_features",
    "alchemical_compression",
    "bispectrum",
    "bispectrum_from_coefficients",
    "clebsch_gordan",
    "contract",
    "correlation_feature_count",
    "coulomb_matrix",
    "density_coefficients",
    "featomic_hypers",
    "featurize",
    "gfre",
    "lambda_soap",
    "lambda_soap_from_coefficients",
    "mbtr",
    "mbtr_n_features",
    "mix_species",
    "pca_radial_contraction",
    "power_spectrum",
    "power_spectrum_from_coefficients",
    "radial_spectrum",
    "real_clebsch_gordan",
    "sine_matrix",
    "soap",
    "soap_kernel",
    "soap_n_features",
    "wigner_d_real",
]
