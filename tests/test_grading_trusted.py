"""The trusted test runner's protocol (course_lib.grading.trusted and its kernel side, _agent),
without a kernel: the agent serves the requests in this process, in a namespace of its own."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import pickle
import re

import numpy as np
import pytest

from course_lib.grading import _agent
from course_lib.grading.trusted import (
    Connection,
    KernelError,
    KernelObject,
    StudentCodeError,
    TrustedTests,
    decode,
    free_names,
    spec_of,
)


def _fake_kernel(namespace: dict):
    """``run(code)`` for a Connection: serve the request in ``namespace``, as the kernel would."""
    def run(code: str) -> list:
        nonce, payload = re.search(r"serve\('(\w+)', '([^']*)'\)", code).groups()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            _agent.serve(nonce, payload, namespace)
        return [{"output_type": "stream", "name": "stdout", "text": out.getvalue()}]
    return run


def test_data_comes_back_as_data_and_objects_as_handles():
    class Model:
        scale = 3.0

        def apply(self, x):
            return self.scale * np.asarray(x)

    namespace = {"table": {"Fe": [1, 2.5], (1, 2): {"x"}}, "model": Model(), "z": 1 + 2j,
                 "arr": np.arange(6.0).reshape(2, 3), "f": np.float32(1.5)}
    got = Connection(_fake_kernel(namespace)).get(["table", "model", "z", "arr", "f", "missing"])
    assert got["table"] == {"Fe": [1, 2.5], (1, 2): {"x"}} and got["z"] == 1 + 2j
    assert np.array_equal(got["arr"], np.arange(6.0).reshape(2, 3)) and got["f"].dtype == np.float32
    assert "missing" not in got
    model = got["model"]
    assert isinstance(model, KernelObject) and model.scale == 3.0
    assert np.allclose(model.apply([1.0, 2.0]), [3.0, 6.0])  # a bound method, called in the kernel


def test_arguments_changed_in_place_are_copied_back():
    def fill(a, d, lst):
        a[:] = 7.0
        d["new"] = 1
        lst.append("x")

    arr, d, lst = np.zeros(3), {"old": 0}, []
    fn = Connection(_fake_kernel({"fill": fill})).get(["fill"])["fill"]
    assert fn(arr, d, lst) is None
    assert np.all(arr == 7.0) and d == {"old": 0, "new": 1} and lst == ["x"]


def test_a_torch_module_trained_in_the_kernel_is_trained_here_too():
    torch = pytest.importorskip("torch")

    def step(model, lr):
        assert model.weight.grad is not None  # the stale gradient was sent along
        with torch.no_grad():
            model.weight -= lr * model.weight.grad
        model.weight.grad = None
        return float(model.weight.detach().sum())

    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    model.weight.sum().backward()  # grad = 1 everywhere
    fn = Connection(_fake_kernel({"step": step})).get(["step"])["step"]
    assert fn(model, 0.5) == pytest.approx(1.0)
    assert torch.allclose(model.weight, torch.full((1, 2), 0.5)) and model.weight.grad is None


def test_the_students_exceptions_are_raised_here_as_their_builtin_class():
    class MyError(ValueError):
        pass

    def bad(kind):
        raise {"value": MyError("bad value"), "other": type("Weird", (Exception,), {})("odd"),
               "todo": NotImplementedError()}[kind]

    fn = Connection(_fake_kernel({"bad": bad})).get(["bad"])["bad"]
    with pytest.raises(ValueError, match="bad value") as info:
        fn("value")
    assert "raised in your code" in "".join(info.value.__notes__)
    with pytest.raises(StudentCodeError, match="Weird: odd"):
        fn("other")
    with pytest.raises(NotImplementedError):
        fn("todo")


def test_forbidden_calls_act_in_the_kernel_around_the_students_call():
    from course_lib import composition
    from course_lib.grading.guard import ForbiddenCallError, forbidden_calls
    from course_lib.grading.trusted import _CURRENT

    def cheat(symbol):
        return composition.one_hot(symbol)

    connection = Connection(_fake_kernel({"cheat": cheat}))
    fn = connection.get(["cheat"])["cheat"]
    _CURRENT.append(connection)
    try:
        assert fn("H")[0] == 1.0
        with forbidden_calls(composition.one_hot, reason="part 1"):
            with pytest.raises(ForbiddenCallError, match="one_hot"):
                fn("H")
    finally:
        _CURRENT.pop()
    assert connection.forbidden == []


def test_answers_are_decoded_as_data_only():
    connection = Connection(lambda code: [])
    assert decode({"L": [1, {"f": "nan"}, "a"]}, connection)[0] == 1
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):  # an object array would need unpickling
        decode({"A": base64.b64encode(buffer.getvalue()).decode()}, connection)
    for bad in ({"X": 1}, {"a": 1, "b": 2, "c": 3, "d": 4}, [1, 2]):
        with pytest.raises(KernelError):
            decode(bad, connection)


def test_no_answer_and_a_forged_answer():
    nothing = Connection(lambda code: [{"output_type": "error", "ename": "SyntaxError", "evalue": "x"}])
    with pytest.raises(KernelError, match="SyntaxError"):
        nothing.request(op="get", names=[])
    # an answer under another token (printed by the student's code) is not taken
    forged = "\ncourse-remote 0000 " + json.dumps({"ok": [True]}) + "\n"
    other = Connection(lambda code: [{"output_type": "stream", "name": "stdout", "text": forged}])
    with pytest.raises(KernelError, match="did not answer"):
        other.request(op="get", names=["x"])
    assert pickle.loads(pickle.dumps(1))  # (pickle is used only towards the kernel)


def test_free_names_and_specs():
    assert sorted(free_names("import numpy as np\nx = f(np.ones(2), y)\nfor k in z: print(k, x)")) == ["f", "y", "z"]
    from course_lib.composition import one_hot
    from course_lib.grading.steps import REFERENCE_STEPS

    assert spec_of(one_hot) == "course_lib.composition:one_hot"
    assert spec_of(REFERENCE_STEPS["ch01_composition"]["weighted_mean"]) == (
        "step", "ch01_composition", "weighted_mean")
    with pytest.raises(TypeError):
        spec_of(lambda: 0)


def test_a_test_cell_runs_here_with_the_setup_and_the_students_functions(monkeypatch):
    student = {"double": lambda x: 2 * x, "np": "not numpy"}  # the student's own `np` is not used
    tests = TrustedTests(_fake_kernel(student), ["import numpy as np\nbase = 3"], "ch01_composition", "alice")
    assert tests.run_cell("assert np.allclose(double(base), 6)\nprint('ok')", "part1") == [
        {"output_type": "stream", "name": "stdout", "text": "ok\n"}]
    failed = tests.run_cell("assert double(1) == 3, 'double(1) should be 3'", "part2")
    assert failed[-1]["ename"] == "AssertionError" and failed[-1]["evalue"] == "double(1) should be 3"
    result = tests.run_cell("base - 1.5", "part3")
    assert result[-1]["output_type"] == "execute_result" and result[-1]["data"]["text/plain"] == "1.5"
    student["double"] = lambda x: 3 * x  # the student's cell changed: looked up again
    assert tests.run_cell("assert double(1) == 3", "part4") == []
