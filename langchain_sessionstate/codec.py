"""Values and messages <-> bytes, in a versioned, integrity-checked envelope.

Envelope (6-byte header, then payload)::

    byte 0     version (1)
    byte 1     flags   (bit 0: payload is zlib-compressed)
    bytes 2-5  CRC32 of the stored payload, big-endian
    bytes 6-   payload: compact JSON (orjson), zlib-compressed when larger than the threshold

:func:`decode` never guesses: a truncated, garbled, wrong-version, bad-CRC or bad-JSON record
raises :class:`~langchain_sessionstate.errors.CorruptStateError` naming the key. Messages are
LangChain message dicts (``message_to_dict``; tool calls kept) plus time and device; no
embeddings are ever stored here. The helpers at the bottom turn a stored session record
(meta hash + encoded messages) into a :class:`SessionState`; both short-term backends use
them, so they behave the same.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

import orjson
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from langchain_sessionstate.clock import from_ms, to_ms
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import (
    CorruptStateError,
    InvalidInputError,
    PayloadTooLargeError,
)
from langchain_sessionstate.keys import record_ref
from langchain_sessionstate.models import (
    SessionInfo,
    SessionState,
    SessionStatus,
    StateUpdate,
    TimedMessage,
)

VERSION: Final = 1
FLAG_ZLIB: Final = 0x01
HEADER: Final = struct.Struct(">BBI")
_HEADER_SIZE: Final = HEADER.size
_pack_header = HEADER.pack
_unpack_header = HEADER.unpack_from
_crc32 = zlib.crc32
_DEFAULT = ShortTermConfig()

FIELD_PREFIX: Final = "f:"
"""Meta-hash fields holding state values are named ``f:<state field>``."""

STATE_FIELDS: Final = frozenset(
    {
        "topic",
        "entities",
        "unresolved_questions",
        "tone",
        "engagement",
        "flow",
        "pending",
        "running_summary",
        "summarized_upto",
        "metadata",
    }
)


def encode(value: Any, config: ShortTermConfig | None = None, *, limit: int | None = None) -> bytes:
    """Encode a JSON-ready value into an envelope.

    Raises:
        InvalidInputError: the value is not JSON-serialisable (objects, non-str keys, ...).
        PayloadTooLargeError: the JSON is longer than ``limit`` (when given), or the encoded
            record exceeds ``config.max_record_bytes``.
    """
    cfg = config or _DEFAULT
    try:
        payload = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise InvalidInputError(
            f"value is not JSON-serialisable ({exc}): {_short_repr(value)}"
        ) from exc
    size = len(payload)
    if limit is not None and size > limit:
        raise PayloadTooLargeError(
            f"a message of {size:,} bytes is larger than the limit of {limit:,} "
            "(ShortTermConfig.max_message_bytes); nothing of its turn was stored"
        )
    flags = 0
    if size > cfg.compress_threshold:
        payload = zlib.compress(payload, 6)
        flags = FLAG_ZLIB
        size = len(payload)
    if size + _HEADER_SIZE > cfg.max_record_bytes:
        raise PayloadTooLargeError(
            f"encoded record is {size + _HEADER_SIZE} bytes, more than "
            f"max_record_bytes={cfg.max_record_bytes}; store less or raise the limit"
        )
    return _pack_header(VERSION, flags, _crc32(payload)) + payload


class _Defect(Exception):
    """Why a record is not a valid envelope; :func:`decode` adds the key."""


def _open(data: bytes | bytearray | memoryview | None) -> Any:
    if data is None:
        raise _Defect("record is missing")
    if type(data) is not bytes and not isinstance(data, bytearray | memoryview):
        raise _Defect(f"expected bytes, got {type(data).__name__}")
    if len(data) < _HEADER_SIZE:
        raise _Defect(f"truncated: {len(data)} bytes, header needs {_HEADER_SIZE}")
    version, flags, crc = _unpack_header(data)
    if version != VERSION:
        raise _Defect(f"unknown envelope version {version}")
    if flags & ~FLAG_ZLIB:
        raise _Defect(f"unknown flags 0x{flags:02x}")
    # Bytes (what Redis returns): one slice costs less than a view and a slice of it.
    payload: bytes | memoryview = (
        data[_HEADER_SIZE:] if type(data) is bytes else memoryview(data)[_HEADER_SIZE:]
    )
    if _crc32(payload) != crc:
        raise _Defect("checksum mismatch (truncated or garbled)")
    if flags & FLAG_ZLIB:
        try:
            payload = zlib.decompress(payload)
        except zlib.error as exc:
            raise _Defect(f"bad compressed payload: {exc}") from exc
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _Defect(f"bad JSON: {exc}") from exc


def decode(data: bytes | bytearray | memoryview | None, *, key: str) -> Any:
    """Decode an envelope; raises CorruptStateError(key, reason) on any defect."""
    try:
        return _open(data)
    except _Defect as exc:
        raise CorruptStateError(key, str(exc)) from exc.__cause__


def _short_repr(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------- messages


def message_record(message: BaseMessage, at_ms: int, device_id: str | None) -> dict[str, Any]:
    """The JSON-ready form of one stored message."""
    if not isinstance(message, BaseMessage):
        raise InvalidInputError(
            f"messages must be LangChain BaseMessage objects, got {_short_repr(message)}"
        )
    record: dict[str, Any] = {"m": message_to_dict(message), "t": at_ms}
    if device_id is not None:
        record["d"] = device_id
    return record


def encode_message(message: TimedMessage, config: ShortTermConfig | None = None) -> bytes:
    """Encode a :class:`TimedMessage` (LangChain message dict + time + device)."""
    record = message_record(message.message, to_ms(message.at), message.device_id)
    return encode(record, config, limit=(config or _DEFAULT).max_message_bytes)


def encode_raw_message(
    message: BaseMessage, at_ms: int, device_id: str | None, config: ShortTermConfig | None = None
) -> bytes:
    """Encode a LangChain message stored at ``at_ms`` by ``device_id`` (the hot path).

    A standard message without extra fields is written from its field values directly (what
    ``model_dump`` would return for them, minus its cost); anything orjson cannot write that
    way (a nested model in ``additional_kwargs``, say) takes the ``message_to_dict`` path.
    A message larger than ``config.max_message_bytes`` is refused.
    """
    limit = (config or _DEFAULT).max_message_bytes
    if type(message) in STANDARD_MESSAGES and not message.__pydantic_extra__:
        record: dict[str, Any] = {"m": {"type": message.type, "data": message.__dict__}, "t": at_ms}
        if device_id is not None:
            record["d"] = device_id
        try:
            return encode(record, config, limit=limit)
        except PayloadTooLargeError:
            raise  # the same bytes either way: encoding again would only be refused again
        except InvalidInputError:
            pass  # a value orjson cannot write directly: pydantic dumps it below
    return encode(message_record(message, at_ms, device_id), config, limit=limit)


_PLAIN: Final = frozenset({str, int, float, bool})
STANDARD_MESSAGES: Final = frozenset({HumanMessage, AIMessage, SystemMessage, ToolMessage})
"""The message types the hot paths write and rebuild from their field values directly."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# The slots every pydantic model has, set through their descriptors: cheaper than
# object.__setattr__, which looks each name up on the type first.
_SET_DICT = BaseModel.__dict__["__dict__"].__set__
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__


class Trusted:
    """Builds a pydantic model from a complete dict of already-valid field values, fast.

    What ``model_construct`` does, minus its per-call default and alias handling: the load
    path rebuilds 20 messages per call, and this is a third of ``model_construct``'s cost.
    Only a dict holding exactly the model's fields qualifies (what ``model_dump`` of a
    validated instance wrote): the caller checks ``data.keys() == names`` (or builds it so).
    """

    __slots__ = ("cls", "extra", "names")

    def __init__(self, cls: type[Any]) -> None:
        if cls.__private_attributes__:
            raise TypeError(f"{cls.__name__} has private attributes; use model_construct")
        self.cls = cls
        self.names = frozenset(cls.model_fields)
        self.extra = cls.model_config.get("extra") == "allow"

    def make(self, data: dict[str, Any]) -> Any:
        """The model from ``data``, which the caller guarantees holds exactly its fields."""
        obj = object.__new__(self.cls)
        _SET_DICT(obj, data)
        _SET_FIELDS_SET(obj, set(self.names))
        _SET_EXTRA(obj, {} if self.extra else None)
        _SET_PRIVATE(obj, None)
        return obj


# Types written by ``message_to_dict`` of a validated message: rebuilt without a second
# validation (the hot path of ``load``). Anything else goes through ``messages_from_dict``.
_FAST_TYPES: Final[dict[str, Trusted]] = {
    name: Trusted(cls)
    for name, cls in (
        ("human", HumanMessage),
        ("ai", AIMessage),
        ("system", SystemMessage),
        ("tool", ToolMessage),
    )
}
_TIMED: Final = Trusted(TimedMessage)
if _TIMED.names != {"message", "at", "device_id"}:
    raise TypeError("_timed builds TimedMessage from three fields: update it with the model")


def _ms_to_datetime(ms: int) -> datetime:
    # Exact integer arithmetic; faster than datetime.fromtimestamp on the load path.
    return _EPOCH + timedelta(milliseconds=ms)


def _message(record: Any) -> BaseMessage:
    kind = record["type"]
    data = record["data"]
    fast = _FAST_TYPES.get(kind)
    # Exactly the type's fields (so "type" is one of them), and the type they name.
    if (
        fast is not None
        and type(data) is dict
        and data.keys() == fast.names
        and data["type"] == kind
    ):
        return cast(BaseMessage, fast.make(data))
    (message,) = messages_from_dict([record])
    return message


def _timed(
    data: bytes | bytearray | memoryview | None, times: dict[int, datetime] | None = None
) -> TimedMessage:
    """One stored message; ``times`` memoises timestamps (a turn's messages share one)."""
    record = _open(data)
    try:
        message = _message(record["m"])
        ms = record["t"]
        at = times.get(ms) if times is not None else None
        if at is None:
            at = _ms_to_datetime(int(ms))
            if times is not None:
                times[ms] = at
        device = record.get("d")
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        raise _Defect(f"not a stored message: {exc}") from exc
    if device is not None and not isinstance(device, str):
        raise _Defect(f"not a stored message: device id {device!r:.40}")
    # Fields are already validated values; skip a second validation on the hot path.
    return cast(TimedMessage, _TIMED.make({"message": message, "at": at, "device_id": device}))


def decode_message(data: bytes | bytearray | memoryview | None, *, key: str) -> TimedMessage:
    """Decode one stored message; CorruptStateError naming ``key`` if it is not one."""
    try:
        return _timed(data)
    except _Defect as exc:
        raise CorruptStateError(key, str(exc)) from exc.__cause__


def decode_messages(
    items: Iterable[bytes], *, key: str, first_index: int = 0
) -> list[TimedMessage]:
    """Decode a run of stored messages; errors name ``key[index]``."""
    out: list[TimedMessage] = []
    times: dict[int, datetime] = {}
    try:
        for item in items:
            out.append(_timed(item, times))
    except _Defect as exc:
        raise CorruptStateError(
            record_ref(key, index=first_index + len(out)), str(exc)
        ) from exc.__cause__
    return out


PLACEHOLDER_KEY: Final = "sessionstate_set_aside"
"""``additional_kwargs`` key marking a placeholder for a message set aside as unreadable."""


def placeholder(ref: str, at_ms: int, config: ShortTermConfig | None = None) -> bytes:
    """The stored form of a message that was set aside: it keeps the history's positions and
    reads as a marked placeholder (see :func:`is_placeholder`), so the rest of the session
    stays readable."""
    message = AIMessage(
        content="(a message here could not be read and was set aside)",
        additional_kwargs={PLACEHOLDER_KEY: ref},
    )
    return encode(message_record(message, at_ms, None), config)


def is_placeholder(message: BaseMessage) -> bool:
    """True for the placeholder of a message set aside: prompts and extraction skip it."""
    return PLACEHOLDER_KEY in message.additional_kwargs


# --------------------------------------------------------------------------- session records


def field_name(name: str) -> str:
    """Meta-hash field of a state value."""
    return FIELD_PREFIX + name


def encode_update_fields(
    fields: Mapping[str, Any], config: ShortTermConfig | None = None
) -> list[tuple[str, bytes]]:
    """``[("f:<name>", envelope), ...]`` for the fields a StateUpdate wrote."""
    return [(field_name(name), encode(value, config)) for name, value in fields.items()]


_FIELD_NAMES: Final = {name: field_name(name) for name in StateUpdate.model_fields}
_STR_ONLY: Final = frozenset({str})


def encode_update(
    update: StateUpdate | None, config: ShortTermConfig | None = None
) -> list[tuple[str, bytes]]:
    """Encoded ``f:`` fields of a StateUpdate; InvalidInputError if a value cannot be stored.

    A value already in its JSON form (None, a plain scalar, a list of strings) is encoded as
    it is; the others go through one ``model_dump`` (the values of
    StateUpdate.written_fields).
    """
    if update is None:
        return []
    out: list[tuple[str, bytes]] = []
    nested: set[str] = set()
    values = update.__dict__
    for name in update.model_fields_set:
        value = values[name]
        kind = type(value)
        if value is None or kind in _PLAIN or (kind is list and set(map(type, value)) <= _STR_ONLY):
            out.append((_FIELD_NAMES[name], encode(value, config)))
        else:
            nested.add(name)
    if nested:
        try:
            dumped = update.model_dump(mode="json", include=nested)
        except PydanticSerializationError as exc:
            raise InvalidInputError(
                f"state update is not JSON-serialisable ({exc}): {_short_repr(update)}"
            ) from exc
        out += encode_update_fields(dumped, config)
    return out


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _int(meta: Mapping[str, bytes], name: str, key: str, default: int | None = None) -> int:
    raw = meta.get(name)
    if raw is None:
        if default is not None:
            return default
        raise CorruptStateError(record_ref(key, field=name), "field is missing")
    try:
        return int(raw)
    except ValueError as exc:
        raise CorruptStateError(
            record_ref(key, field=name), f"not an integer: {raw!r:.60}"
        ) from exc


_STATE_NAMES: Final = {field_name(name): name for name in STATE_FIELDS}
_DEFAULTED_BY_NONE: Final = frozenset(
    {"entities", "unresolved_questions", "pending", "metadata", "summarized_upto"}
)


def normalise_meta(raw: Mapping[bytes, bytes] | Mapping[str, bytes]) -> dict[str, bytes]:
    """Meta hash with text field names (Redis returns bytes names)."""
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}


def state_from_record(
    user_id: str,
    session_id: str,
    meta: Mapping[str, bytes],
    messages: list[TimedMessage],
    *,
    key: str,
) -> SessionState:
    """Build a :class:`SessionState` from a meta hash and decoded recent messages.

    A corrupt field raises CorruptStateError naming ``"<key>#<field>"``. Unknown ``f:``
    fields (written by a newer version) are ignored.
    """
    values: dict[str, Any] = {}
    for name, raw in meta.items():
        state_name = _STATE_NAMES.get(name)
        if state_name is None:  # not a state field, or one a newer version wrote
            continue
        try:
            value = _open(raw)
        except _Defect as exc:  # the record ref is built only for an error
            raise CorruptStateError(record_ref(key, field=name), str(exc)) from exc.__cause__
        # An explicit None clears a field; list/dict fields fall back to their empty default.
        if value is None and state_name in _DEFAULTED_BY_NONE:
            continue
        values[state_name] = value
    status_raw = meta.get("status", b"active")
    device = meta.get("device")
    try:
        return SessionState(
            user_id=user_id,
            session_id=session_id,
            status=SessionStatus(_text(status_raw)),
            turn_count=_int(meta, "turns", key, 0),
            message_count=_int(meta, "msgs", key, 0),
            started_at=from_ms(_int(meta, "started_at", key)),
            last_active=from_ms(_int(meta, "last_active", key)),
            device_id=_text(device) if device else None,
            messages=messages,
            **values,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        # pydantic's ValidationError is a ValueError: a field decoded to the wrong shape.
        raise CorruptStateError(key, f"fields do not form a session state: {exc}") from exc


def session_info(session_id: str, meta: Mapping[str, bytes], *, key: str) -> SessionInfo:
    """One line of a session list from (part of) a meta hash."""
    status_raw = meta.get("status") or b"active"
    started = meta.get("started_at")
    topic_raw = meta.get(field_name("topic"))
    topic = (
        decode(topic_raw, key=record_ref(key, field=field_name("topic")))
        if topic_raw is not None
        else None
    )
    try:
        return SessionInfo(
            session_id=session_id,
            last_active=from_ms(_int(meta, "last_active", key)),
            started_at=from_ms(_int(meta, "started_at", key)) if started is not None else None,
            turn_count=_int(meta, "turns", key, 0),
            status=SessionStatus(_text(status_raw)),
            topic=topic,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptStateError(key, f"fields do not form a session entry: {exc}") from exc


__all__ = [
    "FIELD_PREFIX",
    "PLACEHOLDER_KEY",
    "STANDARD_MESSAGES",
    "STATE_FIELDS",
    "VERSION",
    "Trusted",
    "decode",
    "decode_message",
    "decode_messages",
    "encode",
    "encode_message",
    "encode_raw_message",
    "encode_update",
    "encode_update_fields",
    "field_name",
    "is_placeholder",
    "message_record",
    "normalise_meta",
    "placeholder",
    "session_info",
    "state_from_record",
]
