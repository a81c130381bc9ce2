"""The app's operations as its OpenAPI document lists them, for tests that must cover
every route (tenancy, fuzzing): a route added later is in them without editing a test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Operation", "minimal_body", "operations", "resolve"]


def resolve(schema: Mapping[str, Any], spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """``schema`` with a ``$ref`` at its top followed into ``spec``'s components."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: Mapping[str, Any]  # the operation object

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def params(self, where: str) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p["in"] == where]

    @property
    def path_params(self) -> list[str]:
        return self.params("path")

    @property
    def body_schema(self) -> Mapping[str, Any] | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        return content.get("application/json", {}).get("schema")

    def returns_page(self, spec: Mapping[str, Any]) -> bool:
        """A listing: a GET of no one resource whose answer is a page of them."""
        ok = self.spec["responses"].get("200", {}).get("content", {})
        schema = resolve(ok.get("application/json", {}).get("schema", {}), spec)
        return (self.method == "get" and not self.path_params
                and {"data", "has_more"} <= set(schema.get("properties", {})))

    def urls(self, values: Mapping[str, Sequence[str]]) -> Iterator[str]:
        """The path with every combination of ``values`` for its parameters.

        Raises:
            KeyError: a path parameter has no values (the caller says what to add).
        """
        names = self.path_params
        for combination in itertools.product(*(values[n] for n in names)):
            path = self.path
            for name, value in zip(names, combination, strict=True):
                path = path.replace("{" + name + "}", value)
            yield path


def operations(spec: Mapping[str, Any]) -> list[Operation]:
    """Every /v1 operation (the ones behind a key)."""
    return [Operation(method, path, operation)
            for path, item in spec["paths"].items() if path.startswith("/v1/")
            for method, operation in item.items()]


def minimal_body(schema: Mapping[str, Any], spec: Mapping[str, Any]) -> Any:
    """The smallest value ``schema`` accepts, from its examples where it has them: the
    required fields only, the first choice of each union that is not null."""
    schema = resolve(schema, spec)
    if "examples" in schema:
        return schema["examples"][0]
    if "default" in schema:
        return schema["default"]
    if "anyOf" in schema:
        choices = [c for c in schema["anyOf"] if c.get("type") != "null"]
        return minimal_body(choices[0] if choices else {"type": "null"}, spec)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: minimal_body(schema["properties"][name], spec)
                for name in schema.get("required", [])}
    if kind == "array":
        return [minimal_body(schema["items"], spec)
                for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return None
