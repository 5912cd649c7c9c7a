"""YAML as scenario files may use it: safe, without duplicate keys, and bounded once expanded.

PyYAML's safe loader shares one object between an anchor and its aliases, so a small file of
nested aliases (a "billion laughs") is small in memory, but everything that walks it (schema
validation) walks the expansion. The expansion and the nesting depth are therefore measured
before anything else looks at the data. A key given twice in one mapping is an error, not
"the last one wins".
"""

from __future__ import annotations

import yaml

MAX_NODES = 2_000_000
"""Values in a scenario, counting each alias as the values it stands for."""
MAX_DEPTH = 40
"""Nesting of mappings and lists."""


class YamlInputError(ValueError):
    """The text is not a usable YAML document; the message is one line, with its line number."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise YamlInputError(f"key {key!r} is given twice (lines {seen[key]} and {line})", line)
                seen[key] = line
            except TypeError:
                continue  # an unhashable key: the base constructor says so
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> tuple[yaml.Node | None, object]:
    """(the node tree, for line numbers; the data). Raises YamlInputError."""
    loader = None
    try:
        loader = _StrictLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except YamlInputError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlInputError(f"invalid YAML: {problem}", mark.line + 1 if mark is not None else None) from None
    except RecursionError:
        raise YamlInputError(f"invalid YAML: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise YamlInputError(f"invalid YAML: {str(exc).split(':')[0]}") from None
    finally:
        if loader is not None:
            loader.dispose()
    _check_size(data)
    return node, data


def _check_size(data: object) -> None:
    """Walk the data as a validator would (aliases expanded), without recursion."""
    count = 0
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise YamlInputError(f"the document expands to more than {MAX_NODES:,} values (aliases included)")
        if depth > MAX_DEPTH:
            raise YamlInputError(f"the document nests more than {MAX_DEPTH} levels deep")
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict):
            for key in value:
                if isinstance(key, str):
                    _check_text(key)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise YamlInputError(f"text {text[:20]!r} is not valid Unicode (character {exc.start}: a lone "
                             "surrogate)") from None
