"""Reading templates from disk: YAML → ``TemplateSpec``, with errors that point at file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hfit_dagster.errors import TemplateError, TemplateNotFound
from hfit_dagster.template.spec import TemplateSpec

TEMPLATE_SUFFIXES = (".yaml", ".yml")
# a template is a few hundred nodes; aliases are for the odd shared block, never for multiplying a document
MAX_ALIASES = 100
MAX_EXPANDED_NODES = 100_000


@dataclass(frozen=True)
class YamlSize:
    """A composed YAML document's size: distinct nodes (what parsing cost), alias references, and the nodes a
    consumer walking it would meet with every alias expanded (what validating or hashing it would cost)."""

    distinct_nodes: int
    aliases: int
    expanded_nodes: int


@dataclass(frozen=True)
class TemplateFile:
    """A template together with where it came from (folder = use case, e.g. ``bug-investigation``)."""

    spec: TemplateSpec
    path: Path
    folder: str


def parse_template(text: str, source: str = "<template>") -> TemplateSpec:
    """Validate YAML text into a TemplateSpec; every problem names the source, field and line."""
    return parse_template_nodes(text, source)[0]


def parse_template_nodes(text: str, source: str = "<template>") -> tuple[TemplateSpec, yaml.Node | None]:
    """``parse_template`` plus the composed YAML node graph, so later checks can name lines (``line_of``)."""
    try:
        root, data = _compose_and_construct(text, source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise TemplateError(f"{where}: not valid YAML: {problem}",
                            hint="check indentation and quoting around that line") from None
    except RecursionError:
        raise TemplateError(f"{source}: YAML nested too deeply") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: a template is a YAML mapping with templateName, exports, ...")
    try:
        return TemplateSpec.model_validate(data), root
    except ValidationError as exc:
        problems = [_describe(err, root, source) for err in exc.errors()]
        raise TemplateError(
            f"{source}: {len(problems)} problem{'s' if len(problems) > 1 else ''}:\n  " + "\n  ".join(problems),
            hint="see docs/templates.md for every field",
        ) from None


def _compose_and_construct(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The node graph and the Python data of ``text``; the graph's size is checked before anything is built."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        check_yaml_size(measure_yaml(root, source), source)
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def measure_yaml(root: yaml.Node | None, source: str = "<template>") -> YamlSize:
    """Sizes of a composed document, visiting each distinct node once (aliases share their anchor's node, so an
    alias bomb of a few hundred bytes is measured in a few dozen steps, never expanded).

    Every reference beyond the one edge a tree would have per node is an alias.
    """
    if root is None:
        return YamlSize(0, 0, 0)
    expanded: dict[int, int] = {}
    edges = 0
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while pending:
        node, children_done = pending.pop()
        key = id(node)
        if key in expanded:
            continue
        children = _children(node)
        if children_done:
            open_nodes.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in children)
            edges += len(children)
            continue
        if key in open_nodes:  # reached again from inside itself: it expands without end
            raise TemplateError(f"{source}: a YAML anchor refers to itself (recursive alias)")
        open_nodes.add(key)
        pending.append((node, True))
        pending.extend((child, False) for child in children if id(child) not in expanded)
    return YamlSize(distinct_nodes=len(expanded), aliases=edges - (len(expanded) - 1),
                    expanded_nodes=expanded[id(root)])


def check_yaml_size(size: YamlSize, source: str) -> None:
    if size.aliases > MAX_ALIASES or size.expanded_nodes > MAX_EXPANDED_NODES:
        raise TemplateError(f"{source}: YAML too large once its aliases are expanded ({size.aliases} aliases, "
                            f"{size.expanded_nodes} nodes; at most {MAX_ALIASES} and {MAX_EXPANDED_NODES})",
                            hint="write the template out without multiplying anchors (*alias)")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def load_template_file(path: Path) -> TemplateSpec:
    return parse_template(read_template_text(path), str(path))


def read_template_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateNotFound(f"template file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot be read ({exc.__class__.__name__})") from None


def discover_templates(templates_dir: Path) -> dict[str, TemplateFile]:
    """Every template under ``templates_dir`` (recursively), by name. Names must be unique across folders."""
    found: dict[str, TemplateFile] = {}
    if not templates_dir.is_dir():
        raise TemplateNotFound(f"templates folder {templates_dir} does not exist",
                               hint="run from the project root or set HFIT_TEMPLATES_DIR")
    for path in sorted(p for p in templates_dir.rglob("*") if p.suffix in TEMPLATE_SUFFIXES and p.is_file()):
        spec = load_template_file(path)
        if spec.name in found:
            raise TemplateError(f"template name {spec.name!r} is used twice: {found[spec.name].path} and {path}",
                                hint="templateName must be unique across all folders of templates/")
        folder = path.parent.relative_to(templates_dir).as_posix()
        found[spec.name] = TemplateFile(spec=spec, path=path, folder="" if folder == "." else folder)
    return found


def resolve_template(name_or_path: str, templates_dir: Path) -> TemplateFile:
    """A template by name (from templates/) or by the path of a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in TEMPLATE_SUFFIXES and (candidate.is_file() or "/" in name_or_path):
        spec = load_template_file(candidate)
        return TemplateFile(spec=spec, path=candidate, folder="")
    templates = discover_templates(templates_dir)
    if name_or_path not in templates:
        close = [n for n in templates if name_or_path in n or n in name_or_path]
        hint = f"did you mean {', '.join(sorted(close)[:3])}?" if close else "'hfit pkg-tmpl list' shows them all"
        raise TemplateNotFound(f"no template named {name_or_path!r} in {templates_dir}", hint=hint)
    return templates[name_or_path]


def _describe(err: dict[str, Any], root: yaml.Node | None, source: str) -> str:
    loc = tuple(err.get("loc", ()))
    field = ".".join(str(part) for part in loc) or "(template)"
    line = line_of(root, loc)
    where = f"line {line}, " if line else ""
    message = err.get("msg", "invalid").removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        message = "unknown field (typo?)"
    elif err.get("type") == "missing":
        message = "required field is missing"
    return f"{where}{field}: {message}"


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (deepest node found along the way)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                node = value_node
                line = key_node.start_mark.line + 1
                break
        else:
            break
    return line
