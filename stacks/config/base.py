"""What every part of the configuration shares: the error, and a setting described once, on its field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import Field, field
from typing import Any

REQUIRED = object()  # a setting cdk.json must give


class ConfigError(ValueError):
    """A cdk.json context value is missing or invalid; the message names the key."""


def setting(kind: type, check: Callable[[Any], Any] | None = None, default: Any = REQUIRED) -> Any:
    """A plain cdk.json setting: its JSON type, a check of its value, its default (REQUIRED: none).
    The field's name in camelCase is its key, so the key, the check and the default are written once."""
    extra = {} if default is REQUIRED else {"default": default}
    return field(metadata={"kind": kind, "check": check, "default": default}, **extra)


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def setting_value(where: str, spec: Field[Any], raw: Mapping[str, Any]) -> Any:
    """The value of one plain setting, checked against its field's description."""
    kind, check, default = spec.metadata["kind"], spec.metadata["check"], spec.metadata["default"]
    key = f"{where}.{camel(spec.name)}"
    value = raw.get(camel(spec.name))
    if value is None:
        if default is REQUIRED:
            raise ConfigError(f"cdk.json context {key} is missing")
        return default
    if type(value) is not kind:
        raise ConfigError(f"cdk.json context {key} must be a {kind.__name__}, got {value!r}")
    if check is not None and not check(value):
        raise ConfigError(f"cdk.json context {key} has an invalid value {value!r}")
    return value


def strings(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"cdk.json context {where} must be a list of strings, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"cdk.json context {where} lists a value twice")
    return list(value)
