"""The key schema: validation, reversible escaping, hash tags and index members."""

from __future__ import annotations

import re
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_sessionstate.checkpoint._members import (
    ck_blob_field,
    ck_member,
    ck_write_field,
    escape_ns,
    parse_ck_blob_field,
    parse_ck_member,
    parse_run_member,
    parse_thread_member,
)
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.keys import (
    KeySchema,
    all_shard_tags,
    escape_id,
    index_member,
    parse_index_member,
    shard_of,
    unescape_id,
)

ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=256
)
ESCAPED = re.compile(r"^(?:[A-Za-z0-9._@+=\-]|%[0-9A-F]{2})+$")


@given(ids)
def test_escaping_round_trips_and_stays_in_the_safe_alphabet(value: str) -> None:
    """Any valid id escapes to safe characters only and unescapes back to itself."""
    escaped = escape_id(value)
    assert ESCAPED.match(escaped)
    assert unescape_id(escaped) == value


@given(ids, ids)
def test_escaping_is_injective(a: str, b: str) -> None:
    """Two different ids never share an escaped form."""
    if a != b:
        assert escape_id(a) != escape_id(b)


@pytest.mark.parametrize("hostile", ["alice:*", "a{b}c", "x|y", "with space", "100%", "é✓"])
def test_separators_and_hash_tag_characters_never_reach_a_key(hostile: str) -> None:
    """``:``, ``*``, braces, pipes, spaces and percent signs are all escaped."""
    escaped = escape_id(hostile)
    for ch in ":*{}| ":
        assert ch not in escaped
    assert unescape_id(escaped) == hostile


def test_plain_ids_are_kept_readable() -> None:
    """Ids already made of safe characters are used as they are."""
    assert escape_id("user-42@example.com") == "user-42@example.com"


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        ("", "empty"),
        ("a\nb", "control"),
        ("tab\there", "control"),
        ("x" * 257, "at most 256"),
        ("y" * 10_000, "at most 256"),
    ],
)
def test_bad_ids_are_refused_with_the_rule_and_the_value(bad: str, rule: str) -> None:
    """Empty, overlong and control-character ids raise InvalidInputError naming the rule."""
    with pytest.raises(InvalidInputError, match=rule) as info:
        escape_id(bad, "user_id")
    message = str(info.value)
    assert "user_id" in message
    assert len(message) < 300  # a huge value is truncated in the message
    assert isinstance(info.value, ValueError)


def test_a_non_string_id_is_refused() -> None:
    """Ids must be strings."""
    with pytest.raises(InvalidInputError, match="string"):
        escape_id(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["abc%", "%zz", "a:b", "%C3"])
def test_unescape_refuses_text_escaping_cannot_produce(text: str) -> None:
    """Malformed escaped text raises rather than returning a wrong id."""
    with pytest.raises(InvalidInputError):
        unescape_id(text)


def test_all_keys_of_a_user_share_one_hash_tag_and_its_shard_indexes() -> None:
    """Session, user and shard index keys of one user carry the same ``{NN}`` tag."""
    config = ShortTermConfig(key_prefix="p", sweep_shards=16)
    keys = KeySchema(config)
    user = "alice:*"
    tag = "{" + f"{zlib.crc32(user.encode()) % 16:02x}" + "}"
    sk = keys.session(user, "s 1")
    uk = keys.user(user)
    every = [
        sk.meta, sk.msgs, sk.writes, sk.claim, sk.sessions, sk.sweep_active, sk.sweep_soft,
        sk.archive, sk.archives, sk.archives_index, uk.lease,
    ]  # fmt: skip
    for key in every:
        assert re.findall(r"\{[^}]*\}", key) == [tag], key
        assert key.startswith(f"p:{tag}:")
    assert sk.meta == f"p:{tag}:u:alice%3A%2A:s:s%201:meta"
    assert sk.sweep_active == f"p:{tag}:sweep:active"
    assert uk.archive("s%201") == sk.archive


def test_shard_tags_cover_every_shard_with_two_hex_digits() -> None:
    """One tag per shard; users map into them by crc32."""
    config = ShortTermConfig(sweep_shards=300)
    tags = all_shard_tags(config)
    assert len(tags) == 300
    assert tags[0] == "{00}"
    assert tags[10] == "{0a}"
    assert tags[299] == "{12b}"
    assert KeySchema(config).tag_for("bob") == tags[shard_of("bob", 300)]


@given(ids, ids)
def test_index_members_parse_back_to_their_ids(user: str, session: str) -> None:
    """``"<u>:<s>"`` members are unambiguous even when ids contain colons."""
    assert parse_index_member(index_member(user, session)) == (user, session)
    assert parse_index_member(index_member(user, session).encode()) == (user, session)


def test_a_malformed_index_member_is_refused() -> None:
    """A member without a separator is not silently accepted."""
    with pytest.raises(InvalidInputError):
        parse_index_member("no-separator")


# --------------------------------------------------------------------------- checkpoints

namespaces = st.one_of(st.just(""), ids)


@given(namespaces, ids)
def test_checkpoint_members_round_trip(ns: str, checkpoint_id: str) -> None:
    """A checkpoint member parses back to its namespace (root included) and id."""
    member = ck_member(ns, checkpoint_id)
    assert member.count("|") == 1
    assert parse_ck_member(member) == (ns, checkpoint_id)


@given(namespaces, ids, ids)
def test_blob_fields_round_trip(ns: str, channel: str, version: str) -> None:
    """A blob field parses back to its namespace, channel and version."""
    assert parse_ck_blob_field(ck_blob_field(ns, channel, version)) == (ns, channel, version)


@given(namespaces, ids, ids, st.integers(min_value=-4, max_value=10_000))
def test_write_fields_start_with_their_checkpoint_member(
    ns: str, checkpoint_id: str, task_id: str, idx: int
) -> None:
    """The writes of a checkpoint are exactly the fields under ``"<member>|"``."""
    field = ck_write_field(ns, checkpoint_id, task_id, idx)
    member = ck_member(ns, checkpoint_id)
    assert field.startswith(member + "|")
    _ns, _cid, task, index = field.split("|")
    assert (unescape_id(task), int(index)) == (task_id, idx)


@given(ids, ids, ids)
def test_thread_and_run_index_members_round_trip(user: str, session: str, run: str) -> None:
    """Index members name the thread's user and session (and run) and parse back."""
    thread = KeySchema().session(user, session).thread
    assert parse_thread_member(thread.thread_member) == (session, user)
    assert parse_run_member(thread.runs_prefix + escape_id(run)) == (user, session, run)


def test_a_threads_keys_share_the_users_hash_tag_and_sit_beside_its_session() -> None:
    """Every key of a thread (and the shard indexes it writes) is in the user's slot."""
    keys = KeySchema(ShortTermConfig(key_prefix="p"))
    session = keys.session("alice", "t-1")
    thread = session.thread
    for key in (*thread.own, thread.threads_index, thread.runs_index):
        assert key.startswith(f"p:{session.tag}:")
    for key in thread.own:
        assert key.startswith(session.meta.removesuffix(":meta") + ":ck:")
    assert keys.user("alice").thread(session.session) == thread
    assert len(set(thread.own)) == 6


def test_namespace_prefixes_never_overlap() -> None:
    """One namespace's members are never inside another's lexical range."""
    a = ck_member("child", "1")
    b = ck_member("child:x", "1")
    assert not b.startswith(escape_ns("child") + "|")
    assert a.startswith(escape_ns("child") + "|")


@pytest.mark.parametrize("bad", ["a\nb", "x" * 3000])
def test_bad_namespaces_are_refused(bad: str) -> None:
    """Control characters and oversized namespaces never reach a key."""
    with pytest.raises(InvalidInputError):
        escape_ns(bad)
