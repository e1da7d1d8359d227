"""The public API: each public module's ``__all__``, pinned so that a change to it is deliberate.

A name added to or removed from an ``__all__`` fails `test_public_names_are_pinned` until
`PUBLIC` below says the same: edit the module's list here in the same change, keeping it sorted.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import mailbind

#: Every public module of the library and the names it exports, sorted. The command line
#: (``mailbind.cli``) is a program, not an API, and is not pinned.
PUBLIC: dict[str, list[str]] = {
    "mailbind": [
        "AdapterError",
        "Address",
        "AddressTypeError",
        "ArgumentTypeError",
        "Attachment",
        "AuthenticationError",
        "Canonicalization",
        "Change",
        "Contact",
        "ContactError",
        "ContactIndex",
        "ContactPlan",
        "ContactScope",
        "ContactTypeError",
        "Decision",
        "Defect",
        "Direction",
        "Event",
        "EventError",
        "EventTypeError",
        "Flag",
        "Holding",
        "InvalidAddressError",
        "Judge",
        "Limits",
        "MailbindError",
        "Mailbox",
        "Message",
        "MessageError",
        "MessageTypeError",
        "NewContact",
        "OwnerChange",
        "Participant",
        "Policy",
        "PolicyError",
        "PolicyTypeError",
        "Reason",
        "Reevaluation",
        "Role",
        "Schedule",
        "SharingLevel",
        "SkipReason",
        "Skipped",
        "SourceError",
        "StoreError",
        "Suppression",
        "SuppressionReason",
        "SyncState",
        "SyncStatus",
        "TemporaryError",
        "__version__",
        "bundled_free_providers",
        "bundled_institutions",
        "bundled_role_addresses",
        "company_name",
        "decide",
        "direction",
        "is_blocked",
        "is_bulk",
        "is_colleague",
        "is_free_provider",
        "is_impersonal",
        "is_institution",
        "is_internal",
        "name_from_display",
        "name_from_local",
        "normalize_message_id",
        "normalize_role",
        "parse_address",
        "parse_participants",
        "plan_contacts",
        "redact",
        "reevaluate",
        "registrable_domain",
        "resolve_contact",
        "to_ascii_domain",
        "to_unicode_domain",
        "visible_level",
    ],
    "mailbind.addresses": [
        "Address",
        "Canonicalization",
        "Participant",
        "Role",
        "parse_address",
        "parse_participants",
        "recover_addresses",
    ],
    "mailbind.automated": [
        "ESP_DOMAINS",
        "ESP_HEADERS",
        "ESP_MAILERS",
        "is_bounce_path",
        "is_esp_domain",
        "is_list_address",
    ],
    "mailbind.calendar_sync": [
        "CalendarConfirmationNeeded",
        "CalendarReport",
        "EventSettingsChange",
        "plan_calendar_settings",
        "sync_calendar",
    ],
    "mailbind.calendars": [
        "CalendarState",
        "DEFAULT_MAX_ATTENDEES",
        "EventBatch",
        "EventBatchResult",
        "EventCopy",
        "EventItem",
        "EventPlan",
        "EventSource",
        "EventStore",
        "StoredEvent",
        "calendar_settings",
        "colleague_view",
        "event_order",
        "invitations",
        "plan_events",
        "read_calendar_settings",
    ],
    "mailbind.codecs": [
        "decode_event",
        "decode_mailbox",
        "decode_message",
        "decode_policy",
        "decode_sync_state",
        "encode_event",
        "encode_mailbox",
        "encode_message",
        "encode_policy",
        "encode_sync_state",
        "message_from_record",
    ],
    "mailbind.companies": [
        "CompanyError",
        "find_company",
        "plan_add_domain",
        "plan_companies",
        "plan_merge",
    ],
    "mailbind.contacts": [
        "Contact",
        "ContactIndex",
        "OwnerChange",
        "Suppression",
        "SuppressionReason",
        "resolve_contact",
    ],
    "mailbind.domains": [
        "Domain",
        "check_domain",
        "registrable_domain",
        "to_ascii_domain",
        "to_unicode_domain",
    ],
    "mailbind.engine": [
        "ConfirmationNeeded",
        "PolicyChange",
        "Preview",
        "SyncReport",
        "apply_policy_change",
        "apply_settings",
        "auto_contact_id",
        "destroy_contact",
        "recorded_settings",
        "restore_contact",
        "save_contact",
        "soft_delete_contact",
        "suppress_address",
        "sync_mailbox",
    ],
    "mailbind.errors": [
        "AdapterError",
        "AddressTypeError",
        "ArgumentTypeError",
        "AuthenticationError",
        "ContactError",
        "ContactTypeError",
        "EventError",
        "EventTypeError",
        "InvalidAddressError",
        "JSONFormError",
        "MailbindError",
        "MessageError",
        "MessageTypeError",
        "PolicyError",
        "PolicyTypeError",
        "SourceError",
        "SourceSettingError",
        "StoreError",
        "TemporaryError",
    ],
    "mailbind.etl": [
        "BackfillError",
        "BackfillReport",
        "DEFAULT_BLOCKSIZE",
        "Item",
        "MANIFEST",
        "PartReport",
        "Problem",
        "RESULT_FIELDS",
        "RawMessage",
        "Result",
        "Snapshot",
        "View",
        "backfill_dask",
        "batch_item",
        "process_partition",
        "read_results",
        "run_local",
        "to_dask_bag",
        "write_results",
    ],
    "mailbind.events": [
        "Event",
        "EventError",
        "redact_event",
    ],
    "mailbind.identity": [
        "message_id_of",
        "reused_message_ids",
        "stored_key",
        "with_reuse",
        "with_stored_key",
    ],
    "mailbind.json": [
        "JSONFormError",
        "decode_contact",
        "decode_decision",
        "decode_event",
        "decode_mailbox",
        "decode_message",
        "decode_policy",
        "encode_contact",
        "encode_decision",
        "encode_event",
        "encode_mailbox",
        "encode_message",
        "encode_policy",
    ],
    "mailbind.judge": [
        "Decision",
        "Judge",
    ],
    "mailbind.messages": [
        "Attachment",
        "Defect",
        "Direction",
        "Flag",
        "Limits",
        "Message",
        "MessageError",
        "SharingLevel",
        "normalize_message_id",
    ],
    "mailbind.names": [
        "company_name",
        "name_from_display",
        "name_from_local",
    ],
    "mailbind.planner": [
        "BatchPlan",
        "CopyChange",
        "Relevel",
        "Settings",
        "SettingsChange",
        "auto_contact_id",
        "copy_location",
        "gone_locations",
        "level_moves",
        "liftable_reasons",
        "plan_batch",
        "plan_relevel",
        "plan_settings_change",
        "relevel_copies",
    ],
    "mailbind.planning": [
        "ContactPlan",
        "NewContact",
        "SkipReason",
        "Skipped",
        "auto_contact_id",
        "plan_contacts",
    ],
    "mailbind.policy": [
        "ContactScope",
        "Mailbox",
        "Policy",
    ],
    "mailbind.providers": [
        "AUTOMATED_PREFIXES",
        "AUTOMATED_SUFFIXES",
        "NEVER_ROLES",
        "bundled_free_providers",
        "bundled_institutions",
        "bundled_role_addresses",
        "is_free_provider",
        "is_impersonal",
        "is_institution",
        "normalize_role",
    ],
    "mailbind.redaction": [
        "METADATA_HEADERS",
        "SUBJECT_HEADERS",
        "redact",
    ],
    "mailbind.rules": [
        "Change",
        "Decision",
        "Holding",
        "Reason",
        "Reevaluation",
        "decide",
        "direction",
        "is_blocked",
        "is_bulk",
        "is_colleague",
        "is_internal",
        "reevaluate",
        "visible_level",
    ],
    "mailbind.schedule": [
        "DEFAULT_SCHEDULE",
        "Schedule",
        "SyncState",
        "SyncStatus",
        "failed",
        "is_due",
        "next_run",
        "reconnect",
        "request",
        "succeeded",
    ],
    "mailbind.source": [
        "Batch",
        "Listing",
        "MessageSource",
        "SourceItem",
        "SourceSettingError",
    ],
    "mailbind.sources": [
        "Batch",
        "FORMATS",
        "Listing",
        "MessageSource",
        "NotMailError",
        "SourceItem",
        "SourceSettingError",
        "flags_for_folder",
        "guess_format",
        "open_source",
    ],
    "mailbind.sources.caldav": [
        "CalDavSource",
    ],
    "mailbind.sources.eml": [
        "EmlFolderSource",
    ],
    "mailbind.sources.ics": [
        "IcsSource",
    ],
    "mailbind.sources.invitations": [
        "InvitationSource",
    ],
    "mailbind.sources.imap": [
        "ImapFolder",
        "ImapSource",
        "Security",
    ],
    "mailbind.sources.jsonl": [
        "JsonLinesSource",
        "message_from_record",
    ],
    "mailbind.sources.maildir": [
        "MaildirSource",
    ],
    "mailbind.sources.mbox": [
        "MboxSource",
    ],
    "mailbind.store": [
        "BatchItem",
        "BatchResult",
        "Company",
        "CompanyChange",
        "CompanyCount",
        "ContactChange",
        "CopyCount",
        "DEFAULT_WORKSPACE",
        "MailboxState",
        "Page",
        "PageError",
        "ParticipantLink",
        "Recorded",
        "StaleBatchError",
        "Store",
        "StoredDecision",
        "StoredMessage",
        "company_domain",
        "holding_direction",
        "link_domain",
        "message_order",
        "page_after",
        "page_cursor",
        "sort_time",
    ],
    "mailbind.stores": [
        "BatchItem",
        "BatchResult",
        "Company",
        "ContactChange",
        "MailboxState",
        "ParticipantLink",
        "Store",
        "StoredDecision",
        "StoredMessage",
        "decode_mailbox",
        "decode_message",
        "encode_mailbox",
        "encode_message",
        "message_order",
        "sort_time",
    ],
    "mailbind.stores.sqlite": [
        "MIGRATIONS",
        "Migration",
        "SCHEMA_VERSION",
        "SQLiteStore",
        "migrate",
    ],
    "mailbind.stores.postgres": [
        "MIGRATIONS",
        "Migration",
        "PostgresStore",
        "SCHEMA_VERSION",
        "migrate",
    ],
    "mailbind.testing": [
        "InMemoryStore",
        "ListCalendar",
        "ListSource",
        "flagged",
        "snapshot",
    ],
    "mailbind.testing.store_contract": [
        "EventHistory",
        "History",
        "StoreContract",
        "close_store",
        "event_reads",
        "reads",
    ],
    "mailbind.rethreading": [
        "Beside",
        "ThreadFacts",
        "ThreadQuery",
        "decode_facts",
        "encode_facts",
        "rethread",
        "thread_facts",
        "thread_query",
    ],
    "mailbind.threads": [
        "FORWARD_PREFIXES",
        "MAX_CITED",
        "ParsedSubject",
        "REPLY_PREFIXES",
        "ThreadChange",
        "ThreadError",
        "Threader",
        "cited_ids",
        "parse_subject",
        "thread_ids",
        "thread_subject",
    ],
}

#: Public modules whose names are not pinned (the command line's).
UNPINNED_PREFIX = "mailbind.cli"


def public_modules() -> list[str]:
    """Every module of the package whose dotted name has no part starting with ``_``."""
    found = ["mailbind"]
    for info in pkgutil.walk_packages(mailbind.__path__, "mailbind."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return sorted(found)


def exported(name: str) -> tuple[ModuleType, list[str]]:
    """The module *name* and its ``__all__`` as a list."""
    module = importlib.import_module(name)
    names = getattr(module, "__all__", None)
    assert isinstance(names, list | tuple), f"{name} has no __all__"
    return module, list(names)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_names_are_pinned(name: str) -> None:
    """Each public module exports exactly the names pinned for it, no more and no fewer."""
    _, names = exported(name)
    assert sorted(names) == PUBLIC[name]


def test_every_public_module_is_pinned() -> None:
    """A new public module needs its line in `PUBLIC`, and a pinned module must still exist."""
    modules = public_modules()
    library = [m for m in modules if not m.startswith(UNPINNED_PREFIX)]
    assert library == sorted(PUBLIC)


@pytest.mark.parametrize("name", public_modules())
def test_every_exported_name_exists_once(name: str) -> None:
    """Every name in a public module's ``__all__`` is defined there, and none is listed twice."""
    module, names = exported(name)
    assert [n for n in names if not hasattr(module, n)] == []
    assert len(set(names)) == len(names)


def test_pinned_lists_are_sorted_and_unique() -> None:
    """The pins themselves stay sorted and free of repeats, so an edit to them is easy to review."""
    for name, names in PUBLIC.items():
        assert names == sorted(set(names)), name
