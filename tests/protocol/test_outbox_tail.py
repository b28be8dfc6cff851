"""`flowview tail` never sends: it loads no outbox and calls no REST method that writes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import flowview.tail

WRITES = {
    "post_message",
    "post_comment",
    "post_private_message",
    "edit_message",
    "edit_private_message",
    "delete_message",
    "delete_private_message",
    "react",
    "submit",
}


def test_tail_loads_neither_the_sender_nor_the_outbox() -> None:
    code = (
        "import sys, flowview.tail, flowview.cli\n"
        "print(sorted(m for m in sys.modules if m.endswith(('.sender', '.outbox_store'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tail_calls_no_writing_rest_method() -> None:
    tree = ast.parse(Path(flowview.tail.__file__).read_text(encoding="utf-8"))
    called = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not called & WRITES
