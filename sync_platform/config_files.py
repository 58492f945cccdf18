"""Loading a YAML config file into a pydantic model, with errors that name what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(ValueError):
    """A config file is unusable; ``key`` is a dotted path such as ``rules[1].action``."""

    def __init__(self, path: Path, key: str, value: Any, problem: str) -> None:
        self.path, self.key, self.value, self.problem = path, key, value, problem
        super().__init__(f"{path}: {key}: {problem} (got {value!r})")


def load_config(path: Path | str, model: type[ModelT]) -> ModelT:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(path, "<file>", str(path), f"cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(path, _yaml_position(error), None, f"not valid YAML: {error}") from error
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as error:
        first = error.errors()[0]
        key = _dotted(first["loc"]) or "<top level>"
        value = "<missing>" if first["type"] == "missing" else first.get("input")
        raise ConfigError(path, key, value, first["msg"]) from error


def _dotted(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad mapping key: the key itself is named
            continue
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


def _yaml_position(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<file>"
