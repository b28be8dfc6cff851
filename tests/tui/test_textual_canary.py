"""Canary: the private Textual APIs the viewer still relies on (issue 9 §6).

Each of these has no public equivalent in Textual 8.2.8.  If an upgrade renames or changes
one, this test fails loudly here instead of the viewer misbehaving quietly:

- ``Tab._label`` (screens/main.py ``update_label``): a same-width label change repaints one
  tab (``Static.update(..., layout=False)``); the public ``Tab.label`` setter lays the whole
  screen out again (10-20 ms a change).  ``Tab.label`` must keep reading ``_label``.
- ``Footer._bindings_ready`` (screens/main.py ``FlowFooter``): skip the footer's rebuild when
  the shown bindings did not change (a rebuild costs ~0.13 s a tab switch).
- ``FooterKey`` (textual.widgets._footer) and its ``key_display``/``description``/``action``
  (screens/main.py ``FlowFooter.fit_keys``): hide the least needed keys when narrow.
- ``App._handle_exception`` / ``App._fatal_error`` / ``App._exit_renderables`` /
  ``App._close_messages_no_wait`` (crash_actions.py): a fatal error is rendered without local
  variables and redacted of tokens (Textual's own rendering shows locals).
- ``textual._styles_cache.StylesCache.get_inner_outer`` (tui/textual_caches.py): an
  ``lru_cache`` on a method, so it pins removed widgets' styles caches; emptied when an overlay
  screen closes and before each complete collection.
- ``Strip``'s memo attributes (``_crop_cache``, ``_crop_extend_cache`` and the others in
  tui/widgets/row_cache.py ``STRIP_CACHES``): a strip memoises itself (a cycle), so the log's
  row cache empties them as a row leaves it.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from textual.app import App
from textual.widgets import Footer, Tab


def test_textual_is_the_pinned_version() -> None:
    assert version("textual") == "8.2.8", "re-check every private API listed in this module"


def test_tab_label_reads_the_private_label() -> None:
    tab = Tab("one")
    assert hasattr(tab, "_label")
    tab._label = tab._label  # the attribute is assignable
    source = inspect.getsource(Tab.label.fget)  # type: ignore[attr-defined]
    assert "self._label" in source


def test_footer_has_bindings_ready() -> None:
    assert "_bindings_ready" in inspect.getsource(Footer)


def test_app_fatal_error_hooks_exist_with_the_expected_shape() -> None:
    handle = inspect.signature(App._handle_exception)
    assert list(handle.parameters) == ["self", "error"]
    assert list(inspect.signature(App._fatal_error).parameters) == ["self"]
    assert "_fatal_error" in inspect.getsource(App._handle_exception)
    assert callable(App._close_messages_no_wait)
    assert "_exit_renderables" in inspect.getsource(App.__init__)
    # Textual's own rendering shows locals: the reason crash_actions.py overrides _fatal_error.
    assert "show_locals=True" in inspect.getsource(App._fatal_error)


def test_footer_key_keeps_its_public_looking_attributes() -> None:
    # screens/main.py FlowFooter.fit_keys reads these (set in FooterKey.__init__).
    from textual.widgets._footer import FooterKey

    key = FooterKey("f2", "f2", "presence", "app.toggle_presence")
    assert (key.key_display, key.description, key.action) == (
        "f2",
        "presence",
        "app.toggle_presence",
    )


def test_styles_cache_memo_is_an_lru_cache_on_the_method() -> None:
    # tui/textual_caches.py empties it: its key holds widget instances' styles caches.
    from textual._styles_cache import StylesCache

    memo = StylesCache.get_inner_outer
    assert callable(memo.cache_clear) and callable(memo.cache_info)
    assert "lru_cache" in inspect.getsource(StylesCache)


def test_strip_memo_caches_are_the_ones_the_row_cache_empties() -> None:
    from rich.segment import Segment
    from textual.cache import FIFOCache
    from textual.strip import Strip

    from flowview.tui.widgets.row_cache import STRIP_CACHES

    strip = Strip([Segment("row")], 3)
    for name in STRIP_CACHES:
        assert isinstance(getattr(strip, name), FIFOCache), name
    memo = {name for name in Strip.__slots__ if name.endswith("_cache")} - {"_render_cache"}
    assert memo == set(STRIP_CACHES)  # a new memo would escape let_go
    assert strip.crop_extend(0, 3, None) is strip
    assert strip in [strip._crop_extend_cache.get(k) for k in strip._crop_extend_cache.keys()]  # noqa: SIM118
