"""The source files a user's factory module depends on, found without importing anything.

A cached reference of a user's factory (``--workload package.module:function``) must be computed
again when any code that builds its problem changes: the factory's module, the helper modules it
imports, theirs in turn, and the ``__init__.py`` of every package on the way (run on import). The
modules are found by reading each file's ``import`` statements (:mod:`ast`) and looking the names
up as files under the user's own folders: the current directory and the ``sys.path`` entries that
are neither the standard library nor an installed ``site-packages`` (installed libraries are keyed
by their versions instead, :func:`neural_ode.workloads.cache.library_versions`). Nothing is
imported or run: a name that is no file there (an installed library, a builtin, a module built at
run time) is not followed.

An import inside a function, or one under ``if``/``try``, is followed too (every ``import`` node of
the file); an import by a computed name (``importlib.import_module(name)``) cannot be seen in the
text: a process that has imported the factory and built its problem passes the names of the modules
it loaded meanwhile (``loaded``), whose files are hashed too (:func:`loaded_files`), so a helper
found only by running the code is in the key of everything cached after the build.
"""

from __future__ import annotations

import ast
import hashlib
import os
import site
import sys
import sysconfig
from pathlib import Path

from neural_ode.workloads.cache import library_versions

#: at most this many files are read per factory (a bound on a hostile or huge tree)
MAX_FILES = 2000
#: files larger than this are hashed but not parsed for imports, bytes
MAX_PARSE_BYTES = 5_000_000
#: top-level packages never followed: this tool's own (its reference computation is versioned)
SKIPPED = ("neural_ode",)


def _installed() -> list[Path]:
    """The standard library's and site-packages' folders (never followed)."""
    paths = {sysconfig.get_paths().get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    try:
        paths.update(site.getsitepackages())
    except AttributeError:  # a virtualenv's old site module
        pass
    paths.add(site.getusersitepackages() if hasattr(site, "getusersitepackages") else None)
    return [Path(p).resolve() for p in paths if p]


def user_roots() -> list[Path]:
    """The folders a user's module is looked up in: the current directory, then every ``sys.path``
    entry that is a folder outside the standard library and site-packages."""
    installed = _installed()
    roots: list[Path] = []
    for entry in [os.getcwd(), *sys.path]:
        try:
            root = Path(entry or os.getcwd()).resolve()
        except (OSError, RuntimeError):
            continue
        if not root.is_dir() or root in roots:
            continue
        if any(root == folder or folder in root.parents for folder in installed):
            continue
        roots.append(root)
    return roots


def _files_of(name: str, roots: list[Path]) -> list[tuple[Path, str]]:
    """The files importing the dotted module ``name`` runs, with their module names, from the first
    root that holds it: each package's ``__init__.py`` on the way and the module's own file; empty
    when none holds it."""
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts) or parts[0] in SKIPPED:
        return []
    for root in roots:
        files, folder = [], root
        for depth, part in enumerate(parts[:-1], 1):
            folder = folder / part
            if not folder.is_dir():
                break
            if (folder / "__init__.py").is_file():
                files.append((folder / "__init__.py", ".".join(parts[:depth])))
        else:
            last = folder / parts[-1]
            if (last / "__init__.py").is_file():
                return [*files, (last / "__init__.py", name)]
            if last.with_suffix(".py").is_file():
                return [*files, (last.with_suffix(".py"), name)]
    return []


def _imported_names(path: Path, module: str) -> set[str]:
    """The dotted names ``path`` (the file of ``module``) imports: ``a.b`` for ``import a.b``, both
    ``a`` and ``a.b`` for ``from a import b`` (``b`` may be a submodule); relative ones resolved."""
    try:
        if path.stat().st_size > MAX_PARSE_BYTES:
            return set()
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(filter(None, [*anchor, base]))
            if base:
                names.add(base)
            names.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names if alias.name != "*")
    return names


def source_files(module: str, roots: list[Path] | None = None) -> list[Path]:
    """Every file under the user's roots that importing ``module`` runs (see the module docstring),
    sorted; at most :data:`MAX_FILES`."""
    roots = user_roots() if roots is None else roots
    seen: set[Path] = set()
    queue, done = [module], set()
    while queue and len(seen) < MAX_FILES:
        name = queue.pop()
        if name in done:
            continue
        done.add(name)
        for file, owner in _files_of(name, roots):
            if file not in seen:
                seen.add(file)
                queue.extend(_imported_names(file, owner))
    return sorted(seen)


def loaded_files(names: list[str]) -> list[Path]:
    """The files of the modules ``names`` (looked up in ``sys.modules``, never imported) that are
    neither the standard library's nor an installed library's nor this tool's own, resolved; a
    module with no file (a builtin, a namespace package) has none."""
    installed, files = _installed(), []
    for name in names:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if name.partition(".")[0] in SKIPPED or not isinstance(file, str):
            continue
        try:
            path = Path(file).resolve()
        except (OSError, RuntimeError):
            continue
        if path.is_file() and not any(folder in path.parents for folder in installed):
            files.append(path)
    return files


def sources_digest(module: str, loaded: list[str] = ()) -> str:
    """A hash of every file importing ``module`` runs (names and bytes), of the files of the
    modules ``loaded`` (see :func:`loaded_files`) and of the libraries' versions: a new value
    whenever any of them changes."""
    digest = hashlib.sha256(library_versions().encode())
    roots = user_roots()
    files = {path.resolve() for path in source_files(module, roots)} | set(loaded_files(list(loaded)))
    for file in sorted(files):
        try:
            data = file.read_bytes()
        except OSError:
            data = b"unreadable"
        digest.update(str(file).encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()
