"""A client process killed by its own model call: after the user's message, before a reply.

``python -m tests.scenarios.dying_client ENTRY URL FOLDER PREFIX NOW_ISO TEXT MESSAGE_ID``
"""

from __future__ import annotations

import os
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from tests.scenarios.conftest import Client, EchoModel, scenario_memory

KILLED = 9


class DyingModel(EchoModel):
    """The process dies the moment the model is asked to answer."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        os._exit(KILLED)


def main() -> None:
    warnings.simplefilter("ignore")  # RunnableWithMessageHistory's deprecation notice
    entry, url, folder, prefix, now, text, message_id = sys.argv[1:8]
    clock = SimulatedClock(datetime.fromisoformat(now))
    memory = scenario_memory(url, Path(folder), clock, prefix, MiniLMEmbeddings())
    Client(memory, entry, model=DyingModel(prompts=[])).send(text, message_id)
    sys.exit(1)  # the model call should have killed the process


if __name__ == "__main__":
    main()
