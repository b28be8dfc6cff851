"""The tests' own layout (issue 9 §6): fixtures live in conftest.py files and pytest finds them;
helpers shared by several test modules live in helper modules named by what they are.

Read with `ast` (nothing is imported), so a module that breaks the rule is named even when it
would not import.  Checked: no module imports a test module (`test_*.py`) or a conftest.py
(pytest loads those itself; importing one makes a second copy of its fixtures and state), and
no fixture is defined in a helper module or imported by name from anywhere.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

log = logging.getLogger(__name__)

TESTS = Path(__file__).resolve().parent
FIXTURE_DECORATORS = {"pytest.fixture", "fixture", "pytest_asyncio.fixture"}


@dataclass(frozen=True)
class Module:
    path: Path
    tree: ast.Module

    @property
    def kind(self) -> str:
        """ "conftest", "test" (collected by pytest) or "helper" (only ever imported)."""
        if self.path.name == "conftest.py":
            return "conftest"
        return "test" if self.path.name.startswith("test_") else "helper"


def is_fixture(node: ast.AST) -> TypeGuard[ast.FunctionDef | ast.AsyncFunctionDef]:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if ast.unparse(target) in FIXTURE_DECORATORS:
            return True
    return False


def fixtures_of(module: Module) -> dict[str, int]:
    """Fixture name -> line, for fixtures defined at the module's top level."""
    return {n.name: n.lineno for n in module.tree.body if is_fixture(n)}


def load(root: Path) -> dict[Path, Module]:
    return {
        path: Module(path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for path in sorted(root.rglob("*.py"))
    }


def resolve(root: Path, importer: Path, module: str | None, level: int) -> Path | None:
    """The file under `root` that an import names, or None when it is not one of ours.

    `tests.x.y` (the package, from the repository root), `y` (tests/ is on sys.path too, see
    tests/conftest.py) and relative imports are all followed."""
    if level:
        base = importer.parent
        for _ in range(level - 1):
            base = base.parent
        parts = module.split(".") if module else []
    else:
        if not module:
            return None
        parts = module.split(".")
        if parts[0] == root.name:
            base, parts = root, parts[1:]
        else:
            base = root
    candidate = base.joinpath(*parts)
    for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if (parts or level) and path.is_file():
            return path
    return None


def imports(root: Path, module: Module) -> Iterator[tuple[int, Path | None, list[str], str]]:
    """(line, target file or None, names imported from it, module as written) of every import,
    also those inside functions."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            written = "." * node.level + (node.module or "")
            target = resolve(root, module.path, node.module, node.level)
            yield node.lineno, target, [a.name for a in node.names], written
            if target is not None and target.name == "__init__.py":
                # `from tests.tui import test_app`: each name may be a module of the package.
                for alias in node.names:
                    sub = target.parent / f"{alias.name}.py"
                    if sub.is_file():
                        yield node.lineno, sub, [], f"{written}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                target = resolve(root, module.path, alias.name, 0)
                yield node.lineno, target, [], alias.name


def layout_problems(root: Path) -> list[str]:
    """What breaks the layout under `root` (a tests/ directory), one line per problem."""
    modules = load(root)
    problems: list[str] = []
    for module in modules.values():
        where = module.path.relative_to(root.parent)
        if module.kind == "helper":
            for name, line in fixtures_of(module).items():
                problems.append(
                    f"{where}:{line}: fixture {name!r} defined in a helper module "
                    "(move it to the nearest common conftest.py)"
                )
        for line, target, names, written in imports(root, module):
            if target is None or target not in modules:
                continue
            imported = modules[target]
            if imported.kind in ("test", "conftest"):
                problems.append(
                    f"{where}:{line}: imports {imported.kind} module {written} "
                    "(move what it needs to a helper module)"
                )
            fixtures = fixtures_of(imported)
            for name in names:
                if name in fixtures:
                    problems.append(
                        f"{where}:{line}: imports fixture {name!r} from {written} "
                        "(pytest finds fixtures in conftest.py; do not import them)"
                    )
    return problems


def test_no_test_module_or_fixture_is_imported() -> None:
    problems = layout_problems(TESTS)
    assert not problems, "\n".join(problems)


def test_the_layout_check_sees_each_kind_of_problem(tmp_path: Path) -> None:
    root = tmp_path / "tests"
    (root / "tui").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "conftest.py": "import pytest\nCONSTANT = 1\n@pytest.fixture\ndef shared() -> int:\n"
        "    return 1\n",
        "tui/__init__.py": "",
        "tui/host.py": "import pytest\n@pytest.fixture(scope='module')\ndef server() -> None:\n"
        "    pass\n",
        "tui/test_a.py": "def helper() -> int:\n    return 1\n",
        "tui/test_b.py": "from tests.tui.test_a import helper\n"
        "from tests.conftest import CONSTANT\n"
        "from tests.tui.host import server\n"
        "def test_b() -> None:\n    from .test_a import helper\n",
        "tui/test_c.py": "from tests.tui import test_a\nimport tests.tui.test_a\n",
        "tui/test_d.py": "from tests.tui.host import server as _s\nimport pytest\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    problems = [problem.split(" (")[0] for problem in layout_problems(root)]
    assert problems == [
        "tests/tui/host.py:3: fixture 'server' defined in a helper module",
        "tests/tui/test_b.py:1: imports test module tests.tui.test_a",
        "tests/tui/test_b.py:2: imports conftest module tests.conftest",
        "tests/tui/test_b.py:3: imports fixture 'server' from tests.tui.host",
        "tests/tui/test_b.py:5: imports test module .test_a",
        "tests/tui/test_c.py:1: imports test module tests.tui.test_a",
        "tests/tui/test_c.py:2: imports test module tests.tui.test_a",
        "tests/tui/test_d.py:1: imports fixture 'server' from tests.tui.host",
    ]
