"""Run a notebook's test cells in the grading process, calling the student's functions in the kernel.

When a test cell runs in the student's kernel, the student's code runs in the same Python process
as the test: it can change what the test does (blank it, patch ``numpy.allclose``, print a forged
report), and the grader can only look for traces of that afterwards. The autograder
(:class:`~course_lib.grading.preprocessors.RecoveringExecute`) therefore runs every test cell
here, in the grading process, where the student's code never runs:

- the notebook's read-only setup cells are run here too, from the assignment's source (the
  gradebook), so the data and libraries the tests use are the course's own;
- a name the test uses that neither the setup nor an earlier test cell defined (the student's
  functions) is looked up in the kernel. Plain data (numbers, strings, lists, dictionaries, NumPy
  arrays, tensors) is copied here; anything else, functions included, stays in the kernel and is
  used through a :class:`KernelObject`, whose calls run in the kernel;
- arguments go to the kernel pickled (the kernel may run anything: it is the untrusted side);
  answers come back as JSON and NumPy's ``.npy`` format without pickles
  (:mod:`course_lib.grading._agent`), so the kernel can send values, never code;
- the reference values, the comparisons and the ``assert`` statements run here. The student's code
  can decide what its own functions return, and nothing else.

:func:`~course_lib.grading.guard.forbidden_calls` and :func:`~course_lib.grading.steps.reference_steps`
act in the kernel as well while a test runs here: the library functions are disabled around each
call of a student's function, and the course's earlier steps replace the student's in the
kernel's namespace.
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import io
import json
import linecache
import os
import cloudpickle
import re
import secrets
import sys
import traceback
import warnings
from collections.abc import Callable

from . import _agent

__all__ = ["KernelError", "KernelObject", "KernelTimeout", "TrustedTests",
           "current_connection", "free_names", "spec_of"]

#: Key of the trusted namespace that holds its :class:`Connection` (read by ``reference_steps``).
CONNECTION_KEY = "__course_kernel__"

_CURRENT: list["Connection"] = []


class KernelError(RuntimeError):
    """The kernel did not answer a request of the tests (its output named the reason)."""


class KernelTimeout(KernelError):
    """The student's code used up the test cell's time in the kernel."""


class StudentCodeError(Exception):
    """The student's code raised an exception of its own class (its class and message are quoted)."""


def current_connection() -> "Connection | None":
    """The connection to the kernel of the test cell that is running here, if any."""
    return _CURRENT[-1] if _CURRENT else None


def spec_of(fn) -> str | tuple:
    """How the kernel finds the function ``fn`` of the grading process: ``"module:qualified.name"``,
    or ``("step", assignment, name)`` for one of the course's reference steps.

    Raises
    ------
    TypeError
        If ``fn`` cannot be found by name (a function made inside another function).
    """
    import importlib
    import inspect

    from .steps import REFERENCE_STEPS

    for assignment, table in REFERENCE_STEPS.items():
        for name, step in table.items():
            if step is fn:
                return ("step", assignment, name)
    from .guard import LIBRARY_FUNCTIONS

    for entries in LIBRARY_FUNCTIONS.values():
        for entry in entries:
            module, _, name = entry.partition(":")
            try:
                target = importlib.import_module(module)
                for attribute in name.split("."):
                    target = getattr(target, attribute)
            except (ImportError, AttributeError):
                continue
            if target is fn or getattr(target, "fget", None) is fn:
                return entry
    raw = inspect.unwrap(fn.fget if isinstance(fn, property) else fn)
    module, qualname = getattr(raw, "__module__", None), getattr(raw, "__qualname__", "")
    if module and "<locals>" not in qualname:
        return f"{module}:{qualname}"
    raise TypeError(f"{fn!r} cannot be named to the student's kernel (it is not a module-level "
                    "function, a method or a reference step)")


# -- answers of the kernel ---------------------------------------------------------------------------


def _array(text: str):
    import numpy as np

    return np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)


def decode(tree, connection: "Connection"):
    """The value an answer of :func:`course_lib.grading._agent.encode` describes (data only)."""
    if tree is None or type(tree) in (bool, int, str):
        return tree
    if type(tree) is not dict or len(tree) not in (1, 2, 3):
        raise KernelError(f"the kernel's answer is not a value the tests know: {str(tree)[:80]}")
    (tag, body), *_ = tree.items()
    if tag == "f":
        return float(body)
    if tag == "C":
        return complex(float(body[0]), float(body[1]))
    if tag == "A":
        return _array(body)
    if tag == "N":
        return _array(body)[()]
    if tag == "P":
        import torch

        tensor = torch.from_numpy(_array(body))
        if tree.get("grad") is True and tensor.is_floating_point():
            tensor.requires_grad_(True)
        return tensor
    if tag in ("L", "T", "S", "F"):
        items = [decode(v, connection) for v in body]
        return {"L": list, "T": tuple, "S": set, "F": frozenset}[tag](items)
    if tag == "D":
        return {decode(k, connection): decode(v, connection) for k, v in body}
    if tag == "B":
        return base64.b64decode(body, validate=True)
    if tag == "R":
        return KernelObject(connection, int(body), str(tree.get("type", "?")), bool(tree.get("callable")))
    raise KernelError(f"the kernel's answer has an unknown part {tag!r}")


def _exception(answer: dict) -> BaseException:
    """The exception the student's code raised in the kernel, as an exception of the same builtin
    class here (or :class:`StudentCodeError`), with the kernel's traceback as a note."""
    from .guard import ForbiddenCallError

    names = [str(n) for n in answer.get("raised", [])]
    message = str(answer.get("message", ""))
    exc: BaseException | None = None
    if names and names[0] == "ForbiddenCallError":
        exc = ForbiddenCallError(message)
    for name in names:
        if exc is not None:
            break
        cls = getattr(builtins, name, None)
        if isinstance(cls, type) and issubclass(cls, Exception) and cls is not Exception:
            try:
                exc = cls(message) if message else cls()
            except TypeError:
                continue
    if exc is None:
        exc = StudentCodeError(f"{names[0] if names else 'Exception'}: {message}" if message else
                               (names[0] if names else "an exception"))
    if answer.get("traceback"):
        exc.add_note("raised in your code:\n" + str(answer["traceback"]).rstrip())
    return exc


class Connection:
    """Requests to the agent in the student's kernel.

    Parameters
    ----------
    run
        ``run(code) -> outputs``: run one line of code in the kernel as a cell and return its
        outputs (the preprocessor's ``execute_cell``, with the time the cell has left).
    """

    def __init__(self, run: Callable[[str], list]):
        self._run = run
        #: ``(targets, reason, allow)`` of every ``forbidden_calls`` block the running test is in.
        self.forbidden: list[tuple[list, str, list]] = []
        #: Seconds the kernel reported for carrying out the requests of the running test cell
        #: (the student's code; the messages to and fro are not counted).
        self.kernel_seconds = 0.0

    def request(self, **request):
        nonce = secrets.token_hex(12)
        payload = base64.b64encode(cloudpickle.dumps(request, protocol=4)).decode("ascii")
        outputs = self._run(f"__import__('course_lib.grading._agent', fromlist=['serve'])"
                            f".serve({nonce!r}, {payload!r})")
        stdout = "".join(o.get("text", "") for o in outputs
                         if o.get("output_type") == "stream" and o.get("name") == "stdout")
        stderr = "".join(o.get("text", "") for o in outputs
                         if o.get("output_type") == "stream" and o.get("name") == "stderr")
        match = re.search(r"\n" + re.escape(f"{_agent.MARKER} {nonce} ") + r"(.*)\n", stdout)
        printed = stdout if match is None else stdout[: match.start()] + stdout[match.end():]
        if printed:
            sys.stdout.write(printed)
        if stderr:
            sys.stderr.write(stderr)
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if match is None:
            why = "; ".join(f"{o.get('ename')}: {o.get('evalue')}" for o in errors)
            raise KernelError("the kernel did not answer the test (" + (why or "no answer printed") + ")")
        try:
            answer = json.loads(match.group(1))
        except ValueError:
            raise KernelError("the kernel's answer to the test is not readable") from None
        if not isinstance(answer, dict):
            raise KernelError("the kernel's answer to the test is not readable")
        seconds = answer.get("seconds")
        self.kernel_seconds += float(seconds) if type(seconds) in (int, float) and seconds > 0 else 0.0
        if "raised" in answer:
            raise _exception(answer)
        if "ok" not in answer:
            raise KernelError("the kernel's answer to the test is not readable")
        return answer["ok"]

    def get(self, names: list[str]) -> dict:
        """``{name: value or KernelObject}`` of the names the kernel's namespace has."""
        answers = self.request(op="get", names=list(names))
        if type(answers) is not list or len(answers) != len(names):
            raise KernelError("the kernel's answer to the test is not readable")
        out = {}
        for name, tree in zip(names, answers):
            if not (type(tree) is dict and tree.get("absent") is True):
                out[name] = decode(tree, self)
        return out

    def call(self, target: "KernelObject", args, kwargs):
        """Call the kernel's ``target``; arguments it changed in place (lists, dictionaries, NumPy
        arrays, tensors, torch modules with their gradients) are changed here in the same way."""
        given = [*enumerate(args), *kwargs.items()]
        answer = self.request(op="call", object=target._number, args=tuple(args), kwargs=dict(kwargs),
                              grads={k: g for k, v in given if (g := _grads(v)) is not None},
                              forbidden=list(self.forbidden))
        if type(answer) is not dict or "value" not in answer:
            raise KernelError("the kernel's answer to the test is not readable")
        originals = dict(given)
        for key, state in answer.get("arguments") or []:
            if key in originals:
                _apply_state(originals[key], state, self)
        return decode(answer["value"], self)

    def swap(self, steps: dict) -> int:
        """Put the reference steps ``{name: spec}`` in the kernel's namespace; returns the number
        that :meth:`restore` takes."""
        number = self.request(op="swap", steps=dict(steps))
        if type(number) is not int:
            raise KernelError("the kernel's answer to the test is not readable")
        return number

    def restore(self, number: int) -> None:
        self.request(op="restore", swap=number)


#: Special attributes a test may read from an object of the kernel (a function's name, for messages).
_READABLE_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})


def _grads(value):
    """The gradients to send with a torch module or tensor argument (pickling leaves them out)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if isinstance(value, torch.nn.Module):
        grads = {n: p.grad.detach().clone() for n, p in value.named_parameters() if p.grad is not None}
        return grads or None
    if isinstance(value, torch.Tensor) and value.grad is not None:
        return value.grad.detach().clone()
    return None


def _apply_state(original, state, connection) -> None:
    """Give an argument of a call the state the student's function left it in."""
    if type(state) is not dict or len(state) != 1:
        raise KernelError("the kernel's answer to the test is not readable")
    (kind, body), = state.items()
    torch = sys.modules.get("torch")
    if kind == "module" and torch is not None and isinstance(original, torch.nn.Module):
        tensors = {**dict(original.named_parameters()), **dict(original.named_buffers())}
        for name, data, grad in body:
            if name in tensors:
                _set_tensor(tensors[name], decode(data, connection), decode(grad, connection))
    elif kind == "tensor" and torch is not None and isinstance(original, torch.Tensor):
        _set_tensor(original, decode(body[0], connection), decode(body[1], connection))
    elif kind == "value":
        new = decode(body, connection)
        if type(original) is list and type(new) is list:
            original[:] = new
        elif type(original) is dict and type(new) is dict:
            original.clear()
            original.update(new)
        elif hasattr(original, "shape") and getattr(new, "shape", None) == original.shape:
            if getattr(original, "flags", None) is not None and original.flags.writeable:
                original[...] = new


def _set_tensor(tensor, data, grad) -> None:
    import torch

    with torch.no_grad():
        if isinstance(data, torch.Tensor) and data.shape == tensor.shape:
            tensor.copy_(data.to(tensor.dtype))
        elif isinstance(data, torch.Tensor):
            tensor.data = data.to(tensor.dtype)
    if tensor.requires_grad or grad is None:
        tensor.grad = None if grad is None else grad.to(tensor.dtype).requires_grad_(False)


class KernelObject:
    """An object of the student's kernel: calling it, or reading its attributes, items or length,
    asks the kernel."""

    __slots__ = ("_connection", "_number", "_type", "_callable")

    def __init__(self, connection: Connection, number: int, kind: str, is_callable: bool):
        object.__setattr__(self, "_connection", connection)
        object.__setattr__(self, "_number", number)
        object.__setattr__(self, "_type", kind)
        object.__setattr__(self, "_callable", is_callable)

    def __call__(self, *args, **kwargs):
        if not self._callable:
            raise TypeError(f"'{self._type}' object (from your notebook) is not callable")
        return self._connection.call(self, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name not in _READABLE_DUNDERS:
            raise AttributeError(name)
        return decode(self._connection.request(op="getattr", object=self._number, name=name), self._connection)

    def __setattr__(self, name, value):
        self._connection.request(op="setattr", object=self._number, name=name, value=value)

    def __getitem__(self, key):
        return decode(self._connection.request(op="getitem", object=self._number, key=key), self._connection)

    def __len__(self):
        n = self._connection.request(op="len", object=self._number)
        if type(n) is not int or n < 0:
            raise KernelError("the kernel's answer to len() is not a length")
        return n

    def __iter__(self):
        items = self._connection.request(op="iter", object=self._number)
        if type(items) is not list:
            raise KernelError("the kernel's answer to iter() is not readable")
        return iter([decode(v, self._connection) for v in items])

    def __repr__(self):
        try:
            text = self._connection.request(op="repr", object=self._number)
        except Exception:
            text = None
        return str(text) if type(text) is str else f"<{self._type} of your notebook>"

    def __reduce__(self):
        return (_agent._ref, (self._number,))


# -- running the cells -------------------------------------------------------------------------------


def free_names(source: str) -> list[str]:
    """Names a cell reads that it does not define itself (builtins left out), without repeats."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    defined: set[str] = set()
    read: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                read.append(node.id)
            else:
                defined.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
    return [n for n in dict.fromkeys(read) if n not in defined and not hasattr(builtins, n)]


def _defined_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
                names.add(sub.id)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _output_of(exc: BaseException, filename: str):
    from nbformat.notebooknode import NotebookNode

    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    # the frames of this module are the runner's, not the test's
    text = [line for line in lines if __file__ not in line]
    ename, evalue = type(exc).__name__, str(exc)
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[line.rstrip("\n") for line in text])


def _stream(name: str, text: str):
    from nbformat.notebooknode import NotebookNode

    return NotebookNode(output_type="stream", name=name, text=text)


@contextlib.contextmanager
def _grading_environment(assignment: str, student: str):
    from .testing import ASSIGNMENT_VARIABLE, STUDENT_VARIABLE

    saved = {k: os.environ.get(k) for k in (ASSIGNMENT_VARIABLE, STUDENT_VARIABLE)}
    os.environ[ASSIGNMENT_VARIABLE], os.environ[STUDENT_VARIABLE] = assignment, student
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class TrustedTests:
    """The test cells of one notebook, run in this process against the student's kernel.

    Parameters
    ----------
    run
        See :class:`Connection`.
    setup
        Sources of the assignment's read-only setup cells, in order (from the gradebook, never
        from the submission).
    assignment, student
        Whose notebook is graded (the hidden tests draw their inputs from them).
    """

    def __init__(self, run: Callable[[str], list], setup: list[str], assignment: str, student: str):
        self.connection = Connection(run)
        self.assignment, self.student = assignment, student
        self.namespace: dict = {"__name__": "__course_tests__", "__builtins__": builtins,
                                CONNECTION_KEY: self.connection}
        self._trusted: set[str] = set(self.namespace)
        self._setup = list(setup)
        self._setup_error: str | None = None
        self._setup_done = False

    def _run_setup(self) -> None:
        self._setup_done = True
        for k, source in enumerate(self._setup):
            try:
                self._exec(source, f"<setup cell {k + 1}>")
            except Exception as exc:  # reported in every test cell
                self._setup_error = f"{type(exc).__name__}: {exc}"
                return
            finally:
                self._trusted |= _defined_names(source)

    def _exec(self, source: str, filename: str):
        """Run ``source`` in the trusted namespace; the value of a last expression is returned."""
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        tree = ast.parse(source, filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, filename, "exec"), self.namespace)
        return None if last is None else eval(compile(last, filename, "eval"), self.namespace)

    def run_cell(self, source: str, name: str) -> list:
        """Run one test cell; return the outputs it gets (streams, its result, an error).

        A dead kernel (``DeadKernelError``) and nbclient's ``CellTimeoutError`` are passed on to
        the caller, which restarts the kernel."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError
        from nbformat.notebooknode import NotebookNode

        stdout, stderr = io.StringIO(), io.StringIO()
        outputs: list[NotebookNode] = []
        filename = f"<test cell {name}>"
        _CURRENT.append(self.connection)
        self.connection.forbidden, self.connection.kernel_seconds = [], 0.0
        try:
            with _grading_environment(self.assignment, self.student), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the grader's own warnings are not the student's
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    if not self._setup_done:
                        self._run_setup()
                if self._setup_error:
                    raise KernelError("the grader could not run the notebook's setup cell: " + self._setup_error)
                with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                    wanted = [n for n in free_names(source) if n not in self._trusted]
                    if wanted:
                        for n in wanted:
                            self.namespace.pop(n, None)
                        self.namespace.update(self.connection.get(wanted))
                    value = self._exec(source, filename)
                    self._trusted |= _defined_names(source) - set(wanted)
        except (DeadKernelError, CellTimeoutError):
            raise
        except Exception as exc:  # the test failed: an error output, as in a kernel
            error = _output_of(exc, filename)
            if isinstance(exc, KernelTimeout):
                error.ename = "CellTimeoutError"
        else:
            error = None
        finally:
            _CURRENT.pop()
        if stdout.getvalue():
            outputs.append(_stream("stdout", stdout.getvalue()))
        if stderr.getvalue():
            outputs.append(_stream("stderr", stderr.getvalue()))
        if error is not None:
            outputs.append(error)
        elif value is not None:
            outputs.append(NotebookNode(output_type="execute_result", execution_count=None, metadata={},
                                        data={"text/plain": repr(value)}))
        return outputs
