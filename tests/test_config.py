"""Saved configuration: paths, file modes, atomic writes, validation and precedence."""

from __future__ import annotations

import asyncio
import os
import stat
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowview import config
from flowview.config import (
    ConfigError,
    EnvConnection,
    Settings,
    check_keymap,
    config_dir,
    env_connection,
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

    monkeypatch.setattr(os, "fsync", broken_fsync)
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


# ---------------------------------------------------------------- trust (ssh's StrictModes)

OTHER_UID = 4242


@pytest.fixture
def make_foreign(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make a path belong to another user: really (chown) when root, else by changing who
    flowview thinks the user is."""

    def foreign(path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, OTHER_UID, OTHER_UID, follow_symlinks=False)
        else:
            real = os.getuid()
            monkeypatch.setattr(os, "getuid", lambda: real + 1)

    return foreign


def test_a_directory_of_another_user_is_refused(
    isolated_config: Path, make_foreign: Callable[[Path], None]
) -> None:
    save_settings(Settings(stream_url="http://127.0.0.1:9/stream"))
    save_token(Token(SECRET))
    make_foreign(isolated_config)
    for call in (load_settings, load_token, lambda: save_settings(Settings())):
        with pytest.raises(ConfigError) as info:
            call()
        assert "another user" in str(info.value) and str(isolated_config) in str(info.value)
    with pytest.raises(ConfigError, match="another user"):
        save_token(Token(SECRET))


def test_a_settings_file_of_another_user_is_refused(
    isolated_config: Path, make_foreign: Callable[[Path], None]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give one file to another user")
    path = save_settings(Settings(notify_command=["touch", "/tmp/pwned"])).path
    make_foreign(path)
    with pytest.raises(ConfigError, match="another user"):
        load_settings()
    token_file = save_token(Token(SECRET))
    make_foreign(token_file)
    with pytest.raises(ConfigError, match="another user"):
        load_token()


@pytest.mark.parametrize("loose", [0o662, 0o646, 0o666])
def test_a_settings_file_others_can_change_is_refused(isolated_config: Path, loose: int) -> None:
    path = save_settings(Settings()).path
    path.chmod(loose)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert f"chmod go-w {path}" in str(info.value)


def test_a_world_writable_config_dir_is_refused_not_chmodded(
    isolated_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.setenv("FLOWVIEW_CONFIG_DIR", str(shared))
    assert config_dir() == shared
    for call in (lambda: save_settings(Settings()), lambda: save_token(Token(SECRET))):
        with pytest.raises(ConfigError) as info:
            call()
        assert f"chmod go-w {shared}" in str(info.value)
    with pytest.raises(ConfigError, match="other users can change"):
        load_settings()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert list(shared.iterdir()) == []


def test_created_directories_are_0700_even_nested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, permissive_umask: None
) -> None:
    nested = tmp_path / "a" / "b" / "flowview"
    monkeypatch.setenv("FLOWVIEW_CONFIG_DIR", str(nested))
    save_settings(Settings())
    for directory in (nested, nested.parent, nested.parent.parent):
        assert mode(directory) == 0o700


def test_a_symlinked_settings_file_of_the_user_is_followed(
    isolated_config: Path, tmp_path: Path
) -> None:
    # Dotfile managers link settings in; what the link points at is what gets checked.
    target = tmp_path / "dotfiles-settings.toml"
    target.write_text('flows = ["acme/main"]\n')
    isolated_config.mkdir(mode=0o700)
    (isolated_config / "settings.toml").symlink_to(target)
    assert load_settings() == Settings(flows=["acme/main"])
    target.chmod(0o666)
    with pytest.raises(ConfigError, match="chmod go-w"):
        load_settings()


# ---------------------------------------------------------------- never overwrite silently


def test_saving_over_a_corrupt_file_keeps_it_and_says_so(isolated_config: Path) -> None:
    isolated_config.mkdir()
    path = isolated_config / "settings.toml"
    corrupt = 'notify_command = ["notify-send"]\nbell = true\n[keymap\nquit = "q"\n'
    path.write_text(corrupt)
    with pytest.raises(ConfigError):
        load_settings()
    saved = save_settings(Settings(flows=["acme/main"]))
    assert saved.backup is not None
    assert saved.backup.parent == isolated_config
    assert saved.backup.name.startswith("settings.toml.bad-")
    assert saved.backup.read_text() == corrupt
    assert saved.notice is not None
    assert str(saved.backup) in saved.notice and "not valid TOML" in saved.notice
    assert load_settings() == Settings(flows=["acme/main"])
    # The next save has nothing to keep aside.
    again = save_settings(Settings())
    assert again.backup is None and again.notice is None
    assert len(list(isolated_config.glob("settings.toml.bad-*"))) == 1


def test_saving_over_a_file_with_skipped_entries_keeps_it(isolated_config: Path) -> None:
    isolated_config.mkdir()
    path = isolated_config / "settings.toml"
    path.write_text('[keymap]\napp.quit = "ctrl+q"\nnext_flow = "ctrl+n"\n')
    loaded = load_settings()
    assert loaded is not None
    saved = save_settings(loaded)
    assert saved.backup is not None and "app.quit" in saved.backup.read_text()
    assert saved.notice is not None and "'app'" in saved.notice


def test_a_clean_file_is_replaced_without_backup(isolated_config: Path) -> None:
    save_settings(Settings(flows=["a/b"]))
    saved = save_settings(Settings(flows=["c/d"]))
    assert saved.backup is None
    assert sorted(p.name for p in isolated_config.iterdir()) == ["settings.toml"]


async def test_concurrent_saves_from_worker_threads(
    isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_config.mkdir()
    (isolated_config / "settings.toml").write_text("[[[ not toml")
    # Widen the window between "look at the old file" and "write the new one", and count how
    # many threads are inside it at once: saves must be serialised.
    inside: list[int] = [0, 0]  # now, most ever
    real_write = config._write_atomic

    def slow_write(path: Path, data: bytes, mode: int = 0o600) -> None:
        inside[0] += 1
        inside[1] = max(inside)
        time.sleep(0.01)
        real_write(path, data, mode)
        inside[0] -= 1

    monkeypatch.setattr(config, "_write_atomic", slow_write)
    results = await asyncio.gather(
        *(asyncio.to_thread(save_settings, Settings(flows=[f"org/f{i}"])) for i in range(8)),
        asyncio.to_thread(save_token, Token(SECRET)),
    )
    backups = [r.backup for r in results if isinstance(r, config.SavedSettings) and r.backup]
    assert len(backups) == 1 and backups[0].read_text() == "[[[ not toml"
    loaded = load_settings()
    assert loaded is not None and loaded.flows[0].startswith("org/f")
    names = sorted(p.name for p in isolated_config.iterdir())
    assert names == sorted(["settings.toml", "token", backups[0].name])
    assert inside[1] == 1


# ---------------------------------------------------------------- environment on first run


def test_env_connection_pre_fills_first_run(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_connection() == EnvConnection()
    assert not env_connection().complete
    monkeypatch.setenv("FLOWDOCK_TOKEN", SECRET)
    monkeypatch.setenv("FLOWDOCK_STREAM_URL", " http://127.0.0.1:9/stream ")
    monkeypatch.setenv("FLOWDOCK_API_URL", "http://127.0.0.1:9/api")
    env = env_connection()
    assert env.token == Token(SECRET)
    assert (env.stream_url, env.api_url) == ("http://127.0.0.1:9/stream", "http://127.0.0.1:9/api")
    assert env.complete and env.problem is None
    assert SECRET not in repr(env)
    assert load_settings() is None  # first run: nothing read from or written to disk


def test_env_connection_reports_a_bad_token_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWDOCK_TOKEN", f"{SECRET} {SECRET}")
    monkeypatch.setenv("FLOWDOCK_API_URL", "http://127.0.0.1:9/api")
    env = env_connection()
    assert env.token is None and env.api_url == "http://127.0.0.1:9/api"
    assert env.problem is not None and "FLOWDOCK_TOKEN" in env.problem
    assert SECRET not in env.problem and SECRET not in repr(env)
    monkeypatch.setenv("FLOWDOCK_TOKEN", SECRET)
    monkeypatch.setenv("FLOWDOCK_TOKEN_KIND", "password")
    assert "FLOWDOCK_TOKEN_KIND" in (env_connection().problem or "")
