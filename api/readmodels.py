"""Serializers derived from read-model TypedDicts (hostpanel.readmodel), so a shape the selectors return
is described once: the TypedDict. Each TypedDict becomes a component named after it (StatusOverview,
StatusMember ...); `Annotated[..., Help("...")]` gives a field's description, `DATETIME` its format,
`NotRequired[...]` makes it optional and `X | None` nullable."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, NotRequired, get_args, get_origin, get_type_hints, is_typeddict

from rest_framework import serializers

from hostpanel.readmodel import DATETIME, Help

_CACHE: dict[type, type[serializers.Serializer]] = {}
_SCALARS: dict[Any, type[serializers.Field]] = {
    str: serializers.CharField,
    int: serializers.IntegerField,
    float: serializers.FloatField,
    bool: serializers.BooleanField,
}


def serializer_for(hint: type) -> type[serializers.Serializer]:
    """The (response-only) serializer class of a TypedDict, nested TypedDicts included."""
    if hint in _CACHE:
        return _CACHE[hint]
    hints = get_type_hints(hint, include_extras=True)
    required = getattr(hint, "__required_keys__", frozenset(hints))
    fields = {name: _field(value, required=name in required) for name, value in hints.items()}
    meta = type("Meta", (), {"ref_name": hint.__name__})
    attrs: dict[str, Any] = {**fields, "Meta": meta, "__doc__": hint.__doc__, "__module__": __name__}
    serializer = type(f"{hint.__name__}Serializer", (serializers.Serializer,), attrs)
    _CACHE[hint] = serializer
    return serializer


def _field(hint: Any, *, required: bool = True, **kwargs: Any) -> serializers.Field:
    kwargs.setdefault("required", required)
    if get_origin(hint) is NotRequired:
        return _field(get_args(hint)[0], **{**kwargs, "required": False})
    if get_origin(hint) is Annotated:
        inner, *extras = get_args(hint)
        for extra in extras:
            if isinstance(extra, Help):
                kwargs["help_text"] = extra.text
        if DATETIME in extras:
            kwargs["allow_null"] = _is_optional(inner)
            return serializers.DateTimeField(**kwargs)
        return _field(inner, **kwargs)
    if _is_optional(hint):
        (inner,) = [arg for arg in get_args(hint) if arg is not type(None)]
        return _field(inner, **{**kwargs, "allow_null": True})
    origin = get_origin(hint)
    if origin is list:
        return serializers.ListField(child=_field(get_args(hint)[0]), **kwargs)
    if origin is dict:
        return serializers.DictField(child=_field(get_args(hint)[1]), **kwargs)
    if is_typeddict(hint):
        return serializer_for(hint)(**kwargs)
    if hint in _SCALARS:
        if hint is str:
            kwargs.setdefault("allow_blank", True)
        return _SCALARS[hint](**kwargs)
    raise TypeError(f"no serializer field for {hint!r}")


def _is_optional(hint: Any) -> bool:
    return get_origin(hint) in (typing.Union, types.UnionType) and type(None) in get_args(hint)
