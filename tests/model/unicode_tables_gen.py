"""Generate flowview/model/unicode_tables.py from the running Python's unicodedata.

Run ``uv run python tests/model/unicode_tables_gen.py > flowview/model/unicode_tables.py``
after a Python upgrade; test_sanitize checks the committed table still matches.
"""

from __future__ import annotations

import unicodedata

# DerivedCoreProperties.txt, Default_Ignorable_Code_Point (stable since Unicode 5.x; the
# unicodedata module does not expose this property).
DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def ranges(pred: object) -> list[tuple[int, int]]:
    assert callable(pred)
    out: list[tuple[int, int]] = []
    for cp in range(0x110000):
        if pred(cp):
            if out and out[-1][1] == cp - 1:
                out[-1] = (out[-1][0], cp)
            else:
                out.append((cp, cp))
    return out


def category_ranges(*categories: str) -> list[tuple[int, int]]:
    return ranges(lambda cp: unicodedata.category(chr(cp)) in categories)


def render() -> str:
    def fmt(name: str, rs: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> str:
        body = "".join(f"    (0x{a:04X}, 0x{b:04X}),\n" for a, b in rs)
        return f"{name}: Final[tuple[tuple[int, int], ...]] = (\n{body})\n"

    return (
        '"""Code point ranges the sanitiser needs (generated; do not edit).\n\n'
        "Regenerate with\n``uv run python tests/model/unicode_tables_gen.py"
        " > flowview/model/unicode_tables.py``.\n"
        "Computing them at import time from unicodedata would cost ~0.25 s of start-up.\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        "from typing import Final\n\n"
        f'UNICODE_VERSION: Final = "{unicodedata.unidata_version}"\n\n'
        "# General categories Mn (nonspacing mark) and Me (enclosing mark).\n"
        + fmt("COMBINING_MARKS", category_ranges("Mn", "Me"))
        + "\n# General category Cf (format).\n"
        + fmt("FORMAT_CHARS", category_ranges("Cf"))
        + "\n# Default_Ignorable_Code_Point (DerivedCoreProperties.txt).\n"
        + fmt("DEFAULT_IGNORABLE", DEFAULT_IGNORABLE)
    )


if __name__ == "__main__":
    print(render(), end="")
