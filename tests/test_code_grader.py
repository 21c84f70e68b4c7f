"""The code grader cannot be fooled: a completion that returns a wrong answer and then reads the pass marker,
prints from an exit handler, skips the tests with a trace function or returns an always-equal object fails;
correct completions that return library types (Counter, Fraction, namedtuple, list subclasses) still pass."""

from __future__ import annotations

import json
import textwrap

import pytest

from auroram.eval import code

PROBLEMS = [
    {"task_id": "add", "prompt": 'def add(a, b):\n    """Return a + b."""\n', "entry_point": "add",
     # HumanEval's tests often end with `assert True`: a trace function can jump straight to it
     "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-4, 4) == 0\n"
             "    assert True\n"},
    {"task_id": "dist", "prompt": 'def dist(a, b):\n    """Return the distance between a and b."""\n',
     "entry_point": "dist", "test": "def check(candidate):\n    assert abs(candidate(1.0, 4.0) - 3.0) < 1e-9\n"},
    {"task_id": "pair", "prompt": 'def pair(x):\n    """Return [x, x]."""\n', "entry_point": "pair",
     "test": "def check(candidate):\n    assert candidate(1) == [1, 1]\n    assert candidate('a') == ['a', 'a']\n"},
    {"task_id": "counts", "prompt": 'def counts(text):\n    """Count each character."""\n', "entry_point": "counts",
     "test": "def check(candidate):\n    assert candidate('abca') == {'a': 2, 'b': 1, 'c': 1}\n"},
    {"task_id": "half", "prompt": 'def half(n):\n    """Return n / 2."""\n', "entry_point": "half",
     "test": "def check(candidate):\n    assert candidate(3) == 1.5\n    assert candidate(4) == 2\n"},
    {"task_id": "swap", "prompt": 'def swap(a, b):\n    """Return (b, a)."""\n', "entry_point": "swap",
     "test": "def check(candidate):\n    assert candidate(1, 2) == (2, 1)\n"},
]
MBPP = [{"task_id": 7, "text": "Write a function to triple a number.", "code": "def triple(x):\n    return 3 * x\n",
         "test_list": ["assert triple(2) == 6", "assert triple(0) == 0"], "test_setup_code": ""}]


def _body(src: str) -> str:
    return textwrap.indent(textwrap.dedent(src).strip("\n"), "    ") + "\n"


# every one of these returns a wrong answer (or none) and tries to pass anyway
HOSTILE = {
    # the old pass marker was a literal in main.py
    "marker_read_from_main_py": ("add", _body("""
        import os, re, sys
        for name in os.listdir('.'):
            try:
                text = open(name, errors='replace').read()
            except OSError:
                continue
            for token in re.findall(r'[0-9a-f]{32}', text):
                print(token)
        sys.stdout.flush()
        os._exit(0)
    """)),
    # ... and so a constant of the running module's code object
    "marker_read_from_code_constants": ("add", _body("""
        import os, sys
        def strings(co):
            for c in co.co_consts:
                if isinstance(c, str):
                    yield c
                elif hasattr(c, 'co_consts'):
                    yield from strings(c)
        f = sys._getframe()
        while f is not None:
            for s in strings(f.f_code):
                print(s)
            f = f.f_back
        sys.stdout.flush()
        os._exit(0)
    """)),
    # an exit handler runs after the failed assertion, prints the marker and exits 0
    "marker_printed_from_atexit": ("add", _body("""
        import atexit, os, re, sys
        def cheat():
            for name in os.listdir('.'):
                try:
                    for token in re.findall(r'[0-9a-f]{32}', open(name, errors='replace').read()):
                        print(token)
                except OSError:
                    pass
            sys.stdout.flush()
            os._exit(0)
        atexit.register(cheat)
        return 0
    """)),
    # a trace function installed at import time jumps over check's assertions
    "settrace_skips_the_tests": ("add", "    return 0\n\n\n" + textwrap.dedent("""
        import sys

        def skip_to_the_end(frame, event, arg):
            if event == "call" and frame.f_code.co_name == "check":
                last = max(line for _, _, line in frame.f_code.co_lines() if line)

                def local(frame, event, arg):
                    if event == "line" and frame.f_lineno < last:
                        frame.f_lineno = last
                    return local
                return local
            return None

        sys.settrace(skip_to_the_end)
    """)),
    # check's assertions compare with `==`
    "always_equal_object": ("add", _body("""
        class Anything:
            def __eq__(self, other):
                return True
        return Anything()
    """)),
    "always_equal_int_subclass": ("add", _body("""
        class Int(int):
            def __eq__(self, other):
                return True
        return Int(0)
    """)),
    "always_equal_elements": ("pair", _body("""
        class Anything:
            def __eq__(self, other):
                return True
        return [Anything(), Anything()]
    """)),
    "always_equal_made_by_exec": ("add", _body("""
        ns = {}
        exec("class A:\\n    def __eq__(self, other):\\n        return True\\n", ns)
        return ns["A"]()
    """)),
    "always_equal_from_unittest_mock": ("add", "    from unittest.mock import ANY\n    return ANY\n"),
    "tolerance_test_fooled_by_subtraction": ("dist", _body("""
        class Zero:
            def __sub__(self, other):
                return 0.0
        return Zero()
    """)),
    # the tests' abs() must not be the sample's
    "builtins_replaced_for_the_tests": ("dist", "    return 0\n\n\nimport builtins\nbuiltins.abs = lambda x: 0\n"),
}
# these failed before too (a wrong answer fails its assertion); they show the new channel cannot be forged
FORGERIES = {
    "verdict_written_to_every_fd": ("add", _body("""
        import os
        for fd in range(3, 64):
            for guess in (b'passed', bytes(32), os.urandom(32)):
                try:
                    os.write(fd, guess)
                except OSError:
                    pass
        os._exit(0)
    """)),
    "verdict_event_raised_by_the_sample": ("add", _body("""
        import sys
        sys.audit('auroram.sandbox.verdict')
        return 0
    """)),
    "gc_walk_for_the_secret": ("add", "    import gc\n    gc.get_objects()\n    return 0\n"),
    "ctypes_for_raw_memory": ("add", "    import ctypes\n    return 0\n"),
    # a trace function set while check runs; the refusal is caught, the attempt still fails the sample
    "settrace_refusal_caught": ("add", _body("""
        import sys
        caller = sys._getframe(1)
        last = max(line for _, _, line in caller.f_code.co_lines() if line)
        def local(frame, event, arg):
            if event == "line" and frame.f_lineno < last:
                frame.f_lineno = last
            return local
        caller.f_trace = local
        try:
            sys.settrace(lambda *a: None)
        except RuntimeError:
            pass  # caught: the attempt alone must fail the sample
        return 0
    """)),
    "fork_and_let_the_child_pass": ("add", _body("""
        import os
        if os.fork() == 0:
            return 3  # the child would pass the first assertion
        os.wait()
        return 0
    """)),
}
CORRECT = {
    "add": ("add", "    return a + b\n"),
    "counter_for_a_dict": ("counts", "    from collections import Counter\n    return Counter(text)\n"),
    "fraction_for_a_float": ("half", "    from fractions import Fraction\n    return Fraction(n, 2)\n"),
    "namedtuple_for_a_tuple": ("swap", _body("""
        from collections import namedtuple
        P = namedtuple('P', 'x y', defaults=(0,))
        return P(b, a)
    """)),
    "list_subclass": ("pair", "    class L(list):\n        pass\n    return L([x, x])\n"),
    "own_class_used_inside_only": ("add", _body("""
        class Box:
            def __init__(self, v):
                self.v = v
            def __eq__(self, other):
                return self.v == other.v
        return (Box(a).v if Box(a) == Box(a) else None) + b
    """)),
    "deep_recursion": ("add", _body("""
        def depth(n):
            return 0 if n == 0 else 1 + depth(n - 1)
        return a + b + depth(800) - 800
    """)),
    "threads_and_asyncio": ("add", _body("""
        import asyncio
        from concurrent.futures import ThreadPoolExecutor
        async def plus():
            return a + b
        with ThreadPoolExecutor(2) as pool:
            assert pool.submit(lambda: 1).result() == 1
        return asyncio.run(plus())
    """)),
    "stdout_and_a_main_block": ("add", "    print('working')\n    return a + b\n\n\n"
                                       "if __name__ == '__main__':\n    print('main')\n"),
}


def _jsonl(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("grader")
    cases = {**HOSTILE, **FORGERIES, **CORRECT}
    samples = [{"task_id": task, "completion": completion} for task, completion in cases.values()]
    res = code.score_samples(_jsonl(tmp / "problems.jsonl", PROBLEMS), _jsonl(tmp / "samples.jsonl", samples),
                             k_values=(1,))
    return {name: s for name, s in zip(cases, res["per_sample"])} | {"_protections": res["protections"]}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_wrong_completion_with_a_trick_fails(graded, case):
    s = graded[case]
    assert not s["passed"], f"{case} passed: {s['reason']}"
    assert s["reason"].startswith("failed")


@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_forging_the_verdict_fails(graded, case):
    s = graded[case]
    assert not s["passed"] and s["reason"].startswith("failed"), s["reason"]


@pytest.mark.parametrize("case", sorted(CORRECT))
def test_correct_completions_still_pass(graded, case):
    s = graded[case]
    assert s["passed"], f"{case}: {s['reason']}"


def test_refusals_and_the_equality_guard_say_why(graded):
    reasons = {case: graded[case]["reason"] for case in HOSTILE}
    assert "sys.settrace" in reasons["settrace_skips_the_tests"], reasons
    assert "always-equal" in reasons["always_equal_object"], reasons
    assert "always-equal" in reasons["always_equal_elements"], reasons
    assert reasons["marker_read_from_main_py"] == "failed: exited before the tests finished", reasons


def test_protections_say_what_the_grader_does_and_cannot_do(graded):
    prot = graded["_protections"]
    assert "secret" in prot["verdict"] and "sys.settrace" in prot["sample_hooks_refused"]
    assert "always-equal" not in prot["not_protected"] and "expected values" in prot["not_protected"]
    assert "library" in prot["equality_guard"]


def test_mbpp_asserts_are_guarded_too(tmp_path):
    probs = _jsonl(tmp_path / "mbpp.jsonl", MBPP)
    cheat = "class A:\n    def __eq__(self, other):\n        return True\n\ndef triple(x):\n    return A()\n"
    res = code.score_samples(probs, _jsonl(tmp_path / "s.jsonl", [{"task_id": 7, "completion": cheat},
                                                                  {"task_id": 7, "completion": MBPP[0]["code"]}]),
                             k_values=(1,))
    assert [s["passed"] for s in res["per_sample"]] == [False, True]
