"""Hidden tests that check a student did not call the library function they were asked to rebuild.

Some parts of an assignment ask for a function that a library already provides (a minimum-image
distance, a primitive cell). :func:`forbidden_calls` makes those library functions raise while the
hidden test calls the student's function, so a submission that merely wraps the library fails its
part with a message that says which function it called.

The function objects themselves are disabled (their code is swapped for code that raises), not only
the module attribute, so every reference to them is caught: ``from ase.geometry import find_mic``
in the student's cell, a method such as ``Atoms.get_all_distances``, or a library function that
calls the forbidden one internally. Functions named in ``allow`` (the course's reference steps that
the part under test builds on, see :mod:`course_lib.grading.steps`) may still use them.

The grade report flags a part whose test failed with :class:`ForbiddenCallError`
("forbidden call: <function>"); :func:`forbidden_functions` reads the function names back from an
error message or traceback.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

__all__ = ["LIBRARY_FUNCTIONS", "ForbiddenCallError", "forbidden_calls", "forbidden_functions", "library_functions"]

#: The library functions that an assignment (or one group of its parts) asks the students to
#: rebuild, as ``"module:qualified name"``; the name may go through attributes
#: (``"ElementEmbedding.similarity"``). Hidden tests disable them with
#: ``forbidden_calls(*library_functions(key), ...)`` while the student's function runs, so the list
#: of a function the course's reference uses internally is kept in one place.
LIBRARY_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "ch01_composition": (
        "course_lib.composition:one_hot",
        "course_lib.composition:element_fractions",
        "course_lib.composition:multi_hot",
        "course_lib.composition:_pool",
        "course_lib.composition:composition_features",
        "course_lib.composition:featurize",
        "course_lib.embeddings.metrics:similarity",
        "course_lib.embeddings.metrics:pairwise_similarities",
    ),
    "ch04_coulomb/coulomb": (
        "course_lib.descriptors.coulomb:coulomb_matrix",
        "course_lib.descriptors.coulomb:_coulomb_single",
        "course_lib.descriptors.coulomb:_coulomb_batch",
        "dscribe.descriptors:CoulombMatrix.create_single",
    ),
    "ch04_coulomb/sine": (
        "course_lib.descriptors.sine:sine_matrix",
        "course_lib.descriptors.sine:_sine_one",
        "course_lib.descriptors.sine:_sine_batch",
        "dscribe.descriptors:SineMatrix.create_single",
    ),
    "ch05_acsf": (
        "course_lib.descriptors.acsf:acsf",
        "course_lib.descriptors.acsf:_acsf_batch",
        "course_lib.descriptors.acsf:_cutoff_of_square",
        "dscribe.descriptors:ACSF.create_single",
    ),
    "ch06_soap": (
        "course_lib.descriptors.soap:soap",
        "course_lib.descriptors.soap:soap_kernel",
        "course_lib.descriptors.soap:_gto_basis.__wrapped__",
        "course_lib.descriptors.soap:_radial_gto",
        "course_lib.descriptors.soap:_expansion",
        "course_lib.descriptors.soap:_power_spectrum",
        "course_lib.descriptors.correlations:density_coefficients",
        "course_lib.descriptors.correlations:power_spectrum",
        "course_lib.descriptors.correlations:power_spectrum_from_coefficients",
        "dscribe.descriptors:SOAP.create_single",
        "dscribe.descriptors:SOAP.get_basis_gto",
    ),
    "ch02_embeddings/cooccurrence": (
        "course_lib.embeddings.cooccurrence:cooccurrence_matrix",
        "course_lib.embeddings.cooccurrence:encode_pairs",
    ),
    "ch02_embeddings/svd": (
        "course_lib.embeddings.atom2vec:svd_embedding",
    ),
    "ch02_embeddings/skipgram": (
        "course_lib.embeddings.skipatom:skipgram_loss",
    ),
    "ch02_embeddings/similarity": (
        "course_lib.embeddings.metrics:KeyedVectorsMetrics.nearest",
        "course_lib.embeddings.metrics:KeyedVectorsMetrics.similarity",
        "course_lib.embeddings.metrics:KeyedVectorsMetrics.similarity_matrix",
        "course_lib.embeddings.metrics:pairwise_similarities",
        "course_lib.embeddings.metrics:similarity",
        "course_lib.embeddings.metrics:_cosine",
        "course_lib.embeddings.analysis:embedding_agreement",
        "course_lib.embeddings.analysis:ordered_similarity_matrix",
        "course_lib.embeddings.analysis:nearest_table",
    ),
    "ch02_embeddings/pool": (
        "course_lib.embeddings.species:species_composition_features",
        "course_lib.composition:composition_features",
        "course_lib.composition:_pool",
        "elementembeddings.composition:SpeciesCompositionalEmbedding.__init__",
        "elementembeddings.composition:SpeciesCompositionalEmbedding.feature_vector",
    ),
    "ch07_cgcnn/numpy": (
        "course_lib.graphs:build_crystal_graph",
        "course_lib.graphs:_neighbor_list",
        "course_lib.graphs:_nearest_neighbors",
        "course_lib.graphs:gaussian_centres",
        "course_lib.graphs:gaussian_expansion",
        "course_lib.cgcnn:ConvLayer.forward",
        "course_lib.cgcnn:CGCNN.pool",
    ),
    "ch07_cgcnn/training": (
        "course_lib.training:Trainer.train_one_epoch",
        "course_lib.training:Trainer._loss_and_stats",
        "course_lib.training:Normalizer.norm",
    ),
    "ch08_crysatom": (
        "course_lib.crysatom:masked_count",
        "course_lib.crysatom:mask_atoms",
        "course_lib.crysatom:mask_edges",
        "course_lib.crysatom:barlow_twins_loss",
        "course_lib.crysatom:CrysAtom.connectivity_logits",
        "course_lib.crysatom:CrysAtom._bilinear",
        "course_lib.crysatom:element_vectors.__wrapped__",
    ),
}


class ForbiddenCallError(AssertionError):
    """A forbidden library function was called by the student's code (an AssertionError, so the
    test cell fails like any other failed check)."""


#: The start of every :class:`ForbiddenCallError` message; the name of the function follows.
MESSAGE_START = "your code called "
_CALLED = re.compile(r"ForbiddenCallError: " + re.escape(MESSAGE_START) + r"([\w.<>]+), which")

#: id of the code object of a disabled function -> (the message its call raises, a copy of the
#: function with its own code, the allowed callers' code objects by id)
_DISABLED: dict[int, tuple[str, types.FunctionType, dict[int, types.CodeType]]] = {}


def _raise_forbidden(*args, **kwargs):
    # Copies of this code replace the forbidden functions' own; they run with those functions'
    # module globals, so they reach this module only through sys.modules.
    sys_ = __import__("sys")
    guard = sys_.modules["course_lib.grading.guard"]
    frame = sys_._getframe()
    message, original, allowed = guard._DISABLED[id(frame.f_code)]
    caller = frame.f_back
    while allowed and caller is not None:
        if id(caller.f_code) in allowed:  # called (maybe indirectly) by an allowed function
            return original(*args, **kwargs)
        caller = caller.f_back
    raise guard.ForbiddenCallError(message)


def forbidden_functions(text: str) -> list[str]:
    """Names of the functions that :class:`ForbiddenCallError` messages in ``text`` (an error
    message or a traceback, as ``"ForbiddenCallError: your code called ..."``) report, in order,
    without repeats."""
    return list(dict.fromkeys(_CALLED.findall(text)))


def _code(fn) -> types.CodeType:
    code = getattr(getattr(inspect.unwrap(fn), "__func__", inspect.unwrap(fn)), "__code__", None)
    if not isinstance(code, types.CodeType):
        raise TypeError(f"allow takes Python functions (whose calls may use the forbidden ones), not {fn!r}")
    return code


def _copy(fn: types.FunctionType) -> types.FunctionType:
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


def _function(target) -> types.FunctionType:
    fn = target.fget if isinstance(target, property) else target
    fn = getattr(fn, "__func__", fn)  # classmethod / staticmethod / bound method
    if not isinstance(fn, types.FunctionType):
        raise TypeError(
            f"forbidden_calls can disable Python functions, methods and properties, not {target!r} "
            f"({type(target).__name__}); forbid the Python function that calls it instead."
        )
    if fn.__code__.co_freevars:
        raise TypeError(
            f"{fn.__qualname__} is a closure (it uses the variables {fn.__code__.co_freevars} of an "
            "enclosing function); forbid the function that creates or calls it instead."
        )
    return fn


def library_functions(key: str) -> tuple[Callable, ...]:
    """The functions :data:`LIBRARY_FUNCTIONS` lists under ``key``, imported.

    Raises
    ------
    KeyError
        For a key that is not in the table (the message lists the keys).
    """
    import importlib

    if key not in LIBRARY_FUNCTIONS:
        raise KeyError(f"no library functions are listed for {key!r}; the keys are {sorted(LIBRARY_FUNCTIONS)}")
    functions = []
    for entry in LIBRARY_FUNCTIONS[key]:
        module, _, name = entry.partition(":")
        target = importlib.import_module(module)
        for attribute in name.split("."):
            target = getattr(target, attribute)
        functions.append(target)
    return tuple(functions)


@contextmanager
def forbidden_calls(*targets: Callable, reason: str = "", allow: Iterable[Callable] = ()) -> Iterator[None]:
    """Make ``targets`` raise :class:`ForbiddenCallError` while the ``with`` block runs.

    Parameters
    ----------
    *targets
        Python functions, methods (``Atoms.get_all_distances``) or properties
        (``Structure.distance_matrix``) to disable. C functions cannot be disabled; forbid the
        Python function that wraps them.
    reason
        Appended to the error message, e.g. ``"part 2 asks you to write the minimum-image search
        yourself"``.
    allow
        Functions that may call the targets, directly or through other functions: the course's
        reference steps that a part's tests put in place of the student's earlier functions
        (``REFERENCE_STEPS["ch05_acsf"].values()``), which are built on the library. The student's
        code calling a target itself still raises.

    Raises
    ------
    ForbiddenCallError
        Inside the block, when any target is called; the message names the function.
    TypeError
        For a target that is not a Python function without free variables.

    Notes
    -----
    Compute the reference values *before* entering the block: inside it the library functions do
    not work for anybody. When the test runs in the grader (:mod:`course_lib.grading.trusted`),
    the same functions are also disabled in the student's kernel around every call of the
    student's code made inside the block. The original code is restored on exit, also after an exception. The
    block is not thread-safe (nothing else may call the targets meanwhile), which is the case in a
    notebook's test cell.
    """
    functions = list(dict.fromkeys(_function(t) for t in targets))
    allow = list(allow)
    allowed = {id(c): c for c in map(_code, allow)}
    saved = [fn.__code__ for fn in functions]
    from .trusted import current_connection, spec_of

    remote = current_connection()  # a test running in the grader: the student's code runs in the kernel
    if remote is not None:
        remote.forbidden.append(([spec_of(t) for t in targets], reason, [spec_of(a) for a in allow]))
    try:
        for fn in functions:
            code = _raise_forbidden.__code__.replace(co_name=fn.__name__, co_qualname=fn.__qualname__)
            message = (f"{MESSAGE_START}{fn.__module__}.{fn.__qualname__}, which this part does not "
                       f"allow{': ' + reason if reason else ''}")
            _DISABLED[id(code)] = (message, _copy(fn), allowed)
            fn.__code__ = code
        yield
    finally:
        if remote is not None:
            remote.forbidden.pop()
        for fn, code in zip(functions, saved):
            _DISABLED.pop(id(fn.__code__), None)
            fn.__code__ = code
