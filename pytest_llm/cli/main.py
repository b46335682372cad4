"""The ``pytest-llm`` command: diff, show, convert and check cassettes outside of pytest."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pytest_llm.cassette import checks, fast_yaml, scrubbing
from pytest_llm.cassette.file_format import (
    RefusedCassette,
    refused,
    render_cassette,
    write_atomically,
)
from pytest_llm.cassette.scrubbing import Scrubber
from pytest_llm.cli import diff as cassette_diff
from pytest_llm.cli import show
from pytest_llm.config import project_file
from pytest_llm.errors import CassetteError, ProjectConfigError, PytestLLMError
from pytest_llm.providers.pricing import BUILTIN_PRICES, Price, parse_price_lines

PROGRAM = "pytest-llm"
YAML_SUFFIXES = (".yaml", ".yml")
#: Folders never searched for cassettes: version control, caches, virtual environments.
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages"})

EXIT_STATUS_HELP = """\
exit status:
  diff     0 no cassette changed, 1 cassettes changed (added, deleted or different answers),
           2 error: not a git repository, unknown revision, unreadable path or cassette
           (the other cassettes are still compared and reported)
  show     0 rendered, or a text file that is no cassette printed as is;
           2 unreadable, binary or malformed cassette (its raw bytes are printed; 0 with
           --textconv)
  convert  0 every file converted or already in the pytest-llm format, 2 a file failed
  check    0 no problem, 1 problems found, 2 a path could not be read
  report merge  0 merged, 1 a data-set gate failed over the whole set or a case regressed,
           2 error: a report unreadable or malformed, overlapping shards, mixed modes
  any      2 wrong command-line arguments

git textconv driver (readable `git diff` / `git log -p` of cassettes):
  git config diff.llm-cassette.textconv "pytest-llm show --textconv"
  echo '**/cassettes/**/*.yaml diff=llm-cassette' >> .gitattributes
"""


class CommandError(PytestLLMError, Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pytest-llm`` with ``argv`` (default: the process arguments); the exit status."""
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or wrong arguments (argparse printed why)
        return 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 2
    run: Callable[[argparse.Namespace], int] = arguments.run
    restore_limits: Callable[[], None] | None = None
    try:
        restore_limits = _command_limits(arguments)
        return run(arguments)
    except CommandError as error:
        _error(str(error))
        return 2
    except BrokenPipeError:  # `pytest-llm show x.yaml | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if restore_limits is not None:
            restore_limits()


def _command_limits(arguments: argparse.Namespace) -> Callable[[], None]:
    """The project's ``llm_max_cassette_size``, found from the folder of the first file or
    folder the command names (git runs ``show --textconv`` from the repository's top), else
    from the current folder. For ``show --textconv`` (git diff) a bad setting is a warning
    and the default applies: a pull request's configuration must not break the diff."""
    named: list[Path] = []
    for name in ("cassette", "paths", "targets"):  # show; convert, check; diff (or a revision)
        value = getattr(arguments, name, None)
        named += [Path(item) for item in (value if isinstance(value, list) else [value]) if item]
    existing = next((path for path in named if path.exists()), None)
    start = Path.cwd() if existing is None else existing if existing.is_dir() else existing.parent
    try:
        return project_limits(start)
    except CommandError as error:
        if not getattr(arguments, "textconv", False):
            raise
        _error(f"{error}; the default limit applies")
        return fast_yaml.use_max_bytes(None)


def project_limits(start: Path) -> Callable[[], None]:
    """Apply the project's ``llm_max_cassette_size`` (found as pytest finds its configuration
    from ``start``) to what this command reads, as a pytest run would; what undoes it."""
    try:
        path, lines = project_file.ini_lines(start, "llm_max_cassette_size")
    except ProjectConfigError as error:
        raise CommandError(str(error)) from None
    try:
        size = fast_yaml.max_bytes_setting(" ".join(lines))
    except ValueError as error:
        raise CommandError(f"{path}: llm_max_cassette_size = {error}") from None
    return fast_yaml.use_max_bytes(size)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Compare, read, convert and check pytest-llm / vcrpy cassettes.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_diff(commands)
    _add_show(commands)
    _add_convert(commands)
    _add_check(commands)
    _add_report(commands)
    return parser


def _add_diff(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    diff = commands.add_parser(
        "diff",
        help="what changed in the cassettes: answers before/after, similarity, latency, cost",
        usage=f"{PROGRAM} diff [-h] [--format FORMAT] [BASE | OLD NEW]",
        description=(
            "Without paths: the cassettes changed in the working tree since git revision BASE "
            "(default HEAD), untracked ones included. With OLD NEW: two cassette files, or two "
            "folders whose cassettes are paired by relative path. Interactions are paired by "
            "position within an endpoint; cassettes whose requests and answers are the same "
            "(ids, timestamps and small timing moves aside) are not listed."
        ),
        epilog="exit status: 0 no change, 1 changes found, 2 error (reported, others still compared)",
    )
    diff.add_argument("targets", nargs="*", metavar="BASE | OLD NEW", help=argparse.SUPPRESS)
    diff.add_argument(
        "--format",
        choices=cassette_diff.FORMATS,
        default="text",
        help="text (default), markdown (a pull-request comment) or json",
    )
    diff.set_defaults(run=run_diff)


def _add_show(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = commands.add_parser(
        "show",
        help="a readable rendering of a cassette (also a git textconv driver)",
        description=(
            "Print every interaction: method and path, model, status, the request messages, "
            "the answer (streams assembled), tool calls, latency, time to first token, tokens. "
            "A YAML file that is not a cassette is printed unchanged."
        ),
        epilog=(
            "exit status: 0 rendered (or printed unchanged), 2 unreadable or malformed cassette.\n"
            "As a git textconv driver use --textconv: git aborts the whole diff when a textconv "
            "command fails.\n"
            '  git config diff.llm-cassette.textconv "pytest-llm show --textconv"\n'
            "  echo '**/cassettes/**/*.yaml diff=llm-cassette' >> .gitattributes"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("cassette", type=Path, metavar="CASSETTE")
    show.add_argument(
        "--textconv",
        action="store_true",
        help="never fail: print a file that cannot be rendered as it is, exit status 0",
    )
    show.set_defaults(run=run_show)


def _add_convert(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    convert = commands.add_parser(
        "convert",
        help="rewrite vcrpy / pytest-recording cassettes in the pytest-llm format",
        description=(
            "Rewrite plain vcrpy / pytest-recording cassettes (files, or every cassette below "
            "a folder) in the readable pytest-llm format: in place, or below --out with the "
            "same relative names. Request headers are not kept and credential response "
            "headers are dropped, as when recording. Files already in the pytest-llm format "
            "are left untouched."
        ),
        epilog="exit status: 0 all converted or already converted, 2 a file failed (the others are converted)",
    )
    convert.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    convert.add_argument("--out", type=Path, metavar="DIR", help="write here instead of in place")
    convert.set_defaults(run=run_convert)


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check",
        help="validate cassettes: format, secrets, credential headers, stored error responses",
        description=(
            "Check cassette files, and every **/cassettes/**/*.yaml (or .yml) below the given "
            "folders (default: the current folder): they parse, have a known format version, "
            "hold no API key or token, no credential header, and no stored error response "
            "(401, 403, 408, 429, 5xx). One line per problem: `path: problem`."
        ),
        epilog="exit status: 0 clean, 1 problems found, 2 a path could not be read",
    )
    check.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    check.add_argument(
        "--max-age",
        metavar="AGE",
        help="also list cassettes last verified against the live API longer ago than AGE "
        "(e.g. 30d, 12h, 2w; dates from each folder's .verified.json); a cassette with no "
        "date counts as stale",
    )
    check.set_defaults(run=run_check)


def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        help="work with the JSON reports of --llm-report (merge the reports of CI shards)",
        description="Work with the JSON reports written by pytest --llm-report PATH.json.",
    )
    actions = report.add_subparsers(dest="action", required=True, metavar="ACTION")
    merge = actions.add_parser(
        "merge",
        help="merge the JSON reports of runs that each saw part of the suite",
        description=(
            "Merge the JSON reports of runs that each saw part of the suite (CI shards, -k "
            "selections) into one report: data-set gates and the before/after summary are "
            "judged over the cases of all of them. A case id found in two reports (overlapping "
            "shards) and reports of different modes are errors. A gate whose data set still "
            "did not run whole is reported as partial, neither passed nor failed."
        ),
        epilog="exit status: 0 merged, 1 a gate failed or a case regressed, 2 error",
    )
    merge.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    merge.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT.md|OUT.json",
        help="write the merged report here (its format follows the suffix); default: Markdown "
        "on standard output",
    )
    merge.add_argument(
        "--format",
        choices=("markdown", "json"),
        help="the format on standard output (default: markdown)",
    )
    merge.set_defaults(run=run_report_merge)


def _error(message: str) -> None:
    """Print an error, scrubbed: it may quote a configuration line holding a key."""
    scrubber = Scrubber.from_environment((), os.environ)
    print(f"{PROGRAM}: {scrubber.text(message)}", file=sys.stderr)


# --------------------------------------------------------------------------- diff


@dataclasses.dataclass(frozen=True)
class FilePair:
    """Two versions of one file (None: absent on that side), or why one could not be read."""

    name: str
    old_text: str | None
    new_text: str | None
    error: str | None = None


def run_diff(arguments: argparse.Namespace) -> int:
    targets: list[str] = arguments.targets
    if len(targets) > 2:
        raise CommandError("diff takes a git revision, or two paths (OLD NEW)")
    if len(targets) == 2:
        pairs, only_cassettes = path_pairs(Path(targets[0]), Path(targets[1]))
    else:
        pairs, only_cassettes = git_pairs(targets[0] if targets else "HEAD"), True
    prices = project_prices(Path.cwd())
    changes = [
        change
        for pair in pairs
        if (change := _compare_pair(pair, only_cassettes=only_cassettes, prices=prices)) is not None
    ]
    scrubber = _convert_scrubber(Path.cwd() / "pyproject.toml")  # the project's own rules
    for change in changes:
        if change.error:
            _error(scrubber.text(change.error))
    # a cassette of a pull request may hold what the recorder would never write
    sys.stdout.write(scrubber.text(cassette_diff.render(changes, arguments.format)))
    return cassette_diff.exit_status(changes)


def project_prices(start: Path) -> dict[str, Price]:
    """The built-in prices with the project's ``llm_prices`` over them, as in a pytest run
    from ``start``."""
    try:
        path, lines = project_file.ini_lines(start, "llm_prices")
    except ProjectConfigError as error:
        raise CommandError(str(error)) from None
    try:
        return {**BUILTIN_PRICES, **parse_price_lines(lines)}
    except ValueError as error:  # a bad llm_prices line
        raise CommandError(f"{path}: {error}") from None


def _compare_pair(
    pair: FilePair, *, only_cassettes: bool, prices: dict[str, Price]
) -> cassette_diff.CassetteChange | None:
    if pair.error is not None:
        return cassette_diff.unreadable(pair.name, pair.error)
    return cassette_diff.compare_texts(
        pair.name, pair.old_text, pair.new_text, only_cassettes=only_cassettes, prices=prices
    )


def path_pairs(old: Path, new: Path) -> tuple[list[FilePair], bool]:
    """The file pairs of ``diff OLD NEW``, and whether files that are no cassettes are skipped
    (in folders) rather than reported (two files named on the command line)."""
    for path in (old, new):
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder")
    if old.is_dir() and new.is_dir():
        return folder_pairs(old, new), True
    if old.is_dir() or new.is_dir():
        raise CommandError(f"cannot compare a folder with a file: {old} and {new}")
    return [_file_pair(str(new), old, new)], False


def folder_pairs(old_root: Path, new_root: Path) -> list[FilePair]:
    names = sorted(
        {path.relative_to(old_root).as_posix() for path in yaml_files(old_root)}
        | {path.relative_to(new_root).as_posix() for path in yaml_files(new_root)}
    )
    return [_file_pair(name, old_root / name, new_root / name) for name in names]


def _file_pair(name: str, old: Path, new: Path) -> FilePair:
    try:
        return FilePair(name, _read_if_exists(old), _read_if_exists(new))
    except CassetteError as error:
        return FilePair(name, None, None, error=str(error))


def _read_if_exists(path: Path) -> str | None:
    return read_text(path) if path.exists() else None


def read_text(path: Path) -> str:
    """A file's text (undecodable bytes replaced: such a file is no cassette)."""
    return _read_bytes(path).decode("utf-8", "replace")


def _read_bytes(path: Path) -> bytes:
    """A file's bytes, refused above the loader's size limit before more is read."""
    try:
        return fast_yaml.read_bounded(path)
    except OSError as error:
        raise CassetteError(f"{path}: cannot be read: {error.strerror or error}") from None
    except fast_yaml.RefusedDocument as error:
        raise refused(path, error) from None


def yaml_files(root: Path) -> Iterator[Path]:
    """``*.yaml`` / ``*.yml`` files below ``root``, in a stable order, skipping hidden folders,
    caches and virtual environments."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(
            name for name in subfolders if not _skipped_folder(Path(folder) / name)
        )
        for name in sorted(files):
            if name.endswith(YAML_SUFFIXES):
                yield Path(folder) / name


def _skipped_folder(path: Path) -> bool:
    return (
        path.name.startswith(".") or path.name in SKIPPED_FOLDERS or (path / "pyvenv.cfg").exists()
    )


# git


def git_pairs(base: str) -> list[FilePair]:
    """The YAML files changed between revision ``base`` and the working tree (untracked ones
    included), named relative to the repository's top folder."""
    top = Path(_git(["rev-parse", "--show-toplevel"], Path.cwd(), _not_a_repository).strip())
    commit = _resolve_commit(top, base)
    pairs = []
    for status, name in _changed_files(top, commit):
        old = None if status == "A" else _git_show(top, commit, name)
        try:
            new = None if status == "D" else read_text(top / name)
        except CassetteError as error:
            pairs.append(FilePair(name, None, None, error=str(error)))
            continue
        pairs.append(FilePair(name, old, new))
    return pairs


def _not_a_repository(detail: str) -> str:
    return (
        f"not a git repository: {Path.cwd()} ({detail}); "
        f"to compare files or folders: {PROGRAM} diff OLD NEW"
    )


def _resolve_commit(top: Path, base: str) -> str:
    def unknown(detail: str) -> str:
        hint = f"; to compare two paths: {PROGRAM} diff OLD NEW" if Path(base).exists() else ""
        return f"unknown revision {base!r}: not a commit of the repository at {top}{hint}"

    return _git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], top, unknown).strip()


def _changed_files(top: Path, commit: str) -> list[tuple[str, str]]:
    """(status letter, path) of the changed YAML files: A, D, M (or T) and untracked as A."""
    patterns = ["--", "*.yaml", "*.yml"]
    changed = _git(
        ["diff", "--no-renames", "--no-ext-diff", "--name-status", "-z", commit, *patterns],
        top,
        _git_failed,
    ).split("\0")
    pairs = [(changed[index][:1], changed[index + 1]) for index in range(0, len(changed) - 1, 2)]
    untracked = _git(
        ["ls-files", "--others", "--exclude-standard", "-z", *patterns], top, _git_failed
    )
    pairs += [("A", name) for name in untracked.split("\0") if name]
    return sorted(pairs, key=lambda pair: pair[1])


def _git_show(top: Path, commit: str, name: str) -> str:
    return _git(["show", f"{commit}:{name}"], top, _git_failed)


def _git_failed(detail: str) -> str:
    return f"git failed: {detail}"


def _git(arguments: list[str], cwd: Path, explain: Callable[[str], str]) -> str:
    """Run git; on failure a CommandError whose message ``explain`` builds from git's own."""
    try:
        completed = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise CommandError("git is not installed (or not on PATH)") from None
    except OSError as error:
        raise CommandError(f"cannot run git: {error}") from None
    if completed.returncode != 0:
        lines = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = lines[0] if lines else f"git {arguments[0]} exited with {completed.returncode}"
        raise CommandError(explain(detail.removeprefix("fatal: ")))
    return completed.stdout.decode("utf-8", "replace")


# --------------------------------------------------------------------------- show


def run_show(arguments: argparse.Namespace) -> int:
    path: Path = arguments.cassette
    failed = 0 if arguments.textconv else 2
    try:
        data = _read_bytes(path)
    except RefusedCassette as error:  # too large to read: a line in its place, for git diff
        print(f"{PROGRAM} show: {error}")
        _error(str(error))
        return failed
    except CassetteError as error:
        _error(str(error))
        return failed
    examined = checks.examine(data.decode("utf-8", "replace"), path)
    # what is printed is scrubbed: a cassette of a pull request may hold what the recorder
    # would never write (an old recording, a hand edit, a plain vcrpy file)
    scrubber = _convert_scrubber(path)
    if examined.kind is None or examined.error is not None or examined.interactions is None:
        # printed raw: scrubbed raw (a rendered cassette is scrubbed as rendered, once)
        with contextlib.suppress(UnicodeDecodeError):  # binary: printed as it is, an error
            data = scrubber.text(data.decode("utf-8")).encode("utf-8")
    if examined.kind is None:
        _write_raw(data)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:  # binary: no YAML at all
            _error(f"{path}: not a cassette (not UTF-8 text); printed as it is")
            return failed
        _error(f"{path}: not a cassette; printed as it is")
        return 0
    if examined.error is not None or examined.interactions is None:
        _write_raw(data)
        _error(str(examined.error))
        return failed
    sys.stdout.write(scrubber.text(show.render(examined.interactions, examined.tool_calls)))
    return 0


def _write_raw(data: bytes) -> None:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:
        sys.stdout.write(data.decode("utf-8", "replace"))


# --------------------------------------------------------------------------- convert


def run_convert(arguments: argparse.Namespace) -> int:
    out: Path | None = arguments.out
    status = 0
    for source, relative, named in _convert_sources(arguments.paths):
        target = source if out is None else out / relative
        try:
            print(convert_file(source, target, named=named))
        except CassetteError as error:
            _error(str(error))
            status = 2
    return status


def _convert_sources(paths: Sequence[Path]) -> Iterator[tuple[Path, Path, bool]]:
    """(file, its name relative to the argument, whether it was named on the command line)."""
    for path in paths:
        if path.is_dir():
            for file in yaml_files(path):
                yield file, file.relative_to(path), False
        else:
            yield path, Path(path.name), True


def convert_file(source: Path, target: Path, *, named: bool) -> str:
    """Convert one file; the line that says what was done. A file found in a folder that is
    not a cassette is skipped; one named on the command line is an error."""
    data = _read_bytes(source)
    examined = checks.examine(data.decode("utf-8", "replace"), source)
    if examined.kind == checks.OWN_FORMAT:
        return f"{source}: already in the pytest-llm format; left untouched"
    if examined.kind is None:
        if named:
            raise CassetteError(f"{source}: not a cassette (no 'interactions' list)")
        return f"{source}: not a cassette; skipped"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CassetteError(f"{source}: not a UTF-8 text file ({error.reason})") from None
    if examined.error is not None or examined.interactions is None:
        raise examined.error or CassetteError(f"{source}: not a cassette")
    scrubber = _convert_scrubber(source)
    interactions = [scrubbed(item, scrubber) for item in examined.interactions]
    try:
        write_atomically(target, render_cassette(interactions))
    except OSError as error:
        raise CassetteError(f"{target}: cannot be written: {error.strerror or error}") from None
    where = "" if target == source else f" -> {target}"
    count = len(interactions)
    return f"converted {source}{where} ({count} interaction{'' if count == 1 else 's'})"


def _convert_scrubber(source: Path) -> Scrubber:
    """The scrubber a recording in `source`'s project would use: its ``llm_redact`` patterns and
    the credential values of the environment."""
    config_path, patterns = project_file.ini_lines(source.parent, "llm_redact")
    try:
        return Scrubber.from_environment(patterns, os.environ)
    except re.error as error:
        raise ProjectConfigError(
            f"{config_path}: llm_redact: not a regular expression: {error}"
        ) from None


scrubbed = scrubbing.scrubbed_interaction


# --------------------------------------------------------------------------- report merge


def run_report_merge(arguments: argparse.Namespace) -> int:
    from pytest_llm.errors import ReportMergeError
    from pytest_llm.report import merge

    output: Path | None = arguments.output
    if output is not None and output.suffix.lower() not in (".md", ".json"):
        raise CommandError(
            f"report merge -o {output}: the format follows the suffix; use .md or .json"
        )
    if output is not None and arguments.format is not None:
        raise CommandError("report merge: --format is for standard output; -o takes the suffix")
    try:
        merged = merge.merge(arguments.reports)
    except ReportMergeError as error:
        raise CommandError(f"report merge: {error}") from None
    as_json = output.suffix.lower() == ".json" if output is not None else arguments.format == "json"
    text = merged.render_json() if as_json else merged.render_markdown()
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            write_atomically(output, text)
        except OSError as error:
            raise CommandError(
                f"report merge: cannot write {output}: {error.strerror or error}"
            ) from None
        for line in merged.summary_lines():
            print(line)
        print(f"merged {len(arguments.reports)} reports ({len(merged.cases)} cases) into {output}")
    return merge.exit_status(merged)


# --------------------------------------------------------------------------- check


def run_check(arguments: argparse.Namespace) -> int:
    start = Path.cwd()
    config_file, redact_patterns, cassette_dir = _check_settings(start)
    # no path: the whole project (the folder of its pytest configuration), wherever run from
    default = Path(os.path.relpath(config_file.parent, start)) if config_file else Path(".")
    paths: list[Path] = arguments.paths or [default]
    extra = checks.project_secrets(redact_patterns, os.environ)
    max_age_s = _max_age(arguments.max_age)
    files, unreadable = _check_targets(paths, cassette_dir)
    problems: list[str] = checks.stale_cassettes(files, max_age_s) if max_age_s else []
    for file in files:
        try:
            text = fast_yaml.read_bounded(file).decode("utf-8")
        except OSError as error:
            unreadable.append(f"{file}: cannot be read: {error.strerror or error}")
            continue
        except fast_yaml.RefusedDocument as error:
            problems.append(str(refused(file, error)))
            continue
        except UnicodeDecodeError as error:
            problems.append(f"{file}: not a UTF-8 text file ({error.reason})")
            continue
        problems += checks.problems(file, text, extra=extra)
    for line in problems:
        print(line)
    for line in unreadable:
        _error(line)
    _error(_check_summary(len(files), len(problems)))
    return 2 if unreadable else 1 if problems else 0


def _max_age(text: str | None) -> float | None:
    from pytest_llm.cassette.verification import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as error:
        raise CommandError(f"check --max-age {error}") from None


def _check_settings(start: Path) -> tuple[Path | None, list[str], str]:
    """The project's pytest configuration file (from ``start`` upward), its ``llm_redact``
    patterns (checked as pytest checks them) and its cassette folder name."""
    from pytest_llm.config.settings import DEFAULT_CASSETTE_DIR, redact_pattern_problem

    try:
        config_file, patterns = project_file.ini_lines(start, "llm_redact")
        _, folder = project_file.ini_lines(start, "llm_cassette_dir")
    except ProjectConfigError as error:
        raise CommandError(str(error)) from None
    for pattern in patterns:
        problem = redact_pattern_problem(pattern)
        if problem is not None:
            raise CommandError(f"{config_file}: llm_redact: {problem}")
    return config_file, patterns, Path(folder[0]).name if folder else DEFAULT_CASSETTE_DIR


def _check_targets(
    paths: Sequence[Path], cassette_dir: str = "cassettes"
) -> tuple[list[Path], list[str]]:
    """The files to check (named files, cassettes below named folders) and the paths missing;
    a file is in a cassette folder when a folder of its absolute path has that name (so a run
    inside the cassette folder finds its files)."""
    folder_names = {"cassettes", cassette_dir}
    files: list[Path] = []
    missing: list[str] = []
    for path in paths:
        if path.is_dir():
            files += [
                file
                for file in yaml_files(path)
                if folder_names.intersection(file.parent.absolute().parts)
            ]
        elif path.exists():
            files.append(path)
        else:
            missing.append(f"{path}: no such file or folder")
    return list(dict.fromkeys(files)), missing


def _check_summary(checked: int, problems: int) -> str:
    files = f"{checked} cassette{'' if checked == 1 else 's'} checked"
    return f"{files}: {problems} problem{'' if problems == 1 else 's'}"


if __name__ == "__main__":
    sys.exit(main())
