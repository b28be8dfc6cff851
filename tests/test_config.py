"""Saved configuration: paths, file modes, atomic writes, validation and precedence."""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowview import config
from flowview.config import (
    ConfigError,
    Settings,
    check_keymap,
    config_dir,
    forget_token,
    load_settings,
    load_settings_report,
    load_token,
    resolve_connection,
    save_settings,
    save_token,
)
from flowview.protocol.auth import Token
from flowview.protocol.urls import DEFAULT_API_URL, DEFAULT_STREAM_URL

SECRET = "f00dfacecafe1234567890abcdef0123"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# ---------------------------------------------------------------- paths


def test_config_dir_honours_env(isolated_config: Path) -> None:
    assert config_dir() == isolated_config


def test_config_dir_defaults_to_platformdirs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FLOWVIEW_CONFIG_DIR")
    # The autouse fixture points XDG_CONFIG_HOME into tmp_path, which platformdirs honours.
    import platformdirs

    assert config_dir() == platformdirs.user_config_path("flowview", appauthor=False)
    assert tmp_path in config_dir().parents


# ---------------------------------------------------------------- token files


def test_token_dir_0700_file_0600_with_permissive_umask(
    isolated_config: Path, permissive_umask: None
) -> None:
    path = save_token(Token(SECRET))
    assert path == isolated_config / "token"
    assert mode(isolated_config) == 0o700
    assert mode(path) == 0o600
    assert path.read_text() == SECRET + "\n"


def test_an_existing_directory_is_never_chmodded(isolated_config: Path) -> None:
    # Readable by others is the user's choice (the token file itself is 0600); flowview only
    # sets the mode of directories it creates.
    isolated_config.mkdir(mode=0o755)
    isolated_config.chmod(0o755)
    save_token(Token(SECRET))
    assert mode(isolated_config) == 0o755
    assert load_token() == Token(SECRET)


def test_replacing_a_loose_token_file_makes_it_0600(isolated_config: Path) -> None:
    isolated_config.mkdir(mode=0o700)
    old = isolated_config / "token"
    old.write_text("old-token\n")
    old.chmod(0o644)
    save_token(Token(SECRET))
    assert mode(old) == 0o600
    assert old.read_text() == SECRET + "\n"


def test_atomic_writes_leave_no_temp_files(isolated_config: Path) -> None:
    for i in range(3):
        save_token(Token(f"{SECRET}{i}"))
        save_settings(Settings(flows=[f"org/flow{i}"]))
    assert sorted(p.name for p in isolated_config.iterdir()) == ["settings.toml", "token"]


def test_failed_write_keeps_old_file_and_removes_temp(
    isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_token(Token("first-token"))

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(config.os, "fsync", broken_fsync)
    with pytest.raises(ConfigError, match="cannot write"):
        save_token(Token("second-token"))
    monkeypatch.undo()
    assert (isolated_config / "token").read_text() == "first-token\n"
    assert [p.name for p in isolated_config.iterdir()] == ["token"]


def test_save_token_does_not_follow_a_symlinked_temp_or_target(
    isolated_config: Path, tmp_path: Path
) -> None:
    isolated_config.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched")
    (isolated_config / "token").symlink_to(elsewhere)
    save_token(Token(SECRET))
    # os.replace swaps the link itself; the file it pointed at is not written through.
    assert elsewhere.read_text() == "untouched"
    assert not (isolated_config / "token").is_symlink()
    assert mode(isolated_config / "token") == 0o600


def test_token_round_trip_and_kind_from_settings(isolated_config: Path) -> None:
    assert load_token() is None
    save_settings(Settings(token_kind="oauth"))
    save_token(Token(SECRET, "oauth"))
    loaded = load_token()
    assert loaded == Token(SECRET, "oauth")
    assert load_token("personal") == Token(SECRET, "personal")


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o660])
def test_group_or_world_readable_token_is_refused(isolated_config: Path, loose: int) -> None:
    path = save_token(Token(SECRET))
    path.chmod(loose)
    with pytest.raises(ConfigError) as info:
        load_token()
    message = str(info.value)
    assert "chmod 600" in message
    assert str(path) in message
    assert SECRET not in message


def test_symlinked_token_is_refused(isolated_config: Path, tmp_path: Path) -> None:
    target = tmp_path / "real-token"
    target.write_text(SECRET)
    target.chmod(0o600)
    isolated_config.mkdir(mode=0o700)
    (isolated_config / "token").symlink_to(target)
    with pytest.raises(ConfigError, match="symbolic link"):
        load_token()


def test_garbage_token_file_error_never_shows_content(isolated_config: Path) -> None:
    isolated_config.mkdir(mode=0o700)
    path = isolated_config / "token"
    path.write_text(f"{SECRET} trailing words\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_token()
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_forget_token(isolated_config: Path) -> None:
    assert forget_token() is False
    save_token(Token(SECRET))
    assert forget_token() is True
    assert not (isolated_config / "token").exists()
    assert load_token() is None


# ---------------------------------------------------------------- settings


def test_no_settings_file_means_none() -> None:
    assert load_settings() is None


def test_settings_round_trip(isolated_config: Path) -> None:
    original = Settings(
        stream_url="http://127.0.0.1:9/stream",
        api_url="http://127.0.0.1:9/api",
        flows=["acme/main", "acme/ops"],
        private=False,
        content_type="json",
        token_kind="oauth",
        auto_idle_minutes=2.5,
        bell=True,
        notify_command=["notify-send", "flowview"],
        scrollback=500,
        keymap={"next_flow": "ctrl+n,alt+right"},
        me_id="42",
        me_nick="ann",
        theme="textual-light",
        notify=False,
        muted=("acme/noisy", "private:42"),
    )
    saved = save_settings(original)
    path = saved.path
    assert path == isolated_config / "settings.toml"
    assert saved.backup is None and saved.notice is None
    assert mode(path) == 0o600
    assert load_settings() == original


def test_defaults_and_none_fields_round_trip() -> None:
    save_settings(Settings())
    loaded = load_settings()
    assert loaded == Settings()
    assert loaded is not None
    assert (loaded.stream_url, loaded.api_url) == (DEFAULT_STREAM_URL, DEFAULT_API_URL)
    assert loaded.content_type == "sse" and loaded.private is True
    assert loaded.auto_idle_minutes == 10 and loaded.scrollback == 10_000


def test_unknown_keys_are_ignored(isolated_config: Path) -> None:
    isolated_config.mkdir()
    (isolated_config / "settings.toml").write_text(
        'flows = ["a/b"]\nfuture_option = 3\n[future_table]\nx = 1\n'
    )
    assert load_settings() == Settings(flows=["a/b"])


def test_integer_me_id_and_minutes_are_normalised(isolated_config: Path) -> None:
    isolated_config.mkdir()
    (isolated_config / "settings.toml").write_text("me_id = 7\nauto_idle_minutes = 3\n")
    loaded = load_settings()
    assert loaded is not None
    assert loaded.me_id == "7"
    assert isinstance(loaded.auto_idle_minutes, float) and loaded.auto_idle_minutes == 3.0


def test_corrupt_toml_names_the_file(isolated_config: Path) -> None:
    isolated_config.mkdir()
    path = isolated_config / "settings.toml"
    path.write_text("flows = [\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(path) in str(info.value)
    assert "not valid TOML" in str(info.value)
    assert info.value.path == path


def test_non_utf8_settings_is_a_config_error(isolated_config: Path) -> None:
    isolated_config.mkdir()
    (isolated_config / "settings.toml").write_bytes(b"flows = ['\xff']\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings()


def test_unreadable_settings_is_a_config_error(isolated_config: Path) -> None:
    isolated_config.mkdir()
    (isolated_config / "settings.toml").mkdir()
    with pytest.raises(ConfigError, match="directory"):
        load_settings()


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('stream_url = ""', "stream_url"),
        ("api_url = 3", "api_url"),
        ('token_kind = "basic"', "token_kind"),
    ],
)
def test_a_bad_url_or_token_kind_makes_the_file_unusable(
    isolated_config: Path, line: str, key: str
) -> None:
    # Falling back to a default here could send the token to the public hosts.
    isolated_config.mkdir(exist_ok=True)
    path = isolated_config / "settings.toml"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert str(path) in message
    assert f"'{key}'" in message


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('flows = "acme/main"', "flows"),
        ("flows = [1, 2]", "flows"),
        ('private = "yes"', "private"),
        ('content_type = "xml"', "content_type"),
        ("auto_idle_minutes = -1", "auto_idle_minutes"),
        ("auto_idle_minutes = true", "auto_idle_minutes"),
        ("auto_idle_minutes = nan", "auto_idle_minutes"),
        ("scrollback = 0", "scrollback"),
        ("scrollback = 1.5", "scrollback"),
        ('notify_command = "notify-send"', "notify_command"),
        ("notify_command = []", "notify_command"),
        ('keymap = "quit=q"', "keymap"),
        ("bell = 1", "bell"),
        ("theme = 7", "theme"),
        ('notify = "no"', "notify"),
        ('muted = "acme/noisy"', "muted"),
    ],
)
def test_a_bad_entry_is_reported_by_name_and_skipped(
    isolated_config: Path, line: str, key: str
) -> None:
    isolated_config.mkdir(exist_ok=True)
    path = isolated_config / "settings.toml"
    path.write_text(f'api_url = "http://127.0.0.1:9/api"\n{line}\nme_nick = "ann"\n')
    report = load_settings_report()
    assert report.settings == Settings(api_url="http://127.0.0.1:9/api", me_nick="ann")
    [problem] = report.problems
    assert str(path) in problem and f"'{key}'" in problem and "skipped" in problem


def test_one_keymap_mistake_is_skipped_and_everything_else_loads(isolated_config: Path) -> None:
    isolated_config.mkdir()
    path = isolated_config / "settings.toml"
    path.write_text(
        'stream_url = "http://127.0.0.1:9/stream"\n'
        'flows = ["acme/main"]\n'
        "[keymap]\n"
        'next_flow = "ctrl+n"\n'
        'app.quit = "ctrl+q"\n'  # TOML: a nested table {"app": {"quit": ...}}
        "help = 1\n"
        'mark_read = "  "\n'
        'prev_flow = "ctrl+p"\n'
    )
    report = load_settings_report()
    assert report.settings is not None
    assert report.settings.stream_url == "http://127.0.0.1:9/stream"
    assert report.settings.flows == ["acme/main"]
    assert report.settings.keymap == {"next_flow": "ctrl+n", "prev_flow": "ctrl+p"}
    problems = "\n".join(report.problems)
    assert len(report.problems) == 3
    assert "'app'" in problems and "app.quit" in problems and "quoted" in problems
    assert "'help'" in problems and "an integer" in problems
    assert "'mark_read'" in problems
    # load_settings keeps working for callers that only want the settings.
    assert load_settings() == report.settings


def test_unknown_binding_ids_are_reported(isolated_config: Path) -> None:
    isolated_config.mkdir()
    (isolated_config / "settings.toml").write_text(
        '[keymap]\nnext_flow = "ctrl+n"\nnext_flwo = "ctrl+m"\n'
    )
    report = load_settings_report(known_bindings={"next_flow", "quit"})
    assert report.settings is not None
    assert report.settings.keymap == {"next_flow": "ctrl+n", "next_flwo": "ctrl+m"}
    [problem] = report.problems
    assert "'next_flwo'" in problem and "not a binding id" in problem
    assert check_keymap({"quit": "q", "nope": "x"}, ["quit"]) == [
        "keymap entry 'nope' is not a binding id (see the help screen, F1); ignored"
    ]


def test_saved_toml_is_plain_and_readable(isolated_config: Path) -> None:
    save_settings(Settings(flows=["acme/main"], notify_command=None))
    data = tomllib.loads((isolated_config / "settings.toml").read_text())
    assert data["flows"] == ["acme/main"]
    assert "notify_command" not in data and "me_id" not in data


# ---------------------------------------------------------------- precedence


def test_resolve_defaults_to_public_hosts_without_anything() -> None:
    assert resolve_connection() == (None, DEFAULT_STREAM_URL, DEFAULT_API_URL)


def test_resolve_uses_saved_configuration() -> None:
    save_settings(Settings(stream_url="http://saved/stream", api_url="http://saved/api"))
    save_token(Token("saved-token"))
    assert resolve_connection() == (
        Token("saved-token"),
        "http://saved/stream",
        "http://saved/api",
    )


def test_resolve_env_beats_saved(monkeypatch: pytest.MonkeyPatch) -> None:
    save_settings(Settings(stream_url="http://saved/stream", api_url="http://saved/api"))
    save_token(Token("saved-token"))
    monkeypatch.setenv("FLOWDOCK_TOKEN", "env-token\n")
    monkeypatch.setenv("FLOWDOCK_STREAM_URL", "http://env/stream")
    monkeypatch.setenv("FLOWDOCK_API_URL", "http://env/api")
    assert resolve_connection() == (Token("env-token"), "http://env/stream", "http://env/api")


def test_resolve_flags_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDOCK_TOKEN", "env-token")
    monkeypatch.setenv("FLOWDOCK_STREAM_URL", "http://env/stream")
    monkeypatch.setenv("FLOWDOCK_API_URL", "http://env/api")
    assert resolve_connection("flag-token", "http://flag/stream", "http://flag/api") == (
        Token("flag-token"),
        "http://flag/stream",
        "http://flag/api",
    )


def test_resolve_mixes_sources_per_value(monkeypatch: pytest.MonkeyPatch) -> None:
    save_settings(Settings(stream_url="http://saved/stream", api_url="http://saved/api"))
    monkeypatch.setenv("FLOWDOCK_API_URL", "http://env/api")
    token, stream, api = resolve_connection(args_token=Token("t", "oauth"))
    assert token == Token("t", "oauth")
    assert (stream, api) == ("http://saved/stream", "http://env/api")


def test_resolve_env_token_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDOCK_TOKEN", "env-token")
    monkeypatch.setenv("FLOWDOCK_TOKEN_KIND", "oauth")
    assert resolve_connection()[0] == Token("env-token", "oauth")
    monkeypatch.setenv("FLOWDOCK_TOKEN_KIND", "password")
    with pytest.raises(ConfigError, match="FLOWDOCK_TOKEN_KIND"):
        resolve_connection()


def test_resolve_does_not_read_broken_settings_when_not_needed(
    isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_config.mkdir()
    (isolated_config / "settings.toml").write_text("this is not toml")
    monkeypatch.setenv("FLOWDOCK_TOKEN", "env-token")
    assert resolve_connection(None, "http://a/stream", "http://a/api")[0] == Token("env-token")
    with pytest.raises(ConfigError, match=r"settings\.toml"):
        resolve_connection(None, None, "http://a/api")


def test_bad_env_token_error_hides_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDOCK_TOKEN", f"{SECRET} {SECRET}")
    with pytest.raises(ConfigError) as info:
        resolve_connection()
    assert "FLOWDOCK_TOKEN" in str(info.value)
    assert SECRET not in str(info.value)


# ---------------------------------------------------------------- secrecy


def test_token_never_in_repr_str_or_errors(isolated_config: Path) -> None:
    token = Token(SECRET)
    save_settings(Settings())
    save_token(token)
    token_file = isolated_config / "token"
    loaded = load_token()
    assert loaded is not None and loaded.value == SECRET
    resolved = resolve_connection()
    for text in (repr(loaded), str(loaded), repr(resolved), str(resolved), repr(load_settings())):
        assert SECRET not in text
    token_file.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        load_token()
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    # Nothing but the token file holds it.
    assert SECRET not in (isolated_config / "settings.toml").read_text()
