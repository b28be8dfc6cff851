"""What may reach a terminal from untrusted text, written from Unicode's own tables (test
helper for `flowview tail`'s output tests)."""

from __future__ import annotations

# Default_Ignorable_Code_Point (Unicode 15, DerivedCoreProperties.txt): rendered as nothing.
# Written out here, independently of tail's screen for them.
DEFAULT_IGNORABLE = (
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


def invisible(code: int) -> bool:
    return any(low <= code <= high for low, high in DEFAULT_IGNORABLE)


def shows_safely(text: str) -> bool:
    """What may reach a terminal: printable (no Cc, Cf, Cs, Co, Cn, Zl, Zp, nor a Zs other
    than the ASCII space) and visible."""
    return text.isprintable() and not any(invisible(ord(ch)) for ch in text)
