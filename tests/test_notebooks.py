"""Every notebook in ``notebooks/`` runs top to bottom offline, on the embedded default (the
checkpointer notebook starts a throwaway ``redis-server`` of its own).

The kernel is this test's own interpreter (the project's venv), through a kernelspec written
to a temporary ``JUPYTER_PATH``: a ``python3`` kernelspec elsewhere on the machine (a user's
``~/.local/share/jupyter``) can never run the notebooks against another Python.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
KERNEL = "sessionstate-tests"


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A kernelspec that runs ``sys.executable``, found first through ``JUPYTER_PATH``."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "sessionstate (test venv)",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    patch = pytest.MonkeyPatch()
    patch.setenv("JUPYTER_PATH", str(root))
    # The kernel imports the package from this checkout even when it is not installed.
    patch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    patch.setenv("HF_HUB_OFFLINE", "1")
    patch.setenv("TRANSFORMERS_OFFLINE", "1")
    try:
        yield KERNEL
    finally:
        patch.undo()


def _outputs(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def test_the_notebooks_are_committed_with_outputs() -> None:
    """The repository shows executed notebooks: every code cell ran and has a count."""
    names = [path.name for path in NOTEBOOKS]
    assert names == [
        "01_quickstart.ipynb",
        "02_agent_with_memory.ipynb",
        "03_rag_retriever.ipynb",
        "04_look_inside.ipynb",
        "05_threads_checkpointer.ipynb",
    ]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        counts = [c.execution_count for c in notebook.cells if c.cell_type == "code"]
        assert None not in counts, f"{path.name} has unexecuted cells"
        assert not [o for o in _outputs(notebook) if o.output_type == "error"], path.name


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_a_cell_error(path: Path, kernel_name: str, tmp_path: Path) -> None:
    """Executing the notebook raises on the first failing cell; none fails."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=kernel_name,
        timeout=240,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = _outputs(notebook)
    assert outputs, f"{path.name} printed nothing"
    if path.stem == "04_look_inside":
        assert any("image/png" in o.get("data", {}) for o in outputs), "no plot rendered"
