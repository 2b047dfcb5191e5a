"""Rule files on disk: read the folder's `*.yaml` files within the limits and hand the parsed documents to the domain.

A hostile file (huge, nested thousands of levels, an alias "bomb") is refused here with a RuleProblem naming it,
before anything recursive or expanding sees it; the limits are documented in rules/README.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from services.scheduler.domain.rulefile import ParsedFile, build_ruleset
from services.scheduler.domain.rules import (
    MAX_ALIASES,
    MAX_DOCUMENT_DEPTH,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_NODES,
    RuleProblem,
    RuleSet,
    RuleSetError,
)

RULE_SUFFIXES = (".yaml", ".yml")


class _LimitExceeded(yaml.YAMLError):
    """A rule file goes past one of the limits while it is being read."""


class _RuleFileLoader(yaml.SafeLoader):
    """A SafeLoader that keeps `2026-03-31` a string (so the schema and the messages see what was written) and
    stops a document that nests too deep, uses too many aliases, or would expand past MAX_NODES values."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._weights: dict[int, int] = {}  # id(node) → values in it, aliases expanded

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _LimitExceeded(f"more than {MAX_ALIASES} aliases (*name)")
            node = super().compose_node(parent, index)
            if node is not None and id(node) not in self._weights:
                raise _LimitExceeded("an alias refers to a value that contains it")
            return node
        self._depth += 1
        try:
            if self._depth > MAX_DOCUMENT_DEPTH:
                raise _LimitExceeded(f"values nest deeper than {MAX_DOCUMENT_DEPTH} levels")
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._weights[id(node)] = weight = 1 + self._children_weight(node)
            if weight > MAX_NODES:
                raise _LimitExceeded(f"more than {MAX_NODES:,} values (counting what aliases repeat)")
        return node

    def _children_weight(self, node: Node) -> int:
        if isinstance(node, SequenceNode):
            return sum(self._weights.get(id(child), 1) for child in node.value)
        if isinstance(node, MappingNode):
            return sum(self._weights.get(id(k), 1) + self._weights.get(id(v), 1) for k, v in node.value)
        return 0


_RuleFileLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_rule_file(name: str, text: str) -> tuple[Any, RuleProblem | None]:
    """The document of one rule file's text, or the problem that stopped reading it."""
    loader = _RuleFileLoader(text)
    try:
        return loader.get_single_data(), None
    except _LimitExceeded as exc:
        return None, RuleProblem(name, None, None, f"refused: {exc} (rules/README.md, Limits)")
    except yaml.YAMLError as exc:
        return None, RuleProblem(name, None, None, f"not valid YAML: {exc}")
    except RecursionError:  # the limits above should make this unreachable; never let it escape
        return None, RuleProblem(name, None, None, "refused: nested too deep to read")
    finally:
        loader.dispose()


def rule_paths(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in RULE_SUFFIXES and p.is_file())


def read_rule_files(directory: Path) -> dict[str, str]:
    """The rule files as text, by name: kept with each rule set so the last good one can be restored.
    Only the files load_ruleset would read (a file over the size limit is not read at all)."""
    return {p.name: p.read_text(encoding="utf-8", errors="replace") for p in rule_paths(directory)[:MAX_FILES]
            if p.stat().st_size <= MAX_FILE_BYTES}


def load_ruleset(directory: Path) -> RuleSet:
    """Load and validate every *.yaml file in `directory`; RuleSetError lists all problems found."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RuleSetError([RuleProblem(str(directory), None, None, "is not a directory of rule files")])
    paths = rule_paths(directory)
    if not paths:
        raise RuleSetError([RuleProblem(str(directory), None, None, "holds no *.yaml rule files")])
    if len(paths) > MAX_FILES:
        raise RuleSetError([RuleProblem(str(directory), None, None,
                                        f"holds {len(paths)} rule files; at most {MAX_FILES} are read "
                                        "(rules/README.md, Limits)")])
    problems: list[RuleProblem] = []
    files: list[ParsedFile] = []
    for path in paths:
        name = f"{directory.name}/{path.name}"
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(RuleProblem(name, None, None, f"refused: {size:,} bytes; a rule file has at most "
                                                          f"{MAX_FILE_BYTES:,} (rules/README.md, Limits)"))
            continue
        content = path.read_bytes()[:MAX_FILE_BYTES + 1]  # the file may have grown since stat()
        document, problem = parse_rule_file(name, content.decode("utf-8", errors="replace"))
        if problem is not None:
            problems.append(problem)
        files.append(ParsedFile(name, path.name, content, document, readable=problem is None))
    return build_ruleset(files, problems)
