"""Words in any language, relative dates, and which sentences state something (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from langchain_sessionstate.longterm.dates import resolve
from langchain_sessionstate.longterm.statements import (
    is_filler,
    is_question,
    statements,
    third_person,
)
from langchain_sessionstate.longterm.text import (
    bigrams,
    language,
    sentences,
    stems,
    terms,
    tokens,
)

MONDAY = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def test_words_keep_accents_cyrillic_and_inner_apostrophes() -> None:
    """Unicode words are whole: "Zürich" is one token, not "rich"; Cyrillic is indexed."""
    assert tokens("Ich wohne in Zürich, don't ask!") == ["ich", "wohne", "zürich", "ask"]
    assert tokens("Я живу в Москве") == ["живу", "москве"]


def test_unspaced_scripts_are_indexed_as_character_bigrams() -> None:
    """Chinese runs become overlapping bigrams, so a two-character word matches inside them."""
    assert bigrams("我住在上海") == ["我住", "住在", "在上", "上海"]
    assert "上海" in terms("我住在上海，是一名护士")
    assert "上海" in terms("谁住在上海？")


def test_terms_add_the_folded_form_and_the_stem_in_the_texts_language() -> None:
    """Each word is indexed as written, without accents and stemmed in its language."""
    assert language("Ich wohne seit drei Jahren in Zürich und arbeite als Pfleger.") == "de"
    assert {"zürich", "zurich"} <= set(terms("Ich wohne seit drei Jahren in Zürich."))
    assert "москв" in terms("Я живу в Москве")
    assert "москв" in terms("Москва большая")
    assert {"painting", "paint"} <= set(terms("I love painting"))


def test_short_texts_fall_back_to_their_scripts_language() -> None:
    """A text too short to identify is stemmed as the most written language of its script."""
    assert language("Thanks!") == "en"
    assert language("Ок!") == "ru"


def test_stems_match_inflections() -> None:
    """Two inflections of a word share a stem; stop words leave none."""
    assert stems("partitioned tables") & stems("partitioning the table") == {"partit", "tabl"}
    assert stems("and the of") == set()


def test_sentences_split_on_terminal_punctuation_but_not_decimals() -> None:
    """'3.5' stays whole; CJK full stops split without a space."""
    assert sentences("It was 3.5 km! Great.") == ["It was 3.5 km!", "Great."]
    assert sentences("我住在上海。是护士") == ["我住在上海。", "是护士"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I went there yesterday.", "I went there on 7 May 2023."),
        ("I painted that last year!", "I painted that in 2022!"),
        ("We go camping next month.", "We go camping in June 2023."),
        ("Last week I met them.", "The week before 8 May 2023 I met them."),
        ("I got a puppy two weeks ago.", "I got a puppy two weeks before 8 May 2023."),
        ("Two days ago I signed up.", "On 6 May 2023 I signed up."),
        ("I made ice cream last Friday.", "I made ice cream on Friday, 5 May 2023."),
        ("On Friday I got great news.", "On Friday, 5 May 2023 I got great news."),
        ("I will see them on Friday.", "I will see them on Friday, 12 May 2023."),
        ("I lost my job this month.", "I lost my job in May 2023."),
        ("Sick since yesterday.", "Sick since 7 May 2023."),
        ("I work on Fridays.", "I work on Fridays."),
    ],
)
def test_relative_dates_become_absolute_from_the_messages_time(text: str, expected: str) -> None:
    """Relative expressions resolve against when the message was written (a Monday)."""
    assert resolve(text, MONDAY) == expected


def test_annotation_keeps_the_words_and_adds_the_date() -> None:
    """Shown raw, a turn keeps what was said and gains the date in parentheses."""
    assert resolve("I went yesterday.", MONDAY, mode="annotate") == "I went yesterday (7 May 2023)."
    assert resolve("On Friday I won.", MONDAY, mode="annotate") == "On Friday (5 May 2023) I won."


def test_small_talk_is_filler_and_statements_are_not() -> None:
    """Greetings, thanks and reactions say nothing; a sentence with content does."""
    names = ["Caroline", "Melanie"]
    assert is_filler("Hey Mel! Good to see you!", names)
    assert is_filler("Wow, that's cool, Caroline!", names)
    assert is_filler("Anything else?")
    assert not is_filler("The transgender stories were so inspiring!", names)
    assert is_question("Did you go?")
    assert not is_question("I went.")
    assert statements("Thanks! I adopted a puppy. Is it cute?", names) == ["I adopted a puppy."]


def test_third_person_names_the_speaker_once_then_says_they() -> None:
    """A first-person claim is reported about its speaker, verbs agreeing, no gender guessed."""
    assert third_person("I prefer short answers.", "Maya") == "Maya prefers short answers."
    assert (
        third_person("I love my dog and I am proud of it.", "Mel")
        == "Mel loves their dog and they are proud of it."
    )
    assert third_person("I'm a nurse.", "Ana") == "Ana is a nurse."
    assert third_person("I no longer prefer tea.", "Ana") == "Ana no longer prefers tea."
    assert third_person("I like dark mode", None) == "The user likes dark mode"
