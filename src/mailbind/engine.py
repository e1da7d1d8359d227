"""The sync engine: one pass of one mailbox from a source into a store, and contact changes.

Invariants:
- The engine reads no clock: the caller passes ``now`` (contacts created in a pass carry it,
  and so do the settings it records).
- Every rule is applied by the one planner (`mailbind.planner`); the engine does the I/O.
- A pass converges: after it, what the store holds for the mailbox is what a pass into an empty
  store, from the source as it is now and under the settings in force, would hold. It records
  the settings with its first batch; settings that differ from the recorded ones are applied
  first to the mail already stored (`plan_settings_change`), for every mailbox of the workspace
  when the workspace policy changed; a change that drops stored mail or lets anyone read more
  is applied only when ``confirm`` accepts it. After the last batch the source's listing says
  which stored copies are gone; they go in one batch with the listing's token.
- Every batch is applied with `Store.apply_batch` in one transaction together with the cursor
  of the source, so a crash at any point followed by another pass ends with every message stored
  once and nothing lost; applying a batch twice changes nothing.
- A batch is planned against the store's `Store.contacts_version`; when a user changed contacts
  meanwhile the store refuses it, and the engine reloads the contacts and plans it again, so a
  deletion or suppression made during a pass holds from its next batch on.
- Contact changes go through the `ContactIndex` and store only what changed: the contact, the
  keys whose owner changed (re-linked) and the suppressions recorded or lifted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from .addresses import Address, parse_address
from .codecs import decode_mailbox, decode_policy, encode_policy
from .contacts import Contact, ContactIndex, OwnerChange, SuppressionReason
from .errors import (
    ArgumentTypeError,
    ContactError,
    MailbindError,
    SourceError,
    StoreError,
    wrong_type,
)
from .messages import Limits
from .planner import (
    BatchPlan,
    Settings,
    SettingsChange,
    auto_contact_id,
    gone_locations,
    level_moves,
    plan_batch,
    plan_relevel,
    plan_settings_change,
)
from .planning import check_canonicalization
from .policy import Mailbox, Policy
from .rules import Decision, Reason
from .schedule import DEFAULT_SCHEDULE, Schedule, SyncState, failed, request, succeeded
from .source import Batch, Listing, MessageSource, SourceSettingError
from .store import (
    DEFAULT_WORKSPACE,
    BatchResult,
    Company,
    ContactChange,
    MailboxState,
    Recorded,
    StaleBatchError,
    Store,
)

__all__ = [
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
]

#: How often a batch is planned again when contacts keep changing under it.
_STALE_RETRIES = 20


class ConfirmationNeeded(MailbindError):
    """Changed settings would drop stored mail or let someone read more; nothing was changed."""

    def __init__(self, changes: tuple[SettingsChange, ...]) -> None:
        self.changes = changes
        dropped = sum(c.dropped for c in changes)
        widened = sum(c.widened for c in changes)
        back = sum(c.may_return for c in changes)
        super().__init__(
            f"The changed settings would remove {dropped:,} stored message copies, let others "
            f"read more of {widened:,}, and may bring back {back:,} kept out: confirm to apply."
        )


@dataclass(frozen=True, slots=True)
class Preview:
    """One message copy a dry run would store, keep out or remove."""

    #: ``"store"`` (synced), ``"skip"`` (kept out, with its decision) or ``"remove"`` (gone at
    #: the source).
    action: str
    location: str
    key: str
    decision: Decision | None = None


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one pass did (or, in a dry run, would do). Counts are per message copy."""

    mailbox_id: str
    #: Messages the source yielded.
    seen: int = 0
    synced: int = 0
    skipped: int = 0
    #: How many skipped messages each excluding reason applied to (one message may count under
    #: several reasons), in the order of `Reason`.
    skipped_by_reason: tuple[tuple[Reason, int], ...] = ()
    contacts_created: int = 0
    #: Participants of synced messages linked to a contact.
    participants_linked: int = 0
    #: How many messages carried each defect code (``too_large``, ``bad_date``, ...), by code.
    defects: tuple[tuple[str, int], ...] = ()
    batches: int = 0
    #: True when the source changed underneath and the pass started again from the beginning.
    reset: bool = False
    #: The cursor stored after the last batch.
    cursor: str | None = None
    #: The mailbox's sync state after the pass.
    state: SyncState = field(default_factory=SyncState)
    #: Stored copies gone at the source, removed by this pass.
    gone: int = 0
    #: What changed settings did to the stored mail of each mailbox of the workspace.
    settings_changes: tuple[SettingsChange, ...] = ()
    #: True when nothing was written (``dry_run``).
    dry_run: bool = False
    #: Batches planned again because a user changed contacts during the pass.
    replanned: int = 0
    #: In a dry run, every copy the pass would store, keep out or remove.
    preview: tuple[Preview, ...] = ()


@dataclass(slots=True)
class _Loaded:
    """The contacts a pass plans against, and the store's contacts version they reflect.

    Loaded from the store when a batch first needs them: a pass with nothing new reads none.
    """

    index: ContactIndex | None
    version: int | None

    def get(self, store: Store, policy: Policy, ws: str) -> ContactIndex:
        if self.index is None:
            self.version = store.contacts_version(workspace=ws)
            self.index = store.contact_index(policy.canonicalization, workspace=ws)
        return self.index


@dataclass(slots=True)
class _Tally:
    seen: int = 0
    synced: int = 0
    skipped: int = 0
    reasons: Counter[Reason] = field(default_factory=Counter)
    contacts: int = 0
    linked: int = 0
    defects: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    reset: bool = False
    gone: int = 0
    replanned: int = 0
    changes: tuple[SettingsChange, ...] = ()
    preview: list[Preview] = field(default_factory=list)

    def count(self, plan: BatchPlan) -> None:
        self.batches += 1
        self.contacts += len(plan.contacts)
        for item in plan.items:
            self.seen += 1
            self.defects.update(set(item.message.defects))
            if item.decision.synced:
                self.synced += 1
                self.linked += sum(link.contact_id is not None for link in item.links)
            else:
                self.skipped += 1
                self.reasons.update(r for r in item.decision.reasons if r.excludes)

    def report(
        self, mailbox_id: str, cursor: str | None, state: SyncState, dry_run: bool
    ) -> SyncReport:
        order = {reason: i for i, reason in enumerate(Reason)}
        return SyncReport(
            mailbox_id,
            self.seen,
            self.synced,
            self.skipped,
            tuple(sorted(self.reasons.items(), key=lambda kv: order[kv[0]])),
            self.contacts,
            self.linked,
            tuple(sorted(self.defects.items())),
            self.batches,
            self.reset,
            cursor,
            state,
            self.gone,
            self.changes,
            dry_run,
            self.replanned,
            tuple(self.preview),
        )


def recorded_settings(
    store: Store, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> Settings | None:
    """The settings *mailbox_id* last synced under, as the store recorded them, or None.

    Raises `StoreError` when the recorded settings cannot be read.
    """
    mailbox = store.recorded_mailbox(mailbox_id, workspace=workspace)
    policy = _decoded(store.recorded_policy(workspace=workspace), mailbox_id)
    if mailbox is None or policy is None:
        return None
    try:
        return Settings(decode_mailbox(mailbox.settings), policy)
    except (ValueError, KeyError, TypeError) as err:
        raise StoreError(
            f"The settings recorded for the mailbox {mailbox_id!r} cannot be read: {err}."
        ) from err


def _decoded(recorded: Recorded | None, mailbox_id: str) -> Policy | None:
    if recorded is None:
        return None
    try:
        return decode_policy(recorded.settings)
    except (ValueError, KeyError, TypeError) as err:
        raise StoreError(
            f"The settings recorded for the mailbox {mailbox_id!r} cannot be read: {err}."
        ) from err


def sync_mailbox(
    source: MessageSource,
    store: Store,
    mailbox: Mailbox,
    policy: Policy,
    *,
    now: datetime,
    workspace: str = DEFAULT_WORKSPACE,
    batch_size: int = 500,
    limits: Limits | None = None,
    progress: Callable[[SyncReport], None] | None = None,
    schedule: Schedule = DEFAULT_SCHEDULE,
    index: ContactIndex | None = None,
    dry_run: bool = False,
    confirm: Callable[[tuple[SettingsChange, ...]], bool] | None = None,
) -> SyncReport:
    """Sync *mailbox* from *source* into *store* until the source has nothing more.

    First, settings that differ from those the store recorded are applied to the stored mail
    (see the module's invariants); a change that drops stored mail or widens what anyone may
    read raises `ConfirmationNeeded` unless *confirm* accepts it. Then each batch is fetched
    from the stored cursor, planned (decided, its participants linked to contacts, new contacts
    created as the mailbox allows) and stored with the new cursor in one transaction;
    *progress* is called with the running report after each. Last, the source's listing
    removes the copies gone at the source. The last batch stores the sync state `succeeded` at
    *now*; a source failure stores `failed` (back-off, or a stop on `AuthenticationError`) and
    is raised again.

    With *dry_run* nothing is written: the report says what the pass would do (its settings
    changes, the new mail it would store, the copies it would remove) and no confirmation is
    asked for.

    *index* is the store's contacts as a `ContactIndex` under the policy's canonicalisation,
    which the caller keeps across passes; the contacts the pass creates are added to it. When
    None, or when a user changed contacts since it was loaded, the pass loads it from the store.
    """
    if batch_size < 1:
        raise SourceSettingError(f"The batch size must be at least 1, not {batch_size!r}.")
    ws = workspace
    if index is not None:
        check_canonicalization(index, policy)
    if index is None or dry_run:
        loaded = _Loaded(None, None)
    else:
        loaded = _Loaded(index, store.contacts_version(workspace=ws))
    stored = store.load_state(mailbox.id, workspace=ws)
    cursor, state = stored.cursor, stored.sync
    tally = _Tally()
    encoded_policy = encode_policy(policy)
    changes, scratch = _settle(store, mailbox, policy, now, ws, dry_run=dry_run, confirm=confirm)
    tally.changes = changes
    if changes and not dry_run:
        current = store.load_state(mailbox.id, workspace=ws)
        cursor, state = current.cursor, current.sync
        if scratch is not None:
            loaded.index, loaded.version = scratch, store.contacts_version(workspace=ws)
    elif dry_run and any(c.resync for c in changes if c.mailbox_id == mailbox.id):
        cursor = None
    while True:
        try:
            batch = source.fetch(cursor, limit=batch_size)
        except SourceError as err:
            if not dry_run:
                store.save_state(
                    mailbox.id,
                    MailboxState(
                        cursor, failed(state, now, err, schedule=schedule), stored.listing
                    ),
                    workspace=ws,
                )
            raise
        if not batch.items and not batch.done and batch.cursor == cursor:
            raise SourceError(
                f"The source {source.name!r} returned an empty batch without moving on."
            )
        tally.reset = tally.reset or batch.reset
        if batch.done:
            state = succeeded(state, now)
        if dry_run:
            contacts = loaded.get(store, policy, ws) if batch.items else loaded.index
            plan = plan_batch(
                batch.items, mailbox, policy, contacts=contacts, now=now, limits=limits
            )
            tally.preview.extend(
                Preview(
                    "store" if i.decision.synced else "skip", i.location, i.message.key, i.decision
                )
                for i in plan.items
            )
        else:
            plan = _store_batch(
                store, batch, mailbox, policy, loaded, state, now, limits, encoded_policy, ws, tally
            )
        tally.count(plan)
        cursor = batch.cursor
        if progress is not None:
            progress(tally.report(mailbox.id, cursor, state, dry_run))
        if batch.done:
            break
    _remove_gone(source, store, mailbox, cursor, state, stored.listing, dry_run, ws, tally)
    return tally.report(mailbox.id, cursor, state, dry_run)


def _store_batch(
    store: Store,
    batch: Batch,
    mailbox: Mailbox,
    policy: Policy,
    loaded: _Loaded,
    state: SyncState,
    now: datetime,
    limits: Limits | None,
    encoded_policy: str,
    ws: str,
    tally: _Tally,
) -> BatchPlan:
    """Plan *batch* against the stored contacts and store it; plan again while they change."""
    for _ in range(_STALE_RETRIES):
        contacts = loaded.get(store, policy, ws) if batch.items else loaded.index
        plan = plan_batch(batch.items, mailbox, policy, contacts=contacts, now=now, limits=limits)
        result = BatchResult(
            mailbox,
            batch.cursor,
            state,
            plan.items,
            plan.contacts,
            plan.companies,
            plan.owners,
            contacts_version=loaded.version,
            policy=encoded_policy,
            at=now,
        )
        try:
            store.apply_batch(result, workspace=ws)
        except StaleBatchError:
            tally.replanned += 1
            loaded.index = None
            loaded.get(store, policy, ws)
            continue
        return plan
    raise StoreError("The contacts kept changing while a batch was stored: try the sync again.")


def _settings_changes(
    store: Store, mailbox: Mailbox, policy: Policy, now: datetime, ws: str
) -> tuple[tuple[SettingsChange, ...], ContactIndex | None]:
    """What the settings in force change in the stored mail of each mailbox they concern, and
    the contacts (loaded afresh, with those the change creates) the pass goes on with, or None
    when no contacts were loaded.

    The mailbox's own settings concern it alone; a changed workspace policy concerns every
    mailbox of the workspace. A change of the mailbox's sharing levels alone is planned from
    the copies' counts (`plan_relevel`), without reading a stored message or contact.
    """
    own = recorded_settings(store, mailbox.id, workspace=ws)
    recorded = store.recorded_policy(workspace=ws)
    old_policy = own.policy if own is not None else _decoded(recorded, mailbox.id)
    targets: list[tuple[Mailbox, Mailbox]] = []
    if own is not None and (own.mailbox != mailbox or own.policy != policy):
        targets.append((own.mailbox, mailbox))
    if old_policy is not None and old_policy != policy:
        for other in store.mailboxes(workspace=ws):
            if other.id != mailbox.id:
                targets.append((other, other))
    index: ContactIndex | None = None
    changes = []
    for before_mailbox, after_mailbox in targets:
        before = Settings(before_mailbox, old_policy or policy)
        after = Settings(after_mailbox, policy)
        moves = level_moves(before, after)
        if moves is not None:
            counts = store.copy_counts(after_mailbox.id, workspace=ws)
            change = plan_relevel(after_mailbox.id, moves, counts)
        else:
            if index is None:
                index = store.contact_index(policy.canonicalization, workspace=ws)
            copies = list(store.decisions(after_mailbox.id, workspace=ws))
            contents = {
                held.message.key: held.message
                for held in store.mailbox_messages(after_mailbox.id, workspace=ws)
            }
            change = plan_settings_change(copies, contents, before, after, contacts=index, now=now)
        if change.changes or change.items or change.resync or change.contacts or change.levels:
            changes.append(change)
    return tuple(changes), index


def _apply_changes(
    store: Store,
    changes: tuple[SettingsChange, ...],
    mailbox: Mailbox,
    encoded_policy: str,
    now: datetime,
    ws: str,
) -> None:
    """Store *changes*, each mailbox's in one batch."""
    others = {m.id: m for m in store.mailboxes(workspace=ws)}
    for change in changes:
        target = mailbox if change.mailbox_id == mailbox.id else others[change.mailbox_id]
        current = store.load_state(change.mailbox_id, workspace=ws)
        cursor, state = current.cursor, current.sync
        if change.resync:
            cursor, state = None, request(state)
        store.apply_batch(
            BatchResult(
                target,
                cursor,
                state,
                change.items,
                change.contacts,
                change.companies,
                change.owners,
                policy=encoded_policy,
                at=now,
                levels=tuple((r.direction, r.after) for r in change.levels),
            ),
            workspace=ws,
        )


def _settle(
    store: Store,
    mailbox: Mailbox,
    policy: Policy,
    now: datetime,
    ws: str,
    *,
    dry_run: bool,
    confirm: Callable[[tuple[SettingsChange, ...]], bool] | None,
) -> tuple[tuple[SettingsChange, ...], ContactIndex | None]:
    """Plan the settings change and, unless *dry_run*, apply it once confirmed (see
    `apply_settings`); the changes and the contacts loaded for them, or None."""
    changes, index = _settings_changes(store, mailbox, policy, now, ws)
    if changes and not dry_run:
        if any(c.needs_confirmation for c in changes) and not (confirm and confirm(changes)):
            raise ConfirmationNeeded(changes)
        _apply_changes(store, changes, mailbox, encode_policy(policy), now, ws)
    return changes, index


def apply_settings(
    store: Store,
    mailbox: Mailbox,
    policy: Policy,
    *,
    now: datetime,
    workspace: str = DEFAULT_WORKSPACE,
    dry_run: bool = False,
    confirm: Callable[[tuple[SettingsChange, ...]], bool] | None = None,
) -> tuple[SettingsChange, ...]:
    """Apply *mailbox*'s settings and *policy* to the stored mail, without reading a source.

    This is the first step of `sync_mailbox`, for a caller that changes settings between
    passes (a settings page, say): settings that differ from those the store recorded are
    applied to the stored mail of every mailbox they concern, and recorded at *now*. A change
    that drops stored mail or lets anyone read more raises `ConfirmationNeeded` unless
    *confirm* accepts it; with *dry_run* nothing is written and nothing is asked. Returns what
    changed (or would change), one `SettingsChange` per mailbox; empty when the settings are
    those recorded. Copies kept out that the new settings may let in come back with the next
    `sync_mailbox`, which re-reads the source (``SettingsChange.resync``).
    """
    if not isinstance(mailbox, Mailbox):
        raise wrong_type("apply_settings()", "mailbox", "a Mailbox", mailbox, ArgumentTypeError)
    if not isinstance(policy, Policy):
        raise wrong_type("apply_settings()", "policy", "a Policy", policy, ArgumentTypeError)
    changes, _ = _settle(store, mailbox, policy, now, workspace, dry_run=dry_run, confirm=confirm)
    return changes


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """What a policy change did to one mailbox."""

    #: Keys of the messages the mailbox no longer holds.
    removed: tuple[str, ...]
    #: Messages the mailbox keeps.
    unchanged: int
    #: True when skipped messages may now sync: the mailbox's cursor was cleared, so its next
    #: pass re-reads the source from the beginning and brings them back.
    resync: bool
    #: The exact change, copy by copy.
    change: SettingsChange


def apply_policy_change(
    store: Store,
    mailbox: Mailbox,
    old_policy: Policy,
    new_policy: Policy,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    now: datetime | None = None,
) -> PolicyChange:
    """Apply the change from *old_policy* to *new_policy* to what *mailbox* holds, now.

    `sync_mailbox` does this by itself when the settings it is given differ from those the
    store recorded; this function serves a caller that changes a policy between passes. The
    change is `plan_settings_change` applied in one batch, the new policy recorded with it.
    """
    ws = workspace
    index = store.contact_index(new_policy.canonicalization, workspace=ws)
    contents = {
        held.message.key: held.message for held in store.mailbox_messages(mailbox.id, workspace=ws)
    }
    change = plan_settings_change(
        list(store.decisions(mailbox.id, workspace=ws)),
        contents,
        Settings(mailbox, old_policy),
        Settings(mailbox, new_policy),
        contacts=index,
        now=now,
    )
    current = store.load_state(mailbox.id, workspace=ws)
    cursor, state = current.cursor, current.sync
    if change.resync:
        cursor, state = None, request(state)
    store.apply_batch(
        BatchResult(
            mailbox,
            cursor,
            state,
            change.items,
            change.contacts,
            change.companies,
            change.owners,
            policy=encode_policy(new_policy),
            at=now,
        ),
        workspace=ws,
    )
    removed = tuple(sorted({c.key for c in change.changes if c.drops}))
    kept = len(contents) - len(removed)
    return PolicyChange(removed, kept, change.resync, change)


def _remove_gone(
    source: MessageSource,
    store: Store,
    mailbox: Mailbox,
    cursor: str | None,
    state: SyncState,
    token: str | None,
    dry_run: bool,
    ws: str,
    tally: _Tally,
) -> None:
    """Remove the stored copies the source's listing says are gone, with the listing's token.

    A source written before listings existed (no ``listing`` method) reports no deletions.
    """
    list_copies = getattr(source, "listing", None)
    if list_copies is None:
        return
    listing: Listing = list_copies(token)
    nothing_went = listing.present is None and not listing.gone
    held = {} if nothing_went else store.locations(mailbox.id, workspace=ws)
    gone = gone_locations(held, listing)
    tally.gone = len(gone)
    if dry_run:
        tally.preview.extend(Preview("remove", location, held[location]) for location in gone)
        return
    if not gone and listing.token == token:
        return
    store.apply_batch(
        BatchResult(mailbox, cursor, state, gone=gone, listing=listing.token), workspace=ws
    )


# --- Contact changes ---------------------------------------------------------------------------


def _change(
    store: Store,
    index: ContactIndex,
    addresses: Iterable[Address],
    apply: Callable[[], tuple[OwnerChange, ...]],
    *,
    saved: str | None = None,
    destroyed: str | None = None,
    company: Company | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> ContactChange:
    """Run *apply* on *index*, store what changed, and return it.

    Suppression only changes for the keys of the contact involved (*addresses*).
    """
    keys = sorted({a.key for a in addresses})
    before = {k: index.suppressed.get(k) for k in keys}
    owners = apply()
    after = {k: index.suppressed.get(k) for k in keys}
    contact = None if saved is None else index.get(saved)
    change = ContactChange(
        saved=() if contact is None else (contact,),
        destroyed=() if destroyed is None else (destroyed,),
        owners=owners,
        suppressed=tuple(
            record for k in keys if (record := after[k]) is not None and record != before[k]
        ),
        lifted=tuple(k for k in keys if before[k] is not None and after[k] is None),
        companies=() if company is None else (company,),
    )
    store.apply_contact_change(change, workspace=workspace)
    return change


def _index(
    store: Store, policy: Policy | None, index: ContactIndex | None, workspace: str
) -> ContactIndex:
    if index is not None:
        return index
    canon = None if policy is None else policy.canonicalization
    return store.contact_index(canon, workspace=workspace)


def save_contact(
    store: Store,
    contact: Contact,
    *,
    policy: Policy | None = None,
    index: ContactIndex | None = None,
    company: Company | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> ContactChange:
    """Create *contact*, or replace the stored contact with its id (an edit, by hand).

    Participants whose owner changes are re-linked; a live contact lifts the suppression of its
    addresses. *index* (kept up to date) saves loading the contacts from the store each time;
    *policy* gives the canonicalisation when no index is given.
    """
    index = _index(store, policy, index, workspace)
    old = index.get(contact.id)
    addresses = [*contact.addresses, *(() if old is None else old.addresses)]
    return _change(
        store,
        index,
        addresses,
        lambda: index.upsert(contact),
        saved=contact.id,
        company=company,
        workspace=workspace,
    )


def soft_delete_contact(
    store: Store,
    contact_id: str,
    *,
    at: datetime,
    policy: Policy | None = None,
    index: ContactIndex | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> ContactChange:
    """Mark the contact deleted at *at*: it keeps its messages and its addresses are suppressed."""
    return _lifecycle(
        store, contact_id, policy, index, lambda i: i.soft_delete(contact_id, at), workspace
    )


def restore_contact(
    store: Store,
    contact_id: str,
    *,
    policy: Policy | None = None,
    index: ContactIndex | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> ContactChange:
    """Undo a soft delete, lifting the suppressions it recorded."""
    return _lifecycle(store, contact_id, policy, index, lambda i: i.restore(contact_id), workspace)


def destroy_contact(
    store: Store,
    contact_id: str,
    *,
    policy: Policy | None = None,
    index: ContactIndex | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> ContactChange:
    """Delete the contact for good: its messages pass to the next candidate or to nobody.

    Its addresses are suppressed, so automatic creation never brings it back.
    """
    return _lifecycle(
        store, contact_id, policy, index, lambda i: i.destroy(contact_id), workspace, destroy=True
    )


def _lifecycle(
    store: Store,
    contact_id: str,
    policy: Policy | None,
    index: ContactIndex | None,
    apply: Callable[[ContactIndex], tuple[OwnerChange, ...]],
    workspace: str,
    *,
    destroy: bool = False,
) -> ContactChange:
    """Apply a change to the stored contact *contact_id* through the index and store it."""
    index = _index(store, policy, index, workspace)
    contact = index.get(contact_id)
    if contact is None:
        raise ContactError(f"No contact has the id {contact_id!r}.")
    live = index
    return _change(
        store,
        index,
        contact.addresses,
        lambda: apply(live),
        saved=None if destroy else contact_id,
        destroyed=contact_id if destroy else None,
        workspace=workspace,
    )


def suppress_address(
    store: Store,
    address: Address | str,
    reason: SuppressionReason = SuppressionReason.REQUESTED,
    *,
    policy: Policy | None = None,
    index: ContactIndex | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> ContactChange:
    """Never create a contact for *address* automatically (an erasure request, an opt-out)."""
    index = _index(store, policy, index, workspace)
    plain = address.key if isinstance(address, Address) else parse_address(address).key
    before = index.suppressed.get(plain)
    record = index.suppress(address, reason)
    change = ContactChange(suppressed=() if record == before else (record,))
    store.apply_contact_change(change, workspace=workspace)
    return change
