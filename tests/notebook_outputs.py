"""Execute the notebooks on a clean kernel and compare or rewrite their saved outputs.

Used by ``tests/test_notebooks.py`` (compare) and ``make notebooks`` (rewrite):
``python -m tests.notebook_outputs [--check] [NAME ...]``.

Outputs are compared after one small normalisation, the same on both sides:

* consecutive stream outputs of one stream are joined (a kernel may flush a print in pieces);
* every text line loses its trailing whitespace, and trailing blank lines are dropped;
* an image is compared by its format and pixel size, never by its bytes (a new matplotlib or
  FreeType changes pixels, not what the picture shows);
* execution counts and cell metadata are not compared: a clean run numbers cells 1..n, and a
  saved notebook must show exactly that (:func:`counts_problem`).

The kernel is the interpreter running this module (the project's venv), through a kernelspec
written to a temporary ``JUPYTER_PATH``, so a ``python3`` kernel elsewhere on the machine never
runs the notebooks. Each notebook runs in an empty temporary working directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import struct
import sys
import tempfile
import time
from base64 import b64decode
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
KERNEL = "sessionstate-notebooks"
TIMEOUT = 300  # seconds per cell: the first embedding of a notebook loads the model

Normalised = list[list[tuple[Any, ...]]]  # per code cell, its outputs in comparable form


def notebooks() -> list[Path]:
    """The project's notebooks, in reading order."""
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


@contextlib.contextmanager
def kernel_environment() -> Iterator[str]:
    """A kernelspec running ``sys.executable`` on this checkout, offline; yields its name.

    The environment variables are set for the duration and restored afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="sessionstate-kernel-") as root:
        spec = Path(root) / "kernels" / KERNEL
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        spec_json = {"argv": argv, "display_name": "sessionstate", "language": "python"}
        (spec / "kernel.json").write_text(json.dumps(spec_json), encoding="utf-8")
        saved = dict(os.environ)
        os.environ["JUPYTER_PATH"] = root
        # The kernel imports the package from this checkout even when it is not installed.
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
        )
        os.environ.update(
            {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
        )
        try:
            yield KERNEL
        finally:
            os.environ.clear()
            os.environ.update(saved)


def execute(notebook: nbformat.NotebookNode, kernel_name: str) -> nbformat.NotebookNode:
    """Run a copy of ``notebook`` top to bottom in an empty temporary folder; return it.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised.
    """
    run = nbformat.from_dict(json.loads(json.dumps(notebook)))
    with tempfile.TemporaryDirectory(prefix="sessionstate-nb-run-") as cwd:
        client = NotebookClient(
            run,
            kernel_name=kernel_name,
            timeout=TIMEOUT,
            record_timing=False,
            coalesce_streams=True,
            resources={"metadata": {"path": cwd}},
        )
        client.execute()
    return run


def _text(value: str | list[str]) -> str:
    text = "".join(value) if isinstance(value, list) else value
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def png_size(data: str) -> tuple[int, int]:
    """``(width, height)`` in pixels of a base64 PNG (read from its IHDR chunk)."""
    raw = b64decode(data)
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


def _data(data: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    out: list[tuple[str, Any]] = []
    for mime in sorted(data):
        value = data[mime]
        if mime == "image/png":
            out.append((mime, png_size(value)))
        elif mime.startswith("image/"):
            out.append((mime, "present"))
        elif isinstance(value, str | list):
            out.append((mime, _text(value)))
        else:  # application/json and other structured data
            out.append((mime, json.dumps(value, sort_keys=True)))
    return tuple(out)


def normalise(notebook: nbformat.NotebookNode) -> Normalised:
    """Every code cell's outputs in the comparable form described in the module docstring."""
    cells: Normalised = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs: list[tuple[Any, ...]] = []
        for output in cell.outputs:
            kind = output.output_type
            if kind == "stream":
                if outputs and outputs[-1][:2] == ("stream", output.name):
                    outputs[-1] = ("stream", output.name, outputs[-1][2] + output.text)
                else:
                    outputs.append(("stream", output.name, output.text))
            elif kind in ("execute_result", "display_data"):
                outputs.append(("data", _data(output.data)))
            else:  # an error: its name and message (a traceback carries paths and colours)
                outputs.append(("error", output.ename, _text(output.evalue)))
        cells.append([(o[0], o[1], _text(o[2])) if o[0] == "stream" else o for o in outputs])
    return cells


def differences(saved: nbformat.NotebookNode, fresh: nbformat.NotebookNode) -> list[str]:
    """Human-readable differences between the normalised outputs; empty when they match."""
    problems: list[str] = []
    old, new = normalise(saved), normalise(fresh)
    code = [c for c in saved.cells if c.cell_type == "code"]
    if len(old) != len(new):
        return [f"{len(old)} code cells saved, {len(new)} executed"]
    for index, (a, b) in enumerate(zip(old, new, strict=True)):
        if a != b:
            head = "".join(code[index].source).splitlines()[:1]
            problems.append(
                f"code cell {index + 1} ({head[0] if head else ''!r}):\n"
                f"  saved:   {_show(a)}\n  printed: {_show(b)}"
            )
    return problems


def _show(outputs: list[tuple[Any, ...]]) -> str:
    text = repr(outputs)
    return text if len(text) <= 2000 else text[:2000] + " ..."


def counts_problem(notebook: nbformat.NotebookNode) -> str | None:
    """What shows ``notebook`` was not saved from one clean run (counts not 1..n), if anything."""
    counts = [c.execution_count for c in notebook.cells if c.cell_type == "code"]
    if counts != list(range(1, len(counts) + 1)):
        return f"execution counts {counts}, a clean run gives 1..{len(counts)}"
    return None


def _canonical(fresh: nbformat.NotebookNode, saved: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``fresh`` as it is written: normalised text, the saved notebook's metadata kept."""
    fresh.metadata = saved.metadata  # the kernelspec users see, not the test kernel
    for cell in fresh.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        for output in cell.outputs:
            if output.output_type == "stream":
                output.text = _text(output.text) + "\n"
            elif "data" in output:
                for mime, value in output.data.items():
                    if isinstance(value, str) and not mime.startswith("image/png"):
                        output.data[mime] = _text(value)
    return fresh


@dataclass(frozen=True)
class Outcome:
    """What happened to one notebook."""

    path: Path
    seconds: float
    problems: list[str]
    written: bool = False


def run(paths: Sequence[Path], *, write: bool) -> list[Outcome]:
    """Execute each notebook; rewrite it when ``write`` and its outputs changed."""
    outcomes: list[Outcome] = []
    with kernel_environment() as kernel:
        for path in paths:
            saved = nbformat.read(path, as_version=4)
            start = time.perf_counter()
            fresh = execute(saved, kernel)
            seconds = time.perf_counter() - start
            problems = differences(saved, fresh)
            stale = counts_problem(saved)
            if stale:
                problems.append(stale)
            written = False
            if write and problems:
                nbformat.write(_canonical(fresh, saved), path)
                written = True
            outcomes.append(Outcome(path, seconds, problems, written))
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: rewrite (default) or ``--check`` the notebooks named, or all."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook file names or stems (default: all)")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a change")
    args = parser.parse_args(argv)
    paths = [p for p in notebooks() if not args.names or {p.name, p.stem} & set(args.names)]
    if not paths:
        parser.error(f"no notebook matches {args.names}")
    total = time.perf_counter()
    outcomes = run(paths, write=not args.check)
    for outcome in outcomes:
        state = "rewritten" if outcome.written else "changed" if outcome.problems else "unchanged"
        print(f"{outcome.path.name}: {state} ({outcome.seconds:.1f} s)")
        if args.check:
            for problem in outcome.problems:
                print("  " + problem.replace("\n", "\n  "))
    print(f"{len(outcomes)} notebooks in {time.perf_counter() - total:.1f} s")
    return 1 if args.check and any(o.problems for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
