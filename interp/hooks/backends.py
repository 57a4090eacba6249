"""The backends by name: a registry of factories, so a new backend is one class and one registration.

A factory takes a :class:`~interp.models.loading.LoadedModel` and returns a
:class:`~interp.hooks.base.Backend` (a backend class is itself a factory). The built-ins
(``hf``, ``transformer_lens``, ``nnsight``) import their libraries only when built.
:func:`backend_names` is read at call time, so backends registered after import count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interp.hooks.base import Backend

BackendFactory = Callable[[Any], Backend]

_FACTORIES: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory, *, replace: bool = False) -> None:
    """Make ``make_backend(name, loaded)`` call ``factory(loaded)``; ``replace=True`` overrides a name."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a backend name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"the factory of backend {name!r} must be callable (a Backend class or a function "
                        f"LoadedModel -> Backend), got {type(factory).__name__}")
    if name in _FACTORIES and _FACTORIES[name] is not factory and not replace:
        raise ValueError(f"a backend named {name!r} is already registered; pass replace=True to override it")
    _FACTORIES[name] = factory


def unregister_backend(name: str) -> BackendFactory:
    if name not in _FACTORIES:
        raise KeyError(f"no backend {name!r} is registered; registered: {', '.join(_FACTORIES)}")
    return _FACTORIES.pop(name)


def backend_names() -> tuple[str, ...]:
    """Every registered backend, in registration order (the built-ins first)."""
    return tuple(_FACTORIES)


def make_backend(name: str, loaded: Any) -> Backend:
    """Build a backend by name: ``"hf"`` (fastest), ``"transformer_lens"``, ``"nnsight"``, or a registered one."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"Unknown backend {name!r}; choose one of {', '.join(backend_names())} "
                         "(or add one with interp.hooks.register_backend).")
    backend = factory(loaded)
    if not isinstance(backend, Backend):
        raise TypeError(f"the factory of backend {name!r} returned a {type(backend).__name__}, not a Backend")
    return backend


EXACT_BACKENDS = ("hf", "nnsight")
"""Backends that compute a model's own forward (same numbers as Hugging Face): part of no key."""


BRIDGED_BACKENDS = ("transformer_lens",)
"""Backends that patch the model they wrap: a model pool's shared base is not handed to them (each
checkpoint is loaded on its own, its adapter unmerged as in the pool)."""


def backend_for(model: Any) -> Backend:
    """``model`` itself if it is a backend, else the backend a study runs it through: the loaded
    model's ``backend`` (``"hf"`` unless a config chose another). A backend other than ``hf`` is
    built once per loaded model and reused (TransformerLens's bridge patches the model it wraps)."""
    if isinstance(model, Backend):
        return model
    name = getattr(model, "backend", "hf")
    if name == "hf":
        return make_backend("hf", model)
    built: dict[str, Backend] = model.__dict__.setdefault("_backends", {})
    if name not in built:
        built[name] = make_backend(name, model)
    return built[name]


def _hf(loaded: Any) -> Backend:
    from interp.hooks.hf_backend import HFBackend

    return HFBackend(loaded)


def _transformer_lens(loaded: Any) -> Backend:
    from interp.hooks.tl_backend import TransformerLensBackend

    return TransformerLensBackend(loaded)


def _nnsight(loaded: Any) -> Backend:
    from interp.hooks.nnsight_backend import NNsightBackend

    return NNsightBackend(loaded)


register_backend("hf", _hf)
register_backend("transformer_lens", _transformer_lens)
register_backend("nnsight", _nnsight)
