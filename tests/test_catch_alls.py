"""Every catch-all in flowview is seen: an `except Exception` (or `BaseException`, or a bare
`except`) either raises again or logs (issue 9 §4: "log.exception in every catch-all; never a
bare swallow").  Walks the package's source with `ast`, so a new silent catch-all fails here."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "flowview"

# Calls that log on the handler's behalf.
LOGGING_HELPERS = {"_failed"}  # model/router.py: counts the error and log.exception()s it
# Handlers that cannot log, and why.
EXEMPT = {
    # Inside the logging filter itself: logging from there would recurse.
    ("logs.py", "filter"),
}


def _catches_everything(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(t, ast.Name) and t.id in ("Exception", "BaseException") for t in types)


def _is_seen(handler: ast.ExceptHandler) -> bool:
    for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in ("log", "logger", "logging"):
                return True
            if node.func.attr in LOGGING_HELPERS:
                return True
    return False


def silent_catch_alls(root: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (path.name, function.name) in EXEMPT:
                continue
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.ExceptHandler)
                    and _catches_everything(node)
                    and not _is_seen(node)
                ):
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return sorted(set(found))


def test_no_catch_all_swallows_silently() -> None:
    assert silent_catch_alls(PACKAGE) == []


def test_the_check_finds_a_silent_catch_all(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(
        "import logging\nlog = logging.getLogger(__name__)\n"
        "def quiet():\n    try:\n        pass\n    except Exception:\n        return None\n"
        "def loud():\n    try:\n        pass\n    except Exception:\n        log.exception('x')\n"
        "def again():\n    try:\n        pass\n    except BaseException:\n        raise\n"
    )
    assert silent_catch_alls(tmp_path) == [f"{tmp_path.name}/mod.py:6"]
