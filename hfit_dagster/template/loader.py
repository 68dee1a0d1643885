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


@dataclass(frozen=True)
class TemplateFile:
    """A template together with where it came from (folder = use case, e.g. ``bug-investigation``)."""

    spec: TemplateSpec
    path: Path
    folder: str


def parse_template(text: str, source: str = "<template>") -> TemplateSpec:
    """Validate YAML text into a TemplateSpec; every problem names the source, field and line."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise TemplateError(f"{where}: not valid YAML: {problem}",
                            hint="check indentation and quoting around that line") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: a template is a YAML mapping with templateName, exports, ...")
    try:
        return TemplateSpec.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(err, root, source) for err in exc.errors()]
        raise TemplateError(
            f"{source}: {len(problems)} problem{'s' if len(problems) > 1 else ''}:\n  " + "\n  ".join(problems),
            hint="see docs/templates.md for every field",
        ) from None


def load_template_file(path: Path) -> TemplateSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateNotFound(f"template file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot be read ({exc.__class__.__name__})") from None
    return parse_template(text, str(path))


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
    line = _line_of(root, loc)
    where = f"line {line}, " if line else ""
    message = err.get("msg", "invalid").removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        message = "unknown field (typo?)"
    elif err.get("type") == "missing":
        message = "required field is missing"
    return f"{where}{field}: {message}"


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
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
