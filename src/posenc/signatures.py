"""Keyword parameters of a class or function, as posenc reads them: the one place that
decides which keys an option has (posenc.config.schemas) and which build-time arguments an encoding
declares (posenc.models.base)."""

from __future__ import annotations

import importlib
import inspect
import typing
from typing import Any


def locate(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def parameters(target: Any) -> list[tuple[inspect.Parameter, Any]]:
    """The target's keyword parameters with their type hints; a class's `**kwargs` pulls in
    its base class's parameters (so a model's common keys are written once, on the base), and
    a function's the class its `shared_keys` names (posenc.data.takes_sizes)."""
    if not inspect.isclass(target):
        hints = typing.get_type_hints(target)
        own = [(p, hints.get(p.name, Any)) for p in inspect.signature(target).parameters.values()]
        shared = getattr(target, "shared_keys", None)  # a function's **kwargs, declared once
        return own + (parameters(shared) if shared is not None else [])
    out, seen = [], set()
    for cls in target.__mro__:
        if "__init__" not in vars(cls) or cls is object:
            continue
        init = vars(cls)["__init__"]
        hints = typing.get_type_hints(init)
        more = False
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind is p.VAR_KEYWORD:
                more = True
            elif p.kind is not p.VAR_POSITIONAL and p.name not in seen:
                seen.add(p.name)
                out.append((p, hints.get(p.name, Any)))
        if not more:
            break
    return out


def names(target: Any) -> set[str]:
    return {p.name for p, _ in parameters(target)}
