"""Fields and members inside a LangGraph thread's keys (the key names are in
:mod:`langchain_sessionstate.keys`, ``ThreadKeys``)."""

from __future__ import annotations

from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.keys import (
    escape_id,
    escape_ns,
    parse_index_member,
    quoted,
    unescape_id,
)

# --------------------------------------------------------------------------- checkpoints
#
# A LangGraph thread is a session of a user (thread id = session id). Its checkpoints live in
# a fixed set of keys beside the session keys (``p:T:u:<u>:s:<s>:ck:*``, see ThreadKeys), so
# one put touches one Cluster slot, every key of the thread shares one sliding TTL, and
# deleting the session deletes the thread. Fields and members inside those keys:
#
#     ck:cp     hash   "<n>|<c>"            -> record (header line, then the checkpoint)
#     ck:idx    zset   "<n>|<c>"            score 0: lexical order = checkpoint id order
#     ck:blobs  hash   "<n>|<ch>|<v>"       -> one channel value at one version
#     ck:w      hash   "<n>|<c>|<t>|<i>"    -> one pending write (task t, index i)
#     ck:widx   zset   "<n>|<c>|<t>|<i>"    score 0: the writes of one checkpoint by prefix
#     ck:runs   set    "<r>"                runs that wrote checkpoints of the thread
#
# and, per shard (the user's tag): ``ck:threads`` with members "<s>|<u>" (the users of a
# thread id) and ``ck:runs`` with members "<u>:<s>|<r>" (the threads of a run). ``n`` is the
# escaped checkpoint namespace ("" for the root graph), ``c`` a checkpoint id, ``ch`` a
# channel, ``v`` a channel version, ``t`` a task id, ``r`` a run id; all are escaped like
# ids, so none contains "|" or ":" and every prefix ending in "|" names exactly one parent.


def ck_member(ns: str, checkpoint_id: str) -> str:
    """``"<n>|<c>"``: a checkpoint's field in ``ck:cp`` and member of ``ck:idx``."""
    return f"{escape_ns(ns)}|{escape_id(checkpoint_id, 'checkpoint_id')}"


def ck_blob_field(ns: str, channel: str, version: str | int | float) -> str:
    """``"<n>|<ch>|<v>"``: one channel value at one version in ``ck:blobs``."""
    return f"{escape_ns(ns)}|{escape_id(channel, 'channel')}|{escape_id(str(version), 'version')}"


def ck_write_field(ns: str, checkpoint_id: str, task_id: str, idx: int) -> str:
    """``"<n>|<c>|<t>|<i>"``: one pending write in ``ck:w`` and member of ``ck:widx``."""
    return f"{ck_member(ns, checkpoint_id)}|{escape_id(task_id, 'task_id')}|{int(idx)}"


def parse_ck_member(member: str | bytes) -> tuple[str, str]:
    """``(ns, checkpoint_id)`` of a ``ck:idx`` member; InvalidInputError if malformed."""
    text = member.decode("ascii", "replace") if isinstance(member, bytes) else member
    ns, sep, cid = text.partition("|")
    if not sep or "|" in cid:
        raise InvalidInputError(f"not a checkpoint member: {quoted(text)}")
    return (unescape_id(ns) if ns else ""), unescape_id(cid)


def parse_ck_blob_field(field: str | bytes) -> tuple[str, str, str]:
    """``(ns, channel, version)`` of a ``ck:blobs`` field; InvalidInputError if malformed."""
    text = field.decode("ascii", "replace") if isinstance(field, bytes) else field
    parts = text.split("|")
    if len(parts) != 3:
        raise InvalidInputError(f"not a checkpoint blob field: {quoted(text)}")
    ns, channel, version = parts
    return (unescape_id(ns) if ns else ""), unescape_id(channel), unescape_id(version)


def parse_thread_member(member: str | bytes) -> tuple[str, str]:
    """``(session_id, user_id)`` of a ``ck:threads`` member."""
    text = member.decode("ascii", "replace") if isinstance(member, bytes) else member
    session, sep, user = text.partition("|")
    if not sep:
        raise InvalidInputError(f"not a thread index member: {quoted(text)}")
    return unescape_id(session), unescape_id(user)


def parse_run_member(member: str | bytes) -> tuple[str, str, str]:
    """``(user_id, session_id, run_id)`` of a ``ck:runs`` index member."""
    text = member.decode("ascii", "replace") if isinstance(member, bytes) else member
    owner, sep, run = text.partition("|")
    if not sep:
        raise InvalidInputError(f"not a run index member: {quoted(text)}")
    user, session = parse_index_member(owner)
    return user, session, unescape_id(run)


__all__ = [
    "ck_blob_field",
    "ck_member",
    "ck_write_field",
    "parse_ck_blob_field",
    "parse_ck_member",
    "parse_run_member",
    "parse_thread_member",
]
