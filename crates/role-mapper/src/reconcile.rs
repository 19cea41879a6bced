//! The role-mapper's side of the consume loop. For a partition's batch of change events it takes
//! those the projector has applied, then, level-triggered, recomputes the product view of everything
//! the batch touched from Postgres, compares it with what it last notified, and in the batch's
//! transaction appends the difference to the outbox (gap-free sequence per directory) and
//! remembers the new views.
//!
//! What a change touches: a user event, that user; a group event, the group and its members
//! (current and last notified, so removed members are recomputed too); a rules change, every
//! user and group of the directory; a directory deletion, the directory.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use roster_events::notification::{self, Body};
use roster_events::notifications::v1::{
    self as contract, Member, Notification, ProductGroup, ProductUser, member,
};
use roster_events::rules::MappingRules;
use roster_events::{Change, DecodedChange, view};
use roster_platform::consumer::{BatchHandler, Record};
use roster_platform::settings::tenant_url;
use roster_scim::group::MemberKind;
use roster_scim::user::Meta;
use roster_store::control::DeprovisionPolicy;
use roster_store::notified::{self, MemberPair};
use roster_store::outbox::{self, NotificationRow};
use roster_store::{PgConnection, StoreError, control, mapping_rules, offsets};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::diff;

/// How the reconciler finds the projector's progress, and what it builds.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// The projector's consumer group and the change topic (its positions in Postgres).
    pub projector_group: String,
    pub topic: String,
    /// The gateway's public base URL, for `meta.location` of the SCIM resources notified.
    pub base_url: String,
    /// The largest notification published whole (encoded); a larger one is appended in its
    /// bounded form ([`notification::bounded`]), so the relay can always publish it.
    pub max_notification_bytes: usize,
}

/// The role-mapper's batch handler.
pub struct Reconciler {
    options: ReconcileOptions,
    /// Wakes the relay after a commit that appended notifications.
    outbox: Arc<Notify>,
    appended: Vec<&'static str>,
    /// The projector's positions as last read: next offset per partition.
    projector: HashMap<i32, i64>,
}

impl Reconciler {
    pub fn new(options: ReconcileOptions, outbox: Arc<Notify>) -> Reconciler {
        Reconciler { options, outbox, appended: Vec::new(), projector: HashMap::new() }
    }

    fn reconcile_records(
        &mut self,
        conn: &mut PgConnection,
        records: &[&Record],
        form: Form,
    ) -> Result<(), StoreError> {
        for touched in Touched::collect(records) {
            let span = tracing::debug_span!("reconcile", directory.id = %touched.directory_id);
            let _entered = span.enter();
            self.appended.extend(reconcile(conn, &self.options, &touched, form)?);
        }
        Ok(())
    }
}

impl BatchHandler for Reconciler {
    /// The leading events of the batch the projector has applied (its stored position has
    /// passed them): the state the views are computed from then includes them (and maybe more:
    /// views are level-triggered, so being ahead is harmless). The rest wait, without holding
    /// up other partitions.
    fn ready(
        &mut self,
        conn: &mut PgConnection,
        partition: i32,
        batch: &[Record],
    ) -> Result<usize, StoreError> {
        let passed = |projector: &HashMap<i32, i64>| {
            let next = projector.get(&partition).copied().unwrap_or(0);
            batch.iter().take_while(|record| record.offset < next).count()
        };
        let cached = passed(&self.projector);
        if cached == batch.len() {
            return Ok(cached);
        }
        self.projector = offsets::load(conn, &self.options.projector_group, &self.options.topic)?
            .into_iter()
            .map(|p| (p.partition, p.next_offset))
            .collect();
        Ok(passed(&self.projector))
    }

    fn waiting_reason(&self) -> &'static str {
        "waiting for the projector to apply these events"
    }

    fn apply(&mut self, conn: &mut PgConnection, records: &[&Record]) -> Result<(), StoreError> {
        self.reconcile_records(conn, records, Form::Whole)
    }

    /// Postgres refused what reconciling this event wrote (its savepoint was rolled back):
    /// reconcile it again with its notifications in their smallest bounded form (ids only, a
    /// storable time), so that the directory's sequence keeps no gap and downstream hears
    /// something happened. If that fails too, the partition stops at the event.
    fn refuse(
        &mut self,
        conn: &mut PgConnection,
        record: &Record,
        error: &StoreError,
    ) -> Result<(), StoreError> {
        tracing::warn!(
            kafka.partition = record.partition,
            kafka.offset = record.offset,
            event.id = ?record.event_id(),
            %error,
            "Postgres refused a reconciliation; notifying it in the bounded form"
        );
        self.reconcile_records(conn, &[record], Form::Bounded)
    }

    fn committed(&mut self) {
        if !self.appended.is_empty() {
            self.outbox.notify_one();
        }
        for kind in self.appended.drain(..) {
            metrics::counter!("roster_notifications_total", "type" => kind).increment(1);
        }
    }

    fn rolled_back(&mut self) {
        self.appended.clear();
    }
}

/// How notifications are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Whole, unless too large to publish (then bounded by size).
    Whole,
    /// Only ids, with a time Postgres can store: after Postgres refused the whole form.
    Bounded,
}

/// The change event a notification is attributed to.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cause {
    event_id: Uuid,
    time: DateTime<Utc>,
}

/// What a batch touched in one directory, each with the last event that touched it.
#[derive(Debug)]
struct Touched {
    directory_id: Uuid,
    tenant_id: String,
    users: Ordered,
    groups: Ordered,
    /// A rules change: every user and group.
    everything: Option<Cause>,
    deleted: Option<Cause>,
}

/// Ids in the order first touched, with their latest cause.
#[derive(Debug, Default, Clone)]
struct Ordered {
    order: Vec<Uuid>,
    causes: HashMap<Uuid, Cause>,
}

impl Ordered {
    /// Touch `id`; a later cause replaces an earlier one.
    fn touch(&mut self, id: Uuid, cause: Cause) {
        if self.causes.insert(id, cause).is_none() {
            self.order.push(id);
        }
    }

    /// Touch `id` unless it is touched already (its own cause wins).
    fn touch_weak(&mut self, id: Uuid, cause: Cause) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.causes.entry(id) {
            e.insert(cause);
            self.order.push(id);
        }
    }

    fn cause(&self, id: &Uuid) -> Option<Cause> {
        self.causes.get(id).copied()
    }
}

impl Touched {
    fn collect(records: &[&Record]) -> Vec<Touched> {
        let mut out: Vec<Touched> = Vec::new();
        for record in records {
            let Ok(event) = &record.event else { continue };
            let position = match out.iter().position(|t| t.directory_id == event.directory_id) {
                Some(i) => i,
                None => {
                    out.push(Touched {
                        directory_id: event.directory_id,
                        tenant_id: event.event.tenant_id.clone(),
                        users: Ordered::default(),
                        groups: Ordered::default(),
                        everything: None,
                        deleted: None,
                    });
                    out.len() - 1
                }
            };
            out[position].touch(event);
        }
        out
    }

    fn touch(&mut self, event: &DecodedChange) {
        let cause = Cause { event_id: event.event_id, time: event.event_time };
        let id = |s: &str| Uuid::parse_str(s).ok();
        let (user, group) = match event.change() {
            Some(Change::CreateUser(c)) => (id(&c.id), None),
            Some(Change::ReplaceUser(c)) => (id(&c.id), None),
            Some(Change::PatchUser(c)) => (id(&c.id), None),
            Some(Change::DeleteUser(c)) => (id(&c.id), None),
            Some(Change::CreateGroup(c)) => (None, id(&c.id)),
            Some(Change::ReplaceGroup(c)) => (None, id(&c.id)),
            Some(Change::PatchGroup(c)) => (None, id(&c.id)),
            Some(Change::DeleteGroup(c)) => (None, id(&c.id)),
            Some(Change::MappingRulesChanged(_)) => {
                self.everything = Some(cause);
                (None, None)
            }
            Some(Change::DirectoryDeleted(_)) => {
                self.deleted = Some(cause);
                (None, None)
            }
            Some(Change::DirectorySettingsChanged(_)) | None => (None, None),
        };
        if let Some(user) = user {
            self.users.touch(user, cause);
        }
        if let Some(group) = group {
            self.groups.touch(group, cause);
        }
    }
}

/// The notifications of one directory's batch, in the order they are sequenced.
#[derive(Default)]
struct Outgoing {
    /// group.created / group.updated
    groups: Vec<(Body, Cause)>,
    /// user.provisioned / updated / deactivated / reactivated / access_changed
    users: Vec<(Body, Cause)>,
    /// group.member_removed, then group.member_added
    members: Vec<(Body, Cause)>,
    /// user.deprovisioned
    deprovisioned: Vec<(Body, Cause)>,
    /// group.deleted
    groups_deleted: Vec<(Body, Cause)>,
}

impl Outgoing {
    fn push_group(&mut self, body: Body, cause: Cause) {
        match body {
            Body::GroupDeleted(_) => self.groups_deleted.push((body, cause)),
            _ => self.groups.push((body, cause)),
        }
    }

    fn push_user(&mut self, body: Body, cause: Cause) {
        match body {
            Body::UserDeprovisioned(_) => self.deprovisioned.push((body, cause)),
            _ => self.users.push((body, cause)),
        }
    }

    fn into_ordered(self) -> Vec<(Body, Cause)> {
        let mut all = self.groups;
        all.extend(self.users);
        all.extend(self.members);
        all.extend(self.deprovisioned);
        all.extend(self.groups_deleted);
        all
    }
}

/// A notification's payload in its ids-only form (`None`: not a notification).
fn scrub(payload: &[u8]) -> Option<Vec<u8>> {
    let decoded = notification::decode_notification(payload).ok()?;
    Some(notification::encode_notification(&notification::ids_only(&decoded)))
}

/// Reconcile one directory; returns the types of the notifications appended.
fn reconcile(
    conn: &mut PgConnection,
    options: &ReconcileOptions,
    touched: &Touched,
    form: Form,
) -> Result<Vec<&'static str>, StoreError> {
    let directory_id = touched.directory_id;
    if let Some(cause) = touched.deleted {
        notified::forget_directory(conn, directory_id)?;
        // Downstream has what was published; the outbox keeps nothing more of a deleted
        // directory (what is not yet published still goes out, and is pruned later).
        outbox::forget_published(conn, directory_id)?;
        let body = Body::DirectoryDeleted(contract::DirectoryDeleted {});
        return append(conn, options, directory_id, &touched.tenant_id, vec![(body, cause)], form);
    }
    let Some(directory) = control::find_directory(conn, directory_id)? else {
        // Deleted further on in the log: that event will notify it, and nothing before it
        // matters any more.
        return Ok(Vec::new());
    };
    let rules = load_rules(conn, directory_id)?;
    let erase = directory.policy() == DeprovisionPolicy::Erase;

    let mut run = Reconciliation::new(options, touched, rules, erase);
    run.touch_members(conn)?;
    run.reconcile_groups(conn)?;
    run.membership_changes(conn)?;
    run.reconcile_users(conn)?;
    run.notify_members();
    run.finish(conn, form)
}

/// One directory's reconciliation, phase by phase: what the batch touched (widened to the
/// members of touched groups and the groups of touched members), the groups, the membership
/// changes, the users, the member notifications; then the views are remembered and the
/// notifications appended.
struct Reconciliation<'a> {
    options: &'a ReconcileOptions,
    touched: &'a Touched,
    directory_id: Uuid,
    rules: MappingRules,
    erase: bool,
    users: Ordered,
    groups: Ordered,
    /// Memberships, current and notified, of every touched group and of every touched member.
    current: HashSet<MemberPair>,
    previous: HashSet<MemberPair>,
    /// What changed of them, and the groups whose members changed.
    added: Vec<MemberPair>,
    removed: Vec<MemberPair>,
    member_groups: BTreeSet<Uuid>,
    /// The view of every group touched or whose members changed: new, or as last notified.
    group_views: HashMap<Uuid, ProductGroup>,
    store_groups: Vec<(Uuid, Option<serde_json::Value>)>,
    store_users: Vec<(Uuid, Option<serde_json::Value>)>,
    outgoing: Outgoing,
}

impl<'a> Reconciliation<'a> {
    fn new(
        options: &'a ReconcileOptions,
        touched: &'a Touched,
        rules: MappingRules,
        erase: bool,
    ) -> Reconciliation<'a> {
        Reconciliation {
            options,
            touched,
            directory_id: touched.directory_id,
            rules,
            erase,
            users: touched.users.clone(),
            groups: touched.groups.clone(),
            current: HashSet::new(),
            previous: HashSet::new(),
            added: Vec::new(),
            removed: Vec::new(),
            member_groups: BTreeSet::new(),
            group_views: HashMap::new(),
            store_groups: Vec::new(),
            store_users: Vec::new(),
            outgoing: Outgoing::default(),
        }
    }

    fn location(&self, kind: &str, id: &Uuid) -> String {
        format!(
            "{}/{kind}/{id}",
            tenant_url(&self.options.base_url, &self.directory_id.to_string())
        )
    }

    /// Everything (for a rules change), then the members of every touched group, and the
    /// memberships, current and notified, of every touched group and of every touched member.
    fn touch_members(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let directory_id = self.directory_id;
        if let Some(cause) = self.touched.everything {
            let (live_users, live_groups) = notified::all_ids(conn, directory_id)?;
            let (old_users, old_groups) = notified::all_notified_ids(conn, directory_id)?;
            for id in live_users.into_iter().chain(old_users) {
                self.users.touch_weak(id, cause);
            }
            for id in live_groups.into_iter().chain(old_groups) {
                self.groups.touch_weak(id, cause);
            }
        }

        let group_ids = &self.groups.order;
        self.current =
            notified::members_of_groups(conn, directory_id, group_ids)?.into_iter().collect();
        self.previous = notified::notified_members_of_groups(conn, directory_id, group_ids)?
            .into_iter()
            .collect();
        // A group's members are touched by it: their teams and group roles may have changed.
        for pair in self.current.iter().chain(self.previous.iter()) {
            if pair.kind == MemberKind::User
                && let Some(cause) = self.groups.cause(&pair.group_id)
            {
                self.users.touch_weak(pair.member_id, cause);
            }
        }
        let member_ids: Vec<Uuid> =
            self.users.order.iter().chain(self.groups.order.iter()).copied().collect();
        self.current.extend(notified::groups_of_members(conn, directory_id, &member_ids)?);
        self.previous.extend(notified::notified_groups_of_members(
            conn,
            directory_id,
            &member_ids,
        )?);
        Ok(())
    }

    /// Groups.
    fn reconcile_groups(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let directory_id = self.directory_id;
        let group_ids = &self.groups.order;
        let group_rows = notified::groups_by_ids(conn, directory_id, group_ids)?;
        let old_group_views =
            decode_views::<ProductGroup>(notified::group_views(conn, directory_id, group_ids)?);
        self.store_groups = Vec::with_capacity(group_ids.len());
        let live_groups: HashMap<Uuid, _> = group_rows
            .iter()
            .filter(|row| row.deleted_at.is_none())
            .map(|row| (row.id, row))
            .collect();
        for id in &self.groups.order {
            let after = live_groups.get(id).map(|row| {
                let meta = Meta {
                    created: row.created_at,
                    last_modified: row.last_modified,
                    location: self.location("Groups", id),
                    version: row.version,
                };
                view::group_view(
                    &view::GroupInput { id: *id, resource: &row.resource, meta },
                    &self.rules,
                )
            });
            let before = old_group_views.get(id);
            let cause = self.groups.causes[id];
            for body in diff::group_changes(before, after.as_ref()) {
                self.outgoing.push_group(body, cause);
            }
            self.store_groups.push((*id, after.as_ref().map(to_json)));
            match after.or_else(|| before.cloned()) {
                Some(view) => self.group_views.insert(*id, view),
                None => None,
            };
        }
        Ok(())
    }

    /// Memberships: what changed, per group.
    fn membership_changes(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
        self.added = self.current.difference(&self.previous).cloned().collect();
        self.removed = self.previous.difference(&self.current).cloned().collect();
        tracing::debug!(
            users = self.users.order.len(),
            groups = self.groups.order.len(),
            memberships = self.current.len(),
            notified_memberships = self.previous.len(),
            added = self.added.len(),
            removed = self.removed.len(),
            "reconciling"
        );
        self.member_groups.extend(self.added.iter().chain(self.removed.iter()).map(|p| p.group_id));
        let missing: Vec<Uuid> = self
            .member_groups
            .iter()
            .filter(|g| !self.group_views.contains_key(g))
            .copied()
            .collect();
        if !missing.is_empty() {
            // Groups not touched themselves (a user joined or left them): their last notified view.
            self.group_views.extend(decode_views(notified::group_views(
                conn,
                self.directory_id,
                &missing,
            )?));
        }
        Ok(())
    }

    /// Users.
    fn reconcile_users(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let directory_id = self.directory_id;
        let user_ids = &self.users.order;
        let user_rows = notified::users_by_ids(conn, directory_id, user_ids)?;
        let mut memberships: HashMap<Uuid, Vec<view::Membership>> = HashMap::new();
        for m in notified::memberships_of(conn, directory_id, user_ids)? {
            memberships.entry(m.member_id).or_default().push(view::Membership {
                group_id: m.group_id,
                display_name: m.display_name,
                external_id: m.external_id,
                added_at: m.added_at,
            });
        }
        let old_user_views =
            decode_views::<ProductUser>(notified::user_views(conn, directory_id, user_ids)?);
        let rows: HashMap<Uuid, _> = user_rows.iter().map(|row| (row.id, row)).collect();
        self.store_users = Vec::with_capacity(user_ids.len());
        for id in &self.users.order {
            let row = rows.get(id);
            let after = row.filter(|row| row.deleted_at.is_none()).map(|row| {
                let meta = Meta {
                    created: row.created_at,
                    last_modified: row.last_modified,
                    location: self.location("Users", id),
                    version: row.version,
                };
                let input = view::UserInput {
                    id: *id,
                    resource: &row.resource,
                    active: row.active,
                    meta,
                    groups: memberships.remove(id).unwrap_or_default(),
                };
                view::user_view(&input, &self.rules)
            });
            let erased = row.is_none() || self.erase;
            if row.is_none() {
                // Erased from the projection: the outbox keeps only the ids of what it notified.
                outbox::scrub_subject(conn, directory_id, *id, scrub)?;
            }
            let cause = self.users.causes[id];
            for body in diff::user_changes(old_user_views.get(id), after.as_ref(), erased) {
                self.outgoing.push_user(body, cause);
            }
            self.store_users.push((*id, after.as_ref().map(to_json)));
        }
        Ok(())
    }

    /// Member notifications, per group: removed, then added. A group downstream has not heard
    /// of yet (the projector is ahead: its creation comes later in the log) is skipped, and its
    /// memberships are not remembered, so that its own event notifies them after its creation.
    fn notify_members(&mut self) {
        let group_views = &self.group_views;
        let known = |pair: &MemberPair| group_views.contains_key(&pair.group_id);
        self.added.retain(known);
        self.removed.retain(known);
        let mut by_group: HashMap<Uuid, (Vec<Member>, Vec<Member>)> = HashMap::new();
        for pair in &self.removed {
            by_group.entry(pair.group_id).or_default().0.push(member(pair));
        }
        for pair in &self.added {
            by_group.entry(pair.group_id).or_default().1.push(member(pair));
        }
        for group_id in std::mem::take(&mut self.member_groups) {
            let (Some((mut gone, mut joined)), Some(group)) =
                (by_group.remove(&group_id), self.group_views.get(&group_id))
            else {
                continue;
            };
            gone.sort_by(|a, b| a.id.cmp(&b.id));
            joined.sort_by(|a, b| a.id.cmp(&b.id));
            let cause = self
                .groups
                .cause(&group_id)
                .or_else(|| {
                    joined.iter().chain(gone.iter()).find_map(|m| member_cause(&self.users, m))
                })
                .or(self.touched.everything)
                .unwrap_or(Cause { event_id: Uuid::nil(), time: Utc::now() });
            for body in diff::member_changes(group, gone, joined) {
                self.outgoing.members.push((body, cause));
            }
        }
    }

    /// Remember the new views and memberships, and append the notifications.
    fn finish(self, conn: &mut PgConnection, form: Form) -> Result<Vec<&'static str>, StoreError> {
        let directory_id = self.directory_id;
        notified::store_group_views(conn, directory_id, &self.store_groups)?;
        notified::store_user_views(conn, directory_id, &self.store_users)?;
        notified::store_members(conn, directory_id, &self.added, &self.removed)?;
        let notifications = self.outgoing.into_ordered();
        append(conn, self.options, directory_id, &self.touched.tenant_id, notifications, form)
    }
}

/// `time` within what Postgres can store (years 1 to 9999).
fn storable(time: DateTime<Utc>) -> DateTime<Utc> {
    let earliest = chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let latest = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    time.clamp(earliest, latest)
}

fn member_cause(users: &Ordered, member: &Member) -> Option<Cause> {
    Uuid::parse_str(&member.id).ok().and_then(|id| users.cause(&id))
}

fn member(pair: &MemberPair) -> Member {
    let kind = match pair.kind {
        MemberKind::User => member::Kind::User,
        MemberKind::Group => member::Kind::Group,
    };
    Member { id: pair.member_id.to_string(), kind: kind as i32 }
}

/// The directory's current rules; none stored (or unreadable, which the projector prevents)
/// means no rules.
fn load_rules(conn: &mut PgConnection, directory_id: Uuid) -> Result<MappingRules, StoreError> {
    let Some(row) = mapping_rules::current(conn, directory_id)? else {
        return Ok(MappingRules::default());
    };
    Ok(MappingRules::parse(&row.rules).unwrap_or_else(|error| {
        tracing::error!(%error, version = row.version, "stored mapping rules do not parse; using none");
        MappingRules::default()
    }))
}

fn decode_views<T: serde::de::DeserializeOwned>(
    stored: HashMap<Uuid, serde_json::Value>,
) -> HashMap<Uuid, T> {
    stored
        .into_iter()
        .filter_map(|(id, json)| match serde_json::from_value(json) {
            Ok(view) => Some((id, view)),
            Err(error) => {
                tracing::error!(%error, %id, "a stored view does not parse; treating it as unknown");
                None
            }
        })
        .collect()
}

fn to_json<T: serde::Serialize>(view: &T) -> serde_json::Value {
    serde_json::to_value(view).unwrap_or(serde_json::Value::Null)
}

/// Sequence the notifications and append them to the outbox, each in a form the relay can
/// publish (see [`Form`]).
fn append(
    conn: &mut PgConnection,
    options: &ReconcileOptions,
    directory_id: Uuid,
    tenant_id: &str,
    bodies: Vec<(Body, Cause)>,
    form: Form,
) -> Result<Vec<&'static str>, StoreError> {
    if bodies.is_empty() {
        return Ok(Vec::new());
    }
    let count = bodies.len();
    let kinds: Vec<&'static str> =
        bodies.iter().map(|(body, _)| notification::notification_type(body)).collect();
    let first = outbox::reserve(conn, directory_id, count as i64)?;
    let rows: Vec<NotificationRow> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, (body, cause))| {
            let id = Uuid::now_v7();
            let sequence = first + i as i64;
            let kind = notification::notification_type(&body).to_string();
            let subject_id = notification::subject(&body).and_then(|s| Uuid::parse_str(s).ok());
            let occurred_at = match form {
                Form::Whole => cause.time,
                Form::Bounded => storable(cause.time),
            };
            let message = Notification {
                id: id.to_string(),
                directory_id: directory_id.to_string(),
                tenant_id: tenant_id.to_string(),
                sequence: sequence as u64,
                occurred_at_micros: roster_events::time_to_micros(occurred_at),
                cause_event_id: cause.event_id.to_string(),
                body: Some(body),
                truncated: false,
            };
            let message = match form {
                Form::Whole => notification::bounded(message, options.max_notification_bytes),
                Form::Bounded => notification::ids_only(&message),
            };
            if message.truncated {
                tracing::warn!(
                    notification.id = %id,
                    sequence,
                    notification.r#type = %kind,
                    "notification too large to publish whole (or refused): sent in its truncated form"
                );
            }
            NotificationRow {
                directory_id,
                sequence,
                id,
                kind,
                subject_id,
                cause_event_id: cause.event_id,
                occurred_at,
                payload: notification::encode_notification(&message),
            }
        })
        .collect();
    outbox::append(conn, &rows)?;
    tracing::debug!(notifications = count, first_sequence = first, "notifications appended");
    Ok(kinds)
}
