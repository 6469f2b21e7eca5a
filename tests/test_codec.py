"""The record envelope: round trips, compression, limits and loud corruption."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_sessionstate import codec
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import (
    CorruptStateError,
    InvalidInputError,
    PayloadTooLargeError,
)
from langchain_sessionstate.models import FlowState, PendingOperation, StateUpdate, TimedMessage

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)

text = st.text(max_size=200)
tool_calls = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.text(min_size=1, max_size=20),
            "args": st.dictionaries(st.text(max_size=8), st.integers(-(2**53), 2**53) | text),
            "id": st.text(min_size=1, max_size=12),
        }
    ),
    max_size=3,
)
messages: st.SearchStrategy[BaseMessage] = st.one_of(
    st.builds(HumanMessage, content=text),
    st.builds(SystemMessage, content=text),
    st.builds(AIMessage, content=text, tool_calls=tool_calls),
    st.builds(ToolMessage, content=text, tool_call_id=st.text(min_size=1, max_size=12)),
    st.builds(ChatMessage, content=text, role=st.text(min_size=1, max_size=8)),
)
when = datetime(2026, 3, 2, 9, 0, 0, 123000, tzinfo=UTC)


@given(json_values)
def test_any_json_value_round_trips(value: Any) -> None:
    """Encoding then decoding returns an equal value."""
    assert codec.decode(codec.encode(value), key="k") == value


@given(messages, st.none() | st.text(min_size=1, max_size=10))
def test_any_message_round_trips_with_time_and_device(message: BaseMessage, device: Any) -> None:
    """Messages keep type, content, tool calls, time and device."""
    data = codec.encode_message(TimedMessage(message=message, at=when, device_id=device))
    back = codec.decode_message(data, key="k")
    assert back.message == message
    assert type(back.message) is type(message)
    assert back.message.model_dump() == message.model_dump()
    assert back.at == when
    assert back.device_id == device
    assert back == TimedMessage(message=message, at=when, device_id=device)


@given(messages, st.none() | st.text(min_size=1, max_size=10))
def test_the_fast_message_encoding_writes_what_message_to_dict_would(
    message: BaseMessage, device: Any
) -> None:
    """Writing field values directly gives the very bytes of the ``message_to_dict`` path."""
    fast = codec.encode_raw_message(message, 1_700_000_000_000, device)
    slow = codec.encode(codec.message_record(message, 1_700_000_000_000, device))
    assert fast == slow


def test_a_message_orjson_cannot_write_directly_takes_the_model_dump_path() -> None:
    """A nested model in ``additional_kwargs`` is dumped by pydantic, as before."""
    ai = AIMessage("x", additional_kwargs={"when": StateUpdate(topic="t")})
    back = codec.decode_message(codec.encode_raw_message(ai, 0, None), key="k").message
    assert back.additional_kwargs["when"]["topic"] == "t"


@given(
    st.builds(
        StateUpdate,
        topic=st.none() | text,
        entities=st.none() | st.lists(text, max_size=3),
        engagement=st.none() | st.floats(allow_nan=False, allow_infinity=False),
        flow=st.none() | st.builds(FlowState, name=text, step=text),
        pending=st.none() | st.lists(st.builds(PendingOperation, id=text, name=text), max_size=2),
        metadata=st.none()
        | st.dictionaries(st.text(max_size=5), st.integers(-(2**53), 2**53), max_size=3),
    )
)
def test_update_encoding_writes_exactly_the_set_fields_as_json(update: StateUpdate) -> None:
    """Plain values are written as they are, models through pydantic: same as written_fields."""
    expected = {codec.field_name(k): codec.encode(v) for k, v in update.written_fields().items()}
    assert dict(codec.encode_update(update)) == expected


def test_a_message_with_extra_fields_takes_the_validating_path() -> None:
    """The fast rebuild takes only exactly the model's fields; anything else is validated."""
    human = HumanMessage("hi", id="m1", custom_flag=True)
    back = codec.decode_message(
        codec.encode_message(TimedMessage(message=human, at=when)), key="k"
    ).message
    assert back == human
    assert back.model_extra == {"custom_flag": True}
    plain = codec.decode_message(
        codec.encode_message(TimedMessage(message=HumanMessage("hi"), at=when)), key="k"
    ).message
    assert plain.model_extra == {}
    assert plain.model_fields_set == set(HumanMessage.model_fields)


def test_tool_calls_survive_storage() -> None:
    """An AI message's tool calls come back with names, args and ids."""
    ai = AIMessage(
        content="", tool_calls=[{"name": "search", "args": {"q": "naïve ✓"}, "id": "c1"}]
    )
    back = codec.decode_message(
        codec.encode_message(TimedMessage(message=ai, at=when)), key="k"
    ).message
    assert isinstance(back, AIMessage)
    assert back.tool_calls[0]["name"] == "search"
    assert back.tool_calls[0]["args"] == {"q": "naïve ✓"}
    assert back.tool_calls[0]["id"] == "c1"


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_garbage_bytes_raise_corrupt_state_naming_the_key(garbage: bytes) -> None:
    """Arbitrary bytes never decode to something and never raise another error type."""
    with pytest.raises(CorruptStateError) as info:
        codec.decode(garbage, key="ss:{00}:u:a:s:b:meta#f:topic")
    assert info.value.key == "ss:{00}:u:a:s:b:meta#f:topic"
    assert "ss:{00}:u:a:s:b:meta#f:topic" in str(info.value)


@given(json_values, st.data())
def test_any_single_byte_change_is_detected(value: Any, data: st.DataObject) -> None:
    """Flipping any byte of a record, header included, raises CorruptStateError."""
    record = bytearray(codec.encode(value))
    index = data.draw(st.integers(0, len(record) - 1))
    record[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CorruptStateError):
        codec.decode(bytes(record), key="k")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (b"\x01\x00", "truncated"),
        (struct.pack(">BBI", 9, 0, zlib.crc32(b"1")) + b"1", "version"),
        (struct.pack(">BBI", 1, 0x80, zlib.crc32(b"1")) + b"1", "flags"),
        (struct.pack(">BBI", 1, 0, 0) + b"1", "checksum"),
        (struct.pack(">BBI", 1, 0, zlib.crc32(b"{nope")) + b"{nope", "JSON"),
        (struct.pack(">BBI", 1, 1, zlib.crc32(b"raw")) + b"raw", "compressed"),
        (None, "missing"),
    ],
)
def test_each_defect_has_its_own_reason(data: bytes | None, reason: str) -> None:
    """Truncation, version, flags, checksum, JSON and zlib defects are told apart."""
    with pytest.raises(CorruptStateError, match=reason):
        codec.decode(data, key="k")


def test_a_ten_megabyte_value_is_compressed_and_round_trips() -> None:
    """Large records are zlib-compressed above the threshold and decode unchanged."""
    big = {"text": "the quick brown fox jumps over the lazy dog. " * 240_000}
    data = codec.encode(big)
    assert data[1] & codec.FLAG_ZLIB
    assert len(data) < 1_000_000
    assert codec.decode(data, key="k") == big


def test_small_records_are_stored_uncompressed() -> None:
    """Below the threshold the payload is plain compact JSON."""
    data = codec.encode({"a": 1})
    assert data[1] == 0
    assert data[6:] == b'{"a":1}'


def test_non_serialisable_values_are_refused_as_invalid_input() -> None:
    """An object inside a value raises InvalidInputError quoting it."""
    with pytest.raises(InvalidInputError, match="not JSON-serialisable"):
        codec.encode({"x": object()})


def test_a_state_update_holding_an_object_is_refused() -> None:
    """A StateUpdate whose metadata holds an object cannot be encoded."""
    with pytest.raises(InvalidInputError):
        codec.encode_update(StateUpdate(metadata={"x": object()}))


def test_records_over_the_size_limit_are_refused() -> None:
    """max_record_bytes bounds the encoded size, after compression."""
    config = ShortTermConfig(max_record_bytes=1024, compress_threshold=10_000)
    with pytest.raises(PayloadTooLargeError, match="1024"):
        codec.encode("x" * 2000, config)


def test_a_stored_value_that_is_not_a_message_is_corrupt() -> None:
    """A valid envelope holding something else is reported, not half-decoded."""
    with pytest.raises(CorruptStateError, match="not a stored message"):
        codec.decode_message(codec.encode({"hello": 1}), key="k[3]")


def test_state_from_record_names_the_bad_field() -> None:
    """A garbled state field raises CorruptStateError naming ``key#field``."""
    meta = {
        "started_at": b"1",
        "last_active": b"2",
        "turns": b"1",
        "msgs": b"0",
        "f:topic": b"garbage",
    }
    with pytest.raises(CorruptStateError) as info:
        codec.state_from_record("u", "s", meta, [], key="K")
    assert info.value.key == "K#f:topic"
    meta["f:topic"] = codec.encode("ok")
    meta["turns"] = b"many"
    with pytest.raises(CorruptStateError) as info:
        codec.state_from_record("u", "s", meta, [], key="K")
    assert info.value.key == "K#turns"
