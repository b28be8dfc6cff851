"""What may reach a terminal from untrusted text, written from Unicode's own tables (test
helper for `flowview tail`'s output tests)."""

from __future__ import annotations

# Default_Ignorable_Code_Point, as the test suite writes it out from DerivedCoreProperties.txt
# (independent of flowview's tables and of tail's screen for them).
from tests.model.unicode_tables_gen import DEFAULT_IGNORABLE


def invisible(code: int) -> bool:
    return any(low <= code <= high for low, high in DEFAULT_IGNORABLE)


def shows_safely(text: str) -> bool:
    """What may reach a terminal: printable (no Cc, Cf, Cs, Co, Cn, Zl, Zp, nor a Zs other
    than the ASCII space) and visible."""
    return text.isprintable() and not any(invisible(ord(ch)) for ch in text)
