"""`%%necto_capture [name]`: capture one cell's HTTP traffic into a Session.

    %load_ext necto_nb
    %%necto_capture calls
    requests.get("https://api.example.com/v1/users")

The cell runs under a fresh capture (a free port) and `proxy.intercept()`; afterwards
`calls` is a Session of its traffic (an existing Session of that name is added to).
"""

from __future__ import annotations

from typing import Any


def necto_capture(line: str, cell: str) -> None:
    from IPython import get_ipython

    from necto_nb.session import Session

    shell = get_ipython()
    name = line.strip() or "captured"
    if not name.isidentifier():
        raise ValueError(f"%%necto_capture takes a variable name for the Session, not {name!r}")
    session = shell.user_ns.get(name)
    if not isinstance(session, Session):
        session = Session(name)
    shell.user_ns[name] = session
    with session.capture(port=0) as proxy, proxy.intercept():
        exec(compile(cell, f"<cell {shell.execution_count}>", "exec"), shell.user_ns)


def load_ipython_extension(shell: Any) -> None:
    """`%load_ext necto_nb` registers the `%%necto_capture` cell magic."""
    shell.register_magic_function(necto_capture, "cell", "necto_capture")
