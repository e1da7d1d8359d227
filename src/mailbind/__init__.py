"""mailbind: the rules for syncing email into a CRM.

Which messages belong in the CRM, how much of each one other users may read, which contact
every participant belongs to, and when new contacts are created, each decision with its
reasons. The core is pure: it reads no clock, no environment and no files; sources and stores
are adapters in `mailbind.sources` and `mailbind.stores`.
"""

from __future__ import annotations

from .addresses import (
    Address,
    Canonicalization,
    Participant,
    Role,
    parse_address,
    parse_participants,
)
from .contacts import (
    Contact,
    ContactIndex,
    OwnerChange,
    Suppression,
    SuppressionReason,
    resolve_contact,
)
from .domains import registrable_domain, to_ascii_domain, to_unicode_domain
from .errors import (
    AdapterError,
    AddressTypeError,
    ArgumentTypeError,
    AuthenticationError,
    ContactError,
    ContactTypeError,
    EventTypeError,
    InvalidAddressError,
    MailbindError,
    MessageTypeError,
    PolicyError,
    PolicyTypeError,
    SourceError,
    StoreError,
    TemporaryError,
)
from .events import Event, EventError
from .judge import Judge
from .messages import (
    Attachment,
    Defect,
    Direction,
    Flag,
    Limits,
    Message,
    MessageError,
    SharingLevel,
    normalize_message_id,
)
from .names import company_name, name_from_display, name_from_local
from .planning import ContactPlan, NewContact, Skipped, SkipReason, plan_contacts
from .policy import ContactScope, Mailbox, Policy
from .providers import (
    bundled_free_providers,
    bundled_institutions,
    bundled_role_addresses,
    is_free_provider,
    is_impersonal,
    is_institution,
    normalize_role,
)
from .redaction import redact
from .rules import (
    Change,
    Decision,
    Holding,
    Reason,
    Reevaluation,
    decide,
    direction,
    is_blocked,
    is_bulk,
    is_colleague,
    is_internal,
    reevaluate,
    visible_level,
)
from .schedule import Schedule, SyncState, SyncStatus

__version__ = "0.1.0.dev0"

__all__ = [
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
]
