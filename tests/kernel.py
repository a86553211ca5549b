"""Notebooks run top to bottom in a real kernel, reached over Unix sockets instead of TCP ports.

jupyter_client chooses a kernel's TCP ports by binding and releasing them; the kernel binds them
again a moment later. On a busy machine (a browser, JupyterLab and its kernels beside the test) an
outgoing connection can take one of those ports in between, and the kernel dies at start with
"Address already in use" (seen in CI). Sockets in a folder of their own cannot be taken."""

from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat


def execute(notebook: nbformat.NotebookNode, folder: Path, *, timeout: int,
            kernel_name: str = "python3", kernel_spec_manager: object = None) -> None:
    """Run every cell of `notebook` in a new kernel started in `folder`, outputs written in place;
    a cell that fails raises nbclient's CellExecutionError."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    options = {"kernel_spec_manager": kernel_spec_manager} if kernel_spec_manager else {}
    with tempfile.TemporaryDirectory() as sockets:  # short: a socket's path is at most 107 bytes
        manager = KernelManager(kernel_name=kernel_name, transport="ipc", ip=f"{sockets}/kernel", **options)
        try:
            NotebookClient(notebook, km=manager, timeout=timeout, resources={"metadata": {"path": str(folder)}}).execute()
        finally:  # nbclient shuts down only a kernel it started itself
            if manager.has_kernel:
                manager.shutdown_kernel()
