"""mutmut 3's command line, with each mutant named after the module its file is imported as.

mutmut names a mutant after its file's path relative to the repository: ``layers/common/asana_integration/identity.py``
gives ``layers.common.asana_integration.identity.x__identifier__mutmut_1``. Its trampoline switches a mutant on only
when the module part of that name equals the mutated function's ``__module__``, and it maps tests to mutants by the
same name. The layer is imported from its own root (``layers/common``, as Lambda imports it from ``/opt/python``), so
that module is ``asana_integration.identity``: with plain ``mutmut`` no mutant would ever be switched on. Here the
name is taken relative to the import root instead, which is pytest's ``pythonpath`` (pyproject.toml), so the names
agree with ``__module__`` by construction.

Run it as a script (``python tests/mutation/mutmut_layer.py run|show|results|browse ...``), not with ``-m``: the
process runs pytest on mutmut's copy of the tree (``mutants/``), whose ``tests`` package must not be shadowed by the
repository's. ``python -m tests.mutation`` drives it and prints the scores.
"""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath


def import_roots(pyproject: Path) -> tuple[PurePosixPath, ...]:
    """pytest's ``pythonpath`` entries other than the repository root, longest first."""
    ini = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    roots = [PurePosixPath(entry) for entry in ini.get("pythonpath", []) if PurePosixPath(entry) != PurePosixPath(".")]
    return tuple(sorted(roots, key=lambda root: len(root.parts), reverse=True))


def import_path(relative_source_path: Path | str, roots: tuple[PurePosixPath, ...]) -> Path:
    """``relative_source_path`` relative to the import root it lies under (unchanged when under none)."""
    path = PurePosixPath(relative_source_path)
    for root in roots:
        if path.is_relative_to(root):
            return Path(path.relative_to(root))
    return Path(path)


def main() -> None:
    # mutmut reads pyproject.toml when it is imported, so it is imported only once the working directory is right.
    from mutmut import __main__ as mutmut_cli
    from mutmut.mutation import file_mutation
    from mutmut.utils import format_utils

    roots = import_roots(Path("pyproject.toml"))
    path_based_name = format_utils.get_mutant_name

    def get_mutant_name(relative_source_path: Path, mutant_method_name: str) -> str:
        return path_based_name(import_path(relative_source_path, roots), mutant_method_name)

    # Every module that computes a mutant's name imported the function by name; all of them get the same one.
    for module in (format_utils, file_mutation, mutmut_cli):
        if getattr(module, "get_mutant_name", None) is not path_based_name:
            raise SystemExit(f"{module.__name__} no longer names mutants with get_mutant_name: update {__file__}")
        module.get_mutant_name = get_mutant_name  # type: ignore[attr-defined]
    mutmut_cli.cli()


if __name__ == "__main__":
    main()
