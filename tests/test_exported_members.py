"""The public API is exactly ``__all__``, every name resolves, and importing stays light."""

import subprocess
import sys

import pytest

import langchain_sessionstate as lss

EXPECTED = {
    "SessionMemory",
    "Settings",
    "ShortTermConfig",
    "LifecycleConfig",
    "ResumptionConfig",
    "MemoryConfig",
    "Clock",
    "SystemClock",
    "SimulatedClock",
    "SessionStateError",
    "InvalidInputError",
    "PayloadTooLargeError",
    "CorruptStateError",
    "StoreUnavailableError",
    "LeaseHeldError",
    "BackendError",
    "FailurePolicy",
    "Retry",
    "Backoff",
    "CircuitBreaker",
    "ShortTermStore",
    "SessionState",
    "SessionStatus",
    "StateUpdate",
    "TimedMessage",
    "FlowState",
    "PendingOperation",
    "Memory",
    "MemoryKind",
    "Tier",
    "ScoredMemory",
    "SessionSummary",
    "Journal",
    "Decision",
    "ContextItem",
    "ResumptionContext",
    "InMemoryShortTermStore",
    "RedisShortTermStore",
    "ResilientShortTermStore",
    "ChromaMemoryStore",
    "InMemoryMemoryStore",
    "MiniLMEmbeddings",
    "Sweeper",
    "SweepReport",
    "SessionContext",
    "SessionStateMiddleware",
    "SessionStateStore",
    "SessionCheckpointer",
    "ResumptionRetriever",
    "SessionChatMessageHistory",
    "get_session_history_factory",
    "memory_tools",
}


def test_all_lists_exactly_the_public_api() -> None:
    """``__all__`` is the curated list: nothing missing, nothing extra."""
    assert set(lss.__all__) == EXPECTED


def test_every_exported_name_resolves_to_an_object_of_that_name() -> None:
    """Each name in ``__all__`` imports and is the object it claims to be."""
    for name in lss.__all__:
        obj = getattr(lss, name)
        assert getattr(obj, "__name__", name) == name


def test_unknown_attribute_raises_attribute_error() -> None:
    """A typo fails loudly instead of returning something."""
    with pytest.raises(AttributeError, match="NoSuchThing"):
        lss.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_importing_the_package_does_not_load_torch_or_chroma() -> None:
    """``import langchain_sessionstate`` is cheap: heavy parts load on first use."""
    code = (
        "import sys, langchain_sessionstate; "
        "print(any(m in sys.modules for m in ('torch', 'chromadb', 'sentence_transformers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_testing_module_is_public_and_not_imported_by_the_package() -> None:
    """``langchain_sessionstate.testing`` ships the fake model for users' tests; importing the
    package does not load it."""
    import langchain_sessionstate.testing as testing

    assert testing.__all__ == ["FakeToolCallingModel"]
    code = (
        "import sys, langchain_sessionstate; print('langchain_sessionstate.testing' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
