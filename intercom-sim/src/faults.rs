//! The simulator's fault plan: which requests fail, and how. Rules fire by probability or at
//! exact request numbers (counted over the simulator's life, from 1); every decision is a pure
//! function of (seed, request number, rule), so a failing run replays exactly.
//!
//! Kinds: a 429 (with `Retry-After`), any status (408, 500, 502, 503, 504...), a connection
//! reset mid-body, a truncated JSON body, added latency, a body that stalls part way (past a
//! client's timeout when long enough). The scroll's own faults (the restart 500, a forced
//! expiry, another client's scroll) live with the scroll, in [`crate::scroll`].

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use crate::generator::mix64;

#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// 429 `rate_limit_exceeded`, `Retry-After: 1`.
    TooManyRequests,
    /// This status, with Intercom's error envelope.
    Status(u16),
    /// Half the body, then the connection is cut.
    ResetMidBody,
    /// A 200 whose JSON stops half way.
    Truncate,
    /// The answer waits between these two first (equal: a fixed latency), drawn from the seed.
    Latency(Duration, Duration),
    /// Half the body, a pause this long, then the rest.
    SlowBody(Duration),
    /// A 200 whose body is an HTML error page, as a misbehaving proxy sends.
    NotJson,
    /// A 200 whose first record has no `id`.
    DropId,
}

#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// Each request, with this probability.
    Probability(f64),
    /// These request numbers.
    At(BTreeSet<u64>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub kind: FaultKind,
    pub when: When,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    pub seed: u64,
    pub rules: Vec<FaultRule>,
}

/// What one request gets: added latency, and at most one failure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub latency: Option<Duration>,
    pub fault: Option<FaultKind>,
}

impl FaultPlan {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The decision for request `n`; the first matching failure rule wins, latencies add up.
    pub fn decide(&self, n: u64) -> Decision {
        let mut decision = Decision::default();
        for (index, rule) in self.rules.iter().enumerate() {
            let fires = match &rule.when {
                When::At(requests) => requests.contains(&n),
                When::Probability(p) => {
                    let draw = mix64(self.seed ^ mix64(n) ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    (draw as f64 / u64::MAX as f64) < *p
                }
            };
            match (&rule.kind, fires) {
                (_, false) => {}
                (FaultKind::Latency(low, high), true) => {
                    let spread = high.saturating_sub(*low).as_micros() as u64;
                    let draw = mix64(self.seed.rotate_left(7) ^ mix64(n ^ index as u64));
                    let extra = if spread == 0 { 0 } else { draw % (spread + 1) };
                    *decision.latency.get_or_insert(Duration::ZERO) += *low + Duration::from_micros(extra);
                }
                (kind, true) if decision.fault.is_none() => decision.fault = Some(kind.clone()),
                _ => {}
            }
        }
        decision
    }
}

/// The fault kinds, as messages name them.
const KINDS: &str = "429, an HTTP status (500, 503...), reset, truncate, notjson, noid, latency=MS, latency=MIN-MAX or slow=MS";

/// `KIND:PROBABILITY` or `KIND@N,N,...`, KIND as [`FaultKind::parse`] reads it.
impl FromStr for FaultRule {
    type Err = String;

    fn from_str(text: &str) -> Result<FaultRule, String> {
        let usage = || format!("bad fault {text:?}: use KIND:PROBABILITY or KIND@N,N with KIND one of {KINDS}");
        let (kind, when) = if let Some((kind, p)) = text.split_once(':') {
            (kind, When::probability(p.parse().map_err(|_| usage())?).ok_or_else(usage)?)
        } else if let Some((kind, at)) = text.split_once('@') {
            let at = at.split(',').map(|n| n.trim().parse::<u64>()).collect::<Result<_, _>>().map_err(|_| usage())?;
            (kind, When::At(at))
        } else {
            return Err(usage());
        };
        Ok(FaultRule { kind: FaultKind::parse(kind).ok_or_else(usage)?, when })
    }
}

impl When {
    /// Each request with probability `p`, when `p` is one (0 to 1).
    fn probability(p: f64) -> Option<When> {
        (0.0..=1.0).contains(&p).then_some(When::Probability(p))
    }
}

impl FaultKind {
    /// `429`, an HTTP status (`500`, `503`...), `reset`, `truncate`, `notjson`, `noid`,
    /// `latency=MS` or `latency=MIN-MAX` (jittered), `slow=MS`.
    pub fn parse(kind: &str) -> Option<FaultKind> {
        let millis = |ms: &str| ms.parse::<u64>().ok().map(Duration::from_millis);
        Some(match kind {
            "429" => FaultKind::TooManyRequests,
            "reset" => FaultKind::ResetMidBody,
            "truncate" => FaultKind::Truncate,
            "notjson" => FaultKind::NotJson,
            "noid" => FaultKind::DropId,
            other => match other.split_once('=') {
                Some(("latency", ms)) => match ms.split_once('-') {
                    Some((low, high)) => {
                        let (low, high) = (millis(low)?, millis(high)?);
                        if low > high {
                            return None;
                        }
                        FaultKind::Latency(low, high)
                    }
                    None => FaultKind::Latency(millis(ms)?, millis(ms)?),
                },
                Some(("slow", ms)) => FaultKind::SlowBody(millis(ms)?),
                _ => match other.parse::<u16>() {
                    Ok(status) if (400..=599).contains(&status) => FaultKind::Status(status),
                    _ => return None,
                },
            },
        })
    }
}

/// A fault plan kept in a file (JSON), for a scenario to be run again or shared: the rules the
/// `--fault` flags give, their seed, and the scroll's own faults.
///
/// ```json
/// {
///   "seed": 7,
///   "rules": [
///     { "kind": "503", "probability": 0.05 },
///     { "kind": "truncate", "at": [10, 20] },
///     { "kind": "latency=50-150", "probability": 1 }
///   ],
///   "scroll_restart_at": [3],
///   "scroll_expire_at": [],
///   "foreign_scroll": false
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlanFile {
    /// Seed of the probabilistic rules (the `--fault-seed` flag's when absent).
    pub seed: Option<u64>,
    pub rules: Vec<FaultRule>,
    /// v1 scroll requests (from 1) answered with the restart 500.
    pub scroll_restart_at: BTreeSet<u64>,
    /// v1 scroll requests at which the open scroll expires.
    pub scroll_expire_at: BTreeSet<u64>,
    /// Start with another client's scroll holding the workspace's lock.
    pub foreign_scroll: bool,
}

/// The file as written, before its rules are checked.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanJson {
    seed: Option<u64>,
    #[serde(default)]
    rules: Vec<RuleJson>,
    #[serde(default)]
    scroll_restart_at: BTreeSet<u64>,
    #[serde(default)]
    scroll_expire_at: BTreeSet<u64>,
    #[serde(default)]
    foreign_scroll: bool,
}

/// One rule as written: a kind, and either a probability or request numbers.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleJson {
    kind: String,
    probability: Option<f64>,
    at: Option<BTreeSet<u64>>,
}

impl RuleJson {
    fn check(self) -> Result<FaultRule, String> {
        let kind = FaultKind::parse(&self.kind).ok_or_else(|| format!("unknown kind {:?}: use {KINDS}", self.kind))?;
        let when = match (self.probability, self.at) {
            (Some(p), None) => When::probability(p).ok_or("probability must be between 0 and 1")?,
            (None, Some(requests)) if !requests.is_empty() => When::At(requests),
            _ => return Err("give either \"probability\" (0 to 1) or \"at\" (request numbers from 1)".into()),
        };
        Ok(FaultRule { kind, when })
    }
}

impl FaultPlanFile {
    /// Reads a plan file and checks every rule. The error is one line naming the file, the rule
    /// at fault and what to write instead.
    pub fn load(path: &std::path::Path) -> Result<FaultPlanFile, String> {
        let name = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the fault plan {name}: {e}"))?;
        let plan: PlanJson = serde_json::from_str(&text).map_err(|e| {
            format!("the fault plan {name} is not a plan: {e} (expected {{\"seed\": N, \"rules\": [{{\"kind\": \"503\", \"probability\": 0.05}}, ...]}})")
        })?;
        let rules = plan
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| rule.check().map_err(|e| format!("the fault plan {name}: rule {}: {e}", i + 1)))
            .collect::<Result<_, _>>()?;
        Ok(FaultPlanFile {
            seed: plan.seed,
            rules,
            scroll_restart_at: plan.scroll_restart_at,
            scroll_expire_at: plan.scroll_expire_at,
            foreign_scroll: plan.foreign_scroll,
        })
    }

    /// Adds this plan to a simulator's configuration: its rules after the ones there, its seed
    /// when it gives one, its scroll faults beside the ones there.
    pub fn apply(self, config: &mut crate::SimConfig) {
        config.faults.rules.extend(self.rules);
        if let Some(seed) = self.seed {
            config.faults.seed = seed;
        }
        config.scroll.restart_at.extend(self.scroll_restart_at);
        config.scroll.expire_at.extend(self.scroll_expire_at);
        config.scroll.foreign_scroll |= self.foreign_scroll;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        assert_eq!("503:0.05".parse(), Ok(FaultRule { kind: FaultKind::Status(503), when: When::Probability(0.05) }));
        assert_eq!("truncate@3,7".parse(), Ok(FaultRule { kind: FaultKind::Truncate, when: When::At(BTreeSet::from([3, 7])) }));
        let latency: FaultRule = "latency=25:1".parse().unwrap();
        assert_eq!(latency.kind, FaultKind::Latency(Duration::from_millis(25), Duration::from_millis(25)));
        let jittered: FaultRule = "latency=10-90:0.5".parse().unwrap();
        assert_eq!(jittered.kind, FaultKind::Latency(Duration::from_millis(10), Duration::from_millis(90)));
        assert!("latency=90-10:1".parse::<FaultRule>().is_err());
        for bad in ["503", "boom:0.1", "503:2", "reset@x", "200:0.1", "slow=x@1", "latency=5-x:1"] {
            assert!(bad.parse::<FaultRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn decisions_replay_and_follow_the_probability() {
        let plan = FaultPlan {
            seed: 9,
            rules: vec!["503:0.1".parse().unwrap(), "latency=5:1".parse().unwrap(), "reset@4".parse().unwrap()],
        };
        let first: Vec<Decision> = (1..=2_000).map(|n| plan.decide(n)).collect();
        let again: Vec<Decision> = (1..=2_000).map(|n| plan.decide(n)).collect();
        assert_eq!(first, again, "seeded: a run replays");
        let failures = first.iter().filter(|d| d.fault == Some(FaultKind::Status(503))).count();
        assert!((140..=260).contains(&failures), "{failures} of 2,000 at 10%");
        assert!(first.iter().all(|d| d.latency == Some(Duration::from_millis(5))));
        let jitter = FaultPlan { seed: 3, rules: vec!["latency=10-30:1".parse().unwrap()] };
        let waits: Vec<Duration> = (1..=500).map(|n| jitter.decide(n).latency.unwrap()).collect();
        assert!(waits.iter().all(|w| (Duration::from_millis(10)..=Duration::from_millis(30)).contains(w)));
        assert!(waits.iter().any(|w| *w < Duration::from_millis(15)) && waits.iter().any(|w| *w > Duration::from_millis(25)));
        assert!(first[3].fault.is_some(), "request 4 fails");
    }

    #[test]
    fn plan_files_give_rules_seeds_and_scroll_faults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(
            &path,
            r#"{"seed": 7, "rules": [{"kind": "503", "probability": 0.05}, {"kind": "truncate", "at": [10, 20]},
                {"kind": "latency=50-150", "probability": 1}], "scroll_restart_at": [3], "foreign_scroll": true}"#,
        )
        .unwrap();
        let plan = FaultPlanFile::load(&path).unwrap();
        let mut config = crate::SimConfig::new(1, 10, "t");
        config.faults.rules.push("429@1".parse().unwrap());
        plan.apply(&mut config);
        assert_eq!(config.faults.seed, 7);
        assert_eq!(config.faults.rules.len(), 4, "the file's rules come after the flags'");
        assert_eq!(config.faults.rules[2], "truncate@10,20".parse().unwrap());
        assert_eq!(config.faults.rules[3].kind, FaultKind::Latency(Duration::from_millis(50), Duration::from_millis(150)));
        assert_eq!(config.scroll.restart_at, BTreeSet::from([3]));
        assert!(config.scroll.foreign_scroll);

        let refused = |json: &str| {
            std::fs::write(&path, json).unwrap();
            FaultPlanFile::load(&path).unwrap_err()
        };
        let error = refused(r#"{"rules": [{"kind": "503", "probability": 0.1}, {"kind": "boom", "at": [1]}]}"#);
        assert!(error.contains("plan.json") && error.contains("rule 2") && error.contains("unknown kind"), "{error}");
        let error = refused(r#"{"rules": [{"kind": "503", "probability": 0.1, "at": [2]}]}"#);
        assert!(error.contains("rule 1") && error.contains("either"), "{error}");
        let error = refused(r#"{"rules": [{"kind": "503", "probability": 1.5}]}"#);
        assert!(error.contains("between 0 and 1"), "{error}");
        let error = refused(r#"{"rulez": []}"#);
        assert!(error.contains("not a plan") && error.contains("rulez"), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
        let missing = FaultPlanFile::load(&dir.path().join("none.json")).unwrap_err();
        assert!(missing.contains("cannot read the fault plan"), "{missing}");
    }
}
