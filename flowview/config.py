"""Saved configuration: settings as TOML and the token in its own 0600 file.

Both live in one directory, `platformdirs.user_config_path("flowview")` unless the environment
variable FLOWVIEW_CONFIG_DIR names another one (tests, `flowview demo`'s throwaway profile).
The directory is kept at mode 0700 and every file is written atomically (temp file created with
O_EXCL|O_NOFOLLOW at mode 0600, fsync, rename), so neither umask, a pre-existing file nor a
crash half way can leave a readable or truncated token behind.

The token file holds the token value alone; its kind (personal/oauth) is in settings.toml.
No message, repr or exception produced here ever contains the token.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast, get_args

import platformdirs
import tomli_w

from flowview.protocol.auth import Token, TokenKind

__all__ = [
    "CONFIG_DIR_ENV",
    "ENV_API_URL",
    "ENV_STREAM_URL",
    "ENV_TOKEN",
    "ENV_TOKEN_KIND",
    "ConfigError",
    "ContentType",
    "Settings",
    "config_dir",
    "ensure_config_dir",
    "forget_token",
    "load_settings",
    "load_token",
    "resolve_connection",
    "save_settings",
    "save_token",
    "settings_path",
    "token_path",
]

# The public Flowdock hosts: the values of flowview.protocol.urls, which imports httpx
# (~0.15 s) and so is not imported here, on every start-up path (a test keeps them equal).
DEFAULT_STREAM_URL = "https://stream.flowdock.com"
DEFAULT_API_URL = "https://api.flowdock.com"

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
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys
    me_id: str | None = None
    me_nick: str | None = None


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


def ensure_config_dir() -> Path:
    """Create the directory at 0700, or tighten it if it exists with looser permissions."""
    directory = config_dir()
    try:
        directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        st = directory.stat()
        if not stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"{directory} is not a directory", directory)
        if stat.S_IMODE(st.st_mode) & 0o077:
            directory.chmod(_DIR_MODE)
    except FileExistsError as exc:
        raise ConfigError(f"{directory} exists and is not a directory", directory) from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot create configuration directory {directory}: {exc.strerror}", directory
        ) from exc
    return directory


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
    "keymap": (
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
        ),
        "a table of binding id = keys strings",
    ),
    "me_id": (lambda v: isinstance(v, str | int) and not isinstance(v, bool), "a string"),
    "me_nick": (lambda v: isinstance(v, str), "a string"),
}
assert set(_FIELD_RULES) == {f.name for f in fields(Settings)}


def settings_from_mapping(data: Mapping[str, Any], path: Path | None = None) -> Settings:
    """Build Settings from parsed TOML; unknown keys are ignored, bad types raise ConfigError."""
    where = f"{path}: " if path is not None else ""
    values: dict[str, Any] = {}
    for key, (check, expected) in _FIELD_RULES.items():
        if key not in data:
            continue
        value = data[key]
        if not check(value):
            raise ConfigError(
                f"{where}setting '{key}' must be {expected}, not {_describe(value)}", path
            )
        if key == "me_id":
            value = str(value)
        elif key == "auto_idle_minutes":
            value = float(value)
        elif key in ("stream_url", "api_url"):
            value = value.strip()
        elif key in ("flows", "notify_command"):
            value = list(value)
        elif key == "keymap":
            value = dict(value)
        values[key] = value
    return Settings(**values)


def settings_to_mapping(settings: Settings) -> dict[str, Any]:
    """The TOML document for `settings` (None values are left out: TOML has no null)."""
    out: dict[str, Any] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is None:
            continue
        if isinstance(value, list):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        out[f.name] = value
    return out


def load_settings() -> Settings | None:
    """The saved settings, or None when there are none yet."""
    path = settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise ConfigError(f"{path} is a directory, not a settings file", path) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not valid UTF-8 text", path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", path) from exc
    return settings_from_mapping(data, path)


def save_settings(settings: Settings) -> Path:
    """Write settings.toml atomically (mode 0600); returns its path."""
    ensure_config_dir()
    path = settings_path()
    data = tomli_w.dumps(settings_to_mapping(settings)).encode("utf-8")
    try:
        _write_atomic(path, data)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}", path) from exc
    return path


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
    and a token file that is a symlink.  `kind` defaults to the kind recorded in settings.
    """
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
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise ConfigError(
                f"{path} can be read by other users (mode {stat.S_IMODE(st.st_mode):o}); "
                f"run: chmod 600 {path}",
                path,
            )
        chunks: list[bytes] = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            if sum(map(len, chunks)) > 65536:
                raise ConfigError(f"{path} is too large to be a token file", path)
    finally:
        os.close(fd)
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file", path) from None
    try:
        # `from None`: the ValueError never holds the value, but keep tracebacks token-free anyway.
        return Token(text, kind if kind is not None else _saved_token_kind())
    except ValueError as exc:
        raise ConfigError(f"{path} does not hold a usable token: {exc}", path) from None


def save_token(token: Token) -> Path:
    """Store the token value in a 0600 file in the 0700 directory, atomically."""
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
        raw = args_token.strip() if isinstance(args_token, str) else None
        source = "--token"
        if not raw:
            raw, source = _env(ENV_TOKEN), ENV_TOKEN
        if raw:
            try:
                token = Token(raw, _env_token_kind())
            except ValueError as exc:
                raise ConfigError(f"{source} is not a usable token: {exc}") from None
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
