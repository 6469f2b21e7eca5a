"""Every notebook in ``notebooks/`` runs top to bottom offline and prints what it shows.

Each notebook is executed on a clean kernel (the project's venv, see
``tests/notebook_outputs.py``) and its outputs are compared with the saved ones after the small
normalisation documented there (trailing whitespace, images by size). A notebook whose code
changed without ``make notebooks`` fails here. The checkpointer notebook starts a throwaway
``redis-server`` of its own.
"""

from __future__ import annotations

import base64
import io
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tests import notebook_outputs as nbo

NOTEBOOKS = nbo.notebooks()
# The pictures each notebook draws (a reader would rather look than read a table).
PICTURES = {"01_quickstart": 1, "04_look_inside": 3}


@pytest.fixture(scope="module")
def kernel_name() -> Iterator[str]:
    """A kernelspec running this interpreter on this checkout, offline."""
    with nbo.kernel_environment() as name:
        yield name


def _outputs(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def _pngs(notebook: nbformat.NotebookNode) -> list[str]:
    return [o.data["image/png"] for o in _outputs(notebook) if "image/png" in o.get("data", {})]


def test_the_notebooks_are_committed_from_one_clean_run() -> None:
    """The repository shows executed notebooks: cells numbered 1..n, no error, no timings,
    and the pictures each one draws."""
    assert [path.name for path in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_agent_with_memory.ipynb",
        "03_rag_retriever.ipynb",
        "04_look_inside.ipynb",
        "05_threads_checkpointer.ipynb",
    ]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert nbo.counts_problem(notebook) is None, path.name
        assert not [o for o in _outputs(notebook) if o.output_type == "error"], path.name
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert not [c for c in code if "execution" in c.metadata], f"{path.name}: wall-clock"
        assert notebook.metadata.kernelspec.name == "python3", path.name
        assert len(_pngs(notebook)) == PICTURES.get(path.stem, 0), path.name


def test_the_notebooks_extra_installs_jupyter() -> None:
    """`pip install -e ".[notebooks]"` brings a Jupyter front end, a kernel, matplotlib and the
    embedding model the notebooks load."""
    project = tomllib.loads((nbo.REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extra = project["optional-dependencies"]["notebooks"]
    names = {re.split(r"[<>=\[ ]", requirement)[0] for requirement in extra}
    assert {"jupyterlab", "ipykernel", "matplotlib"} <= names
    assert "langchain-sessionstate[embeddings]" in extra


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_prints_its_saved_outputs(path: Path, kernel_name: str) -> None:
    """A clean run raises in no cell and prints exactly the saved outputs (normalised)."""
    saved = nbformat.read(path, as_version=4)
    fresh = nbo.execute(saved, kernel_name)
    problems = nbo.differences(saved, fresh)
    assert not problems, (
        f"{path.name}: the saved outputs are not what the notebook prints now; "
        "run `make notebooks` and commit the result.\n" + "\n".join(problems)
    )


def _png(width: int, height: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _notebook(*outputs: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell = new_code_cell("pass", execution_count=1)
    cell.outputs = list(outputs)
    return new_notebook(cells=[cell])


def test_the_comparison_ignores_only_what_it_documents() -> None:
    """Trailing whitespace, split prints and image bytes do not count; text, image sizes and
    added outputs do."""
    saved = _notebook(
        new_output("stream", name="stdout", text="a  \nb\n\n"),
        new_output("display_data", data={"image/png": _png(200, 100), "text/plain": "<Figure>"}),
    )
    same = _notebook(
        new_output("stream", name="stdout", text="a\n"),
        new_output("stream", name="stdout", text="b"),
        new_output("display_data", data={"image/png": _png(200, 100), "text/plain": "<Figure> "}),
    )
    assert nbo.differences(saved, same) == []

    other_text = _notebook(
        new_output("stream", name="stdout", text="a\nc\n"),
        new_output("display_data", data={"image/png": _png(200, 100), "text/plain": "<Figure>"}),
    )
    other_size = _notebook(
        new_output("stream", name="stdout", text="a\nb\n"),
        new_output("display_data", data={"image/png": _png(300, 100), "text/plain": "<Figure>"}),
    )
    no_image = _notebook(new_output("stream", name="stdout", text="a\nb\n"))
    for changed in (other_text, other_size, no_image):
        assert len(nbo.differences(saved, changed)) == 1
    assert nbo.png_size(_png(300, 100)) == (300, 100)


@pytest.mark.notebook
def test_a_code_change_without_regenerated_outputs_fails(kernel_name: str) -> None:
    """Executing a notebook whose code now prints something else reports the cell."""
    notebook = _notebook(new_output("stream", name="stdout", text="2\n"))
    notebook.cells[0].source = "print(1 + 1)"
    assert nbo.differences(notebook, nbo.execute(notebook, kernel_name)) == []
    notebook.cells[0].source = "print(1 + 2)"
    problems = nbo.differences(notebook, nbo.execute(notebook, kernel_name))
    assert len(problems) == 1
    assert "'3'" in problems[0]
