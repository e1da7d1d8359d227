"""Hypothesis strategies shared by the test modules.

Each section belongs to one area; add to the section of the area you test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from mailbind import Attachment, Flag, Message

# --- Addresses -----------------------------------------------------------------------------

# --- Messages ------------------------------------------------------------------------------

#: Header values a message strategy draws participants from: colleagues of ``acme.com``,
#: free-provider users, role addresses, an encoded name, an unreadable entry and a group.
MESSAGE_ADDRESSES = (
    "Anna Berg <anna@acme.com>",
    "paul@eu.acme.com",
    '"Doe, Jane" <jane.doe@gmail.com>',
    "bob@outlook.com",
    "noreply@shop.example",
    "support@vendor.io",
    "Kim Lee <kim@client.example.org>",
    "=?UTF-8?B?SsO8cmdlbg==?= <juergen@kunde.de>",
    "not an address",
    "undisclosed-recipients:;",
)

#: Extra header names, some of them read by the rules (bulk mail) and some withheld by redaction.
EXTRA_HEADER_NAMES = (
    "Thread-Topic",
    "X-Mailer",
    "List-Id",
    "List-Unsubscribe",
    "Precedence",
    "Auto-Submitted",
    "Subject",
    "In-Reply-To",
    "References",
    "X-Gmail-Labels",
)

_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])


def address_headers() -> st.SearchStrategy[str]:
    """One address header value: up to three entries of `MESSAGE_ADDRESSES`."""
    return st.lists(st.sampled_from(MESSAGE_ADDRESSES), max_size=3).map(", ".join)


def recipients() -> st.SearchStrategy[str | list[str]]:
    """What ``Message.build`` takes for to/cc/bcc: one header value or a list of them."""
    return address_headers() | st.lists(address_headers(), max_size=2)


def sent_times() -> st.SearchStrategy[datetime | None]:
    """A timezone-aware send time, or None."""
    return st.none() | st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=_ZONES
    )


@st.composite
def messages(
    draw: st.DrawFn,
    *,
    texts: st.SearchStrategy[str] | None = None,
    senders: st.SearchStrategy[str] | None = None,
) -> Message:
    """A `Message` made by ``Message.build`` with random participants, content and flags.

    *texts* draws subjects, bodies, attachment names and header values (short Unicode text by
    default); *senders* draws the From value (one of `MESSAGE_ADDRESSES` by default).
    """
    text = texts if texts is not None else st.text(max_size=30)
    attachment = st.tuples(text, st.binary(max_size=20)) | st.builds(
        Attachment,
        text,
        st.sampled_from(["application/pdf", "image/png"]),
        st.just(0),
        st.binary(max_size=20),
    )
    header_value = text | st.sampled_from(["bulk", "list", "no", "auto-replied", "Spam"])
    return Message.build(
        sender=draw(senders if senders is not None else st.sampled_from(MESSAGE_ADDRESSES)),
        to=draw(recipients()),
        cc=draw(recipients()),
        bcc=draw(recipients()),
        subject=draw(text),
        text=draw(text),
        html=draw(text.map(lambda t: f"<p>{t}</p>") | st.just("")),
        attachments=draw(st.lists(attachment, max_size=2)),
        message_id=draw(
            st.none()
            | st.just("  ")
            | st.from_regex(r"<[a-z0-9]{1,12}@mail\.example>", fullmatch=True)
        ),
        sent_at=draw(sent_times()),
        headers=draw(
            st.lists(st.tuples(st.sampled_from(EXTRA_HEADER_NAMES), header_value), max_size=3)
        ),
        flags=draw(st.frozensets(st.sampled_from(list(Flag)), max_size=2)),
    )


# --- Policies and mailboxes ----------------------------------------------------------------

# --- Contacts ------------------------------------------------------------------------------

__all__ = ["st"]
