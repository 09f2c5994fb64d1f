//! A workspace that changes between runs (`sim --evolve STEPS`): the workspace as it stands after
//! `STEPS` days of change. Each step is a pure function of the seed and the step: a share of the
//! contacts updated (their `updated_at` moves into that day, `last_seen_at` with it, and they
//! take the custom attributes added so far), new contacts created (the time line goes on past
//! the base workspace's "now"), a share deleted and a share of the leads merged into users
//! (both then vanish from every listing, as Intercom's do), and one custom attribute declared.
//!
//! Nothing is stored: whether contact `i` is there and when it was last touched are hashes of
//! `(seed, i, step)`, so a workspace of a million contacts after any number of steps costs only
//! the count of the contacts still present, worked out once.

use crate::generator::{CustomValue, Role, Workspace, mix64};

/// One step of change is one day of the workspace's time.
pub const STEP_SECS: i64 = 86_400;

/// Basis points: hundredths of a percent.
const BP: u64 = 10_000;

/// The custom attributes the steps add, one a step (step 1 adds the first), with their
/// `data_type`; steps past the last add none.
pub const EVOLVED_ATTRIBUTES: &[(&str, &str)] = &[
    ("health_score", "integer"),
    ("lifecycle_stage", "string"),
    ("churn_probability", "float"),
    ("beta_opt_in", "boolean"),
    ("renewal_at", "date"),
    ("region_code", "string"),
    ("seat_growth", "integer"),
    ("csat", "float"),
];

/// How a workspace changes at each step, as shares of what is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvolveSettings {
    pub steps: u32,
    /// Of the contacts there, in basis points: updated at each step.
    pub updated_bp: u32,
    /// Of the base workspace's contacts, in basis points: created at each step (at least one
    /// when not zero).
    pub created_bp: u32,
    /// Of the contacts there, in basis points: deleted at each step.
    pub deleted_bp: u32,
    /// Of the leads there, in basis points: merged into a user at each step.
    pub merged_bp: u32,
}

impl EvolveSettings {
    /// `steps` steps at the default shares: 1% updated, 0.5% created, 0.2% deleted and 0.5%
    /// of the leads merged a step.
    pub fn new(steps: u32) -> EvolveSettings {
        EvolveSettings { steps, updated_bp: 100, created_bp: 50, deleted_bp: 20, merged_bp: 50 }
    }

    /// A share given in percent (`1.5`), as basis points.
    pub fn percent_to_bp(percent: f64) -> Result<u32, String> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!("{percent} is not a percentage: use a number from 0 to 100"));
        }
        Ok((percent * 100.0).round() as u32)
    }
}

/// A workspace's evolution: its settings, and what they make of its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evolution {
    pub settings: EvolveSettings,
    /// The contacts before the first step: indices `0..base`.
    pub base: u64,
    /// Contacts created at each step.
    pub created_per_step: u64,
    /// The contacts present after the last step.
    pub present: u64,
}

/// What a step draws for a contact.
#[derive(Clone, Copy)]
enum Draw {
    Updated = 1,
    Deleted,
    Merged,
    Touch,
    Value,
}

impl Evolution {
    pub(crate) fn new(settings: EvolveSettings, base: u64) -> Evolution {
        let created_per_step = match settings.created_bp {
            0 => 0,
            bp => (base * u64::from(bp) / BP).max(1),
        };
        Evolution { settings, base, created_per_step, present: 0 }
    }

    /// Indices in the workspace after the last step, present or not.
    pub(crate) fn extent(&self) -> u64 {
        self.base + self.created_per_step * u64::from(self.settings.steps)
    }

    /// The step that created contact `i`: 0 for the base workspace's.
    pub(crate) fn created_in(&self, i: u64) -> u32 {
        match i.checked_sub(self.base) {
            Some(k) if self.created_per_step > 0 => (k / self.created_per_step) as u32 + 1,
            _ => 0,
        }
    }

    /// Where contact `i`, created by a step, falls in that step's day: `(step, offset)`.
    pub(crate) fn creation_slot(&self, i: u64) -> Option<(u32, i64)> {
        let step = self.created_in(i);
        let k = (i - self.base) % self.created_per_step.max(1);
        (step > 0).then(|| (step, (k as i128 * i128::from(STEP_SECS) / self.created_per_step as i128) as i64))
    }

    fn draw(&self, seed: u64, i: u64, step: u32, what: Draw) -> u64 {
        let salt = mix64(seed ^ (what as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(step).rotate_left(40));
        mix64(salt ^ i)
    }

    fn hit(&self, seed: u64, i: u64, step: u32, what: Draw, bp: u32) -> bool {
        self.draw(seed, i, step, what) % BP < u64::from(bp)
    }

    /// The last step that updated contact `i` (steps after the one that created it).
    pub(crate) fn last_update(&self, seed: u64, i: u64) -> Option<u32> {
        let first = self.created_in(i) + 1;
        (first..=self.settings.steps).rev().find(|&s| self.hit(seed, i, s, Draw::Updated, self.settings.updated_bp))
    }

    /// Where in step `step`'s day contact `i` was touched, in seconds.
    pub(crate) fn touch_offset(&self, seed: u64, i: u64, step: u32) -> i64 {
        (self.draw(seed, i, step, Draw::Touch) % STEP_SECS as u64) as i64
    }

    /// Whether contact `i` (of role `role`) was deleted or merged away by a step.
    pub(crate) fn gone(&self, seed: u64, i: u64, role: Role) -> bool {
        let first = self.created_in(i) + 1;
        (first..=self.settings.steps).any(|s| {
            self.hit(seed, i, s, Draw::Deleted, self.settings.deleted_bp)
                || (role == Role::Lead && self.hit(seed, i, s, Draw::Merged, self.settings.merged_bp))
        })
    }

    /// The custom attributes declared after the last step.
    pub fn attributes(&self) -> &'static [(&'static str, &'static str)] {
        &EVOLVED_ATTRIBUTES[..(self.settings.steps as usize).min(EVOLVED_ATTRIBUTES.len())]
    }

    /// The values contact `i`, last updated at `step`, has for the attributes added until then.
    pub(crate) fn values(&self, seed: u64, i: u64, step: u32) -> Vec<(&'static str, CustomValue)> {
        let added = &EVOLVED_ATTRIBUTES[..(step as usize).min(EVOLVED_ATTRIBUTES.len())];
        added
            .iter()
            .enumerate()
            .map(|(n, &(name, data_type))| {
                let v = self.draw(seed, i, step * 16 + n as u32, Draw::Value);
                let value = match data_type {
                    "integer" => CustomValue::Integer((v % 100) as i64),
                    "float" => CustomValue::Float((v % 1_000) as f64 / 1_000.0),
                    "boolean" => CustomValue::Boolean(v.is_multiple_of(2)),
                    "date" => CustomValue::Date(1_700_000_000 + (v % 50_000_000) as i64),
                    _ => CustomValue::Text(["trial", "active", "at-risk", "champion", "dormant"][(v % 5) as usize].to_string()),
                };
                (name, value)
            })
            .collect()
    }
}

impl Workspace {
    /// The same workspace after `settings.steps` steps of change.
    pub fn evolved(self, settings: EvolveSettings) -> Workspace {
        let base = self.base();
        let mut evolution = Evolution::new(settings, base);
        let ws = Workspace { contacts: evolution.extent(), evolution: Some(evolution), ..self };
        evolution.present = (0..ws.contacts).filter(|&i| ws.present(i)).count() as u64;
        Workspace { evolution: Some(evolution), ..ws }
    }

    /// Whether contact `i` is in the workspace: not past its end, not deleted or merged away.
    pub fn present(&self, i: u64) -> bool {
        i < self.contacts && (!self.has_gaps() || self.evolution.is_none_or(|e| !e.gone(self.seed, i, self.role(i))))
    }

    /// The contacts present: what a listing of all of them announces.
    pub fn count(&self) -> u64 {
        self.evolution.map_or(self.contacts, |e| e.present)
    }

    /// Whether some contacts below [`Workspace::contacts`] are not there: listings then check
    /// each index instead of counting a range.
    pub fn has_gaps(&self) -> bool {
        self.evolution.is_some_and(|e| e.settings.deleted_bp > 0 || e.settings.merged_bp > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_updates_creates_deletes_and_merges_about_its_share() {
        let base = Workspace::new(5, 20_000);
        let one = base.evolved(EvolveSettings::new(1));
        assert_eq!(one.contacts, 20_100, "0.5% created");
        let gone = (0..base.contacts).filter(|&i| !one.present(i)).count();
        // 0.2% deleted and 0.5% of the 30% leads merged: about 70.
        assert!((40..110).contains(&gone), "{gone}");
        assert_eq!(one.count(), one.contacts - gone as u64);
        let updated = (0..base.contacts).filter(|&i| one.updated_at(i) > base.now()).count();
        assert!((150..260).contains(&updated), "1% updated: {updated}");
        for i in 0..base.contacts {
            if one.updated_at(i) > base.now() {
                assert!(one.updated_at(i) < one.now());
                assert_eq!(one.contact(i).last_seen_at, Some(one.updated_at(i)));
                assert!(one.contact(i).custom_attributes.get("health_score").is_some());
            } else {
                assert_eq!(one.contact(i), base.contact(i), "contact {i} not updated is as it was");
            }
        }
        for i in base.contacts..one.contacts {
            assert!(one.created_at(i) >= base.now() && one.created_at(i) < one.now(), "created during the step");
            assert!(one.created_at(i) >= one.created_at(i - 1));
        }
    }

    #[test]
    fn a_later_step_keeps_what_earlier_ones_did() {
        let base = Workspace::new(9, 5_000);
        let (two, three) = (base.evolved(EvolveSettings::new(2)), base.evolved(EvolveSettings::new(3)));
        for i in 0..two.contacts {
            if !two.present(i) {
                assert!(!three.present(i), "contact {i} came back");
            }
            assert_eq!(two.created_at(i), three.created_at(i));
            assert_eq!(two.contact_id(i), three.contact_id(i));
            assert!(three.updated_at(i) >= two.updated_at(i));
        }
    }

    #[test]
    fn nothing_is_updated_in_the_future() {
        let ws = Workspace::new(2, 3_000);
        assert!((0..ws.contacts).all(|i| ws.updated_at(i) < ws.now() && ws.updated_at(i) >= ws.created_at(i)));
    }
}
