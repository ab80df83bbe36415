"""``make mutation``: mutmut 3 over the security-critical modules with the fast tests, then each module's score.

    python -m tests.mutation                      every module of [tool.mutmut] only_mutate, from scratch
    python -m tests.mutation identity transport   only the modules whose path contains one of these words
    python -m tests.mutation --keep ...           reuse mutants/ (generated mutants and test stats) from the last run
    python -m tests.mutation --survivors ...      reuse mutants/ and run again only the last run's survivors
    python -m tests.mutation --report ...         only print the scores of the last run

A module runs whole, or only its functions tests/mutation/scope.toml names (for a module security-critical in part).
A module's score is its killed mutants over its behaviour-changing ones: all of its mutants less the survivors
tests/mutation/exclusions.toml excludes (each listed one equivalent, text-only or aws-only with its reason, those that
only change a log call's message or fields, and those that only lower-case a DynamoDB expression keyword). Every
surviving mutant that is not listed is printed with its change. The run fails when a module scores below
``--min-score`` or when the canary, a mutant that removes the identity claim's validation, is not killed: then mutants
are not being switched on at all.

Inspect a mutant with ``.venv/bin/python tests/mutation/mutmut_layer.py show <name>`` (or ``browse``).
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tests.mutation.mutmut_layer import import_path, import_roots

HERE = Path(__file__).resolve().parent
EXCLUSIONS_FILE = HERE / "exclusions.toml"
SCOPE_FILE = HERE / "scope.toml"
MUTMUT = HERE / "mutmut_layer.py"
MUTANTS = Path("mutants")
DEFAULT_MIN_SCORE = 90.0

# mutmut's exit codes per mutant: a test failed (1; 3 is pytest's internal error), or the mutant hung and was stopped
# by the CPU limit or killed. Everything else (0 survived, 33 no test covers it, ...) counts as not detected.
DETECTED_STATUSES = {"killed", "timeout", "segfault"}


@dataclass(frozen=True)
class Change:
    """A mutant as a change of source lines, which (unlike its number) survives edits elsewhere in the function."""

    function: str  # mutmut's key of the function, e.g. asana_integration.identity.x__identifier
    original: str
    mutant: str


# Must die in every run: the identity claim's validation weakened from `or` to `and`, so '../other-org' or a missing
# claim would become an organization id. If it survives, mutants are not being switched on (or the test is gone).
CANARY = Change(
    function="asana_integration.identity.x__identifier",
    original="if isinstance(value, bool) or not isinstance(value, str | int) or not _IDENTIFIER.fullmatch(str(value)):",
    mutant="if isinstance(value, bool) or not isinstance(value, str | int) and not _IDENTIFIER.fullmatch(str(value)):",
)


@dataclass(frozen=True)
class Exclusion:
    change: Change
    kind: str  # one of EXCLUSION_KINDS
    reason: str


@dataclass(frozen=True)
class Exclusions:
    listed: list[Exclusion]
    log_lines_reason: str | None  # set when the file excludes every mutant confined to log calls, with this reason
    log_field_helpers: frozenset[str] = frozenset()  # functions that only build log fields: all their mutants
    keyword_case_reason: str | None = None  # set when the file excludes mutants that only change a keyword's case


@dataclass
class ModuleScore:
    path: str
    mutants: int = 0
    killed: int = 0
    excluded: int = 0  # listed ones and log-line ones
    log_lines: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def behaviour_changing(self) -> int:
        return self.mutants - self.excluded

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.behaviour_changing if self.behaviour_changing else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="words naming modules to run (default: all of only_mutate)")
    parser.add_argument("--keep", action="store_true", help="reuse mutants/ from the last run")
    parser.add_argument("--survivors", action="store_true", help="reuse mutants/, run only the last run's survivors")
    parser.add_argument("--report", action="store_true", help="only print the scores of the last run")
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE)
    parser.add_argument("--jobs", type=int, help="mutants tested at once (mutmut's default: one per core)")
    args = parser.parse_args(argv)

    paths = selected_paths(args.modules)
    scope = load_scope(SCOPE_FILE)
    if not args.report:
        if not (args.keep or args.survivors):
            shutil.rmtree(MUTANTS, ignore_errors=True)
        if args.survivors:
            exclusions = load_exclusions(EXCLUSIONS_FILE)
            names = [name for path in paths for name in unexplained_survivors(path, scope, exclusions)]
            print(f"Running the last run's {len(names)} survivors again")
        else:
            names = [pattern for path in paths for pattern in mutant_patterns(path, scope)]
        names.append(f"{CANARY.function}__mutmut_*")
        jobs = ["--max-children", str(args.jobs)] if args.jobs else []
        command = [sys.executable, str(MUTMUT), "run", *jobs, *names]
        completed = subprocess.run(command, check=False)  # noqa: S603
        if completed.returncode != 0:
            print(f"mutmut run failed (exit {completed.returncode})", file=sys.stderr)
            return completed.returncode

    exclusions = load_exclusions(EXCLUSIONS_FILE)
    scores, unused = score_modules(paths, exclusions, scope)
    print_report(scores, unused)
    failures = [s.path for s in scores if s.score < args.min_score]
    if failures:
        print(f"\nBelow {args.min_score:g}%: {', '.join(failures)}", file=sys.stderr)
    if not canary_killed():
        print(
            f"\nThe canary mutant of {CANARY.function} ('or' -> 'and') was not killed: mutants are not being switched "
            "on (see tests/mutation/mutmut_layer.py), or the test of a malformed identity claim is gone.",
            file=sys.stderr,
        )
        return 1
    return 1 if failures else 0


def mutmut_config() -> dict[str, list[str]]:
    return tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]


def selected_paths(words: Iterable[str]) -> list[str]:
    paths: list[str] = mutmut_config()["only_mutate"]
    words = list(words)
    chosen = [path for path in paths if not words or any(word in path for word in words)]
    if not chosen:
        raise SystemExit(f"No module of [tool.mutmut] only_mutate matches {words}: {paths}")
    return chosen


def module_name(path: str) -> str:
    """The module a layer file is imported as (mutmut_layer.py names mutants after it)."""
    return ".".join(import_path(path, import_roots(Path("pyproject.toml"))).with_suffix("").parts)


def load_scope(file: Path) -> dict[str, frozenset[str]]:
    """Per partly security-critical module (tests/mutation/scope.toml): the functions run and scored, as mutmut keys."""
    scope = {}
    for entry in tomllib.loads(file.read_text(encoding="utf-8")).get("module", []):
        if not entry.get("functions") or not entry.get("reason", "").strip():
            raise SystemExit(f"{file}: each module needs its functions and the reason the rest is left out: {entry}")
        scope[entry["path"]] = frozenset(f"{module_name(entry['path'])}.{function}" for function in entry["functions"])
    return scope


def mutant_patterns(path: str, scope: Mapping[str, frozenset[str]]) -> list[str]:
    """mutmut's name patterns for the mutants of ``path`` that run: its scoped functions', or all of them."""
    if path in scope:
        return [f"{function}__mutmut_*" for function in sorted(scope[path])]
    return [f"{module_name(path)}.*"]


def unexplained_survivors(path: str, scope: Mapping[str, frozenset[str]], exclusions: Exclusions) -> list[str]:
    """The mutants of ``path`` (in its scope) the last run did not detect and no exclusion explains: the ones a new
    test may kill (an excluded one would only survive again, at the cost of all its tests)."""
    return sorted(
        name
        for name, status in scoped_statuses(path, scope).items()
        if status not in DETECTED_STATUSES and exclusion_of(name, path, exclusions) is None
    )


EXCLUSION_KINDS = frozenset({"equivalent", "text-only", "aws-only"})  # see tests/mutation/exclusions.toml


def load_exclusions(file: Path) -> Exclusions:
    document = tomllib.loads(file.read_text(encoding="utf-8"))
    listed = []
    for entry in document.get("exclusion", []):
        if entry["kind"] not in EXCLUSION_KINDS or not entry["reason"].strip():
            raise SystemExit(f"{file}: each exclusion needs a kind of {sorted(EXCLUSION_KINDS)} and a reason: {entry}")
        change = Change(entry["function"], entry["original"].strip(), entry["mutant"].strip())
        listed.append(Exclusion(change, entry["kind"], entry["reason"]))
    log_lines = document.get("log_lines", {})
    helpers = frozenset(entry["function"] for entry in log_lines.get("helper", []) if entry.get("reason", "").strip())
    keyword_case = document.get("expression_keyword_case", {}).get("reason", "").strip() or None
    return Exclusions(listed, log_lines.get("reason", "").strip() or None, helpers, keyword_case)


# The keywords of DynamoDB's update and condition expressions, which DynamoDB reads in any case (its function names,
# such as attribute_exists, are case-sensitive, as are attribute names and value placeholders).
EXPRESSION_KEYWORDS = frozenset({"SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "BETWEEN", "IN"})
# A DynamoDB expression on the line: an *Expression argument or key, or a name or value placeholder (#state, :now).
_EXPRESSION_MARK = re.compile(r"Expression\b|[#:][a-z_]+\b")
_TOKEN = re.compile(r"\w+|\W")


def only_keyword_case_changes(change: Change) -> bool:
    """Whether the mutant only lower-cases the keywords of a DynamoDB expression argument (``SET`` to ``set``)."""
    if "\n" in change.original or not _EXPRESSION_MARK.search(change.original):
        return False
    original, mutant = _TOKEN.findall(change.original), _TOKEN.findall(change.mutant)
    if len(original) != len(mutant) or original == mutant:
        return False
    return all(a == b or (a in EXPRESSION_KEYWORDS and b == a.lower()) for a, b in zip(original, mutant, strict=True))


LOG_LEVELS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})


def only_log_lines_change(mutant_name: str, path: str) -> bool:
    """Whether every statement the mutant changes is a ``logger.<level>(...)`` call (its message or fields)."""
    import libcst as cst
    from mutmut.mutation.diff_apply import (
        read_functions_from_index,
        read_mutant_function,
        read_mutants_module,
        read_original_function,
    )

    functions = read_functions_from_index(mutant_name, path)
    if functions is None:
        module = read_mutants_module(path)
        functions = (read_original_function(module, mutant_name), read_mutant_function(module, mutant_name))
    original, mutant = (_statements(cst.Module([function]).code) for function in functions)
    if len(original) != len(mutant):
        return False
    differing = {i for i, (a, b) in enumerate(zip(original, mutant, strict=True)) if ast.dump(a) != ast.dump(b)}
    index = {id(statement): i for i, statement in enumerate(original)}
    # The innermost changed statements: an `if` or a `try` around a changed call differs too, but is not the change.
    innermost = [
        i
        for i in differing
        if not any(index.get(id(inner)) in differing for inner in ast.walk(original[i]) if inner is not original[i])
    ]
    return bool(innermost) and all(_is_log_call(original[i]) and _is_log_call(mutant[i]) for i in innermost)


def _statements(code: str) -> list[ast.stmt]:
    return [node for node in ast.walk(ast.parse(code.strip())) if isinstance(node, ast.stmt)]


def _is_log_call(statement: ast.stmt) -> bool:
    match statement:
        case ast.Expr(value=ast.Call(func=ast.Attribute(value=ast.Name(id="logger"), attr=level))):
            return level in LOG_LEVELS
    return False


def change_of(mutant_name: str, path: str) -> Change:
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.utils.format_utils import mangled_name_from_mutant_name

    diff = get_diff_for_mutant(mutant_name, path=path).splitlines()
    removed = [line[1:].strip() for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff if line.startswith("+") and not line.startswith("+++")]
    return Change(mangled_name_from_mutant_name(mutant_name), "\n".join(removed), "\n".join(added))


def statuses(path: str) -> dict[str, str]:
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code

    data = SourceFileMutationData(path=path)
    data.load()
    return {name: status_by_exit_code[code] for name, code in data.exit_code_by_key.items()}


def exclusion_of(name: str, path: str, exclusions: Exclusions, change: Change | None = None) -> str | None:
    """Why a surviving mutant is left out of its module's score ("listed", "keyword case", "log line"), or None."""
    change = change or change_of(name, path)
    if change in {exclusion.change for exclusion in exclusions.listed}:
        return "listed"
    if exclusions.keyword_case_reason and only_keyword_case_changes(change):
        return "keyword case"
    if exclusions.log_lines_reason and (
        change.function in exclusions.log_field_helpers or only_log_lines_change(name, path)
    ):
        return "log line"
    return None


def scoped_statuses(path: str, scope: Mapping[str, frozenset[str]]) -> dict[str, str]:
    from mutmut.utils.format_utils import mangled_name_from_mutant_name

    results = statuses(path)
    if path not in scope:
        return results
    return {name: status for name, status in results.items() if mangled_name_from_mutant_name(name) in scope[path]}


def score_modules(
    paths: Sequence[str], exclusions: Exclusions, scope: Mapping[str, frozenset[str]]
) -> tuple[list[ModuleScore], list[Exclusion]]:
    from mutmut.utils.format_utils import mangled_name_from_mutant_name

    used: set[Change] = set()
    scores = []
    for path in paths:
        score = ModuleScore(path=str(PurePosixPath(path).relative_to("layers/common")))
        results = scoped_statuses(path, scope)
        if path in scope:
            mutated = {mangled_name_from_mutant_name(name) for name in results}
            if missing := sorted(scope[path] - mutated):
                raise SystemExit(f"{SCOPE_FILE}: no mutant of {', '.join(missing)} in {path}: renamed or gone?")
            score.path += f" ({len(scope[path])} functions)"
        for name, status in sorted(results.items()):
            score.mutants += 1
            if status in DETECTED_STATUSES:
                score.killed += 1
                continue
            change = change_of(name, path)
            excluded = exclusion_of(name, path, exclusions, change)
            if excluded is None:
                score.survivors.append(f"{name} ({status}):\n      - {change.original}\n      + {change.mutant}")
                continue
            score.excluded += 1
            if excluded == "listed":
                used.add(change)
            elif excluded == "log line":
                score.log_lines += 1
        scores.append(score)
    covered = {f"{module_name(path)}." for path in paths}
    # Listed survivors of the modules that ran but not met: killed now, or the code changed. Either way, re-check them.
    unused = [
        e for e in exclusions.listed if e.change not in used and any(e.change.function.startswith(m) for m in covered)
    ]
    return scores, unused


def canary_killed() -> bool:
    path = next(p for p in mutmut_config()["only_mutate"] if CANARY.function.startswith(module_name(p) + "."))
    for name, status in statuses(path).items():
        if name.startswith(CANARY.function + "__mutmut_") and change_of(name, path) == CANARY:
            return status in DETECTED_STATUSES
    raise SystemExit(f"The canary mutant ({CANARY}) was not generated: update CANARY in {__file__}")


def print_report(scores: Sequence[ModuleScore], unused: Sequence[Exclusion]) -> None:
    print("\nMutation scores (killed / behaviour-changing mutants; exclusions: tests/mutation/exclusions.toml)\n")
    columns = ("mutants", "killed", "survived", "excluded", "(log lines)", "score")
    header = f"{'module':<54}" + "".join(f" {column:>11}" for column in columns)
    print(header)
    print("-" * len(header))
    for s in scores:
        survived = s.mutants - s.killed - s.excluded
        figures = (s.mutants, s.killed, survived, s.excluded, s.log_lines)
        print(f"{s.path:<54}" + "".join(f" {figure:>11}" for figure in figures) + f" {s.score:>10.1f}%")
    for s in scores:
        if s.survivors:
            print(f"\nSurvivors in {s.path} (kill them with a test, or list them with the reason):")
            for survivor in s.survivors:
                print(f"  {survivor}")
    if unused:
        print("\nListed exclusions no surviving mutant matched (killed now, or the code changed; re-check them):")
        for exclusion in unused:
            print(f"  {exclusion.change.function}: {exclusion.change.original!r} -> {exclusion.change.mutant!r}")


if __name__ == "__main__":
    sys.exit(main())
