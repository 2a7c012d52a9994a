"""Check, after each test cell, that the submission did not switch the tests off inside the kernel.

The kernel runs the student's code and the tests in one Python process, so code in an answer cell
can change what a later test cell does: register an IPython input transformer that blanks it, an
AST transformer that strips its ``assert`` statements, or replace ``numpy.allclose``, the course's
``assert_close`` or the reference function the hidden tests compare against. The grader
(:class:`~course_lib.grading.preprocessors.RecoveringExecute`, outside the kernel) therefore sends
every test cell with a last line that prints a one-time token (a fresh random nonce), the
transformers registered in the kernel, and fingerprints of the functions of ``numpy``, ``builtins``,
the course's test helpers and every module the test cell imports. The grader compares the
fingerprints with those of a fresh import in its own process, which the student's code never ran in.
A test cell scores 0 when the token is missing (the cell did not run to its end: it was blanked or
cut), when a transformer that is not IPython's own is registered, or when a fingerprint differs.

This is a tripwire, not a boundary: code that runs in the kernel can in principle also forge what
the last line prints. The boundary is the kernel's isolation (:mod:`course_lib.grading.sandbox`):
whatever the code does inside, it cannot reach the grade outside.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import secrets

__all__ = ["MARKER", "attestation_code", "fingerprints", "modules_to_check", "verify"]

#: Start of the line the attestation prints.
MARKER = "course-grading-attest"

#: Modules whose functions are always checked.
ALWAYS = ("builtins", "numpy", "course_lib.grading.testing", "course_lib.grading.guard",
          "course_lib.grading.steps")

#: Names in ``builtins`` that IPython or ipykernel replace in every kernel.
_KERNEL_BUILTINS = {"input", "help", "exit", "quit", "copyright", "credits", "license", "open",
                    "print", "breakpoint", "display", "get_ipython"}


def fingerprints(module_names, load=False):
    """``{module: {name: description}}`` of the callables of the named modules.

    A description is the type name, and for a Python function (also behind a NumPy dispatcher, a
    numba dispatcher or a decorator's ``__wrapped__``) a hash of its code. Modules not imported are
    left out unless ``load`` (then they are imported). Self-contained, because the same source runs
    inside the kernel.
    """
    import hashlib
    import importlib
    import sys
    import types

    def digest(code, h):
        h.update(code.co_code)
        h.update(repr(code.co_names).encode())
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                digest(const, h)
            elif isinstance(const, frozenset):
                h.update(repr(sorted(map(repr, const))).encode())
            else:
                h.update(repr(const).encode())

    def describe(obj):
        kind = type(obj).__name__
        if isinstance(obj, type):
            return "class " + getattr(obj, "__qualname__", "?")
        fn = obj
        for attr in ("_implementation", "py_func", "__wrapped__", "__func__"):
            fn = getattr(fn, attr, fn) if not isinstance(fn, types.FunctionType) else fn
        if isinstance(fn, types.FunctionType):
            h = hashlib.sha256()
            digest(fn.__code__, h)
            return kind + " " + h.hexdigest()[:16]
        return kind

    out = {}
    for name in module_names:
        module = sys.modules.get(name)
        if module is None and load:
            try:
                module = importlib.import_module(name)
            except Exception:
                module = None
        if module is None or not isinstance(module, types.ModuleType):
            continue
        entries = {}
        for key, value in list(vars(module).items()):
            if key.startswith("__") or isinstance(value, types.ModuleType) or not callable(value):
                continue
            try:
                entries[key] = describe(value)
            except Exception as exc:  # an object whose attributes raise
                entries[key] = "unreadable " + type(exc).__name__
        out[name] = entries
    return out


def modules_to_check(test_source: str) -> list[str]:
    """:data:`ALWAYS` and the modules a test cell's source imports (``from a import b`` gives ``a``
    and ``a.b``, which may be a module)."""
    names = list(ALWAYS)
    try:
        tree = ast.parse(test_source)
    except SyntaxError:
        return names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return list(dict.fromkeys(names))


def _kernel_side(nonce, modules, fingerprints):  # runs in the kernel
    import json
    import sys

    hooks = []
    shell = get_ipython()  # noqa: F821 -- IPython's global in the kernel
    for hook in (list(shell.input_transformers_cleanup) + list(shell.input_transformers_post)
                 + list(shell.ast_transformers)):
        owner = getattr(hook, "__module__", None) or type(hook).__module__ or ""
        if not owner.startswith(("IPython.", "ipykernel.")):
            hooks.append(getattr(hook, "__qualname__", None) or type(hook).__qualname__)
    report = {"hooks": hooks, "fingerprints": fingerprints(modules)}
    sys.stdout.write("\n" + " ".join(["course-grading-attest", nonce, json.dumps(report)]) + "\n")
    sys.stdout.flush()


def attestation_code(test_source: str) -> tuple[str, str]:
    """``(nonce, code)``: a fresh nonce and the line(s) to run at the end of a test cell."""
    nonce = secrets.token_hex(12)
    body = inspect.getsource(fingerprints) + "\n" + inspect.getsource(_kernel_side)
    code = (f"\nexec({body!r}, __course_attest := {{'get_ipython': get_ipython}})\n"
            f"__course_attest['_kernel_side']({nonce!r}, {modules_to_check(test_source)!r}, "
            "__course_attest['fingerprints']); del __course_attest\n")
    return nonce, code


_TRUSTED: dict[str, dict[str, str]] = {}


def _trusted(modules) -> dict[str, dict[str, str]]:
    missing = [m for m in modules if m not in _TRUSTED]
    if missing:
        _TRUSTED.update(fingerprints(missing, load=True))
        for m in missing:
            _TRUSTED.setdefault(m, {})
    return {m: _TRUSTED[m] for m in modules}


def verify(nonce: str, stdout: str) -> tuple[str | None, str]:
    """Check the attestation a test cell printed; return ``(problem or None, stdout without it)``.

    ``stdout`` is everything the cell wrote to standard output.
    """
    pattern = re.compile(r"\n?" + re.escape(f"{MARKER} {nonce} ") + r"(.*)\n?")
    m = pattern.search(stdout)
    if m is None:
        return ("the test cell did not run to its end (its code was changed or cut while it ran, "
                "e.g. by an input transformer registered by the submission), so it scores 0"), stdout
    cleaned = stdout[: m.start()] + stdout[m.end():]
    try:
        report = json.loads(m.group(1))
        hooks, seen = list(report["hooks"]), dict(report["fingerprints"])
    except (ValueError, KeyError, TypeError):
        return "the test cell's check of the kernel printed nonsense, so it scores 0", cleaned
    if hooks:
        return ("the submission registered code transformers in the kernel (" + ", ".join(map(str, hooks))
                + ") that change the tests before they run, so this test scores 0"), cleaned
    changed = []
    for module, entries in _trusted(list(seen)).items():
        got = seen.get(module) or {}
        for name, want in entries.items():
            if module == "builtins" and name in _KERNEL_BUILTINS:
                continue
            if got.get(name) != want:
                changed.append(f"{module}.{name}")
    if changed:
        return ("the submission changed functions the tests rely on (" + ", ".join(changed[:8])
                + (", ..." if len(changed) > 8 else "") + "), so this test scores 0"), cleaned
    return None, cleaned
