"""Every Redis key of the library, built and parsed in this one module.

Design:

* Caller ids (user, session, device, worker) are validated, then percent-escaped: any
  character outside ``[A-Za-z0-9._@+=-]`` becomes ``%XX`` per UTF-8 byte. Escaping is
  injective and reversible, and an escaped id can never contain ``:``, ``*``, ``{``, ``}``,
  ``|`` or a space, so user input can neither reach another user's key nor a hash tag.
* All keys of one user share the hash tag ``{NN}``, ``NN = crc32(user_id) % sweep_shards``
  in (at least two) hex digits. The sweeper and archive indexes are sharded by the same
  tag, so a turn touches exactly one Redis Cluster slot and no global key is hot.
* Schema (``p`` = prefix, ``T`` = tag, ``u``/``s`` = escaped ids)::

    p:T:u:<u>:s:<s>:meta      hash   started_at, last_active, turns, msgs, status, device, f:<name>
    p:T:u:<u>:s:<s>:msgs      list   codec-encoded messages
    p:T:u:<u>:s:<s>:writes    set    applied write ids (idempotent replay)
    p:T:u:<u>:s:<s>:claim     string sweeper claim "<expires_ms>|<worker>"
    p:T:u:<u>:sessions        zset   sid -> last_active ms
    p:T:u:<u>:lease           string "<expires_ms>|<device>|<sid>|<since_ms>"
    p:T:u:<u>:opening         string "<expires_ms>|<sid>": the session being opened (join window)
    p:T:u:<u>:lock:<name>     string "<expires_ms>|<holder>": a mutex across processes
    p:T:u:<u>:archive:<s>     string archived transcript
    p:T:u:<u>:archives        zset   sid -> delete_at ms
    p:T:sweep:active          zset   "<u>:<s>" -> last_active ms
    p:T:sweep:soft            zset   "<u>:<s>" -> last_active ms
    p:T:archives              zset   "<u>:<s>" -> delete_at ms
    p:T:u:<u>:quarantine      hash   record ref -> bad bytes set aside (TTL: retention)

* A stored record is named, in errors and quarantine, by a *record ref*: ``<key>#<field>``
  (a hash field), ``<key>[<index>]`` (a list item) or ``<key>`` (a whole key);
  :func:`record_ref` builds one and :func:`parse_record_ref` reads it back.
* LangGraph threads (the checkpointer, :mod:`langchain_sessionstate.checkpoint`) are
  sessions: thread id = session id, so a thread's checkpoint keys sit beside its session
  keys under the user's tag. See the "checkpoints" section at the end of this module.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import lru_cache

from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import InvalidInputError

MAX_ID_LENGTH = 256
"""Longest accepted id, in characters (before escaping)."""

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@+=-")
_SAFE_RE = re.compile(r"[A-Za-z0-9._@+=\-]*")
_ESCAPED_RE = re.compile(r"(?:[A-Za-z0-9._@+=\-]|%[0-9A-F]{2})+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def quoted(value: str, limit: int = 60) -> str:
    """``repr`` of ``value``, truncated so a huge id does not flood an error message."""
    if len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + f"... ({len(value)} chars)"


def validate_id(value: str, what: str = "id") -> str:
    """Return ``value`` unchanged if it is a usable id, else raise InvalidInputError.

    Rules: a non-empty ``str`` of at most 256 characters without control characters.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    problem = _id_problem(str.__str__(value))
    if problem:
        raise InvalidInputError(f"{what} {problem}")
    return value


@lru_cache(maxsize=8192)
def _id_problem(value: str) -> str | None:
    """What is wrong with ``value`` as an id (None: nothing); cached, ids recur every turn."""
    if not value:
        return f"must not be empty, got {value!r}"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters, got {quoted(value)}"
    if _CONTROL_RE.search(value):
        return f"must not contain control characters (newline, tab, ...), got {quoted(value)}"
    return None


@lru_cache(maxsize=4096)
def _escape(value: str) -> str:
    if _SAFE_RE.fullmatch(value):
        return value
    out: list[str] = []
    for ch in value:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def escape_id(value: str, what: str = "id") -> str:
    """Validate ``value`` and return its key-safe escaped form (see the module docstring)."""
    validate_id(value, what)
    return _escape(value)


def unescape_id(escaped: str) -> str:
    """Inverse of :func:`escape_id`; raises InvalidInputError on text it cannot produce."""
    if not _ESCAPED_RE.fullmatch(escaped):
        raise InvalidInputError(f"not an escaped id: {quoted(escaped)}")
    if "%" not in escaped:
        return escaped
    out = bytearray()
    i = 0
    while i < len(escaped):
        ch = escaped[i]
        if ch == "%":
            out.append(int(escaped[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(ch))
            i += 1
    try:
        return out.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"not an escaped id: {quoted(escaped)}") from exc


def shard_of(user_id: str, shards: int) -> int:
    """The sweeper shard of a user: ``crc32(user_id) % shards``."""
    return zlib.crc32(user_id.encode("utf-8", "surrogatepass")) % shards


def shard_tag(shard: int) -> str:
    """Hash tag of one shard, e.g. ``{0a}``."""
    return "{" + f"{shard:02x}" + "}"


def all_shard_tags(config: ShortTermConfig) -> list[str]:
    """Hash tags of every shard, in shard order."""
    return [shard_tag(i) for i in range(config.sweep_shards)]


def index_member(user_id: str, session_id: str) -> str:
    """Member ``"<u>:<s>"`` of the sweeper/archive indexes (ids escaped)."""
    return f"{escape_id(user_id, 'user_id')}:{escape_id(session_id, 'session_id')}"


def parse_index_member(member: str | bytes) -> tuple[str, str]:
    """``(user_id, session_id)`` from an index member; InvalidInputError if malformed."""
    text = member.decode("ascii", "replace") if isinstance(member, bytes) else member
    user, sep, session = text.partition(":")
    if not sep:
        raise InvalidInputError(f"not a session index member: {quoted(text)}")
    return unescape_id(user), unescape_id(session)


_LIST_ITEM = re.compile(r"^(?P<key>.+)\[(?P<index>-?\d+)\]$")


@dataclass(frozen=True, slots=True)
class RecordRef:
    """One stored record: a whole key, one field of a hash, or one item of a list."""

    key: str
    field: str | None = None
    index: int | None = None

    def __str__(self) -> str:
        return record_ref(self.key, field=self.field, index=self.index)


def record_ref(key: str, *, field: str | None = None, index: int | None = None) -> str:
    """``<key>#<field>``, ``<key>[<index>]`` or ``<key>``: how errors name a stored record."""
    if field is not None:
        return f"{key}#{field}"
    return f"{key}[{index}]" if index is not None else key


def parse_record_ref(text: str) -> RecordRef:
    """Inverse of :func:`record_ref` (escaped ids hold no ``#`` or brackets)."""
    if "#" in text:
        key, field = text.rsplit("#", 1)
        return RecordRef(key, field=field)
    item = _LIST_ITEM.match(text)
    if item:
        return RecordRef(item["key"], index=int(item["index"]))
    return RecordRef(text)


_THREAD_KEYS = ("cp", "idx", "blobs", "w", "widx", "runs")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a key of this schema names: its kind (``meta``, ``msgs``, ``writes``, ``claim``,
    ``sessions``, ``lease``, ``opening``, ``archive``, ``archives``, ``quarantine``, or
    ``ck:<name>`` for a thread's checkpoint keys) and its ids."""

    kind: str
    user_id: str
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadKeys:
    """The checkpoint keys of one thread (= session) and its entries in the shard indexes.

    ``own`` are the thread's keys; ``threads_index`` holds ``thread_member`` and
    ``runs_index`` holds members starting with ``runs_prefix`` (see the checkpoints section).
    """

    cp: str
    idx: str
    blobs: str
    writes: str
    widx: str
    runs: str
    threads_index: str
    runs_index: str
    thread_member: str
    runs_prefix: str

    @property
    def own(self) -> tuple[str, str, str, str, str, str]:
        """The thread's own keys (deleted with its session)."""
        return (self.cp, self.idx, self.blobs, self.writes, self.widx, self.runs)

    @property
    def runs_range(self) -> tuple[str, str]:
        """``ZREMRANGEBYLEX`` bounds of this thread's members in ``runs_index``."""
        return "[" + self.runs_prefix, "[" + self.runs_prefix + LEX_MAX


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """Every key touched by one session's turn, plus the ids in their escaped form."""

    tag: str
    user: str
    session: str
    member: str
    meta: str
    msgs: str
    writes: str
    claim: str
    sessions: str
    lease: str
    sweep_active: str
    sweep_soft: str
    archive: str
    archives: str
    archives_index: str
    thread: ThreadKeys
    turn: tuple[str, str, str, str, str, str]
    """``(meta, msgs, writes, sessions, sweep_active, sweep_soft)``: the keys a turn writes,
    in ``append.lua``'s order (built once per session, not once per turn)."""


@dataclass(frozen=True, slots=True)
class UserKeys:
    """Every per-user key that does not belong to one session."""

    tag: str
    user: str
    base: str
    sessions: str
    lease: str
    opening: str
    archives: str
    quarantine: str
    sweep_active: str
    sweep_soft: str
    archives_index: str
    threads_index: str
    runs_index: str

    def session(self, escaped_session: str) -> tuple[str, str, str, str]:
        """``(meta, msgs, writes, claim)`` of one already escaped session id."""
        s = f"{self.base}:s:{escaped_session}"
        return f"{s}:meta", f"{s}:msgs", f"{s}:writes", f"{s}:claim"

    def archive(self, escaped_session: str) -> str:
        """Archive key of one already escaped session id."""
        return f"{self.base}:archive:{escaped_session}"

    def lock(self, name: str) -> str:
        """Key of the user's lock ``name`` (validated and escaped here)."""
        return f"{self.base}:lock:{escape_id(name, 'lock name')}"

    def thread(self, escaped_session: str) -> ThreadKeys:
        """Checkpoint keys of one already escaped session id (a LangGraph thread)."""
        ck = f"{self.base}:s:{escaped_session}:ck"
        return ThreadKeys(
            cp=f"{ck}:cp",
            idx=f"{ck}:idx",
            blobs=f"{ck}:blobs",
            writes=f"{ck}:w",
            widx=f"{ck}:widx",
            runs=f"{ck}:runs",
            threads_index=self.threads_index,
            runs_index=self.runs_index,
            thread_member=f"{escaped_session}|{self.user}",
            runs_prefix=f"{self.user}:{escaped_session}|",
        )


class KeySchema:
    """Builds keys for one configuration (prefix, shard count); cheap and cached."""

    def __init__(self, config: ShortTermConfig | None = None) -> None:
        self.config = config or ShortTermConfig()
        self.prefix = self.config.key_prefix
        self.shards = self.config.sweep_shards
        self._user = lru_cache(maxsize=4096)(self._build_user)
        self._session = lru_cache(maxsize=8192)(self._build_session)

    def tag_for(self, user_id: str) -> str:
        """Hash tag of a user (validated)."""
        validate_id(user_id, "user_id")
        return shard_tag(shard_of(user_id, self.shards))

    def user(self, user_id: str) -> UserKeys:
        """Keys of one user; raises InvalidInputError for a bad id."""
        return self._user(user_id)

    def session(self, user_id: str, session_id: str) -> SessionKeys:
        """Keys of one session; raises InvalidInputError for a bad id."""
        return self._session(user_id, session_id)

    def sweep_active(self, tag: str) -> str:
        """Active-session index of one shard."""
        return f"{self.prefix}:{tag}:sweep:active"

    def sweep_soft(self, tag: str) -> str:
        """Soft-expired-session index of one shard."""
        return f"{self.prefix}:{tag}:sweep:soft"

    def archives_index(self, tag: str) -> str:
        """Archive deletion index of one shard."""
        return f"{self.prefix}:{tag}:archives"

    def threads_index(self, tag: str) -> str:
        """Thread index of one shard: ``"<s>|<u>"`` members find a thread's users."""
        return f"{self.prefix}:{tag}:ck:threads"

    def runs_index(self, tag: str) -> str:
        """Run index of one shard: ``"<u>:<s>|<r>"`` members find a run's threads."""
        return f"{self.prefix}:{tag}:ck:runs"

    def all_tags(self) -> list[str]:
        """Hash tags of every shard."""
        return all_shard_tags(self.config)

    def parse(self, key: str) -> KeyInfo:
        """What a per-user key of this schema names; InvalidInputError for any other key."""
        parts = key.split(":")
        ok = len(parts) >= 5 and parts[0] == self.prefix and parts[2] == "u"
        if (
            ok
            and len(parts) == 5
            and parts[4] in ("sessions", "lease", "opening", "archives", "quarantine")
        ):
            return KeyInfo(parts[4], unescape_id(parts[3]))
        if ok and len(parts) == 6 and parts[4] in ("archive", "lock"):
            session = unescape_id(parts[5]) if parts[4] == "archive" else None
            return KeyInfo(parts[4], unescape_id(parts[3]), session)
        session_part = len(parts) == 7 and parts[6] in ("meta", "msgs", "writes", "claim")
        if ok and session_part and parts[4] == "s":
            return KeyInfo(parts[6], unescape_id(parts[3]), unescape_id(parts[5]))
        thread_part = len(parts) == 8 and parts[6] == "ck" and parts[7] in _THREAD_KEYS
        if ok and thread_part and parts[4] == "s":
            return KeyInfo(f"ck:{parts[7]}", unescape_id(parts[3]), unescape_id(parts[5]))
        raise InvalidInputError(f"not a per-user key of prefix {self.prefix!r}: {quoted(key)}")

    def _build_user(self, user_id: str) -> UserKeys:
        u = escape_id(user_id, "user_id")
        tag = shard_tag(shard_of(user_id, self.shards))
        base = f"{self.prefix}:{tag}:u:{u}"
        return UserKeys(
            tag=tag,
            user=u,
            base=base,
            sessions=f"{base}:sessions",
            lease=f"{base}:lease",
            opening=f"{base}:opening",
            archives=f"{base}:archives",
            quarantine=f"{base}:quarantine",
            sweep_active=self.sweep_active(tag),
            sweep_soft=self.sweep_soft(tag),
            archives_index=self.archives_index(tag),
            threads_index=self.threads_index(tag),
            runs_index=self.runs_index(tag),
        )

    def _build_session(self, user_id: str, session_id: str) -> SessionKeys:
        uk = self._user(user_id)
        s = escape_id(session_id, "session_id")
        meta, msgs, writes, claim = uk.session(s)
        return SessionKeys(
            tag=uk.tag,
            user=uk.user,
            session=s,
            member=f"{uk.user}:{s}",
            meta=meta,
            msgs=msgs,
            writes=writes,
            claim=claim,
            sessions=uk.sessions,
            lease=uk.lease,
            sweep_active=uk.sweep_active,
            sweep_soft=uk.sweep_soft,
            archive=uk.archive(s),
            archives=uk.archives,
            archives_index=uk.archives_index,
            thread=uk.thread(s),
            turn=(meta, msgs, writes, uk.sessions, uk.sweep_active, uk.sweep_soft),
        )


LEX_MAX = "\xff"
"""A byte above every escaped character: ``"[" + prefix + LEX_MAX`` ends a lexical range."""

MAX_NS_LENGTH = 2048
"""Longest accepted checkpoint namespace (nested subgraphs join their names)."""


def escape_ns(ns: str) -> str:
    """Escaped checkpoint namespace; ``""`` (the root graph) stays ``""``."""
    if not isinstance(ns, str):
        raise InvalidInputError(f"checkpoint_ns must be a string, got {type(ns).__name__}")
    if len(ns) > MAX_NS_LENGTH:
        raise InvalidInputError(
            f"checkpoint_ns must be at most {MAX_NS_LENGTH} characters, got {quoted(ns)}"
        )
    if _CONTROL_RE.search(ns):
        raise InvalidInputError(f"checkpoint_ns must not contain control characters: {quoted(ns)}")
    return _escape(ns)


__all__ = [
    "LEX_MAX",
    "MAX_ID_LENGTH",
    "MAX_NS_LENGTH",
    "KeyInfo",
    "KeySchema",
    "RecordRef",
    "SessionKeys",
    "ThreadKeys",
    "UserKeys",
    "all_shard_tags",
    "escape_id",
    "escape_ns",
    "index_member",
    "parse_index_member",
    "parse_record_ref",
    "quoted",
    "record_ref",
    "shard_of",
    "shard_tag",
    "unescape_id",
    "validate_id",
]
