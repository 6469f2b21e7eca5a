"""Bounds on what one message can cost after it is stored.

A message may be large (up to ``ShortTermConfig.max_message_bytes``) or not language at all (a
base64 paste, a minified file): stored whole, it must not make extraction, summaries,
embeddings or rendering grow with it. :func:`bounded` keeps at most ``max_chars`` of a text,
cut at a word, with every unspaced run longer than :data:`MAX_WORD` characters replaced by a
short marker (whitespace is normalised to single spaces).
"""

from __future__ import annotations

import re

from langchain_core.messages import BaseMessage

from langchain_sessionstate.models import TimedMessage

MAX_WORD = 48
"""Longer runs without a space are not words a summary or a search can use."""

_RUN = re.compile(rf"\S{{{MAX_WORD + 1},}}")
_WORD = re.compile(r"\S+")


def bounded(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters of ``text``: unspaced runs longer than
    :data:`MAX_WORD` become ``[…]`` and the end is cut at a word (marked ``…``). It stops at
    the bound and never copies a long run, so its cost does not grow with what it drops."""
    if len(text) <= max_chars and not _RUN.search(text):
        return text
    words: list[str] = []
    size = 0
    for match in _WORD.finditer(text):
        start, end = match.span()
        word = "[…]" if end - start > MAX_WORD else match.group()
        if words and word == "[…]" == words[-1]:
            continue
        if size + len(word) + bool(words) > max_chars:
            return " ".join(words) + " …"
        words.append(word)
        size += len(word) + (len(words) > 1)
    return " ".join(words)


def bounded_message(message: BaseMessage, max_chars: int) -> BaseMessage:
    """``message`` with its text bounded (content blocks: each text block bounded)."""
    content = message.content
    if isinstance(content, str):
        text = bounded(content, max_chars)
        return message if text is content else message.model_copy(update={"content": text})
    blocks: list[str | dict[str, object]] = []
    for block in content:
        if isinstance(block, str):
            blocks.append(bounded(block, max_chars))
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            blocks.append({**block, "text": bounded(str(block["text"]), max_chars)})
        else:
            blocks.append(block)
    return message.model_copy(update={"content": blocks})


def bounded_turn(turn: TimedMessage, max_chars: int) -> TimedMessage:
    """A stored message with its text bounded (time and device kept)."""
    message = bounded_message(turn.message, max_chars)
    return turn if message is turn.message else turn.model_copy(update={"message": message})


__all__ = ["MAX_WORD", "bounded", "bounded_message", "bounded_turn"]
