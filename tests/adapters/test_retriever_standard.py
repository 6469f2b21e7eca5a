"""langchain-tests' standard retriever suite against the resumption retriever on real stores."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_sessionstate.adapters.retriever import ResumptionRetriever
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.resumption.resumer import Resumer
from tests.fixtures.resumption import SEED_USER, RealStores


class TestResumptionRetrieverStandard(RetrieversIntegrationTests):
    """Constructor ``k``, per-call ``k``, sync and async invocation return Documents."""

    _resumer: Resumer

    @pytest.fixture(autouse=True)
    def _stores(self, filled_stores: RealStores, clock: SimulatedClock) -> None:
        """A user with seven memories and one archived conversation, two days later."""
        self._resumer = Resumer(filled_stores.short_term, filled_stores.long_term, clock=clock)

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return ResumptionRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"resumer": self._resumer, "user_id": SEED_USER}

    @property
    def retriever_query_example(self) -> str:
        return "What do I drink in the morning?"
