"""``mailbind report``: one page per mailbox saying what syncs, what is kept out and why, and
what colleagues can read. It answers "why isn't this email in the CRM?".

Invariants:
- The report is `mailbind.cli.explain`'s dry run summed up: the same settings, the same
  decisions, nothing written; a database given with ``--db`` is only read.
- Examples of kept-out mail name the date, the sender and the subject, printed through `clean`;
  at most ``--examples`` per reason, the first ones met.
"""

from __future__ import annotations

import argparse
import textwrap
from collections import Counter, defaultdict
from typing import TextIO

from ..messages import Direction, SharingLevel
from ..rules import Reason
from .exits import ExitCode
from .explain import _Explained, explained
from .text import clean, counted, cut, terminal_width, width

__all__ = ["LEVELS", "run"]

#: What a colleague reads of a message at each level.
LEVELS = {
    SharingLevel.METADATA: "the sender, the recipients, the date and time; not the subject, "
    "the body or the attachments",
    SharingLevel.SUBJECT: "the sender, the recipients, the date and time and the subject; not "
    "the body or the attachments",
    SharingLevel.EVERYTHING: "all of it, the body and the attachments included",
}


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print one page per mailbox; the exit code."""
    total = terminal_width(out)
    first = True
    for target, items in explained(args, "report", err):
        count = synced = 0
        reasons: Counter[Reason] = Counter()
        examples: defaultdict[Reason, list[str]] = defaultdict(list)
        levels: Counter[tuple[Direction, SharingLevel]] = Counter()
        for item in items:
            count += 1
            decision = item.decision
            if decision.synced:
                synced += 1
                levels[decision.direction, decision.level] += 1
                continue
            for reason in decision.reasons:
                if not reason.excludes:
                    continue
                reasons[reason] += 1
                if len(examples[reason]) < args.examples:
                    examples[reason].append(_example(item))
        title = f"{clean(target.mailbox.id)} from {clean(target.label)}"
        write = out.write
        if not first:
            write("\f\n")
        first = False
        write(f"{title}\n{'=' * min(width(title), total)}\n")
        write(
            f"{counted(count, 'message')}: {synced} would be synced, {count - synced} kept out. "
            "Nothing was written.\n"
        )
        if reasons:
            write("\nKept out, by reason (a message may have several):\n")
            size = max(len(r.value) for r in reasons)
            indent = " " * (size + 12)
            for reason in [r for r in Reason if r in reasons]:
                write(f"  {reason.value:<{size}}  {reasons[reason]:>6,}  {reason.description}\n")
                for example in examples[reason]:
                    write(f"{indent}{cut(example, total - len(indent))}\n")
        write(f"\nWhat colleagues can read of the {counted(synced, 'synced message')}:\n")
        if not levels:
            write("  nothing: no message would be synced.\n")
        for (direction, level), number in sorted(
            levels.items(), key=lambda kv: (kv[0][0].value, list(SharingLevel).index(kv[0][1]))
        ):
            what = "received" if direction is Direction.INCOMING else "sent"
            text = f"{number:>6,} {what} at level {level.value}: {LEVELS[level]}."
            write(textwrap.fill(text, total, initial_indent="  ", subsequent_indent=" " * 9))
            write("\n")
        note = (
            "The owner reads all of their own mail. Run `mailbind explain` with the same "
            "settings and --only REASON to see every message kept out for REASON."
        )
        write("\n" + textwrap.fill(note, total) + "\n")
    return ExitCode.OK


def _example(item: _Explained) -> str:
    message = item.message
    date = "(no date)" if message.sent_at is None else f"{message.sent_at:%Y-%m-%d %H:%M}"
    sender = next((p for p in message.participants if p.role.value == "from"), None)
    who = "(no sender)" if sender is None else clean(sender.raw or str(sender.address))
    if sender is not None and sender.address is not None:
        who = clean(str(sender.address))
    subject = clean(message.subject) if message.subject else "(no subject)"
    return f"{date}  {who}  {subject}"
