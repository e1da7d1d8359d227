"""``mailbind completion bash|zsh|fish``: a shell completion script, made from the parser.

Invariants:
- The script is generated from the same `argparse` parser the command runs, so every command,
  action and option it completes exists; nothing is kept by hand.
- It needs nothing but the shell: no Python runs while completing.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from .exits import ExitCode

__all__ = ["SHELLS", "commands", "run", "script"]

SHELLS = ("bash", "zsh", "fish")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the script for ``args.shell``; the exit code."""
    from . import build_parser

    out.write(script(args.shell, build_parser()))
    return ExitCode.OK


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(
        option
        for action in parser._actions
        if action.help is not argparse.SUPPRESS
        for option in action.option_strings
        if option.startswith("--")
    )


def commands(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each command (``contacts add`` for an action) and its options; ``""`` is the top."""
    found: dict[str, list[str]] = {"": sorted(_subparsers(parser))}
    for name, sub in _subparsers(parser).items():
        actions = _subparsers(sub)
        found[name] = sorted(actions) if actions else _options(sub)
        for action, leaf in actions.items():
            found[f"{name} {action}"] = _options(leaf)
    return found


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for *shell* (one of `SHELLS`)."""
    table = commands(parser)
    if shell == "fish":
        return _fish(table)
    cases = "\n".join(
        f'        "{name}") words="{" ".join(words)}" ;;' for name, words in table.items() if name
    )
    body = f"""_mailbind() {{
    local cur key words
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    key=""
    if [ "$COMP_CWORD" -ge 2 ]; then key="${{COMP_WORDS[1]}}"; fi
    if [ "$COMP_CWORD" -ge 3 ] && [ "$key" = contacts ]; then
        key="contacts ${{COMP_WORDS[2]}}"
    fi
    case "$key" in
        "") words="{" ".join(table[""])}" ;;
{cases}
        *) words="" ;;
    esac
    if [[ "$cur" != -* ]] && [[ "$key" != "" ]] && [[ "$key" != contacts ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
"""
    if shell == "zsh":
        return (
            "#compdef mailbind\n# mailbind completion for zsh, through its bash completion.\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + body + "complete -F _mailbind "
            "mailbind\n"
        )
    return (
        "# mailbind completion for bash.\n" + body + "complete -o default -F _mailbind mailbind\n"
    )


def _fish(table: dict[str, list[str]]) -> str:
    lines = ["# mailbind completion for fish.", "complete -c mailbind -f"]
    top = " ".join(table[""])
    lines.append(f"complete -c mailbind -n '__fish_use_subcommand' -a '{top}'")
    for name, words in table.items():
        if not name:
            continue
        parts = name.split()
        if len(parts) == 1 and name == "contacts":
            lines.append(
                "complete -c mailbind -n '__fish_seen_subcommand_from contacts; and not "
                f"__fish_seen_subcommand_from {' '.join(words)}' -a '{' '.join(words)}'"
            )
            continue
        seen = " and ".join(f"__fish_seen_subcommand_from {p};" for p in parts).rstrip(";")
        condition = seen.replace("; and", "; and")
        for option in words:
            lines.append(f"complete -c mailbind -n '{condition}' -l {option.removeprefix('--')}")
    return "\n".join(lines) + "\n"
