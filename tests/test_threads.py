"""Tests for threading: which conversation each message belongs to (mailbind.threads)."""

from __future__ import annotations

import itertools
import sys
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mailbind import Message, SharingLevel, redact
from mailbind.threads import (
    FORWARD_PREFIXES,
    MAX_CITED,
    REPLY_PREFIXES,
    ThreadChange,
    Threader,
    ThreadError,
    cited_ids,
    parse_subject,
    thread_ids,
    thread_subject,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
JANE, ANNA, KIM, LEE = "jane@client.io", "anna@acme.com", "kim@other.org", "lee@acme.com"


def mail(
    message_id: str | None,
    *,
    references: str | None = None,
    in_reply_to: str | None = None,
    subject: str = "Quote",
    sender: str = JANE,
    to: str = ANNA,
    hours: int | None = 0,
) -> Message:
    """A message with the threading headers given (None leaves a header out)."""
    headers = [("References", references)] if references is not None else []
    if in_reply_to is not None:
        headers.append(("In-Reply-To", in_reply_to))
    return Message.build(
        sender=sender,
        to=to,
        subject=subject,
        message_id=message_id,
        headers=headers,
        sent_at=None if hours is None else T0 + hours * HOUR,
    )


def groups(messages: list[Message]) -> set[frozenset[str]]:
    """The partition of *messages* into threads, as sets of keys."""
    by_thread: dict[str, set[str]] = {}
    for key, thread in thread_ids(messages).items():
        by_thread.setdefault(thread, set()).add(key)
    return {frozenset(keys) for keys in by_thread.values()}


# --- Strategies ----------------------------------------------------------------------------

IDS = tuple(f"m{i}@mail.example" for i in range(7))
ADDRESSES = (JANE, ANNA, KIM, LEE)
SUBJECTS = ("Quote", "Re: Quote", "RE: quote", "AW: Quote", "Fwd: Quote", "Re: Other", "", "Other")
GARBAGE = ("<>", "your message of Monday", "<not an id>", "(comment only)")


#: A References or In-Reply-To value: bracketed ids of the pool, sometimes garbage.
ID_LISTS = st.lists(st.sampled_from(IDS), max_size=3).map(
    lambda ids: " ".join(f"<{i}>" for i in ids)
) | st.sampled_from(GARBAGE)
_PARTS = {
    "sender": st.sampled_from(ADDRESSES),
    "to": st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=2),
    "subject": st.sampled_from(SUBJECTS),
    "message_id": st.none() | st.sampled_from(IDS).map(lambda i: f"<{i}>"),
    "headers": st.lists(
        st.tuples(st.sampled_from(("References", "In-Reply-To")), ID_LISTS),
        max_size=2,
        unique_by=lambda header: header[0],
    ),
    "sent_at": st.none() | st.integers(0, 3).map(lambda h: T0 + h * HOUR),
}


def _maybe_withheld(message: Message, hidden: bool) -> Message:
    return redact(message, SharingLevel.METADATA) if hidden else message


#: A message with an id from a small pool, citing others of it, sometimes redacted.
THREAD_MESSAGES = st.builds(_maybe_withheld, st.builds(Message.build, **_PARTS), st.booleans())


def message_sets(max_size: int = 9) -> st.SearchStrategy[list[Message]]:
    """Messages with distinct keys, as one workspace holds them."""
    return st.lists(THREAD_MESSAGES, max_size=max_size, unique_by=lambda m: m.key)


# --- Properties ----------------------------------------------------------------------------


@given(messages=message_sets(), data=st.data())
def test_thread_ids_do_not_depend_on_order(messages: list[Message], data: st.DataObject) -> None:
    """Any order of the same messages gives the same thread ids, at once or step by step."""
    expected = thread_ids(messages)
    shuffled = data.draw(st.permutations(messages))
    assert thread_ids(shuffled) == expected
    assert Threader(shuffled).thread_ids() == expected
    assert set(expected) == {m.key for m in messages}
    assert all(t.startswith("thr-") and len(t) == 20 for t in expected.values())


@given(messages=message_sets())
def test_citing_messages_share_a_thread(messages: list[Message]) -> None:
    """A message is in the thread of every present message it cites."""
    ids = thread_ids(messages)
    by_id = {m.message_id: m.key for m in messages if m.message_id}
    for m in messages:
        for cited in cited_ids(m):
            if cited in by_id:
                assert ids[m.key] == ids[by_id[cited]]


@given(messages=message_sets())
def test_threads_are_exactly_the_linked_sets(messages: list[Message]) -> None:
    """Without the subject fallback, threads are the sets of messages linked by cited ids."""
    withheld = [redact(m, SharingLevel.METADATA) for m in messages]
    sets: list[set[str]] = []  # each: message keys and ids, merged naively until disjoint
    for m in withheld:
        linked = {"key:" + m.key, m.message_id or "key:" + m.key, *cited_ids(m)}
        touching = [s for s in sets if s & linked]
        sets = [s for s in sets if not s & linked]
        sets.append(linked.union(*touching))
    expected = {frozenset(n[4:] for n in s if n.startswith("key:")) for s in sets}
    assert groups(withheld) == expected


class ThreaderSteps(RuleBasedStateMachine):
    """Random adds (new or replacing a key) and removes on one `Threader`.

    After every step it must answer what `thread_ids` answers over the current messages, and
    the step must have reported exactly the keys whose thread id changed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, Message] = {}
        self.threader = Threader()

    def check(self, before: dict[str, str], changes: tuple[ThreadChange, ...]) -> None:
        """The reported changes are the keys whose id changed, sorted, with old and new."""
        after = thread_ids(self.messages.values())
        keys = sorted(before.keys() | after.keys())
        expected = tuple(
            ThreadChange(k, before.get(k), after.get(k))
            for k in keys
            if before.get(k) != after.get(k)
        )
        assert changes == expected

    @rule(message=THREAD_MESSAGES)
    def add(self, message: Message) -> None:
        """Add a message, replacing the one with its key if there is one."""
        before = thread_ids(self.messages.values())
        changes = self.threader.add(message)
        self.messages[message.key] = message
        self.check(before, changes)

    @precondition(lambda self: self.messages)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        """Remove one current message."""
        key = data.draw(st.sampled_from(sorted(self.messages)))
        before = thread_ids(self.messages.values())
        changes = self.threader.remove(key)
        del self.messages[key]
        self.check(before, changes)

    @invariant()
    def equals_from_scratch(self) -> None:
        """The threader answers what threading from scratch answers."""
        expected = thread_ids(self.messages.values())
        assert self.threader.thread_ids() == expected
        assert len(self.threader) == len(self.messages)
        for key, thread in expected.items():
            assert key in self.threader
            assert self.threader.thread_id(key) == thread


ThreaderSteps.TestCase.settings = settings(max_examples=60, stateful_step_count=25)
TestThreaderSteps = ThreaderSteps.TestCase


@given(
    subjects=st.lists(
        st.tuples(st.sampled_from(SUBJECTS), st.booleans(), st.none() | st.integers(0, 3)),
        max_size=8,
    )
)
def test_thread_subject_never_shows_a_withheld_subject(
    subjects: list[tuple[str, bool, int | None]],
) -> None:
    """Only a subject the viewer may read can become the thread's subject."""
    seen = []
    for i, (subject, hidden, hours) in enumerate(subjects):
        m = mail(f"<s{i}@x.io>", subject=f"{subject} secret-{i}-end", hours=hours)
        seen.append(redact(m, SharingLevel.METADATA) if hidden else m)
    shown = thread_subject(seen)
    readable = [m.subject for m in seen if m.subject is not None]
    if not readable:
        assert shown is None
        return
    assert shown in {parse_subject(s).text for s in readable}
    for i, (_, hidden, _) in enumerate(subjects):
        if hidden:
            assert shown is not None
            assert f"secret-{i}-end" not in shown


@given(
    words=st.lists(
        st.tuples(st.sampled_from(REPLY_PREFIXES + FORWARD_PREFIXES), st.sampled_from(["", "[3]"])),
        max_size=4,
    ),
    upper=st.booleans(),
    rest=st.text(max_size=20),
)
def test_prefixes_are_stripped_and_counted(
    words: list[tuple[str, str]], upper: bool, rest: str
) -> None:
    """Any run of known prefixes before any text is stripped and counted, in any case."""
    prefix = "".join(f"{w.upper() if upper else w}{n}: " for w, n in words)
    base, parsed = parse_subject(rest), parse_subject(prefix + rest)
    counts = [(3 if n else 1, w in REPLY_PREFIXES) for w, n in words]
    assert parsed.text == base.text
    assert parsed.key == base.key
    assert parsed.replies == base.replies + sum(c for c, r in counts if r)
    assert parsed.forwards == base.forwards + sum(c for c, r in counts if not r)
    assert parsed.reply == (counts[0][1] if counts else base.reply)


@given(subject=st.text(), references=st.text(), in_reply_to=st.text())
def test_reading_any_text_never_raises(subject: str, references: str, in_reply_to: str) -> None:
    """Any subject and any threading header is read without error, into well-formed values."""
    parsed = parse_subject(subject)
    assert parsed.text == " ".join(parsed.text.split())
    assert parse_subject(parsed.text).key == parsed.key
    m = mail("<me@x.io>", references=references, in_reply_to=in_reply_to, subject=subject)
    for mid in cited_ids(m):
        assert "@" in mid
        assert mid != "me@x.io"
        assert not any(ch.isspace() for ch in mid)
    assert len(thread_ids([m])) == 1


# --- Subjects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "text", "replies", "forwards", "reply"),
    [
        ("Quote", "Quote", 0, 0, False),
        ("Re: Quote", "Quote", 1, 0, True),
        ("RE: RE: re:Quote", "Quote", 3, 0, True),
        ("Re[2]: Quote", "Quote", 2, 0, True),
        ("Re(3): Quote", "Quote", 3, 0, True),
        ("Re^2: Quote", "Quote", 2, 0, True),
        ("Re : Quote", "Quote", 1, 0, True),  # French spacing
        ("Fwd: Quote", "Quote", 0, 1, False),
        ("FW: Re: Quote", "Quote", 1, 1, False),
        ("Re: Fwd: Quote", "Quote", 1, 1, True),
        ("Fw: Quote (fwd)", "Quote", 0, 2, False),
        ("AW: WG: Angebot", "Angebot", 1, 1, True),  # German Outlook
        ("SV: Tilbud", "Tilbud", 1, 0, True),  # Danish, Norwegian, Swedish
        ("VS: Tilbud", "Tilbud", 0, 1, False),  # Danish/Norwegian forward (Finnish reply)
        ("Antw: Doorst: Offerte", "Offerte", 1, 1, True),  # Dutch
        ("TR: Devis", "Devis", 0, 1, False),  # French
        ("RIF: R: Preventivo", "Preventivo", 2, 0, True),  # Italian
        ("RES: ENC: Orçamento", "Orçamento", 1, 1, True),  # Portuguese
        ("RV: Presupuesto", "Presupuesto", 0, 1, False),  # Spanish
        ("ΑΠ: ΣΧΕΤ: Προσφορά", "Προσφορά", 2, 0, True),  # Greek
        ("Odp: PD: Oferta", "Oferta", 1, 1, True),  # Polish
        ("回复: 报价", "报价", 1, 0, True),
        ("答复：报价", "报价", 1, 0, True),  # full-width colon
        ("转发： 回复：报价", "报价", 1, 1, False),
        ("[crm-list] Re: [crm-list] Quote", "Quote", 1, 0, True),
        ("[External] RE: Quote", "Quote", 1, 0, True),
        ("  Re:\tQuote \u3000 for   2024 ", "Quote for 2024", 1, 0, True),
        ("Re:", "", 1, 0, True),
        ("", "", 0, 0, False),
        ("Rex: Quote", "Rex: Quote", 0, 0, False),  # not a prefix
        ("Tree: Quote", "Tree: Quote", 0, 0, False),
        ("Re Quote", "Re Quote", 0, 0, False),  # no colon
    ],
)
def test_parse_subject(subject: str, text: str, replies: int, forwards: int, reply: bool) -> None:
    """Real-world prefixes of many clients and languages are stripped and counted."""
    parsed = parse_subject(subject)
    assert (parsed.text, parsed.replies, parsed.forwards, parsed.reply) == (
        text,
        replies,
        forwards,
        reply,
    )


def test_subject_keys_fold_case_and_width() -> None:
    """Subjects compare case-folded and NFKC-normalised, so full-width letters match."""
    assert parse_subject("RE: QUOTE").key == parse_subject("Quote").key == "quote"
    assert parse_subject("Ｑｕｏｔｅ").key == "quote"
    assert parse_subject("Straße").key == parse_subject("STRASSE").key


def test_parse_subject_rejects_non_text() -> None:
    """A subject that is not text is a caller mistake, named in the message."""
    with pytest.raises(ThreadError, match=r"^subject must be text, not int\.$"):
        parse_subject(3)  # type: ignore[arg-type]


# --- Cited ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("references", "in_reply_to", "cited"),
    [
        ("<a@x.io> <b@x.io>", "<b@x.io>", ("a@x.io", "b@x.io")),
        (None, "<b@x.io>", ("b@x.io",)),  # only In-Reply-To
        ("<a@x.io>\r\n <b@x.io>", None, ("a@x.io", "b@x.io")),  # folded
        ("<a@x.io><b@x.io>", None, ("a@x.io", "b@x.io")),  # no space between
        (None, "<b@x.io> <c@x.io>", ("b@x.io",)),  # several: the first
        (None, "b@x.io", ("b@x.io",)),  # no angle brackets
        ("a@x.io b@x.io", None, ("a@x.io", "b@x.io")),
        (None, "Message from jane@x.io of Monday", ()),  # an address in prose is no id
        (None, "<b@x.io> (Jane's message of Mon, 4 Mar 2024)", ("b@x.io",)),  # comment
        (None, '"Jane <jane@x.io>" <b@x.io>', ("b@x.io",)),  # quoted string
        (None, "(from <jane@x.io>) <b@x.io>", ("b@x.io",)),  # bracket in a comment
        (None, "(nested (deeper <c@x.io>)) <b@x.io>", ("b@x.io",)),
        (None, "your message of Monday", ()),
        ("<>", "<your message of Monday>", ()),
        ("<1234567>", None, ()),  # no @: too likely to collide
        ("< a@x.io >", None, ("a@x.io",)),
        ("<a@x.io> <a@x.io> <me@x.io>", None, ("a@x.io",)),  # repeats, own id
        ("<a@x.io", "<b@x.io", ()),  # unterminated
        ("", "", ()),
    ],
)
def test_cited_ids(references: str | None, in_reply_to: str | None, cited: tuple[str, ...]) -> None:
    """References and In-Reply-To of real mail become the ids a message cites."""
    m = mail("<me@x.io>", references=references, in_reply_to=in_reply_to)
    assert cited_ids(m) == cited


def test_cited_ids_are_bounded() -> None:
    """A huge References keeps its first id and the last ones, at most MAX_CITED."""
    refs = " ".join(f"<r{i}@x.io>" for i in range(1000))
    cited = cited_ids(mail("<me@x.io>", references=refs))
    assert len(cited) == MAX_CITED
    assert cited[0] == "r0@x.io"
    assert cited[1] == f"r{1001 - MAX_CITED}@x.io"
    assert cited[-1] == "r999@x.io"


def test_hostile_headers_finish() -> None:
    """Megabytes of brackets and parentheses are read in one pass, without error."""
    for value in ("(" * 200_000, "<" * 200_000, "\\" * 200_000, '"' * 200_001):
        assert cited_ids(mail("<me@x.io>", references=value, in_reply_to=value)) == ()


# --- Threads of real-world header shapes ---------------------------------------------------


def test_a_reply_with_only_in_reply_to_joins_its_parent() -> None:
    """A client that drops References but keeps In-Reply-To still threads."""
    a = mail("<a@x.io>")
    b = mail("<b@x.io>", references="<a@x.io>", in_reply_to="<a@x.io>", subject="Re: Quote")
    c = mail("<c@x.io>", in_reply_to="<b@x.io>", subject="Re: Quote")
    assert groups([a, b, c]) == {frozenset({"a@x.io", "b@x.io", "c@x.io"})}


def test_broken_in_reply_to_does_not_merge_strangers() -> None:
    """Two messages whose In-Reply-To is the same garbage stay apart."""
    a = mail("<a@x.io>", in_reply_to="your message of Monday", sender=KIM)
    b = mail("<b@x.io>", in_reply_to="your message of Monday", sender=LEE, to=KIM)
    c = mail("<c@x.io>", in_reply_to="<>", subject="Quote")
    assert groups([a, b, c]) == {frozenset({key}) for key in ("a@x.io", "b@x.io", "c@x.io")}


def test_in_reply_to_with_comments_and_several_ids_threads_by_the_first() -> None:
    """An In-Reply-To with a comment and two ids links to the first id only."""
    a, b = mail("<a@x.io>"), mail("<b@x.io>", sender=KIM, to=LEE, subject="Other")
    c = mail("<c@x.io>", in_reply_to="<a@x.io> <b@x.io> (Jane's message)", subject="Re: Quote")
    assert groups([a, b, c]) == {frozenset({"a@x.io", "c@x.io"}), frozenset({"b@x.io"})}


def test_a_forward_without_headers_starts_its_own_thread() -> None:
    """Fwd: without References is a new conversation, even between the same people."""
    a = mail("<a@x.io>")
    fwd = mail("<f@x.io>", subject="Fwd: Quote", sender=ANNA, to=JANE, hours=1)
    assert groups([a, fwd]) == {frozenset({"a@x.io"}), frozenset({"f@x.io"})}


def test_a_reply_without_headers_joins_its_conversation_by_subject() -> None:
    """A reply citing nothing joins the earlier message it answers: same subject and people."""
    a = mail("<a@x.io>")
    b = mail("<b@x.io>", subject="RE: quote", sender=ANNA, to=JANE, hours=1)
    assert groups([a, b]) == {frozenset({"a@x.io", "b@x.io"})}


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (mail("<b@x.io>", subject="Quote", sender=ANNA, to=JANE, hours=1), "no reply prefix"),
        (mail("<b@x.io>", subject="Fwd: Quote", sender=ANNA, to=JANE, hours=1), "a forward"),
        (mail("<b@x.io>", subject="Re: Quote", sender=KIM, to=LEE, hours=1), "other people"),
        (mail("<b@x.io>", subject="Re: Quote", sender=KIM, to=ANNA, hours=1), "one in common"),
        (mail("<b@x.io>", subject="Re: Quote", sender=ANNA, to=KIM, hours=1), "only the sender"),
        (mail("<b@x.io>", subject="Re: Quote", sender=ANNA, to=JANE, hours=-1), "sent before"),
        (mail("<b@x.io>", subject="Re: Other", sender=ANNA, to=JANE, hours=1), "other subject"),
        (mail("<b@x.io>", subject="Re:", sender=ANNA, to=JANE, hours=1), "blank subject"),
        (
            redact(
                mail("<b@x.io>", subject="Re: Quote", sender=ANNA, to=JANE, hours=1), "metadata"
            ),
            "subject withheld",
        ),
        (
            mail("<b@x.io>", in_reply_to="<z@x.io>", subject="Re: Quote", sender=ANNA, to=JANE),
            "cites another message",
        ),
    ],
)
def test_the_subject_fallback_is_narrow(reply: Message, why: str) -> None:
    """The subject fallback links nothing unless every one of its conditions holds."""
    a = mail("<a@x.io>")
    assert groups([a, reply]) == {frozenset({"a@x.io"}), frozenset({"b@x.io"})}, why


def test_two_conversations_with_one_subject_stay_apart() -> None:
    """Two 'Quote' conversations never merge; a headerless reply joins the latest one before."""
    first = mail("<a1@x.io>", hours=0)
    first_reply = mail("<a2@x.io>", references="<a1@x.io>", subject="Re: Quote", sender=ANNA)
    second = mail("<b1@x.io>", hours=5)
    second_reply = mail("<b2@x.io>", in_reply_to="<b1@x.io>", subject="Re: Quote", sender=ANNA)
    late = mail("<c@x.io>", subject="Re: Quote", sender=ANNA, to=JANE, hours=6)
    early = mail("<d@x.io>", subject="Re: Quote", sender=ANNA, to=JANE, hours=2)
    messages = [first, first_reply, second, second_reply, late, early]
    assert groups(messages) == {
        frozenset({"a1@x.io", "a2@x.io", "d@x.io"}),
        frozenset({"b1@x.io", "b2@x.io", "c@x.io"}),
    }


def test_two_headerless_replies_do_not_join_each_other() -> None:
    """Replies without headers join only a message that started a conversation."""
    a = mail("<a@x.io>", subject="Re: Quote", sender=ANNA, to=JANE, hours=1)
    b = mail("<b@x.io>", subject="Re: Quote", sender=JANE, to=ANNA, hours=2)
    assert groups([a, b]) == {frozenset({"a@x.io"}), frozenset({"b@x.io"})}


def test_a_missing_parent_arriving_later_joins_two_threads() -> None:
    """When the message two replies cite arrives, they join, and exactly they are reported."""
    threader = Threader()
    x = mail("<x@x.io>", in_reply_to="<p@x.io>", subject="Re: Quote")
    y = mail("<y@x.io>", in_reply_to="<q@x.io>", subject="Re: Quote")
    (added_x,) = threader.add(x)
    (added_y,) = threader.add(y)
    assert added_x.old is None
    assert added_y.old is None
    assert added_x.new != added_y.new
    parent = mail("<p@x.io>", references="<q@x.io>", in_reply_to="<q@x.io>")
    changes = threader.add(parent)
    joined = threader.thread_id("x@x.io")
    assert joined == threader.thread_id("y@x.io") == threader.thread_id("p@x.io")
    assert ThreadChange("p@x.io", None, joined) in changes
    assert {c.key for c in changes} <= {"p@x.io", "x@x.io", "y@x.io"}
    assert len(changes) == 2  # one of the two threads keeps its id
    assert threader.thread_ids() == thread_ids([x, y, parent])


def test_a_late_parent_cited_by_references_keeps_the_thread_id() -> None:
    """A parent every reply already cites in References changes no thread id when it arrives."""
    replies = [
        mail(f"<r{i}@x.io>", references="<root@x.io> <p@x.io>", subject="Re: Quote")
        for i in range(3)
    ]
    threader = Threader(replies)
    before = threader.thread_ids()
    changes = threader.add(mail("<p@x.io>", references="<root@x.io>", subject="Re: Quote"))
    assert changes == (ThreadChange("p@x.io", None, before["r0@x.io"]),)


def test_a_references_cycle_is_one_thread() -> None:
    """A refs B and B refs A: one thread, found without looping, both ways."""
    a = mail("<a@x.io>", references="<b@x.io>")
    b = mail("<b@x.io>", references="<a@x.io>")
    assert groups([a, b]) == {frozenset({"a@x.io", "b@x.io"})}
    threader = Threader([a, b])
    threader.remove("a@x.io")
    assert threader.thread_ids() == thread_ids([b])


def test_a_message_citing_itself_is_alone() -> None:
    """A message whose References name its own id is a thread of its own."""
    a = mail("<a@x.io>", references="<a@x.io>", in_reply_to="<a@x.io>")
    assert groups([a]) == {frozenset({"a@x.io"})}


def test_messages_without_message_id_thread_by_what_they_cite() -> None:
    """A message without a Message-ID is keyed by its fingerprint and still joins its parent."""
    a = mail("<a@x.io>")
    b = mail(None, in_reply_to="<a@x.io>", subject="Re: Quote")
    assert b.key.startswith("sha256:")
    assert groups([a, b]) == {frozenset({"a@x.io", b.key})}


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_a_chain_of_ten_thousand_finishes(order: str) -> None:
    """10,000 messages, each answering the one before, are one thread, without recursion."""
    n = 10_000
    chain = [mail(f"<m{i}@x.io>", in_reply_to=f"<m{i - 1}@x.io>" if i else None) for i in range(n)]
    if order == "reverse":
        chain.reverse()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # any recursion would fail at once
    try:
        ids = thread_ids(chain)
        threader = Threader(chain)
    finally:
        sys.setrecursionlimit(limit)
    assert len(set(ids.values())) == 1
    assert threader.thread_ids() == ids
    changes = threader.remove("m5000@x.io")
    assert len({c.new for c in changes}) == 2  # one half keeps the id, the other gets one
    assert threader.thread_ids() == thread_ids(m for m in chain if m.key != "m5000@x.io")


def test_thread_ids_are_stable_values() -> None:
    """A thread id is the smallest digest of the thread's ids, the same in every process."""
    ids = thread_ids([mail("<a@x.io>"), mail("<b@x.io>", in_reply_to="<a@x.io>")])
    digests = [sha256(mid.encode()).hexdigest()[:16] for mid in ("a@x.io", "b@x.io")]
    assert set(ids.values()) == {"thr-" + min(digests)} == {"thr-aa8a6b1226018606"}


# --- Thread subjects -----------------------------------------------------------------------


def test_thread_subject_is_the_first_readable_one() -> None:
    """The earliest readable subject, without prefixes, names the thread for a viewer."""
    a = mail("<a@x.io>", subject="Quote for 2024", hours=0)
    b = mail("<b@x.io>", subject="RE: Quote for 2024 (revised)", hours=1)
    c = mail("<c@x.io>", subject="", hours=None)
    assert thread_subject([c, b, a]) == "Quote for 2024"
    assert thread_subject([c, b, redact(a, SharingLevel.METADATA)]) == "Quote for 2024 (revised)"
    assert thread_subject([c]) == ""
    assert thread_subject([redact(a, SharingLevel.METADATA)]) is None
    assert thread_subject([]) is None


# --- Caller mistakes -----------------------------------------------------------------------


def test_caller_mistakes_raise_thread_errors() -> None:
    """Wrong values raise a ThreadError (a ValueError) whose message names the parameter."""
    a = mail("<a@x.io>")
    twin = mail("<a@x.io>", subject="Other")
    with pytest.raises(
        ThreadError, match=r"^messages holds two different messages with the key 'a@x\.io'\.$"
    ):
        thread_ids([a, twin])
    assert thread_ids([a, a]) == thread_ids([a])
    with pytest.raises(ThreadError, match=r"^a message must be a Message, not str\.$"):
        thread_ids(["a@x.io"])  # type: ignore[list-item]
    with pytest.raises(ThreadError, match=r"^a message must be a Message, not str\.$"):
        thread_subject(["Quote"])  # type: ignore[list-item]
    threader = Threader([a])
    with pytest.raises(
        ThreadError, match=r"^key must be the key of a message here, not 'b@x\.io'\.$"
    ):
        threader.remove("b@x.io")
    with pytest.raises(ThreadError, match=r"^a message must be a Message, not NoneType\.$"):
        threader.add(None)  # type: ignore[arg-type]
    assert isinstance(ThreadError("x"), ValueError)


def test_adding_a_key_again_replaces_the_message() -> None:
    """Adding a message with a key already held replaces it and reports the move."""
    a, b = mail("<a@x.io>"), mail("<b@x.io>", sender=KIM, to=LEE, subject="Other")
    threader = Threader([a, b])
    moved = mail("<b@x.io>", in_reply_to="<a@x.io>", sender=KIM, to=LEE, subject="Other")
    old = threader.thread_id("b@x.io")
    assert threader.add(moved) == (ThreadChange("b@x.io", old, threader.thread_id("a@x.io")),)
    assert threader.add(moved) == ()
    assert list(itertools.chain(threader.thread_ids())) == ["a@x.io", "b@x.io"]


def test_hostile_subjects_finish() -> None:
    """Long runs of prefixes, blanks, brackets or suffixes are read in linear time."""
    assert parse_subject("Re: " * 50_000 + "Quote").replies == 50_000
    assert parse_subject(" " * 200_000 + "Quote").text == "Quote"
    assert parse_subject("[" * 200_000).text == "[" * 200_000
    assert parse_subject("Quote" + " (fwd)" * 20_000).forwards == 20_000
    assert parse_subject("Re" + " " * 200_000 + "x").replies == 0
