//! The simulator's fault plan: which requests fail, and how. Rules fire by probability or at
//! exact request numbers (counted over the simulator's life, from 1); every decision is a pure
//! function of (seed, request number, rule), so a failing run replays exactly.
//!
//! Kinds: a 429 (with `Retry-After`), any status (408, 500, 502, 503, 504...), a connection
//! reset mid-body, a truncated JSON body, added latency, a body that stalls part way (past a
//! client's timeout when long enough). The scroll's own faults (the restart 500, a forced
//! expiry, another client's scroll) live with the scroll, in [`super::scroll`].

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use super::generator::mix64;

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

/// `KIND:PROBABILITY` or `KIND@N,N,...`, KIND one of `429`, an HTTP status (`500`, `503`...),
/// `reset`, `truncate`, `notjson`, `noid`, `latency=MS` or `latency=MIN-MAX` (jittered), `slow=MS`.
impl FromStr for FaultRule {
    type Err = String;

    fn from_str(text: &str) -> Result<FaultRule, String> {
        let usage = || {
            format!(
                "bad fault {text:?}: use KIND:PROBABILITY or KIND@N,N with KIND 429, 5xx, reset, truncate, latency=MS, slow=MS"
            )
        };
        let (kind, when) = if let Some((kind, p)) = text.split_once(':') {
            let p: f64 = p.parse().map_err(|_| usage())?;
            if !(0.0..=1.0).contains(&p) {
                return Err(usage());
            }
            (kind, When::Probability(p))
        } else if let Some((kind, at)) = text.split_once('@') {
            let at = at.split(',').map(|n| n.trim().parse::<u64>()).collect::<Result<_, _>>().map_err(|_| usage())?;
            (kind, When::At(at))
        } else {
            return Err(usage());
        };
        let millis = |ms: &str| ms.parse::<u64>().map(Duration::from_millis).map_err(|_| usage());
        let kind = match kind {
            "429" => FaultKind::TooManyRequests,
            "reset" => FaultKind::ResetMidBody,
            "truncate" => FaultKind::Truncate,
            "notjson" => FaultKind::NotJson,
            "noid" => FaultKind::DropId,
            other => match other.split_once('=') {
                Some(("latency", ms)) => match ms.split_once('-') {
                    Some((low, high)) if millis(low)? <= millis(high)? => FaultKind::Latency(millis(low)?, millis(high)?),
                    Some(_) => return Err(usage()),
                    None => FaultKind::Latency(millis(ms)?, millis(ms)?),
                },
                Some(("slow", ms)) => FaultKind::SlowBody(millis(ms)?),
                _ => match other.parse::<u16>() {
                    Ok(status) if (400..=599).contains(&status) => FaultKind::Status(status),
                    _ => return Err(usage()),
                },
            },
        };
        Ok(FaultRule { kind, when })
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
        for bad in ["503", "boom:0.1", "503:2", "reset@x", "200:0.1"] {
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
}
