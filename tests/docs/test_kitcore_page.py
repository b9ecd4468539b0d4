"""docs/kitcore.md against the code: middleware order, the request's path, registration.

- The middleware table lists, per service, the chains its ``new_set()`` builds,
  read from the source (helpers such as ``_observed`` are followed).
- Every code name in the shelf request's sequence diagram can be imported.
- The registration state diagram's states are the states
  ``kitcore.sd.registrar`` logs, and the SIGTERM order it shows is ``App``'s.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator

from docs import pages
from kitcore import app
from kitcore.sd import registrar

PAGE = pages.DOCS / "kitcore.md"
SERVICES = ("book", "user", "template", "gateway")
_DOTTED = re.compile(r"\b(?:kitcore|gateway|book|user)(?:\.\w+)+")


def _call_name(node: ast.expr) -> str:
    """``metrics.middleware(...)`` -> ``metrics.middleware``."""
    return ast.unparse(node.func if isinstance(node, ast.Call) else node)


def _functions(tree: ast.AST) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def _own_nodes(function: ast.FunctionDef) -> Iterator[ast.AST]:
    """The function's nodes, without those of the functions defined inside it."""
    todo = list(function.body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, ast.FunctionDef):
            todo.extend(ast.iter_child_nodes(node))


def _returned(function: ast.FunctionDef) -> ast.expr:
    returns = [n for n in _own_nodes(function) if isinstance(n, ast.Return) and n.value]
    assert len(returns) == 1, f"{function.name} must return in one place"
    return returns[0].value


def _expand(node: ast.expr, functions: dict[str, ast.FunctionDef]) -> list[str]:
    """The middlewares an expression stands for, outermost first."""
    if isinstance(node, ast.Starred):
        return _expand(node.value, functions)
    if isinstance(node, ast.Tuple):
        return [m for element in node.elts for m in _expand(element, functions)]
    if isinstance(node, ast.Call) and _call_name(node) == "chain":
        return [m for arg in node.args for m in _expand(arg, functions)]
    if isinstance(node, ast.Call) and _call_name(node) in functions:
        return _expand(_returned(functions[_call_name(node)]), functions)
    return [_call_name(node)]


def chains_in_code(service: str) -> set[tuple[str, ...]]:
    """The distinct middleware chains ``new_set()`` of ``services/<service>`` wraps."""
    tree = ast.parse((pages.ROOT / "services" / service / "endpoints.py").read_text())
    functions = _functions(tree)
    result = _returned(functions["new_set"])
    assert isinstance(result, ast.Call), "new_set returns Set(name=wrap(...)(endpoint), ...)"
    chains = set()
    for keyword in result.keywords:
        wrapper = keyword.value.func  # middlewares("get_book") in middlewares(...)(endpoint)
        chains.add(tuple(_expand(wrapper, functions)))
    return chains


def chains_on_the_page() -> dict[str, set[tuple[str, ...]]]:
    text = pages.section(PAGE, "Middleware order, service by service")
    result: dict[str, set[tuple[str, ...]]] = {}
    for row in re.findall(r"^\| (.+?) \| .+? \| (`.+`) \|$", text, re.M):
        names, order = row
        chain = tuple(re.findall(r"`([^`]+)`", order))
        for name in names.split(", "):
            result.setdefault(name, set()).add(chain)
    return result


def _diagram(kind: str) -> str:
    blocks = [b for b in pages.mermaid_blocks(PAGE) if b.startswith(kind)]
    assert len(blocks) == 1, f"docs/kitcore.md has one {kind}"
    return blocks[0]


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(dotted)


def _registrar_states() -> Iterator[str]:
    source = inspect.getsource(registrar)
    yield from re.findall(r'_set_state\(\s*"(\w+)"', source)
    yield from re.findall(r'self\._state = "(\w+)"', source)


def test_the_middleware_table_is_what_each_new_set_builds():
    page = chains_on_the_page()
    assert sorted(page) == sorted(SERVICES)
    for service in SERVICES:
        assert page[service] == chains_in_code(service), service


def test_the_reader_follows_helpers_and_splats():
    tree = ast.parse(
        "def new_set(p):\n"
        "    def outer(n): return chain(*_obs(n), auth.jwt(p))\n"
        "    def inner(n): return chain(outer(n), only_self)\n"
        "    return Set(a=outer('a')(e), b=inner('b')(e))\n"
        "def _obs(n): return (metrics.mw(n), log.mw(n))\n")
    functions = _functions(tree)
    wrappers = [k.value.func for k in _returned(functions["new_set"]).keywords]
    assert [_expand(w, functions) for w in wrappers] == [
        ["metrics.mw", "log.mw", "auth.jwt"], ["metrics.mw", "log.mw", "auth.jwt", "only_self"]]


def test_every_name_in_the_request_picture_exists():
    names = set(_DOTTED.findall(_diagram("sequenceDiagram")))
    assert len(names) >= 8
    for name in sorted(names):
        assert _resolve(name) is not None, name


def test_the_request_picture_shows_the_gateway_chain_of_the_shelf_route():
    """The note on the chain names the bearer (self) chain, in its order."""
    note = re.search(r"Note over chain: (.+)", _diagram("sequenceDiagram")).group(1)
    words = {"metrics": "metrics.metrics_middleware", "log": "log.logging_middleware",
             "concurrency limit": "concurrency.concurrency_limit_middleware",
             "deadline": "deadline_middleware", "JWT": "auth.jwt_middleware",
             "rate limit": "ratelimit.erroring_limit_middleware", "only self": "only_self"}
    shown = tuple(words[w] for w in re.findall("|".join(words), note))
    longest = max(chains_in_code("gateway"), key=len)
    assert shown == longest


def test_the_registration_states_are_the_registrars():
    diagram = _diagram("stateDiagram")
    drawn = set(re.findall(r"^\s*(\w+) -->", diagram, re.M))
    drawn |= set(re.findall(r"--> (\w+):", diagram))
    drawn.discard("[*]")
    assert drawn == set(_registrar_states())


def test_sigterm_is_not_ready_deregister_refuse_drain_as_the_page_says():
    stop = inspect.getsource(app.App.stop)
    steps = ["self.readiness.drain()", "self._deregister()", "stop_accepting()",
             "self._http.drain("]
    assert [stop.index(step) for step in steps] == sorted(stop.index(step) for step in steps)
    diagram = _diagram("stateDiagram")
    assert re.search(r"registered --> deregistered: SIGTERM", diagram)
    assert re.search(r"deregistered --> \[\*\]: drain", diagram)
    assert "first reports not ready, then deregisters,\nthen refuses new work and drains" in (
        PAGE.read_text())
