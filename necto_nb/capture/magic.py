"""`%%necto_capture [name] [option=value ...]`: capture one cell's HTTP traffic into a Session.

    %load_ext necto_nb
    %%necto_capture calls max_body='1m'
    requests.get("https://api.example.com/v1/users")

The cell runs under a fresh capture (a free port; options as `Session.capture` takes
them, as Python literals) and `proxy.intercept()`; afterwards `calls` is a Session of
its traffic (an existing Session of that name is added to).
"""

from __future__ import annotations

import ast
from typing import Any

from necto_nb.errors import ArgumentError


def parse_line(line: str) -> tuple[str, dict[str, Any]]:
    """'calls ssl_insecure=True' as ('calls', {'ssl_insecure': True}); ValueError saying what is wrong."""
    words = line.split()
    name = words.pop(0) if words and "=" not in words[0] else "captured"
    if not name.isidentifier():
        raise ArgumentError(f"%%necto_capture takes a variable name for the Session, not {name!r}")
    options = {}
    for word in words:
        key, _, value = word.partition("=")
        try:
            if not key.isidentifier():
                raise ArgumentError("not name=value")
            options[key] = ast.literal_eval(value)
        except (SyntaxError, ValueError) as e:
            raise ArgumentError(f"%%necto_capture options are name=value with a Python literal "
                                f"(e.g. max_body='1m'), not {word!r}: {e}") from None
    return name, options


def necto_capture(line: str, cell: str) -> None:
    from IPython import get_ipython

    from necto_nb.session import Session

    shell = get_ipython()
    name, options = parse_line(line)
    session = shell.user_ns.get(name)
    if not isinstance(session, Session):
        session = Session(name)
    shell.user_ns[name] = session
    with session.capture(**{"port": 0, **options}) as proxy, proxy.intercept():
        exec(compile(cell, f"<cell {shell.execution_count}>", "exec"), shell.user_ns)


def load_ipython_extension(shell: Any) -> None:
    """`%load_ext necto_nb` registers the `%%necto_capture` cell magic."""
    shell.register_magic_function(necto_capture, "cell", "necto_capture")
