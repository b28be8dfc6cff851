"""Saved configuration: settings as TOML and the token in its own 0600 file.

Both live in one directory, `platformdirs.user_config_path("flowview")` unless the environment
variable FLOWVIEW_CONFIG_DIR names another one (tests, `flowview demo`'s throwaway profile).
A directory flowview creates is made at mode 0700 and every file is written atomically (temp
file created with O_EXCL|O_NOFOLLOW at mode 0600, fsync, rename), so neither umask, a
pre-existing file nor a crash half way can leave a readable or truncated token behind.

Like ssh, flowview trusts only what the user alone controls: a configuration directory, settings
file or token file owned by another user or writable by group or others is refused with a
message (its settings could send the token to another host and run a notify command as the
user).  An existing directory is never chmodded: only the user can decide to tighten it.

A settings file that does not load cleanly is never overwritten silently: saving first keeps
it as ``settings.toml.bad-<UTC time>`` and says so (`SavedSettings.notice`).  One bad entry
(a keymap line, a wrong type) is reported by name and skipped; only a bad URL or token kind,
which could send the token to the wrong place, makes the whole file unusable.

Everything here is plain blocking file I/O with no event loop state: the app runs saves in a
worker thread, and concurrent saves are serialised by a lock.

The token file holds the token value alone; its kind (personal/oauth) is in settings.toml.
No message, repr or exception produced here ever contains the token.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import secrets
import stat
import threading
import time
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast, get_args

import platformdirs
import tomli_w

from flowview.protocol.auth import Token, TokenKind
from flowview.protocol.defaults import DEFAULT_API_URL, DEFAULT_STREAM_URL

log = logging.getLogger(__name__)

__all__ = [
    "CONFIG_DIR_ENV",
    "ENV_API_URL",
    "ENV_STREAM_URL",
    "ENV_TOKEN",
    "ENV_TOKEN_KIND",
    "ConfigError",
    "ContentType",
    "EnvConnection",
    "SavedSettings",
    "Settings",
    "SettingsLoad",
    "check_config_dir",
    "check_keymap",
    "config_dir",
    "ensure_config_dir",
    "env_connection",
    "forget_token",
    "load_settings",
    "load_settings_report",
    "load_token",
    "resolve_connection",
    "save_settings",
    "save_token",
    "settings_path",
    "token_path",
]

CONFIG_DIR_ENV = "FLOWVIEW_CONFIG_DIR"
ENV_TOKEN = "FLOWDOCK_TOKEN"
ENV_TOKEN_KIND = "FLOWDOCK_TOKEN_KIND"
ENV_STREAM_URL = "FLOWDOCK_STREAM_URL"
ENV_API_URL = "FLOWDOCK_API_URL"

SETTINGS_FILE = "settings.toml"
TOKEN_FILE = "token"

ContentType = Literal["sse", "json"]

_DIR_MODE = 0o700
_FILE_MODE = 0o600


class ConfigError(Exception):
    """A configuration problem worth one clear line to the user (never a traceback)."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message


@dataclass
class Settings:
    """Everything flowview remembers between runs, except the token."""

    stream_url: str = DEFAULT_STREAM_URL
    api_url: str = DEFAULT_API_URL
    flows: list[str] = field(default_factory=list)  # "org/flow" slugs
    private: bool = True
    content_type: ContentType = "sse"
    token_kind: TokenKind = "personal"
    auto_idle_minutes: float = 10
    bell: bool = False
    # argv of a desktop notification command; run without a shell, text passed as arguments.
    notify_command: list[str] | None = None
    scrollback: int = 10_000
    # Messages held in memory across every conversation (the archive keeps the rest): once
    # over it, conversations not shown keep only their newest lines (see model/budget.py).
    # 15,000: the whole app costs 1.2-2.6 KB per message held (store, view, allocator); a
    # compressed day of scrolling over a 1M archive peaked at 141 MB with it, 145-149 MB with
    # 20,000 (bench_archive_app.py --day, 2026-12-04); the shown tab's whole scrollback
    # (10,000) still fits.
    memory_messages: int = 15_000
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys
    me_id: str | None = None
    me_nick: str | None = None
    theme: str | None = None  # Textual theme name; None: the app's default
    notify: bool = True  # desktop/bell notifications at all
    # Conversations that never notify, as Router.mute_name gives them: flow slugs ("org/flow")
    # and "private:<user id>" for private conversations.
    muted: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- paths


def config_dir() -> Path:
    """The configuration directory (not created)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path("flowview", appauthor=False)


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def token_path() -> Path:
    return config_dir() / TOKEN_FILE


def _uid() -> int | None:
    getuid = getattr(os, "getuid", None)  # POSIX only
    return getuid() if getuid is not None else None


def _check_trusted(
    path: Path, st: os.stat_result, what: str, forbidden: int = 0o022, fix: str = "go-w"
) -> None:
    """Refuse (ConfigError) what another user owns or can change, as ssh's StrictModes does."""
    uid = _uid()
    if uid is None:
        return
    if st.st_uid != uid:
        raise ConfigError(
            f"refusing to use {path}: the {what} belongs to another user (uid {st.st_uid}); "
            f"flowview only uses configuration you own",
            path,
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & forbidden:
        can = "read or change" if forbidden & 0o044 else "change"
        raise ConfigError(
            f"refusing to use {path}: other users can {can} the {what} (mode {mode:o}); "
            f"run: chmod {fix} {path}",
            path,
        )


def check_config_dir() -> Path | None:
    """The configuration directory if it exists and is trusted; None if it does not exist.

    Raises ConfigError when it is not a directory, belongs to another user or can be written
    by group or others (FLOWVIEW_CONFIG_DIR=/tmp, say).
    """
    directory = config_dir()
    try:
        st = directory.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot use {directory}: {exc.strerror}", directory) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{directory} exists and is not a directory", directory)
    _check_trusted(directory, st, "configuration directory")
    return directory


def _make_dirs(directory: Path) -> None:
    """Create `directory` and missing parents at 0700 (only these are ours to set modes on)."""
    missing: list[Path] = []
    for path in (directory, *directory.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir(mode=_DIR_MODE)
        except FileExistsError:
            continue  # created meanwhile by someone else: checked below, never chmodded
        # mkdir's mode is filtered by the umask, which can only remove bits: 0700 or tighter.
        log.info("created configuration directory %s", path)


def ensure_config_dir() -> Path:
    """The configuration directory, created at 0700 if missing, checked if it exists.

    An existing directory is never chmodded (FLOWVIEW_CONFIG_DIR may name a shared one): if
    it is not the user's alone, ConfigError says so and what to do.
    """
    directory = config_dir()
    try:
        _make_dirs(directory)
    except OSError as exc:
        raise ConfigError(
            f"cannot create configuration directory {directory}: {exc.strerror}", directory
        ) from exc
    checked = check_config_dir()
    if checked is None:
        raise ConfigError(f"configuration directory {directory} vanished", directory)
    return checked


def _write_atomic(path: Path, data: bytes, mode: int = _FILE_MODE) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never a mix."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, mode)
    try:
        try:
            # An unusual umask could have removed bits we need (or a 0 umask left none out).
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, hence best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- settings


def _describe(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_keys(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


# key -> (check, what the key must be).  Coercions after the check are done in _coerce.
_FIELD_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "stream_url": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
    "api_url": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
    "flows": (_is_str_list, "an array of strings"),
    "private": (lambda v: isinstance(v, bool), "true or false"),
    "content_type": (lambda v: v in get_args(ContentType), '"sse" or "json"'),
    "token_kind": (lambda v: v in get_args(TokenKind), '"personal" or "oauth"'),
    "auto_idle_minutes": (lambda v: _is_number(v) and v >= 0, "a number of minutes >= 0"),
    "bell": (lambda v: isinstance(v, bool), "true or false"),
    "notify_command": (
        lambda v: _is_str_list(v) and len(v) > 0,
        "a non-empty array of strings (a command and its arguments)",
    ),
    "scrollback": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        "a positive integer",
    ),
    "memory_messages": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1000,
        "an integer >= 1000",
    ),
    # Entries are checked one by one in _keymap_entries; this is the table itself.
    "keymap": (lambda v: isinstance(v, dict), "a table of binding id = keys strings"),
    "me_id": (lambda v: isinstance(v, str | int) and not isinstance(v, bool), "a string"),
    "me_nick": (lambda v: isinstance(v, str), "a string"),
    "theme": (lambda v: isinstance(v, str) and bool(v.strip()), "a theme name"),
    "notify": (lambda v: isinstance(v, bool), "true or false"),
    "muted": (_is_str_list, "an array of strings"),
}
assert set(_FIELD_RULES) == {f.name for f in fields(Settings)}

# A wrong value here could send the token to another host or authenticate wrongly: the file
# is unusable.  Any other bad entry is reported and skipped (its default is used).
_FATAL_KEYS: frozenset[str] = frozenset({"stream_url", "api_url", "token_kind"})


def _coerce(key: str, value: Any) -> Any:
    if key == "me_id":
        return str(value)
    if key == "auto_idle_minutes":
        return float(value)
    if key in ("stream_url", "api_url", "theme"):
        return value.strip()
    if key in ("flows", "notify_command"):
        return list(value)
    if key == "muted":
        return tuple(value)
    return value


def _keymap_entries(table: dict[str, Any], where: str) -> tuple[dict[str, str], list[str]]:
    """The usable entries of a [keymap] table, and one message per skipped entry."""
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in table.items():
        if isinstance(keys, dict):
            # `app.quit = "q"` is TOML for a nested table {"app": {"quit": "q"}}.
            inner = ", ".join(f"{binding_id}.{k}" for k in keys)
            problems.append(
                f"{where}keymap entry '{binding_id}' is a table ({inner}): a binding id with "
                f'a dot must be quoted, as in "{binding_id}.…" = "keys"; skipped'
            )
        elif not _is_keys(keys):
            problems.append(
                f"{where}keymap entry '{binding_id}' must be a string of keys such as "
                f'"ctrl+n,alt+right", not {_describe(keys)}; skipped'
            )
        else:
            keymap[binding_id] = keys.strip()
    return keymap, problems


def check_keymap(keymap: Mapping[str, str], known_ids: Collection[str]) -> list[str]:
    """One message per binding id in `keymap` that is not in `known_ids`.

    The binding registry belongs to the app (its Binding ids); it passes them here, or to
    `load_settings_report`, so a misspelt id is reported instead of silently ignored.
    """
    known = set(known_ids)
    return [
        f"keymap entry '{binding_id}' is not a binding id (see the help screen, F1); ignored"
        for binding_id in keymap
        if binding_id not in known
    ]


@dataclass(frozen=True)
class SettingsLoad:
    """What loading found: the settings (None: no file yet) and one line per skipped entry."""

    settings: Settings | None
    problems: tuple[str, ...] = ()


def _settings_and_problems(
    data: Mapping[str, Any], path: Path | None
) -> tuple[Settings, list[str]]:
    where = f"{path}: " if path is not None else ""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, (check, expected) in _FIELD_RULES.items():
        if key not in data:
            continue
        value = data[key]
        if not check(value):
            message = f"{where}setting '{key}' must be {expected}, not {_describe(value)}"
            if key in _FATAL_KEYS:
                raise ConfigError(message, path)
            problems.append(f"{message}; skipped")
            continue
        if key == "keymap":
            value, keymap_problems = _keymap_entries(value, where)
            problems.extend(keymap_problems)
        values[key] = _coerce(key, value)
    return Settings(**values), problems


def settings_from_mapping(data: Mapping[str, Any], path: Path | None = None) -> Settings:
    """Build Settings from parsed TOML; unknown keys are ignored, a bad entry is skipped
    (logged; `load_settings_report` returns the messages) and a bad URL or token kind raises
    ConfigError."""
    settings, problems = _settings_and_problems(data, path)
    for problem in problems:
        log.warning("%s", problem)
    return settings


def settings_to_mapping(settings: Settings) -> dict[str, Any]:
    """The TOML document for `settings` (None values are left out: TOML has no null)."""
    out: dict[str, Any] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        out[f.name] = value
    return out


def _read_trusted(path: Path, what: str, limit: int = 1 << 20) -> bytes | None:
    """The bytes of `path` (None if missing) after checking who owns and can change it.

    The checks are made on the opened file (fstat), so the file cannot be swapped between
    the check and the read.  Symbolic links are followed: dotfile managers use them, and the
    target is what gets checked.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise ConfigError(f"{path} is a directory, not a {what}", path) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path) from exc
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"{path} is a directory, not a {what}", path)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path} is not a regular file", path)
        _check_trusted(path, st, what)
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ConfigError(f"{path} is too large to be a {what}", path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path) from exc
    finally:
        os.close(fd)
    return b"".join(chunks)


def load_settings_report(known_bindings: Collection[str] | None = None) -> SettingsLoad:
    """The saved settings with one message per entry that was skipped.

    Raises ConfigError when the file cannot be used at all: unreadable, not UTF-8 or TOML,
    a bad URL or token kind, or a file or directory someone else controls.  Pass the app's
    binding ids as `known_bindings` to have unknown keymap entries reported too.
    """
    if check_config_dir() is None:
        return SettingsLoad(None)
    path = settings_path()
    raw = _read_trusted(path, "settings file")
    if raw is None:
        return SettingsLoad(None)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not valid UTF-8 text", path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", path) from exc
    settings, problems = _settings_and_problems(data, path)
    if known_bindings is not None:
        problems.extend(f"{path}: {p}" for p in check_keymap(settings.keymap, known_bindings))
    for problem in problems:
        log.warning("%s", problem)
    return SettingsLoad(settings, tuple(problems))


def load_settings() -> Settings | None:
    """The saved settings, or None when there are none yet (skipped entries are logged)."""
    return load_settings_report().settings


@dataclass(frozen=True)
class SavedSettings:
    """Where settings were saved, and where the previous file went if it did not load cleanly."""

    path: Path
    backup: Path | None = None
    problem: str | None = None  # why the previous file was kept aside

    @property
    def notice(self) -> str | None:
        """One line for the user when the previous file was kept aside, else None."""
        if self.backup is None:
            return None
        return (
            f"The previous settings file could not be fully used ({self.problem}); "
            f"it was kept as {self.backup}"
        )


# Saves come from worker threads; one at a time, so a backup and a write never interleave.
_SAVE_LOCK = threading.Lock()


def _backup_name(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = path.with_name(f"{path.name}.bad-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.bad-{stamp}-{n}")
    return candidate


def _unknown_entries(path: Path) -> dict[str, Any]:
    """Top-level entries of the current file that this version does not know (a newer
    version's options): a save carries them over instead of dropping them silently."""
    try:
        raw = _read_trusted(path, "settings file")
        data = tomllib.loads(raw.decode("utf-8")) if raw is not None else {}
    except (ConfigError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}  # such a file is kept aside whole by _keep_unclean_settings
    return {k: v for k, v in data.items() if k not in _FIELD_RULES}


def _keep_unclean_settings(path: Path) -> tuple[Path | None, str | None]:
    """Rename the settings file aside when it does not load cleanly; (backup, why)."""
    try:
        problems = load_settings_report().problems
        if not problems:
            return None, None
        why = problems[0] if len(problems) == 1 else f"{problems[0]} (+{len(problems) - 1})"
    except ConfigError as exc:
        if not path.is_file():
            return None, None
        why = exc.message
    backup = _backup_name(path)
    try:
        os.replace(path, backup)
    except OSError as exc:
        raise ConfigError(
            f"{path} could not be kept aside before saving ({exc.strerror}); not overwritten",
            path,
        ) from exc
    log.warning("kept the settings file that did not load cleanly as %s: %s", backup, why)
    return backup, why


def save_settings(settings: Settings) -> SavedSettings:
    """Write settings.toml atomically (mode 0600).

    A previous file that does not load cleanly is first kept as settings.toml.bad-<time>;
    the result says where (show `SavedSettings.notice`).  Blocking file I/O: call it from a
    worker thread in the app.
    """
    with _SAVE_LOCK:
        ensure_config_dir()
        path = settings_path()
        document = {**_unknown_entries(path), **settings_to_mapping(settings)}
        data = tomli_w.dumps(document).encode("utf-8")
        backup, why = _keep_unclean_settings(path)
        try:
            _write_atomic(path, data)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}", path) from exc
    return SavedSettings(path, backup, why)


# ----------------------------------------------------------------------------- token


def _saved_token_kind() -> TokenKind:
    try:
        settings = load_settings()
    except ConfigError:
        # The caller that cares about settings reports the problem itself.
        return "personal"
    return settings.token_kind if settings is not None else "personal"


def load_token(kind: TokenKind | None = None) -> Token | None:
    """The saved token, or None when there is none.

    Refuses (ConfigError) a token file that group or others can read, like ssh does with keys,
    one that is a symlink or belongs to another user, and an untrusted directory.  `kind`
    defaults to the kind recorded in settings.
    """
    if check_config_dir() is None:
        return None
    path = token_path()
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if path.is_symlink():
            raise ConfigError(
                f"{path} is a symbolic link; refusing to read a token from it", path
            ) from exc
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path} is not a regular file", path)
        # Like ssh with private keys: not even readable by the group.
        _check_trusted(path, st, "token file", forbidden=0o077, fix="600")
        chunks: list[bytes] = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            if sum(map(len, chunks)) > 65536:
                chunks.clear()
                raise ConfigError(f"{path} is too large to be a token file", path)
    finally:
        os.close(fd)
    # Every error path below first drops the secret from this frame's locals: a traceback
    # rendered with locals (Textual's) must not show it.  `from None` for the same reason.
    kind = kind if kind is not None else _saved_token_kind()
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        chunks.clear()
        raise ConfigError(f"{path} is not a text file", path) from None
    chunks.clear()
    try:
        return Token(text, kind)
    except ValueError as exc:
        text = ""
        raise ConfigError(f"{path} does not hold a usable token: {exc}", path) from None


def save_token(token: Token) -> Path:
    """Store the token value in a 0600 file in the user's own directory, atomically.

    Blocking file I/O: call it from a worker thread in the app."""
    with _SAVE_LOCK:
        ensure_config_dir()
        path = token_path()
        try:
            _write_atomic(path, (token.value + "\n").encode("ascii"))
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}", path) from None
    return path


def forget_token() -> bool:
    """Delete the saved token; True when there was one."""
    path = token_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"cannot remove {path}: {exc.strerror}", path) from exc
    return True


# ----------------------------------------------------------------------------- resolution


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _env_token_kind() -> TokenKind:
    kind = (_env(ENV_TOKEN_KIND) or "personal").lower()
    if kind not in get_args(TokenKind):
        raise ConfigError(f'{ENV_TOKEN_KIND} must be "personal" or "oauth"')
    return cast(TokenKind, kind)


@dataclass(frozen=True)
class EnvConnection:
    """What FLOWDOCK_TOKEN, FLOWDOCK_STREAM_URL and FLOWDOCK_API_URL provide (None: unset).

    For first-run setup: it pre-fills its fields from these and checks the token at once.
    `problem` says why a set FLOWDOCK_TOKEN could not be used (never showing its value).
    """

    token: Token | None = None
    stream_url: str | None = None
    api_url: str | None = None
    problem: str | None = None

    @property
    def complete(self) -> bool:
        """True when all three are given: setup can check the token without asking."""
        return None not in (self.token, self.stream_url, self.api_url)


def _token_from(holder: list[str], source: str) -> Token:
    """A Token from the one raw string in `holder`, which is emptied first (see callers)."""
    raw = holder.pop()
    try:
        kind = _env_token_kind()
        return Token(raw, kind)
    except ValueError as exc:
        raise ConfigError(f"{source} is not a usable token: {exc}") from None
    finally:
        raw = ""  # the Token holds it now; nothing else in this frame does


def env_connection() -> EnvConnection:
    """The connection values the environment provides, read now (never raises)."""
    token: Token | None = None
    problem: str | None = None
    holder = [_env(ENV_TOKEN) or ""]
    if holder[0]:
        try:
            token = _token_from(holder, ENV_TOKEN)
        except ConfigError as exc:
            problem = exc.message
    return EnvConnection(token, _env(ENV_STREAM_URL), _env(ENV_API_URL), problem)


def resolve_connection(
    args_token: Token | str | None = None,
    args_stream: str | None = None,
    args_api: str | None = None,
) -> tuple[Token | None, str, str]:
    """(token, stream_url, api_url): flag > environment > saved configuration > public hosts.

    The saved settings are read only when something is still missing, so a complete set of
    flags or variables works even next to a broken settings file.
    """
    loaded: list[Settings | None] = []

    def saved() -> Settings | None:
        if not loaded:
            loaded.append(load_settings())
        return loaded[0]

    token: Token | None
    if isinstance(args_token, Token):
        token = args_token
    else:
        # The raw string moves into a holder that _token_from empties: from here on no local
        # of this frame holds it, whatever raises later (tracebacks may show locals).
        holder = [args_token.strip() if isinstance(args_token, str) else ""]
        args_token = None
        source = "--token"
        if not holder[0]:
            holder, source = [_env(ENV_TOKEN) or ""], ENV_TOKEN
        if holder[0]:
            token = _token_from(holder, source)
        else:
            settings = saved()
            token = load_token(settings.token_kind if settings else "personal")

    def pick(flag: str | None, env_name: str, attr: str, default: str) -> str:
        if flag and flag.strip():
            return flag.strip()
        from_env = _env(env_name)
        if from_env:
            return from_env
        settings = saved()
        return cast(str, getattr(settings, attr)) if settings is not None else default

    stream = pick(args_stream, ENV_STREAM_URL, "stream_url", DEFAULT_STREAM_URL)
    api = pick(args_api, ENV_API_URL, "api_url", DEFAULT_API_URL)
    return token, stream, api
