//! The simulator's workspace: a deterministic generator of contacts.
//!
//! Contact number `i` is a pure function of `(seed, i)` (and of the steps of change the
//! workspace has been through, `crate::evolve`), so any page can be produced on demand
//! and a workspace of ten million contacts costs no memory. Tests use the same functions to know
//! exactly what the API served: ids, values, nulls, unicode and all.

use serde::Serialize;

/// Unix time of the oldest contact in a generated workspace (2017-07-14).
const EPOCH_BASE: i64 = 1_500_000_000;
/// Seconds between consecutive contacts' creation, so `created_at` grows with the index.
const CREATION_STEP: i64 = 37;
/// How long the import of a skewed workspace took: its contacts share this hour, well over a
/// hundred to a second in a big workspace.
const IMPORT_SECS: i64 = 3_600;

/// The names of the workspace's first tags (`GET /tags`); the others are `label-K`.
pub const TAG_NAMES: [&str; 8] = ["customer", "trial", "churn-risk", "vip", "beta", "newsletter", "partner", "imported"];

/// A generated workspace: `contacts` contacts drawn from `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workspace {
    pub seed: u64,
    pub contacts: u64,
    /// Percent of the contacts created by one import, within an hour in the middle of the
    /// workspace's history (as a CSV import leaves them); 0: creation dates spread evenly.
    pub imported_percent: u8,
    /// Contacts whose `updated_at` moves while the simulator serves.
    pub live: Option<LiveUpdates>,
    /// Companies (`crate::companies`): one for every 20 contacts unless told otherwise.
    pub companies: u64,
    /// Percent of the contacts whose tags and companies run past the ten an inline list shows
    /// (`has_more`): each such list is then fetched whole by a client that wants it complete.
    pub long_lists_percent: u8,
    /// The changes made since the base workspace (`crate::evolve`): `contacts` then counts the
    /// indices, some of them deleted or merged away.
    pub evolution: Option<crate::evolve::Evolution>,
}

/// [`Workspace::long_lists_percent`] unless told otherwise.
pub const DEFAULT_LONG_LISTS_PERCENT: u8 = 1;

/// A live workspace: `per_sec` contacts a second are updated, counted from `since_unix`.
/// Each contact is touched once every `contacts / per_sec` seconds, at its own offset, so the
/// `updated_at` of any contact at any moment is a formula, not a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveUpdates {
    pub per_sec: u32,
    pub since_unix: i64,
}

impl Workspace {
    pub fn new(seed: u64, contacts: u64) -> Self {
        Self {
            seed,
            contacts,
            imported_percent: 0,
            live: None,
            companies: contacts.div_ceil(20),
            long_lists_percent: DEFAULT_LONG_LISTS_PERCENT,
            evolution: None,
        }
    }

    /// The same workspace with `companies` companies.
    pub fn with_companies(self, companies: u64) -> Self {
        Self { companies, ..self }
    }

    /// The same workspace with `percent` of its contacts' tags and companies past ten.
    pub fn with_long_lists(self, percent: u8) -> Self {
        Self { long_lists_percent: percent.min(100), ..self }
    }

    /// The same workspace with `percent` of its contacts created by one import.
    pub fn with_import(self, percent: u8) -> Self {
        Self { imported_percent: percent.min(100), ..self }
    }

    /// The same workspace, `per_sec` contacts a second updated from now on.
    pub fn with_live_updates(self, per_sec: u32) -> Self {
        let since_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        Self { live: (per_sec > 0).then_some(LiveUpdates { per_sec, since_unix }), ..self }
    }

    /// The imported contacts' index range: `(first, count)`.
    fn import(&self) -> (u64, u64) {
        let base = self.base();
        let count = base * u64::from(self.imported_percent) / 100;
        ((base - count) / 2, count)
    }

    /// The contacts of the workspace before it evolved.
    pub fn base(&self) -> u64 {
        self.evolution.map_or(self.contacts, |e| e.base)
    }

    /// The base workspace's "now": a day after its newest contact.
    fn base_now(&self) -> i64 {
        self.base_timeline(self.base()) + 86_400
    }

    /// When the day of an evolution's step `step` (from 1) begins: the base workspace's "now"
    /// for the first.
    fn step_start(&self, step: u32) -> i64 {
        self.base_now() + i64::from(step.saturating_sub(1)) * crate::evolve::STEP_SECS
    }

    /// Contact `i`'s creation time before jitter: a steady pace, except for the import's hour;
    /// the contacts created by the steps of an evolution through each step's day.
    fn timeline(&self, i: u64) -> i64 {
        match self.evolution.and_then(|e| e.creation_slot(i)) {
            Some((step, offset)) => self.step_start(step) + offset,
            None => self.base_timeline(i),
        }
    }

    fn base_timeline(&self, i: u64) -> i64 {
        let (first, count) = self.import();
        if i < first || count == 0 {
            EPOCH_BASE + i as i64 * CREATION_STEP
        } else if i < first + count {
            EPOCH_BASE + first as i64 * CREATION_STEP + ((i - first) as i128 * i128::from(IMPORT_SECS) / count as i128) as i64
        } else {
            EPOCH_BASE + (i - count) as i64 * CREATION_STEP + IMPORT_SECS
        }
    }

    fn is_imported(&self, i: u64) -> bool {
        let (first, count) = self.import();
        (first..first + count).contains(&i)
    }

    /// The workspace id every contact carries (Intercom's app id: 8 lowercase alphanumerics).
    pub fn workspace_id(&self) -> String {
        let mut rng = Rng::new(self.seed ^ 0x0005_eed0_fa99);
        (0..8).map(|_| ALNUM[rng.below(ALNUM.len() as u64) as usize] as char).collect()
    }

    /// Tag `k` of the workspace's [`TAG_NAMES`]: its id and name.
    pub fn tag(&self, k: u64) -> (String, String) {
        let id = 100_000 + mix64(self.seed ^ k) % 9_000_000;
        let name = TAG_NAMES.get(k as usize).map_or_else(|| format!("label-{k}"), |name| name.to_string());
        (id.to_string(), name)
    }

    /// The id of segment `s`: 24 hex digits.
    pub fn segment_id(&self, s: u64) -> String {
        format!("{:024x}", mix64(self.seed ^ s ^ 0x5e9_0000))
    }

    /// The id of contact `i`: 24 hex digits like Intercom's, unique for every `i` of a seed.
    pub fn contact_id(&self, i: u64) -> String {
        // splitmix's finaliser is a bijection of u64, so distinct i give distinct low halves.
        let unique = mix64(i ^ self.seed.rotate_left(17));
        let created = (EPOCH_BASE + i as i64 * CREATION_STEP) as u32;
        format!("{created:08x}{unique:016x}")
    }

    /// Whether contact `i`'s id ends with `suffix`: for a suffix of lowercase hex digits (the
    /// id's tail is `unique` in hex), a comparison of bits instead of formatting the id, so a
    /// search split on id suffixes scans a million candidates in milliseconds.
    pub fn id_ends_with(&self, i: u64, suffix: &str) -> bool {
        let hex = suffix.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex || suffix.len() > 16 {
            return self.contact_id(i).ends_with(suffix);
        }
        let Ok(value) = u64::from_str_radix(suffix, 16) else { return true };
        let mask = u64::MAX.checked_shr(64 - 4 * suffix.len() as u32).unwrap_or(0);
        mix64(i ^ self.seed.rotate_left(17)) & mask == value
    }

    /// The contact number of `id`, when it is one of this workspace's.
    pub fn index_of_id(&self, id: &str) -> Option<u64> {
        let created = u32::from_str_radix(id.get(..8)?, 16).ok()? as i64;
        let i = u64::try_from((created - EPOCH_BASE) / CREATION_STEP).ok()?;
        (self.present(i) && self.contact_id(i) == id).then_some(i)
    }

    /// Contact number `i`, exactly as the v2 API serves it.
    pub fn contact(&self, i: u64) -> Contact {
        let mut rng = self.stream(i, Salt::Body);
        let id = self.contact_id(i);
        let role = self.role(i);
        let first = pick(&mut rng, FIRST_NAMES);
        let last = pick(&mut rng, LAST_NAMES);
        let has_name = role == Role::User || rng.chance(80);
        let name = has_name.then(|| format!("{first} {last}"));

        let has_email = role == Role::User || rng.chance(75);
        let domain = pick(&mut rng, DOMAINS);
        let email = has_email.then(|| format!("{}.{}.{}@{domain}", ascii_slug(first), ascii_slug(last), i));
        // Real answers sometimes leave email_domain out, even when an email is set.
        let email_domain = match &email {
            Some(_) if !rng.chance(7) => Some(domain.to_string()),
            _ => None,
        };
        let phone = self.phone(i);

        let created_at = self.created_at(i);
        let updated_at = self.updated_at(i);
        let later = |rng: &mut Rng, p: u64| rng.chance(p).then(|| created_at + rng.below(400 * 86_400) as i64);
        let signed_up_at = self.signed_up_at(i);
        let last_seen_at = self.last_seen_at(i);
        let last_replied_at = later(&mut rng, 30);
        let last_contacted_at = later(&mut rng, 45);
        let last_email_opened_at = later(&mut rng, 35);
        let last_email_clicked_at = later(&mut rng, 15);

        let web = rng.chance(75);
        let (browser, browser_version, os) = if web {
            let (b, v) = pick(&mut rng, BROWSERS);
            (
                Some(b.to_string()),
                Some(format!("{v}.0.{}.{}", rng.below(5000), rng.below(200))),
                Some(pick(&mut rng, OSES).to_string()),
            )
        } else {
            (None, None, None)
        };
        let browser_language = web.then(|| pick(&mut rng, LANGUAGES).to_string());
        let language_override = rng.chance(10).then(|| pick(&mut rng, LANGUAGES)[..2].to_string());

        let android = rng.chance(15).then(|| AppUsage::android(&mut rng, created_at));
        let ios = rng.chance(20).then(|| AppUsage::ios(&mut rng, created_at));

        let avatar = rng.chance(80).then(|| Avatar {
            kind: "avatar",
            image_url: rng.chance(60).then(|| {
                format!(
                    "https://static.intercomassets.com/avatars/{}/square_128/{}.jpg",
                    rng.below(10_000_000),
                    ascii_slug(first)
                )
            }),
        });
        let owner_id = rng.chance(70).then(|| {
            let id = 1_000 + rng.below(9_000_000) as i64;
            // Documented as a string, seen as an integer: serve both.
            if rng.chance(25) { OwnerId::Text(id.to_string()) } else { OwnerId::Number(id) }
        });

        let tags = self.tags_list(i, &id);
        let notes = addressable_list(&mut rng, &id, "notes", "note", 14, 4);
        let companies = self.companies_list(i, &id);
        let location = location(&mut rng);
        let social_profiles = social_profiles(&mut rng, first);
        let mut custom_attributes = custom_attributes(&mut rng, created_at);
        // A contact an evolution's step touched was seen then, and took the attributes added so far.
        let last_update = self.evolution.and_then(|e| Some((e, e.last_update(self.seed, i)?)));
        let last_seen_at = match last_update {
            Some((evolution, step)) => {
                custom_attributes.0.extend(evolution.values(self.seed, i, step));
                Some(updated_at)
            }
            None => last_seen_at,
        };
        let extras = rng.chance(85).then(|| Extras::generate(&mut rng, &id));

        Contact {
            kind: "contact",
            id,
            workspace_id: self.workspace_id(),
            external_id: (role == Role::User && rng.chance(90)).then(|| format!("usr-{:x}", mix64(i ^ self.seed) >> 16)),
            role: role.as_str(),
            email,
            email_domain,
            phone,
            name,
            owner_id,
            has_hard_bounced: rng.chance(3),
            marked_email_as_spam: rng.chance(2),
            unsubscribed_from_emails: rng.chance(12),
            created_at,
            updated_at,
            signed_up_at,
            last_seen_at,
            last_replied_at,
            last_contacted_at,
            last_email_opened_at,
            last_email_clicked_at,
            language_override,
            browser,
            browser_version,
            browser_language,
            os,
            android_app_name: android.as_ref().map(|a| a.app_name.clone()),
            android_app_version: android.as_ref().map(|a| a.app_version.clone()),
            android_device: android.as_ref().map(|a| a.device.clone()),
            android_os_version: android.as_ref().map(|a| a.os_version.clone()),
            android_sdk_version: android.as_ref().map(|a| a.sdk_version.clone()),
            android_last_seen_at: android.as_ref().map(|a| a.last_seen_at),
            ios_app_name: ios.as_ref().map(|a| a.app_name.clone()),
            ios_app_version: ios.as_ref().map(|a| a.app_version.clone()),
            ios_device: ios.as_ref().map(|a| a.device.clone()),
            ios_os_version: ios.as_ref().map(|a| a.os_version.clone()),
            ios_sdk_version: ios.as_ref().map(|a| a.sdk_version.clone()),
            ios_last_seen_at: ios.as_ref().map(|a| a.last_seen_at),
            custom_attributes,
            avatar,
            tags,
            notes,
            companies,
            location,
            social_profiles,
            extras,
            unknown: UnknownFields::generate(&mut self.stream(i, Salt::Unknown)),
        }
    }

    /// An independent stream of draws for one aspect of contact `i`.
    pub(crate) fn stream(&self, i: u64, salt: Salt) -> Rng {
        Rng::new(mix64(self.seed ^ (salt as u64).wrapping_mul(0xa076_1d64_78bd_642f)) ^ mix64(i.wrapping_add(0x9e37_79b9)))
    }

    // The facts below are drawn from streams of their own, so the simulator can filter and sort
    // a whole workspace by them without generating whole contacts.

    /// The workspace's "now": a day after its newest contact, so `created_since` means the same
    /// whenever the simulator runs.
    pub fn now(&self) -> i64 {
        self.step_start(self.evolution.map_or(0, |e| e.settings.steps) + 1)
    }

    /// Users 70%, leads 30%.
    pub fn role(&self, i: u64) -> Role {
        if self.stream(i, Salt::Role).chance(70) { Role::User } else { Role::Lead }
    }

    /// Never decreasing with `i`, so a range of `created_at` is a range of contacts: outside an
    /// import the jitter is smaller than the step; an import's contacts share its hour, many to a
    /// second, in order.
    pub fn created_at(&self, i: u64) -> i64 {
        let jitter = if self.is_imported(i) { 0 } else { self.stream(i, Salt::Created).below(30) as i64 };
        self.timeline(i) + jitter
    }

    /// As of now: a live workspace's contacts move while it is served.
    pub fn updated_at(&self, i: u64) -> i64 {
        let elapsed = self.live.map(|live| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64) - live.since_unix
        });
        self.updated_at_after(i, elapsed.unwrap_or(0))
    }

    /// `updated_at` of contact `i` when the workspace has been live for `elapsed` seconds: its
    /// last touch, counted past the newest date the generator gives, or its generated one.
    pub fn updated_at_after(&self, i: u64, elapsed: i64) -> i64 {
        let created = self.created_at(i);
        // Never past the workspace's "now" (at its last step, for a contact a step created).
        let until = match self.evolution.and_then(|e| e.creation_slot(i)) {
            Some((step, _)) => self.step_start(step + 1),
            None => self.base_now(),
        };
        let generated = created + self.stream(i, Salt::Updated).below((until - created).clamp(1, 90 * 86_400) as u64) as i64;
        let touched = self.evolution.and_then(|e| {
            let step = e.last_update(self.seed, i)?;
            Some(self.step_start(step) + e.touch_offset(self.seed, i, step))
        });
        let generated = touched.unwrap_or(generated);
        let Some(live) = self.live else { return generated };
        let period = (self.contacts / u64::from(live.per_sec.max(1))).max(1) as i64;
        let offset = (mix64(i ^ self.seed ^ 0x11fe) % period as u64) as i64;
        if elapsed < offset {
            return generated;
        }
        let touched = offset + (elapsed - offset) / period * period;
        self.now() + 90 * 86_400 + touched
    }

    pub fn signed_up_at(&self, i: u64) -> Option<i64> {
        let mut rng = self.stream(i, Salt::SignedUp);
        (self.role(i) == Role::User && rng.chance(85)).then(|| self.created_at(i) + rng.below(400 * 86_400) as i64)
    }

    /// `last_seen_at` in v2, `last_request_at` in v1.
    pub fn last_seen_at(&self, i: u64) -> Option<i64> {
        let mut rng = self.stream(i, Salt::LastSeen);
        rng.chance(80).then(|| self.created_at(i) + rng.below(400 * 86_400) as i64)
    }

    /// Phone numbers carry the contact's number, so a phone filter finds its contact directly.
    pub fn phone(&self, i: u64) -> Option<String> {
        let mut rng = self.stream(i, Salt::Phone);
        rng.chance(40).then(|| format!("+{}{:012}", 1 + rng.below(98), i))
    }

    /// The contact number an email of this workspace belongs to, if it has that form.
    pub fn index_of_email(email: &str) -> Option<u64> {
        email.split('@').next()?.rsplit('.').next()?.parse().ok()
    }

    /// The contact number a phone of this workspace belongs to, if it has that form.
    pub fn index_of_phone(phone: &str) -> Option<u64> {
        let digits = phone.strip_prefix('+')?;
        digits.get(digits.len().checked_sub(12)?..)?.parse().ok()
    }

    /// Contacts `start..end` (clamped to the workspace) as the JSON array body of a page.
    pub fn write_contacts_json(&self, start: u64, end: u64, out: &mut Vec<u8>) {
        self.write_json_array(RecordShape::ContactV2, start..end.min(self.contacts), out);
    }

    /// The records at `indices`, in `shape`, as a JSON array.
    pub fn write_json_array(&self, shape: RecordShape, indices: impl IntoIterator<Item = u64>, out: &mut Vec<u8>) {
        out.push(b'[');
        for (n, i) in indices.into_iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            self.write_record_json(shape, i, out);
        }
        out.push(b']');
    }

    /// Record `i` in `shape`, as JSON.
    pub fn write_record_json(&self, shape: RecordShape, i: u64, out: &mut Vec<u8>) {
        let result = match shape {
            RecordShape::ContactV2 => serde_json::to_writer(&mut *out, &self.contact(i)),
            RecordShape::V1 => serde_json::to_writer(&mut *out, &self.v1_record(i)),
        };
        result.expect("writing JSON to a Vec cannot fail");
    }
}

/// The shapes a record is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordShape {
    /// The v2 contact (`GET /contacts`).
    ContactV2,
    /// The v1 user or lead (scrolls and page lists).
    V1,
}

/// Which stream a fact is drawn from.
#[derive(Clone, Copy)]
pub(crate) enum Salt {
    Body = 1,
    Role,
    Created,
    Updated,
    SignedUp,
    LastSeen,
    Phone,
    V1,
    Unknown,
    Companies,
    Company,
    CompanySeen,
    Tags,
    LongLists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Lead,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Lead => "lead",
        }
    }
}

/// A v2 contact, field for field as the API serves it (documented fields in documented order,
/// then the undocumented ones real answers carry).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub workspace_id: String,
    pub external_id: Option<String>,
    pub role: &'static str,
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_domain: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub owner_id: Option<OwnerId>,
    pub has_hard_bounced: bool,
    pub marked_email_as_spam: bool,
    pub unsubscribed_from_emails: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub signed_up_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub last_replied_at: Option<i64>,
    pub last_contacted_at: Option<i64>,
    pub last_email_opened_at: Option<i64>,
    pub last_email_clicked_at: Option<i64>,
    pub language_override: Option<String>,
    pub browser: Option<String>,
    pub browser_version: Option<String>,
    pub browser_language: Option<String>,
    pub os: Option<String>,
    pub android_app_name: Option<String>,
    pub android_app_version: Option<String>,
    pub android_device: Option<String>,
    pub android_os_version: Option<String>,
    pub android_sdk_version: Option<String>,
    pub android_last_seen_at: Option<i64>,
    pub ios_app_name: Option<String>,
    pub ios_app_version: Option<String>,
    pub ios_device: Option<String>,
    pub ios_os_version: Option<String>,
    pub ios_sdk_version: Option<String>,
    pub ios_last_seen_at: Option<i64>,
    pub custom_attributes: CustomAttributes,
    pub avatar: Option<Avatar>,
    pub tags: AddressableList,
    pub notes: AddressableList,
    pub companies: AddressableList,
    pub location: Location,
    pub social_profiles: SocialProfiles,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extras: Option<Extras>,
    /// Fields no schema of ours knows, as newer API answers carry: the output keeps them in `_extra`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<UnknownFields>,
}

/// Undocumented fields, newer than any schema: on about a fifth of the contacts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnknownFields {
    pub sms_consent: bool,
    pub marketing_preferences: MarketingPreferences,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketingPreferences {
    pub channel: &'static str,
    pub frequency_days: u32,
    pub topics: Vec<&'static str>,
}

impl UnknownFields {
    fn generate(rng: &mut Rng) -> Option<UnknownFields> {
        rng.chance(20).then(|| UnknownFields {
            sms_consent: rng.chance(50),
            marketing_preferences: MarketingPreferences {
                channel: pick(rng, &["email", "sms", "in_app"]),
                frequency_days: 1 + rng.below(30) as u32,
                topics: (0..rng.below(3)).map(|_| pick(rng, &["product", "events", "billing ✓"])).collect(),
            },
        })
    }
}

/// `owner_id`: the API sends it as a number or as a string of digits.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OwnerId {
    Number(i64),
    Text(String),
}

impl OwnerId {
    pub fn value(&self) -> i64 {
        match self {
            OwnerId::Number(n) => *n,
            OwnerId::Text(s) => s.parse().expect("generated owner ids are digits"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Avatar {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddressableList {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub data: Vec<Addressable>,
    pub url: String,
    pub total_count: i64,
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Addressable {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub country_code: Option<String>,
    pub continent_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SocialProfiles {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub data: Vec<SocialProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SocialProfile {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub url: String,
}

/// Fields real answers carry that the documented schema lacks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extras {
    pub opted_out_subscription_types: AddressableList,
    pub opted_in_subscription_types: AddressableList,
    pub utm_campaign: Option<String>,
    pub utm_content: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_source: Option<String>,
    pub utm_term: Option<String>,
    pub referrer: Option<String>,
    pub enabled_push_messaging: Option<bool>,
}

impl Extras {
    fn generate(rng: &mut Rng, contact_id: &str) -> Self {
        let campaign = rng.chance(30);
        let utm = |rng: &mut Rng, values: &[&str]| campaign.then(|| pick(rng, values).to_string());
        Extras {
            opted_out_subscription_types: subscription_list(rng, contact_id, 10),
            opted_in_subscription_types: subscription_list(rng, contact_id, 25),
            utm_campaign: utm(rng, &["spring_launch", "black-friday-2019", "webinar_q3", "retargeting"]),
            utm_content: utm(rng, &["hero_cta", "footer link", "banner-v2"]),
            utm_medium: utm(rng, &["email", "cpc", "social", "organic"]),
            utm_source: utm(rng, &["google", "newsletter", "twitter", "linkedin", "partner"]),
            utm_term: utm(rng, &["crm software", "customer messaging", "live chat"]),
            referrer: rng.chance(40).then(|| {
                format!("https://{}/{}", pick(rng, DOMAINS), pick(rng, &["pricing", "blog/how-we-scale", "signup?ref=nav", ""]))
            }),
            enabled_push_messaging: if rng.chance(50) { None } else { Some(rng.chance(50)) },
        }
    }
}

/// Custom attributes: a map whose keys differ from contact to contact.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomAttributes(pub Vec<(&'static str, CustomValue)>);

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CustomValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    /// Dates are Unix seconds on the wire.
    Date(i64),
    Null,
}

impl CustomAttributes {
    pub fn get(&self, name: &str) -> Option<&CustomValue> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

impl Serialize for CustomAttributes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// The custom attributes a generated workspace declares, with their `data_type`.
pub const CUSTOM_ATTRIBUTES: &[(&str, &str)] = &[
    ("plan", "string"),
    ("seats", "integer"),
    ("monthly_spend", "float"),
    ("paid_subscriber", "boolean"),
    ("trial_ends_at", "date"),
    ("nps_comment", "string"),
    ("team_mates", "integer"),
];

fn custom_attributes(rng: &mut Rng, created_at: i64) -> CustomAttributes {
    let mut attrs = Vec::with_capacity(CUSTOM_ATTRIBUTES.len());
    if rng.chance(80) {
        attrs.push(("plan", CustomValue::Text(pick(rng, &["free", "starter", "pro", "enterprise"]).to_string())));
    }
    if rng.chance(60) {
        attrs.push(("seats", CustomValue::Integer(1 + rng.below(500) as i64)));
    }
    if rng.chance(55) {
        attrs.push(("monthly_spend", CustomValue::Float(rng.below(100_000) as f64 / 100.0)));
    }
    if rng.chance(70) {
        attrs.push(("paid_subscriber", CustomValue::Boolean(rng.chance(40))));
    }
    if rng.chance(35) {
        attrs.push(("trial_ends_at", CustomValue::Date(created_at + 14 * 86_400)));
    }
    if rng.chance(20) {
        attrs.push(("nps_comment", CustomValue::Text(pick(rng, NPS_COMMENTS).to_string())));
    }
    if rng.chance(10) {
        attrs.push(("team_mates", if rng.chance(30) { CustomValue::Null } else { CustomValue::Integer(rng.below(40) as i64) }));
    }
    CustomAttributes(attrs)
}

fn addressable_list(rng: &mut Rng, contact_id: &str, path: &str, kind: &'static str, max: u64, weight: u64) -> AddressableList {
    // Most contacts have few; some have more than the ten a list shows.
    let total = if rng.chance(100 - weight * 4) { rng.below(3) } else { rng.below(max + 1) };
    let ids = (0..total).map(|_| (100_000 + rng.below(9_000_000)).to_string()).collect();
    crate::relations::inline_list(contact_id, path, kind, ids)
}

fn subscription_list(rng: &mut Rng, contact_id: &str, p: u64) -> AddressableList {
    let data: Vec<Addressable> = (0..if rng.chance(p) { 1 + rng.below(2) } else { 0 })
        .map(|_| {
            let id = (1 + rng.below(40)).to_string();
            Addressable { kind: "subscription", url: format!("/subscription_types/{id}"), id }
        })
        .collect();
    AddressableList {
        kind: "list",
        total_count: data.len() as i64,
        data,
        url: format!("/contacts/{contact_id}/subscriptions"),
        has_more: false,
    }
}

fn location(rng: &mut Rng) -> Location {
    if rng.chance(20) {
        return Location { kind: "location", country: None, region: None, city: None, country_code: None, continent_code: None };
    }
    let (city, region, country, code, continent) = pick(rng, PLACES);
    Location {
        kind: "location",
        country: Some(country.to_string()),
        region: rng.chance(90).then(|| region.to_string()),
        city: Some(city.to_string()),
        country_code: Some(code.to_string()),
        continent_code: Some(continent.to_string()),
    }
}

fn social_profiles(rng: &mut Rng, first: &str) -> SocialProfiles {
    let n = if rng.chance(70) { 0 } else { 1 + rng.below(3) };
    let data = (0..n)
        .map(|_| {
            let (name, host) = pick(rng, SOCIAL);
            SocialProfile {
                kind: "social_profile",
                name: name.to_string(),
                url: format!("https://{host}/{}{}", ascii_slug(first), rng.below(10_000)),
            }
        })
        .collect();
    SocialProfiles { kind: "list", data }
}

struct AppUsage {
    app_name: String,
    app_version: String,
    device: String,
    os_version: String,
    sdk_version: String,
    last_seen_at: i64,
}

impl AppUsage {
    fn android(rng: &mut Rng, created_at: i64) -> Self {
        AppUsage {
            app_name: "Acme Mobile".into(),
            app_version: format!("{}.{}.{}", 3 + rng.below(3), rng.below(20), rng.below(10)),
            device: pick(rng, &["Pixel 7", "Galaxy S23", "OnePlus 11", "Xperia 5 IV"]).into(),
            os_version: (10 + rng.below(5)).to_string(),
            sdk_version: (29 + rng.below(6)).to_string(),
            last_seen_at: created_at + rng.below(300 * 86_400) as i64,
        }
    }

    fn ios(rng: &mut Rng, created_at: i64) -> Self {
        AppUsage {
            app_name: "Acme".into(),
            app_version: format!("{}.{}.{}", 3 + rng.below(3), rng.below(20), rng.below(10)),
            device: pick(rng, &["iPhone 14", "iPhone 15 Pro", "iPad Air", "iPhone SE"]).into(),
            os_version: format!("{}.{}", 15 + rng.below(3), rng.below(6)),
            sdk_version: format!("{}.{}.{}", 15 + rng.below(3), rng.below(6), rng.below(3)),
            last_seen_at: created_at + rng.below(300 * 86_400) as i64,
        }
    }
}

/// splitmix64: a fast, well-mixed, seedable stream; its finaliser is a bijection.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A UUID-shaped string (version 4 layout) from two draws, as Intercom's scroll params and lead
/// user ids look.
pub fn uuid_like(a: u64, b: u64) -> String {
    format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", a >> 32, a & 0xffff, b >> 52, (b >> 40) & 0xfff, b & 0xffff_ffff_ffff)
}

pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.below(items.len() as u64) as usize]
}

/// An ASCII, lowercase rendering of a name for emails and URLs.
fn ascii_slug(name: &str) -> String {
    let slug: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    if slug.is_empty() { "contact".to_string() } else { slug }
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

const FIRST_NAMES: &[&str] = &[
    "Joe",
    "Aoife",
    "Zoë",
    "José",
    "Łukasz",
    "Björk",
    "Sørina",
    "Mei",
    "美咲",
    "Сергей",
    "Ngozi",
    "Priya",
    "O'Brien",
    "Émile",
    "Đorđe",
    "François",
    "Anaïs",
    "Kwame",
    "Søren",
    "Yūki",
    "Ferris 🦀",
    "Ana-María",
    "Nguyễn",
    "محمد",
    "Dvořák",
    "Renée",
    "Chloé",
    "Ivan",
    "Grace",
    "Lin",
];

const LAST_NAMES: &[&str] = &[
    "Bloggs",
    "Murphy",
    "Müller",
    "García",
    "Kowalski",
    "Guðmundsdóttir",
    "Østergaard",
    "Chen",
    "田中",
    "Иванов",
    "Okafor",
    "Patel",
    "O'Neil",
    "Dubois",
    "Petrović",
    "Lefèvre",
    "Mensah",
    "Kierkegaard",
    "Sato",
    "the Crab",
    "Núñez",
    "Văn An",
    "الفارسي",
    "Novák",
    "Zoë 😀",
    "Smith",
    "Hopper",
    "Lovelace",
    "Ng",
    "D'Arcy",
];

const DOMAINS: &[&str] =
    &["example.com", "acme.io", "globex.co.uk", "initech.de", "umbrella.fr", "hooli.xyz", "example.org", "piedpiper.ie"];

const BROWSERS: &[(&str, u64)] = &[("chrome", 120), ("firefox", 118), ("safari", 17), ("edge", 119), ("opera", 104)];

const OSES: &[&str] = &["OS X 10.15.7", "Windows 10", "Windows 11", "Linux", "iOS 17.1", "Android 14"];

const LANGUAGES: &[&str] = &["en-US", "en-GB", "fr-FR", "de-DE", "es-ES", "pt-BR", "ja-JP", "pl-PL", "ga-IE"];

const PLACES: &[(&str, &str, &str, &str, &str)] = &[
    ("Dublin", "Dublin", "Ireland", "IRL", "EU"),
    ("San Francisco", "California", "United States", "USA", "NA"),
    ("Mukilteo", "Washington", "United States", "USA", "NA"),
    ("London", "England", "United Kingdom", "GBR", "EU"),
    ("München", "Bavaria", "Germany", "DEU", "EU"),
    ("São Paulo", "São Paulo", "Brazil", "BRA", "SA"),
    ("東京", "Tokyo", "Japan", "JPN", "AS"),
    ("Kraków", "Lesser Poland", "Poland", "POL", "EU"),
    ("Lagos", "Lagos", "Nigeria", "NGA", "AF"),
    ("Sydney", "New South Wales", "Australia", "AUS", "OC"),
];

const SOCIAL: &[(&str, &str)] =
    &[("Twitter", "twitter.com"), ("LinkedIn", "linkedin.com/in"), ("Facebook", "facebook.com"), ("GitHub", "github.com")];

const NPS_COMMENTS: &[&str] = &[
    "Great product!",
    "Would love a \"dark mode\" \u{1F319}",
    "Line one\nline two\ttabbed",
    "Back\\slash and 'quotes'",
    "Très bien, merci",
    "素晴らしい",
    "🔥🔥🔥",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_deterministic() {
        let ws = Workspace::new(7, 100);
        assert_eq!(ws.contact(42), ws.contact(42));
        assert_ne!(ws.contact(42), ws.contact(43));
        assert_ne!(Workspace::new(8, 100).contact(42).id, ws.contact(42).id);
    }

    #[test]
    fn ids_are_unique_and_intercom_shaped() {
        let ws = Workspace::new(1, 50_000);
        let ids: std::collections::HashSet<String> = (0..50_000).map(|i| ws.contact_id(i)).collect();
        assert_eq!(ids.len(), 50_000);
        let id = ws.contact_id(0);
        assert_eq!(id.len(), 24);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn contacts_mix_roles_nulls_unicode_and_undocumented_fields() {
        let ws = Workspace::new(3, 2_000);
        let contacts: Vec<Contact> = (0..2_000).map(|i| ws.contact(i)).collect();
        assert!(contacts.iter().any(|c| c.role == "lead") && contacts.iter().any(|c| c.role == "user"));
        assert!(contacts.iter().any(|c| c.email_domain.is_none()));
        assert!(contacts.iter().any(|c| c.tags.has_more && c.tags.data.len() == 10));
        assert!(contacts.iter().any(|c| c.name.as_deref().is_some_and(|n| !n.is_ascii())));
        assert!(contacts.iter().any(|c| c.extras.is_none()) && contacts.iter().any(|c| c.extras.is_some()));
        assert!(contacts.iter().any(|c| matches!(c.owner_id, Some(OwnerId::Text(_)))));
        for name in ["plan", "seats", "monthly_spend", "paid_subscriber", "trial_ends_at"] {
            assert!(contacts.iter().any(|c| c.custom_attributes.get(name).is_some()), "{name}");
            assert!(contacts.iter().any(|c| c.custom_attributes.get(name).is_none()), "{name}");
        }
    }

    #[test]
    fn serialised_contact_has_every_documented_field() {
        let ws = Workspace::new(5, 10);
        let value = serde_json::to_value(ws.contact(1)).unwrap();
        let object = value.as_object().unwrap();
        let documented = [
            "type",
            "id",
            "external_id",
            "workspace_id",
            "role",
            "email",
            "phone",
            "name",
            "owner_id",
            "has_hard_bounced",
            "marked_email_as_spam",
            "unsubscribed_from_emails",
            "created_at",
            "updated_at",
            "signed_up_at",
            "last_seen_at",
            "last_replied_at",
            "last_contacted_at",
            "last_email_opened_at",
            "last_email_clicked_at",
            "language_override",
            "browser",
            "browser_version",
            "browser_language",
            "os",
            "android_app_name",
            "android_app_version",
            "android_device",
            "android_os_version",
            "android_sdk_version",
            "android_last_seen_at",
            "ios_app_name",
            "ios_app_version",
            "ios_device",
            "ios_os_version",
            "ios_sdk_version",
            "ios_last_seen_at",
            "custom_attributes",
            "avatar",
            "tags",
            "notes",
            "companies",
            "location",
            "social_profiles",
        ];
        for field in documented {
            assert!(object.contains_key(field), "{field} missing");
        }
    }

    #[test]
    fn page_body_is_a_json_array_of_the_range() {
        let ws = Workspace::new(9, 5);
        let mut out = Vec::new();
        ws.write_contacts_json(3, 10, &mut out);
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0]["id"], ws.contact_id(3));
    }

    #[test]
    fn an_import_puts_its_share_of_contacts_in_one_hour_in_creation_order() {
        let ws = Workspace::new(4, 20_000).with_import(50);
        let times: Vec<i64> = (0..ws.contacts).map(|i| ws.created_at(i)).collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "created_at never decreases with the index");
        let (first, count) = ws.import();
        assert_eq!((first, count), (5_000, 10_000));
        assert!(times[(first + count - 1) as usize] - times[first as usize] < IMPORT_SECS);
        let busiest_second = times.chunk_by(|a, b| a == b).map(<[i64]>::len).max().unwrap();
        assert!(busiest_second >= 2, "many contacts to a second");
        assert!(ws.now() > times[times.len() - 1]);
        assert_eq!(Workspace::new(4, 20_000).with_import(0).created_at(7), Workspace::new(4, 20_000).created_at(7));
    }

    #[test]
    fn id_suffixes_match_without_formatting_the_id() {
        let ws = Workspace::new(12, 300);
        for i in 0..300 {
            let id = ws.contact_id(i);
            for len in [0, 1, 2, 5, 16] {
                assert!(ws.id_ends_with(i, &id[id.len() - len..]), "{id} ends with its last {len}");
            }
            assert!(ws.id_ends_with(i, &id), "a whole id, formatted");
            assert!(!ws.id_ends_with(i, "x"));
        }
        let by_last_digit = (0..300).filter(|&i| ws.id_ends_with(i, "a")).count();
        assert!((5..40).contains(&by_last_digit), "about one in 16: {by_last_digit}");
    }

    #[test]
    fn a_live_workspace_moves_updated_at_forward_at_the_rate_asked() {
        let ws = Workspace::new(3, 10_000).with_live_updates(100);
        let live_base = ws.now() + 90 * 86_400;
        let moved = |elapsed| (0..ws.contacts).filter(|&i| ws.updated_at_after(i, elapsed) >= live_base).count();
        assert!((50..=150).contains(&moved(0)), "about 100 in the first second: {}", moved(0));
        assert!((950..=1_050).contains(&moved(9)), "{}", moved(9));
        assert_eq!(moved(100), 10_000, "everyone within contacts / rate seconds");
        let touched = (0..ws.contacts).find(|&i| ws.updated_at_after(i, 0) >= live_base).unwrap();
        assert!(ws.updated_at_after(touched, 150) > ws.updated_at_after(touched, 0), "touched again a period later");
        assert_eq!(Workspace::new(3, 10_000).updated_at_after(5, 50), Workspace::new(3, 10_000).updated_at(5));
    }
}
