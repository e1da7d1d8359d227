"""Threads and company timelines through a store and the command line (issue 14)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import Mailbox, Message, Policy
from mailbind.cli import main
from mailbind.companies import CompanyError, plan_add_domain, plan_companies, plan_merge
from mailbind.engine import sync_mailbox
from mailbind.identity import with_stored_key
from mailbind.rethreading import decode_facts, encode_facts, thread_facts
from mailbind.store import Company, CompanyChange, PageError, company_domain, page_after
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import InMemoryStore, ListSource
from mailbind.threads import ThreadError, thread_ids

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 10, tzinfo=UTC)
ANNA = Mailbox("anna@acme.com", incoming="metadata", outgoing="subject")
POLICY = Policy(["acme.com"])


def mail(
    mid: str, subject: str, *, hour: int, sender: str = "kim@client.example",
    to: str = "anna@acme.com", **headers: str,
) -> Message:  # fmt: skip
    """A message with threading headers given by keyword (``in_reply_to=``, ``references=``)."""
    pairs = [(name.replace("_", "-").title(), value) for name, value in headers.items()]
    return Message.build(
        sender=sender, to=to, subject=subject, message_id=mid, headers=pairs,
        sent_at=T0 + timedelta(hours=hour),
    )  # fmt: skip


def stored_threads(messages: list[Message]) -> dict[str, str | None]:
    """The thread id a SQLite store keeps for each of *messages*, synced one batch each."""
    store = SQLiteStore(":memory:")
    source = ListSource()
    for message in messages:
        source.append(message)
        sync_mailbox(source, store, ANNA, POLICY, now=NOW)
    threads = {s.message.key: s.thread for s in store.mailbox_messages(ANNA.id)}
    store.close()
    return threads


def partition(threads: dict[str, str | None]) -> set[frozenset[str]]:
    """The messages grouped by thread, as sets of Message-IDs (keys start with the id)."""
    groups: dict[str | None, set[str]] = {}
    for key, thread in threads.items():
        groups.setdefault(thread, set()).add(key.split("#")[0].split(":")[0])
    return {frozenset(g) for g in groups.values()}


ROOT = mail("<q@client.example>", "Quote", hour=0)
#: Real-world header shapes, each with the conversations they must give (by Message-ID).
SHAPES = {
    "missing References: In-Reply-To alone threads": (
        [ROOT, mail("<r@acme.com>", "Re: Quote", hour=1, sender="anna@acme.com",
                    to="kim@client.example", in_reply_to="<q@client.example>")],
        [{"<q@client.example>", "<r@acme.com>"}],
    ),
    "broken In-Reply-To: garbage merges nothing": (
        [ROOT, mail("<r@other.example>", "Re: Prices", hour=1, sender="lee@other.example",
                    in_reply_to="<your message of Monday>"),
         mail("<s@third.example>", "Re: Stock", hour=2, sender="joe@third.example",
              in_reply_to="<your message of Monday>")],
        [{"<q@client.example>"}, {"<r@other.example>"}, {"<s@third.example>"}],
    ),
    "a client that drops References: the subject fallback joins the bare reply": (
        [ROOT, mail("<r@acme.com>", "RE: quote", hour=1, sender="anna@acme.com",
                    to="kim@client.example")],
        [{"<q@client.example>", "<r@acme.com>"}],
    ),
    "forwarded mail without headers starts its own conversation": (
        [ROOT, mail("<f@acme.com>", "Fwd: Quote", hour=1, sender="anna@acme.com",
                    to="kim@client.example")],
        [{"<q@client.example>"}, {"<f@acme.com>"}],
    ),
    "two conversations with one subject stay two": (
        [ROOT, mail("<q2@other.example>", "Quote", hour=1, sender="lee@other.example"),
         mail("<r2@acme.com>", "Re: Quote", hour=2, sender="anna@acme.com",
              to="lee@other.example", references="<q2@other.example>")],
        [{"<q@client.example>"}, {"<q2@other.example>", "<r2@acme.com>"}],
    ),
}  # fmt: skip


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_real_world_header_shapes_thread_right_through_the_store(shape: str) -> None:
    """Each header shape gives the expected conversations, stored in any arrival order."""
    messages, expected = SHAPES[shape]
    want = {frozenset(mid.strip("<>") for mid in g) for g in expected}
    assert partition(stored_threads(messages)) == want
    assert partition(stored_threads(messages[::-1])) == want
    assert stored_threads(messages) == thread_ids(map(with_stored_key, messages))


CHAIN = [
    mail("<c0@client.example>", "Plan", hour=0),
    mail("<c1@acme.com>", "Re: Plan", hour=1, sender="anna@acme.com", to="kim@client.example",
         references="<c0@client.example>", in_reply_to="<c0@client.example>"),
    mail("<c2@client.example>", "Re: Plan", hour=2, references="<c0@client.example> <c1@acme.com>"),
    mail("<c3@acme.com>", "Re: Plan", hour=3, sender="anna@acme.com", to="kim@client.example",
         in_reply_to="<c2@client.example>"),
    mail("<c4@acme.com>", "RE: plan", hour=4, sender="anna@acme.com", to="kim@client.example"),
    mail("<o1@client.example>", "Plan", hour=5),
]  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(st.permutations(CHAIN))
def test_stored_threads_do_not_depend_on_arrival_order(order: list[Message]) -> None:
    """Synced one message a pass in any order, the store keeps the ids of threading the set."""
    assert stored_threads(order) == thread_ids(map(with_stored_key, CHAIN))


def test_thread_facts_survive_their_text() -> None:
    """What a store keeps of a message for threading reads back unchanged (participants only
    where the subject fallback reads them)."""
    for message in CHAIN:
        facts = thread_facts(message)
        if facts.kind is None:
            facts = replace(facts, sender=None, parties=frozenset())
        assert decode_facts(facts.key, encode_facts(facts)) == facts


def test_thread_facts_written_beside_a_row_leave_out_what_it_holds() -> None:
    """Written beside what a row keeps (the node, the fallback subject, the time), the facts
    leave those out and read back unchanged with the same row; a value the row does not hold
    stays in the text; facts written beside a row cannot be read without it."""
    for message in CHAIN:
        facts = thread_facts(message)
        if facts.kind is None:
            facts = replace(facts, sender=None, parties=frozenset())
        beside = (facts.node, facts.subject, facts.sent)
        text = encode_facts(facts, beside)
        assert len(text) < len(encode_facts(facts))
        assert decode_facts(facts.key, text, beside) == facts
        other = ("elsewhere@example", "another subject", 0.5)
        assert decode_facts(facts.key, encode_facts(facts, other), other) == facts
        with pytest.raises(ThreadError, match="decoded with what it was written beside"):
            decode_facts(facts.key, text)


def test_a_viewer_never_reads_a_withheld_thread_subject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At level metadata a conversation's subject is (withheld) in text and null in JSON."""
    db = str(tmp_path / "crm.sqlite")
    with SQLiteStore(db) as store:
        sync_mailbox(ListSource(CHAIN[:2]), store, ANNA, POLICY, now=NOW)
    argv = ["emails", "--contact", "kim@client.example", "--db", db, "--threads"]
    assert main([*argv, "--viewer", "ben@acme.com", "--json"]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Kim's message came in (level metadata); Anna's reply went out (level subject).
    assert record["subject"] == "Plan"  # from the reply, read at level subject, prefix dropped
    assert [m["subject"] for m in record["messages"]] == [None, "Re: Plan"]
    assert all(m["thread"] == record["thread"] for m in record["messages"])
    db2 = str(tmp_path / "only-incoming.sqlite")
    with SQLiteStore(db2) as store:
        sync_mailbox(ListSource([CHAIN[0]]), store, ANNA, POLICY, now=NOW)
    argv2 = ["emails", "--contact", "kim@client.example", "--db", db2, "--threads"]
    assert main([*argv2, "--viewer", "ben@acme.com"]) == 0
    out = capsys.readouterr().out
    assert "== (withheld)  ·  1 message" in out
    assert "Plan" not in out
    assert main([*argv2, "--viewer", "ben@acme.com", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["subject"] is None


def test_companies_list_add_a_domain_and_merge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The companies command lists counts, adds a domain (never a free provider's) and merges,
    and emails --company reads the merged timeline."""
    db = str(tmp_path / "crm.sqlite")
    assert main(["sync", "--sample", "--db", db, "--quiet", "--now", "2025-02-01T00:00:00Z"]) == 0
    capsys.readouterr()
    assert main(["companies", "list", "--db", db, "--json"]) == 0
    listed = {r["domain"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    globex, initech = listed["globex.example"], listed["initech.example"]
    assert main(["companies", "add-domain", "globex.example", "gmail.com", "--db", db]) == 2
    assert "free-provider domain ('gmail.com')" in capsys.readouterr().err
    assert main(["companies", "merge", "Globex.EXAMPLE", "initech.example", "--db", db]) == 0
    assert capsys.readouterr().out == (
        "Merged initech.example into Globex (globex.example, initech.example).\n"
    )
    assert main(["companies", "list", "--db", db, "--json"]) == 0
    after = {r["domain"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert "initech.example" not in after
    assert after["globex.example"]["domains"] == ["initech.example"]
    assert after["globex.example"]["contacts"] == globex["contacts"] + initech["contacts"]
    viewer = ["--viewer", "maria.lopez@acme.example", "--db", db, "--json"]
    assert main(["emails", "--company", "initech.example", *viewer]) == 0
    keys = [json.loads(line)["key"] for line in capsys.readouterr().out.splitlines()]
    assert len(keys) == len(set(keys)) == after["globex.example"]["messages"]


def test_company_rules_refuse_what_no_company_may_be() -> None:
    """Free providers, a domain of another company, and an unknown company are refused."""
    companies = [Company("globex.example", "Globex"), Company("initech.example", "Initech")]
    with pytest.raises(CompanyError, match=r"^domain must not be a free-provider domain"):
        plan_add_domain(companies, "globex.example", "@GMAIL.com")
    with pytest.raises(CompanyError, match="merge the two companies instead"):
        plan_add_domain(companies, "globex.example", "eu.initech.example")
    with pytest.raises(CompanyError, match=r"^company must name a stored company"):
        plan_add_domain(companies, "nobody.example", "globex.de")
    with pytest.raises(CompanyError, match=r"^other must be another company"):
        plan_merge(companies, "globex.example", "Globex.EXAMPLE.")
    assert company_domain("Globex.EXAMPLE.") == company_domain("eu.globex.example")


# --- Companies a config file names ---------------------------------------------------------


def applied(companies: list[Company], change: CompanyChange) -> list[Company]:
    """*companies* after *change*, as a store applies it."""
    gone = set(change.removed) | {c.domain for c in change.saved}
    return sorted(
        [c for c in companies if c.domain not in gone] + list(change.saved), key=lambda c: c.domain
    )


def test_configured_companies_are_made_given_domains_and_merge_what_they_name() -> None:
    """A missing company is made (named after its domain unless named), gains its domains, and a
    stored company holding one of them is merged in with all its domains."""
    stored = [
        Company("globex.example", "Globex"),
        Company("globex.co.uk", "Globex UK", ("globex.de",)),
        Company("initech.example", "Initech"),
    ]
    wanted = [
        Company("Globex.EXAMPLE", "", ("globex.co.uk", "@globex.fr")),
        Company("umbrella.example", "Umbrella Corporation"),
        Company("hooli.example", ""),
    ]
    change = plan_companies(stored, wanted)
    assert change == CompanyChange(
        saved=(
            Company("globex.example", "Globex", ("globex.co.uk", "globex.de", "globex.fr")),
            Company("umbrella.example", "Umbrella Corporation"),
            Company("hooli.example", "Hooli"),
        ),
        removed=("globex.co.uk",),
    )
    after = applied(stored, change)
    assert plan_companies(after, wanted) == CompanyChange()
    # A further domain held as the stored company's own: nothing to do; a name replaces.
    renamed = plan_companies(after, [Company("globex.fr", "Globex Group")])
    assert renamed.saved[0].name == "Globex Group"
    assert renamed.saved[0].domains == ("globex.co.uk", "globex.de", "globex.fr")


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        ([Company("gmail.com", "")], r"^domain must not be a free-provider domain"),
        ([Company("globex.example", "", ("gmail.com",))], r"^a further domain must not be"),
        ([Company("not a domain", "")], r"^domain must be a domain"),
        (
            [Company("globex.example", "", ("x.example",)), Company("x.example", "")],
            r"named for two companies|named on its own",
        ),
        (
            [Company("globex.example", ""), Company("eu.globex.example", "")],
            r"a second time",
        ),
        # One stored company named by a further domain, and merged into another.
        (
            [Company("initech.co.uk", ""), Company("globex.example", "", ("initech.example",))],
            r"named on its own",
        ),
        # Two stored companies named apart, but one would merge the other in.
        (
            [Company("initech.example", ""), Company("globex.example", "", ("initech.example",))],
            r"named for two companies",
        ),
    ],
)
def test_configured_companies_that_cannot_be_are_refused(
    wanted: list[Company], message: str
) -> None:
    """Free providers, unreadable domains and two named companies that would be one."""
    stored = [
        Company("globex.example", "Globex"),
        Company("initech.example", "Initech", ("initech.co.uk",)),
    ]
    with pytest.raises(CompanyError, match=message):
        plan_companies(stored, wanted)


_DOMAINS = ("a.example", "b.example", "c.example", "d.example", "e.example", "f.example")


@st.composite
def company_sets(draw: st.DrawFn) -> list[Company]:
    """Companies over a few domains, each domain held by at most one of them."""
    free = list(_DOMAINS)
    made: list[Company] = []
    for _ in range(draw(st.integers(0, 3))):
        if not free:
            break
        taken = draw(st.lists(st.sampled_from(free), min_size=1, max_size=3, unique=True))
        free = [d for d in free if d not in taken]
        made.append(Company(taken[0], draw(st.sampled_from(["", "Name"])), tuple(taken[1:])))
    return made


@settings(max_examples=200, deadline=None)
@given(company_sets(), company_sets())
def test_configured_companies_hold_their_domains_and_plan_no_more_once_applied(
    stored: list[Company], wanted: list[Company]
) -> None:
    """Whatever is stored, once the plan is applied every wanted domain belongs to one company
    with the wanted company's domain, no domain is held twice, no stored domain is lost, and
    planning again changes nothing."""
    stored = [Company(c.domain, c.name or "Stored", tuple(sorted(c.domains))) for c in stored]
    try:
        change = plan_companies(stored, wanted)
    except CompanyError:
        return
    after = applied(stored, change)
    held = [d for c in after for d in c.all_domains]
    assert len(held) == len(set(held))
    assert {d for c in stored for d in c.all_domains} <= set(held)
    for want in wanted:
        (owner,) = [c for c in after if want.domain in c.all_domains]
        assert set(want.all_domains) <= set(owner.all_domains)
    assert plan_companies(after, wanted) == CompanyChange()


def test_page_arguments_are_checked() -> None:
    """A limit of the wrong type or below one, and a foreign cursor, are refused by name."""
    with pytest.raises(TypeError, match=r"^limit must be an int, not str\.$"):
        page_after("50", None)
    with pytest.raises(PageError, match=r"^after must be a cursor a page gave"):
        page_after(5, '["x"]')
    assert page_after(5, '[1.5, "k"]') == (5, (1.5, "k"))
    assert InMemoryStore().thread_messages("thr-0").messages == ()
