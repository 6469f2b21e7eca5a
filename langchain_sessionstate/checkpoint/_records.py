"""Checkpoint records, channel blobs and pending writes <-> bytes, without I/O.

A record (field ``"<n>|<c>"`` of ``ck:cp``) is one ASCII header line, then the checkpoint::

    <ls> <le> <mlen> <base> <parent> <field>...\\n<typed body>

``ls``/``le`` are the slice of the session's message log that ends the messages channel's
value (``ls = le`` when it has none), ``mlen`` its length, ``base`` the blob field holding the
part of the value before that slice (``-``: none), ``parent`` the escaped parent checkpoint id
(``-``: none) and each ``field`` the ``ck:blobs`` field of one non-primitive channel value. The
scripts read the header (they cannot read the body); the body is the checkpoint without
channel values, its metadata, primitive channel values inline and the channel of each field,
serialised by the saver's LangGraph serializer (``serde``). A blob or write is ``type\\0bytes``
from ``serde.dumps_typed``. Decoding never guesses: a bad record raises
:class:`~langchain_sessionstate.errors.CorruptStateError` naming its key and field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from langchain_sessionstate.errors import CorruptStateError
from langchain_sessionstate.keys import unescape_id

INLINE_STR_CHARS = 256
"""Strings up to this length are stored inline in the record, like other primitives."""


def is_inline(value: Any) -> bool:
    """True for values copied into each record instead of stored once per version.

    Small primitives (the branch and trigger channels of every step) cost less inline than
    as one more blob per step, as LangGraph's Postgres saver also does.
    """
    kind = type(value)
    if value is None or kind in (bool, int, float):
        return True
    return kind is str and len(value) <= INLINE_STR_CHARS


def pack(typed: tuple[str, bytes]) -> bytes:
    """``type\\0bytes`` of a ``serde.dumps_typed`` pair."""
    return typed[0].encode("ascii") + b"\x00" + typed[1]


def unpack(serde: SerializerProtocol, raw: Any, *, key: str) -> Any:
    """The value of a packed blob; CorruptStateError naming ``key`` when it is not one."""
    if not isinstance(raw, bytes):
        raise CorruptStateError(key, "record is missing")
    kind, sep, data = raw.partition(b"\x00")
    if not sep:
        raise CorruptStateError(key, "not a typed value (no type tag)")
    try:
        return serde.loads_typed((kind.decode("ascii"), data))
    except Exception as exc:  # a serializer raises anything on garbage; name the record
        raise CorruptStateError(key, f"cannot deserialise: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Header:
    """The parsed header line of a record."""

    ls: int
    le: int
    mlen: int
    base: str | None
    parent: str | None
    fields: tuple[str, ...]

    def blob_fields(self) -> list[str]:
        """Fields whose values the read script returns, in its order (base first)."""
        return [*([self.base] if self.base else []), *self.fields]


def split_record(raw: Any, *, key: str) -> tuple[Header, bytes]:
    """``(header, body)`` of a stored record."""
    if not isinstance(raw, bytes):
        raise CorruptStateError(key, "record is missing")
    head, sep, body = raw.partition(b"\n")
    tokens = head.decode("ascii", "replace").split(" ")
    try:
        if not sep or len(tokens) < 5:
            raise ValueError("no header line")
        ls, le, mlen = int(tokens[0]), int(tokens[1]), int(tokens[2])
    except ValueError as exc:
        raise CorruptStateError(key, f"bad record header: {head[:80]!r}") from exc
    base = None if tokens[3] == "-" else tokens[3]
    parent = None if tokens[4] == "-" else unescape_id(tokens[4])
    return Header(ls, le, mlen, base, parent, tuple(t for t in tokens[5:] if t)), body


def header_rest(parent_escaped: str | None, fields: Sequence[str]) -> str:
    """The header after ``<ls> <le> <mlen> <base>``: parent, then the blob fields."""
    return " ".join([parent_escaped or "-", *fields])


def body(
    serde: SerializerProtocol,
    checkpoint: dict[str, Any],
    metadata: dict[str, Any],
    inline: dict[str, Any],
    channels: Sequence[str],
    messages_channel: str | None,
) -> bytes:
    """The record body: everything but the header and the stored channel values."""
    return pack(
        serde.dumps_typed(
            {
                "c": checkpoint,
                "m": metadata,
                "i": inline,
                "f": list(channels),
                "mc": messages_channel,
            }
        )
    )


@dataclass(frozen=True, slots=True)
class Body:
    """A decoded record body."""

    checkpoint: dict[str, Any]
    metadata: dict[str, Any]
    inline: dict[str, Any]
    channels: list[str]
    messages_channel: str | None


def read_body(serde: SerializerProtocol, raw: bytes, *, key: str) -> Body:
    """Decode a record body; CorruptStateError naming ``key`` if it is not one."""
    data = unpack(serde, raw, key=key)
    try:
        return Body(data["c"], data["m"], data["i"], list(data["f"]), data["mc"])
    except (KeyError, TypeError) as exc:
        raise CorruptStateError(key, f"not a checkpoint record: {exc}") from exc


def write_value(serde: SerializerProtocol, channel: str, task_path: str, value: Any) -> bytes:
    """A stored pending write: channel, task path and value in one typed value."""
    return pack(serde.dumps_typed([channel, task_path, value]))


def read_writes(
    serde: SerializerProtocol, fields: Sequence[Any], values: Sequence[Any], *, key: str
) -> list[tuple[str, str, Any]]:
    """``(task_id, channel, value)`` of stored writes, in ``writes_sort_key`` order.

    Live execution applies a step's writes by (task path, task id, index); replaying them in
    another order would let an order-sensitive reducer rebuild a different value.
    """
    rows: list[tuple[tuple[str, str, int], tuple[str, str, Any]]] = []
    for field, raw in zip(fields, values, strict=True):
        text = field.decode("ascii") if isinstance(field, bytes) else str(field)
        if raw is None:
            continue  # deleted between the index read and the value read: not a write
        parts = text.split("|")
        where = f"{key}#{text}"
        try:
            task_id, idx = unescape_id(parts[2]), int(parts[3])
        except (IndexError, ValueError) as exc:
            raise CorruptStateError(where, "bad write field") from exc
        item = unpack(serde, raw, key=where)
        if not isinstance(item, list | tuple) or len(item) != 3:
            raise CorruptStateError(where, "not a pending write")
        channel, task_path, value = item
        rows.append(((str(task_path), task_id, idx), (task_id, str(channel), value)))
    rows.sort(key=lambda row: row[0])
    return [write for _, write in rows]
