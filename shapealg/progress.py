"""What a long step is doing, for whoever listens (the command line shows it on stderr); the library never
prints. ``step("exporting with torch.export")`` calls the listener installed with ``listening(fn)``, if any."""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator, Optional

__all__ = ["step", "listening"]

_LISTENER: contextvars.ContextVar[Optional[Callable[[str], None]]] = contextvars.ContextVar(
    "shapealg_progress", default=None)


def step(message: str) -> None:
    """Tell the listener (if any) what starts now; a listener's own failure never stops the work."""
    fn = _LISTENER.get()
    if fn is not None:
        try:
            fn(message)
        except Exception:  # noqa: BLE001 - progress is a courtesy
            pass


@contextlib.contextmanager
def listening(fn: Callable[[str], None]) -> Iterator[None]:
    token = _LISTENER.set(fn)
    try:
        yield
    finally:
        _LISTENER.reset(token)
