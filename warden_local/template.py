"""Reads template.yaml as CloudFormation does: short-form tags, parameters and intrinsic functions.

The local runner builds everything from this reading, so the template stays the one source of
truth for resources, rule patterns, substitutions and environment variables.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TAGS = {
    "!Ref": "Ref",
    "!GetAtt": "Fn::GetAtt",
    "!Sub": "Fn::Sub",
    "!Join": "Fn::Join",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!Split": "Fn::Split",
    "!Select": "Fn::Select",
    "!Condition": "Condition",
}


class _Loader(yaml.SafeLoader):
    pass


def _construct(fn: str) -> Callable[[yaml.Loader, yaml.Node], Any]:
    def construct(loader: yaml.Loader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if fn == "Fn::GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {fn: value}

    return construct


for _tag, _fn in TAGS.items():
    _Loader.add_constructor(_tag, _construct(_fn))


def load_template(path: Path) -> dict[str, Any]:
    with path.open() as stream:
        loaded = yaml.load(stream, Loader=_Loader)  # noqa: S506 - SafeLoader subclass with CFN tags only
    if not isinstance(loaded, dict) or "Resources" not in loaded:
        raise ValueError(f"{path} is not a CloudFormation template")
    return loaded


class TemplateError(Exception):
    pass


NO_VALUE = object()


@dataclass
class Resolver:
    """Resolves intrinsic functions against parameter values and the physical resources created so far."""

    template: Mapping[str, Any]
    parameters: Mapping[str, str]
    pseudo: Mapping[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            handler = getattr(self, "_" + key.replace("Fn::", "fn_").replace("::", "_"), None)
            if handler is not None and (key == "Ref" or key.startswith("Fn::") or key == "Condition"):
                return handler(arg)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not NO_VALUE}

    def _Ref(self, name: str) -> Any:  # noqa: N802
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise TemplateError(f"Ref to {name} before it exists")

    def _fn_GetAtt(self, arg: list[str]) -> str:  # noqa: N802
        logical, attribute = arg
        try:
            return self.attributes[logical][attribute]
        except KeyError:
            raise TemplateError(f"GetAtt {logical}.{attribute} is not available locally") from None

    def _fn_Sub(self, arg: Any) -> str:  # noqa: N802
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name:
                return self._fn_GetAtt(name.split(".", 1))
            return str(self._Ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def _fn_Join(self, arg: list[Any]) -> str:  # noqa: N802
        sep, items = arg[0], self.resolve(arg[1])
        return str(sep).join(str(i) for i in items)

    def _fn_Split(self, arg: list[Any]) -> list[str]:  # noqa: N802
        return str(self.resolve(arg[1])).split(arg[0])

    def _fn_Select(self, arg: list[Any]) -> Any:  # noqa: N802
        return self.resolve(arg[1])[int(self.resolve(arg[0]))]

    def _fn_If(self, arg: list[Any]) -> Any:  # noqa: N802
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def _fn_Equals(self, arg: list[Any]) -> bool:  # noqa: N802
        left, right = self.resolve(arg[0]), self.resolve(arg[1])
        return bool(left == right)

    def _fn_Not(self, arg: list[Any]) -> bool:  # noqa: N802
        return not self.resolve(arg[0])

    def _fn_And(self, arg: list[Any]) -> bool:  # noqa: N802
        return all(self.resolve(a) for a in arg)

    def _fn_Or(self, arg: list[Any]) -> bool:  # noqa: N802
        return any(self.resolve(a) for a in arg)

    def _Condition(self, name: str) -> bool:  # noqa: N802
        return self.condition(name)


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Parameter defaults from the template, with overrides; checks AllowedValues as CloudFormation does."""
    values: dict[str, str] = {}
    declared = template.get("Parameters", {})
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    for name, spec in declared.items():
        value = str(overrides.get(name, spec.get("Default", "")))
        allowed = spec.get("AllowedValues")
        if allowed and value not in [str(a) for a in allowed]:
            raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(pattern, value):
            raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
        values[name] = value
    return values
