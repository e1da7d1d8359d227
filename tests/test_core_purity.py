"""The core does no I/O: importing it loads no adapter, database, mailbox or DNS module, and
its rules read no clock, no environment, no file and no network."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: Top-level modules the pure core must never load.
FORBIDDEN = ("sqlite3", "_sqlite3", "mailbox", "imaplib", "poplib", "smtplib", "dns")


def run(script: str) -> object:
    """Run *script* in a fresh interpreter and return the JSON it prints last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def forbidden(modules: object) -> list[str]:
    """The forbidden modules and the adapter submodules among *modules*."""
    assert isinstance(modules, list)
    return [
        name
        for name in modules
        if name.split(".")[0] in FORBIDDEN
        or name.startswith(("mailbind.stores.", "mailbind.sources."))
        or name in ("mailbind.cli", "mailbind.sync")
    ]


#: Builds a policy, a mailbox and a few awkward messages (names used by the scripts below).
EXERCISE = """
    from mailbind import *
    from mailbind.rules import Holding

    def exercise(org="acme.com"):
        policy = Policy(
            org_domains=[org], blocklist=["@vendor.io"], members=["kim@client.example"],
            canonicalization=Canonicalization(strip_subaddress=True, fold_gmail=True),
        )
        mailbox = Mailbox(owner="anna@" + org, aliases=["anna.berg@acme.de"])
        return policy, mailbox

    def messages():
        return [
            Message.build(sender="Kim <kim@client.example>", to="anna@acme.com"),
            Message.build(sender="noreply@shop.example", to="anna@acme.com, x@vendor.io",
                          headers={"List-Id": "<n.shop.example>", "X-Gmail-Labels": "Spam"}),
            Message.build(sender="anna@acme.com", to="jürgen@bücher.de, not an address",
                          cc="j.doe+x@googlemail.com", subject="s", text="t"),
            Message.build(sender="boss@eu.acme.com", to="anna@acme.com"),
        ]

    def rules(policy, mailbox, batch):
        out = []
        for message in batch:
            out.append(decide(message, mailbox, policy))
            out.append(is_internal(message, mailbox, policy))
            out.append(is_bulk(message))
            out.append(direction(message, mailbox))
            out.append(redact(message, SharingLevel.METADATA))
        out.append(reevaluate(batch, mailbox, policy, Policy(org_domains=["acme.com"])))
        out.append(visible_level("boss@acme.com", [Holding(mailbox, Direction.INCOMING)]))
        return out
"""


def test_import_loads_no_io_module() -> None:
    """``import mailbind`` loads no database, mailbox, IMAP, DNS or adapter module."""
    modules = run(
        """
        import json, sys
        import mailbind
        print(json.dumps(sorted(sys.modules)))
        """
    )
    assert forbidden(modules) == []
    assert isinstance(modules, list)
    assert "mailbind.rules" in modules


def test_using_the_rules_loads_no_io_module() -> None:
    """Deciding, redacting and re-evaluating load no such module lazily either."""
    modules = run(
        EXERCISE
        + """
    import json, sys
    policy, mailbox = exercise()
    rules(policy, mailbox, messages())
    print(json.dumps(sorted(sys.modules)))
    """
    )
    assert forbidden(modules) == []


def test_rules_read_no_clock_environment_file_or_network() -> None:
    """With the clock, the environment, files and sockets booby-trapped, the rules still run."""
    violations = run(
        EXERCISE
        + """
    import datetime, json, os, sys, time

    # Warm up: the bundled lists and the suffix list are read once, lazily, by design.
    policy, mailbox = exercise()
    rules(policy, mailbox, messages())

    violations = []

    def hook(event, args):
        if event == "open":
            path = str(args[0])
            if not path.endswith((".py", ".pyc", ".so")):
                violations.append("open")
        elif event.startswith(("socket.", "subprocess.", "os.system", "urllib.", "sqlite3.")):
            violations.append(event)

    sys.addaudithook(hook)
    batch = messages()

    def trap(what):
        def call(*args, **kwargs):
            violations.append(what)
            raise RuntimeError(what)
        return call

    class Environ(dict):
        def __getitem__(self, key):
            violations.append("environ")
            raise KeyError(key)
        get = __getitem__

    class Clock(datetime.datetime):
        now = classmethod(trap("datetime.now"))
        utcnow = classmethod(trap("datetime.utcnow"))
        today = classmethod(trap("datetime.today"))

    class Calendar(datetime.date):
        today = classmethod(trap("date.today"))

    for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "localtime"):
        setattr(time, name, trap("time." + name))
    for module in [m for n, m in sys.modules.items() if n.startswith("mailbind")]:
        for attr, value in list(vars(module).items()):
            if value is datetime.datetime:
                setattr(module, attr, Clock)
            elif value is datetime.date:
                setattr(module, attr, Calendar)
    os.environ = Environ()
    os.getenv = trap("getenv")

    policy, mailbox = exercise("acme-corp.io")  # a fresh policy: nothing cached yet
    rules(policy, mailbox, batch)
    print(json.dumps(violations))
    """
    )
    assert violations == []


def test_runners_import_no_adapter() -> None:
    """The engine and the backfills depend on the core protocols, never on an adapter package."""
    modules = run(
        """
        import json, sys
        import mailbind.engine, mailbind.etl
        print(json.dumps(sorted(sys.modules)))
        """
    )
    assert isinstance(modules, list)
    assert [m for m in modules if m.startswith(("mailbind.stores", "mailbind.sources"))] == []


def test_nothing_opens_a_socket() -> None:
    """Importing mailbind and its command line, reading a registrable domain and syncing the
    bundled sample create no socket at all (not even a local probe)."""
    result = run(
        """
        import json, socket, sys, tempfile, os

        def refuse(*args, **kwargs):
            raise OSError("a socket was opened")

        socket.socket.__init__ = refuse
        import mailbind, mailbind.cli
        from mailbind import registrable_domain
        found = registrable_domain("eu.acme.co.uk")
        folder = tempfile.mkdtemp()
        code = mailbind.cli.main(["sync", "--sample", "--db", os.path.join(folder, "x.sqlite"),
                                  "--quiet"])
        print(json.dumps([found, code]))
        """
    )
    assert result == ["acme.co.uk", 0]


#: The runners that sync, explain or back-fill: each keeps only its I/O.
RUNNERS = ("engine.py", "cli/explain.py", "etl/_partition.py")


def test_every_runner_plans_with_the_one_planner() -> None:
    """The engine, ``mailbind explain`` and the backfills call `plan_batch`, and none of them
    decides a message or plans contacts on its own."""
    import ast
    from pathlib import Path

    import mailbind

    root = Path(mailbind.__file__).parent
    for name in RUNNERS:
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        called = {
            node.func.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert "plan_batch" in called, name
        assert not called & {"decide", "plan_contacts", "reevaluate"}, name
