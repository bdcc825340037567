"""Small readers for the packaging files, so tests check them without Docker or systemd.

Each reader implements just enough of its format's rules to answer the tests' questions, and the
facts the tests compare them with (console scripts, the environment the daemon reads, DESIGN.md's
table) are read from the sources, never copied here.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
DOCKERFILE = PACKAGING / "Dockerfile"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERIGNORE = REPO / ".dockerignore"
SERVICE_UNIT = PACKAGING / "fairscribed.service"
DESKTOP_FILE = PACKAGING / "fairscribe.desktop"
ICON = PACKAGING / "fairscribe.svg"


# pyproject -------------------------------------------------------------------------------------------


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def console_scripts() -> dict[str, str]:
    project = pyproject()["project"]
    return {**project.get("scripts", {}), **project.get("gui-scripts", {})}


def resolve_entry_point(target: str) -> Any:
    """Import `module:attr.path` the way an installed console script would."""
    module_name, _, attr_path = target.partition(":")
    obj: Any = importlib.import_module(module_name.strip())
    for part in attr_path.strip().split("."):
        if part:
            obj = getattr(obj, part)
    return obj


# The environment the daemon reads ----------------------------------------------------------------------


def _is_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _env_read_argument(node: ast.AST) -> ast.AST | None:
    """The name argument of os.environ.get(X) / os.getenv(X) / os.environ[X] / X in os.environ."""
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("get", "pop") and _is_environ(func.value):
            return node.args[0]
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "getenv"
            and isinstance(func.value, ast.Name)
            and func.value.id == "os"
        ):
            return node.args[0]
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        return node.slice
    if isinstance(node, ast.Compare) and len(node.comparators) == 1 and _is_environ(node.comparators[0]):
        return node.left
    return None


def env_vars_read(*folders: Path) -> set[str]:
    """Every environment variable the Python sources under `folders` read.

    Direct reads with a literal name count, and so do calls with a literal first argument to a
    helper whose parameter is the name it reads (`_int("FAIRSCRIBE_WORKERS", ...)` in settings.py),
    including helpers that hand the name on to another helper.
    """
    names: set[str] = set()
    trees = [ast.parse(path.read_text(), str(path)) for folder in folders for path in sorted(folder.rglob("*.py"))]
    functions = [f for tree in trees for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
    helpers: dict[str, int] = {}
    while True:
        found = len(helpers)
        for function in functions:
            params = [a.arg for a in function.args.posonlyargs + function.args.args]
            for node in ast.walk(function):
                argument = _env_read_argument(node)
                if argument is None and isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    index = helpers.get(node.func.id)
                    argument = node.args[index] if index is not None and index < len(node.args) else None
                if isinstance(argument, ast.Name) and argument.id in params:
                    helpers[function.name] = params.index(argument.id)
        if len(helpers) == found:
            break
    for tree in trees:
        for node in ast.walk(tree):
            argument = _env_read_argument(node)
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                names.add(argument.value)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
                index = helpers[node.func.id]
                if index < len(node.args):
                    value = node.args[index]
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        names.add(value.value)
    return names


@cache
def daemon_env_vars() -> frozenset[str]:
    """What `fairscribed` reads: its own package and the shared one (config, paths)."""
    return frozenset(env_vars_read(REPO / "daemon", REPO / "shared"))


# DESIGN.md -------------------------------------------------------------------------------------------


def design_doc() -> Path | None:
    """DESIGN.md: in the repository, or in the shared/ folder laid beside it."""
    for candidate in (REPO / "DESIGN.md", REPO / "docs" / "DESIGN.md", REPO.parent / "shared" / "DESIGN.md"):
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class DesignVariable:
    name: str
    meaning: str
    default: str

    @property
    def client_only(self) -> bool:
        return self.meaning.lower().startswith("client")


def design_env_table(text: str) -> list[DesignVariable]:
    """The rows of the `| variable | meaning | default |` table."""
    rows = []
    in_table = False
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else None
        if cells and [c.lower() for c in cells[:3]] == ["variable", "meaning", "default"]:
            in_table = True
            continue
        if not in_table:
            continue
        if cells is None:
            break
        match = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        if match and len(cells) >= 3:
            rows.append(DesignVariable(match[1], cells[1], cells[2]))
    return rows


# Dockerfile ------------------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    @property
    def flags_and_rest(self) -> tuple[dict[str, str], str]:
        """Leading `--name=value` flags, and what follows them."""
        flags: dict[str, str] = {}
        rest = self.args
        while True:
            match = re.match(r"--([a-z-]+)(?:=(\S*))?\s+", rest)
            if not match:
                return flags, rest
            flags[match[1]] = match[2] or ""
            rest = rest[match.end() :]

    def json_or_words(self, text: str | None = None) -> tuple[list[str], bool]:
        """Exec form (a JSON array) as a list and True; shell form as its words and False."""
        text = self.args if text is None else text
        if text.lstrip().startswith("["):
            value = json.loads(text)
            assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
            return value, True
        return shlex.split(text), False


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            words = shlex.split(instruction.args)
            if len(words) >= 2 and "=" not in words[0]:  # legacy `ENV NAME value`
                values[words[0]] = " ".join(words[1:])
                continue
            for word in words:
                name, sep, value = word.partition("=")
                assert sep, f"line {instruction.line}: ENV {instruction.args!r} is not NAME=VALUE"
                values[name] = value
        return values


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of instructions; comments, parser directives and line continuations handled."""
    logical: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue  # comments (and directives), also inside a continuation
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        logical.append((start, " ".join(part for part in buffer if part)))
        buffer = []
    assert not buffer, "the Dockerfile ends inside a line continuation"
    stages: list[Stage] = []
    for number, line in logical:
        keyword, _, args = line.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), number)
        if instruction.keyword == "FROM":
            _, rest = instruction.flags_and_rest
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"line {number}: {keyword} before the first FROM"
        stages[-1].instructions.append(instruction)
    return stages


@dataclass(frozen=True)
class HealthCheck:
    options: dict[str, str]
    command: list[str]  # what Docker runs: the exec-form list, or ["/bin/sh", "-c", shell text]
    shell_text: str | None  # the shell form's text, else None


def health_check(stage: Stage) -> HealthCheck:
    [instruction] = stage.all("HEALTHCHECK")
    options, rest = instruction.flags_and_rest
    word, _, command = rest.partition(" ")
    assert word.upper() == "CMD", f"HEALTHCHECK {rest!r} has no CMD"
    command = command.strip()
    words, exec_form = instruction.json_or_words(command)
    if exec_form:
        return HealthCheck(options, words, None)
    return HealthCheck(options, ["/bin/sh", "-c", command], command)


def strip_env_wrapper(words: list[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """`env [-u NAME]... [NAME=VALUE]... CMD...` as (CMD..., unset names, set values)."""
    if not words or Path(words[0]).name != "env":
        return words, [], {}
    unset: list[str] = []
    values: dict[str, str] = {}
    rest = words[1:]
    while rest:
        if rest[0] in ("-u", "--unset"):
            unset.append(rest[1])
            rest = rest[2:]
        elif rest[0].startswith("--unset="):
            unset.append(rest[0].partition("=")[2])
            rest = rest[1:]
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", rest[0]):
            name, _, value = rest[0].partition("=")
            values[name] = value
            rest = rest[1:]
        else:
            break
    return rest, unset, values


def shell_command_words(text: str) -> list[str]:
    """The first simple command of a shell line (before `||`, `&&`, `;`, `|` or a redirection)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for token in lexer:
        if token in ("||", "&&", ";", "|", "&", ">", ">>", "<", "2>", "2>&1"):
            break
        words.append(token)
    return words


def parse_duration(text: str) -> float:
    """Docker's durations: 30s, 1m30s, 500ms."""
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text):
        total += float(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    assert total > 0 or text in ("0", "0s"), f"{text!r} is not a duration"
    return total


# .dockerignore ----------------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match plus `**` (any number of folders), as Docker's patternmatcher has it."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += r"(?:.*/)?"
            else:
                out += r".*"
            continue
        char = pattern[i]
        if char == "*":
            out += r"[^/]*"
        elif char == "?":
            out += r"[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end].replace("!", "^", 1) if pattern[i + 1 : i + 2] == "!" else pattern[i + 1 : end]
            out += f"[{body}]"
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out + r"\Z")


@dataclass(frozen=True)
class DockerIgnore:
    rules: tuple[tuple[bool, re.Pattern[str], str], ...]  # (is exclusion, regex, pattern)

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        rules = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclude = not line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            rules.append((exclude, _pattern_regex(pattern), pattern))
        return cls(tuple(rules))

    def excluded(self, relative: str) -> bool:
        """Whether the file (or folder) at `relative` stays out of the build context: the last rule
        that matches it or one of the folders above it decides."""
        parts = Path(relative).parts
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        verdict = False
        for exclude, regex, _ in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                verdict = exclude
        return verdict


def context_files(root: Path = REPO) -> list[str]:
    """Every file under the repository, relative, skipping only what no build would want to walk."""
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", ".venv", "node_modules")]
        for name in names:
            files.append(os.path.relpath(os.path.join(folder, name), root))
    return files


# docker-compose.yml -------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(ValueError):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME:+alt} and $$,
    applied to every string of a loaded compose file."""
    if isinstance(value, dict):
        return {interpolate(k, env): interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"], match["arg"] or ""
        present = name in env
        current = env.get(name, "")
        if op in (":-", "-"):
            use_default = not current if op == ":-" else not present
            return arg if use_default else current
        if op in (":?", "?"):
            if (not current) if op == ":?" else (not present):
                raise MissingVariable(f"{name}: {arg}")
            return current
        if op in (":+", "+"):
            return arg if (current if op == ":+" else present) else ""
        return current

    return _INTERPOLATION.sub(substitute, value)


@cache
def compose_raw() -> dict[str, Any]:
    import yaml

    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml as Compose sees it with `env` as the shell's environment (default: an empty
    one, so every ${NAME:-default} takes its default). Top-level `x-` extensions are dropped."""
    document = interpolate(compose_raw(), env or {})
    return {k: v for k, v in document.items() if not str(k).startswith("x-")}


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.partition("=") for item in environment)
        return {name: value for name, _, value in pairs}
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


def daemon_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run fairscribed: those built from packaging/Dockerfile."""
    found = {}
    for name, service in document["services"].items():
        build = service.get("build")
        if (
            isinstance(build, dict)
            and (REPO / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
        ):
            found[name] = service
    return found


@dataclass(frozen=True)
class Mount:
    type: str
    source: str
    target: str


def mounts(service: dict[str, Any]) -> list[Mount]:
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found.append(Mount(volume["type"], str(volume.get("source", "")), str(volume["target"])))
            continue
        source, _, rest = volume.partition(":")
        target = rest.split(":")[0] if rest else source
        kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
        found.append(Mount(kind, source if rest else "", target))
    return found


@dataclass(frozen=True)
class PortBinding:
    host_ip: str
    host_port: str
    container_port: int


def ports(service: dict[str, Any]) -> list[PortBinding]:
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append(PortBinding(str(port.get("host_ip", "")), str(port.get("published", "")), int(port["target"])))
            continue
        text = str(port).split("/")[0]
        parts = text.rsplit(":", 2)
        if len(parts) == 3:
            found.append(PortBinding(parts[0].strip("[]"), parts[1], int(parts[2])))
        elif len(parts) == 2:
            found.append(PortBinding("", parts[0], int(parts[1])))
        else:
            found.append(PortBinding("", "", int(parts[0])))
    return found


def parse_bytes(text: str | int) -> int:
    """Compose's byte values: 2g, 512m, 1.5gb, 1024."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*", str(text).lower())
    assert match, f"{text!r} is not a byte size"
    return int(float(match[1]) * 1024 ** " kmgt".index(match[2] or " "))


# INI-like files: systemd units and desktop entries ------------------------------------------------------


def parse_ini(text: str) -> dict[str, list[tuple[str, str]]]:
    """Groups of (key, value) in file order, repeated keys kept (systemd's Environment=)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = groups.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"line {number}: {raw!r} is neither [Group] nor Key=Value"
        current.append((key.strip(), value.strip()))
    return groups


def first(group: list[tuple[str, str]], key: str) -> str | None:
    return next((value for k, value in group if k == key), None)
