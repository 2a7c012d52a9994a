"""Kernel side of the trusted test runner (:mod:`course_lib.grading.trusted`).

While a notebook is autograded, its test cells run in the grading process, not in the student's
kernel. Whenever a test calls one of the student's functions, the grader sends the kernel one line
of code that calls :func:`serve` with a request; :func:`serve` does what is asked in the kernel's
namespace (look names up, call a function, read an attribute) and prints the answer on one line,
tagged with the request's one-time token. The answer holds plain data only (numbers, strings,
lists, dictionaries, NumPy arrays, tensors as arrays); every other object stays in the kernel and
is answered with a number that names it in later requests.

Nothing here is trusted: the student's code runs in the same process and can change this module.
What it can change is only the answer about its own functions, which it controls anyway; the
grader decodes answers as data (never unpickling them) and computes every expected value itself.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import pickle
import sys
import traceback

#: Start of the line that carries an answer.
MARKER = "course-remote"

#: Objects that stay in the kernel, by the number the grader knows them by.
_OBJECTS: dict[int, object] = {}
_COUNTER = itertools.count(1)
#: Values the reference steps replaced in the kernel's namespace, by swap number.
_SAVED: dict[int, dict[str, object]] = {}
_ABSENT = object()
_MAX_DEPTH = 40


def _ref(number: int):
    """The kernel object the grader names by ``number`` (used when a request is unpickled)."""
    try:
        return _OBJECTS[number]
    except KeyError:
        raise LookupError(f"object {number} is not in this kernel (it was restarted)") from None


def _array(a) -> str:
    buffer = io.BytesIO()
    import numpy as np

    np.save(buffer, np.ascontiguousarray(a), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _handle(value, register: bool = True) -> dict:
    if not register:  # a fingerprint only (see _fingerprint): the object's identity
        return {"id": id(value)}
    number = next(_COUNTER)
    _OBJECTS[number] = value
    kind = type(value)
    return {"R": number, "type": f"{kind.__module__}.{kind.__qualname__}", "callable": callable(value)}


def encode(value, depth: int = 0, register: bool = True):
    """A JSON-ready description of ``value``: data as data, everything else as a handle (with
    ``register=False``, as its identity only, to compare two states of one value)."""
    if value is None or type(value) is bool:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return {"f": repr(float(value))}
    if isinstance(value, complex):
        return {"C": [repr(value.real), repr(value.imag)]}
    if depth > _MAX_DEPTH:
        return _handle(value, register)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, (numpy.ndarray, numpy.generic)):
        if value.dtype.hasobject:
            return _handle(value, register)
        if not register:
            import hashlib

            data = numpy.ascontiguousarray(value)
            return {"h": hashlib.sha256(data.tobytes()).hexdigest(), "s": data.shape, "d": data.dtype.str}
        return {"N" if isinstance(value, numpy.generic) else "A": _array(numpy.asarray(value))}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        try:
            data = value.detach().cpu().numpy()
        except (TypeError, RuntimeError):  # a dtype NumPy does not have
            return _handle(value, register)
        return {"P": _array(data), "grad": bool(value.requires_grad)}
    if type(value) in (list, tuple, set, frozenset):
        tag = {list: "L", tuple: "T", set: "S", frozenset: "F"}[type(value)]
        return {tag: [encode(v, depth + 1, register) for v in value]}
    if type(value) is dict:
        return {"D": [[encode(k, depth + 1, register), encode(v, depth + 1, register)] for k, v in value.items()]}
    if type(value) is bytes:
        return {"B": base64.b64encode(value).decode("ascii")}
    return _handle(value, register)


def _resolve(spec):
    """A function named ``"module:attr.attr"`` or ``("step", assignment, name)``."""
    import importlib

    if isinstance(spec, tuple) and spec and spec[0] == "step":
        from course_lib.grading.steps import REFERENCE_STEPS

        return REFERENCE_STEPS[spec[1]][spec[2]]
    module, _, name = spec.partition(":")
    target = importlib.import_module(module)
    for attribute in name.split("."):
        target = getattr(target, attribute)
    return target


def _perform(request: dict, namespace: dict):
    op = request["op"]
    if op == "get":
        return [encode(namespace[n]) if n in namespace else {"absent": True} for n in request["names"]]
    if op == "swap":  # the reference steps in place of the student's functions
        number = next(_COUNTER)
        _SAVED[number] = {n: namespace.get(n, _ABSENT) for n in request["steps"]}
        for name, spec in request["steps"].items():
            namespace[name] = _resolve(spec)
        return number
    if op == "restore":
        for name, value in _SAVED.pop(request["swap"], {}).items():
            if value is _ABSENT:
                namespace.pop(name, None)
            else:
                namespace[name] = value
        return None
    if op == "forget":
        for number in request["objects"]:
            _OBJECTS.pop(number, None)
        return None
    target = _ref(request["object"])
    if op == "call":
        args, kwargs = list(request["args"]), dict(request["kwargs"])
        for key, grads in (request.get("grads") or {}).items():
            _set_grads(args[key] if isinstance(key, int) else kwargs[key], grads)
        given = [(k, v) for k, v in [*enumerate(args), *kwargs.items()] if _mutable(v)]
        before = {k: _fingerprint(v) for k, v in given}
        value = encode(_guarded(request.get("forbidden") or [], target, args, kwargs))
        changed = {k: _state(v) for k, v in given if before[k] is None or _fingerprint(v) != before[k]}
        return {"value": value, "arguments": [[k, v] for k, v in changed.items()]}
    if op == "getattr":
        return encode(getattr(target, request["name"]))
    if op == "setattr":
        setattr(target, request["name"], request["value"])
        return None
    if op == "getitem":
        return encode(target[request["key"]])
    if op == "len":
        return len(target)
    if op == "iter":
        return [encode(v) for v in target]
    if op == "repr":
        return repr(target)
    raise ValueError(f"unknown request {op!r}")


def _mutable(value) -> bool:
    """Whether the grader copies ``value``'s state back after a call (the test may look at an
    argument that the student's function changes in place: a model it trains, an array it fills)."""
    numpy, torch = sys.modules.get("numpy"), sys.modules.get("torch")
    if type(value) in (list, dict) or (numpy is not None and type(value) is numpy.ndarray):
        return True
    return torch is not None and isinstance(value, (torch.nn.Module, torch.Tensor))


def _fingerprint(value):
    """What tells whether a list, dictionary or array argument changed (``None`` for a module or
    tensor, whose state is always sent back)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, (torch.nn.Module, torch.Tensor)):
        return None
    return json.dumps(encode(value, register=False))


def _state(value):
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.nn.Module):
        return {"module": [[name, encode(p.detach()), None if p.grad is None else encode(p.grad.detach())]
                           for name, p in value.named_parameters()]
                + [[name, encode(b.detach()), None] for name, b in value.named_buffers()]}
    if torch is not None and isinstance(value, torch.Tensor):
        return {"tensor": [encode(value.detach()), None if value.grad is None else encode(value.grad.detach())]}
    return {"value": encode(value)}


def _set_grads(value, grads) -> None:
    import torch

    if isinstance(value, torch.nn.Module):
        parameters = dict(value.named_parameters())
        for name, grad in grads.items():
            parameters[name].grad = grad
    elif isinstance(value, torch.Tensor):
        value.grad = grads


def _guarded(forbidden, target, args, kwargs):
    """Call ``target`` with every forbidden-call block of the test around it."""
    from contextlib import ExitStack

    from course_lib.grading.guard import forbidden_calls

    with ExitStack() as stack:
        for targets, reason, allow in forbidden:
            stack.enter_context(forbidden_calls(*map(_resolve, targets), reason=reason,
                                                allow=[_resolve(a) for a in allow]))
        return target(*args, **kwargs)


def serve(nonce: str, request: str, namespace: dict | None = None) -> None:
    """Carry out one request of the grader (base64 of a pickle) and print the answer.

    ``namespace`` is the kernel's (IPython's ``user_ns``) unless given."""
    if namespace is None:
        from IPython import get_ipython

        namespace = get_ipython().user_ns
    import time

    start = time.perf_counter()
    try:
        answer = {"ok": _perform(pickle.loads(base64.b64decode(request)), namespace)}
    except Exception as exc:  # the student's code raised: the grader re-raises it in the test
        answer = {"raised": [c.__name__ for c in type(exc).__mro__], "message": _text(exc),
                  "traceback": _text_of(traceback.format_exception(type(exc), exc, exc.__traceback__)[1:])}
    answer["seconds"] = time.perf_counter() - start
    text = json.dumps(answer)
    sys.stdout.flush()
    sys.stdout.write(f"\n{MARKER} {nonce} {text}\n")
    sys.stdout.flush()


def _text(exc) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose message cannot be shown>"


def _text_of(lines) -> str:
    return "".join(lines)[-4000:]
