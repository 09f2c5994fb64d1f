//! The simulator's reference lists (API 2.x, unpaged): `GET /tags`, `GET /segments`,
//! `GET /admins` and `GET /teams`, each a pure function of the seed, consistent with the rest of
//! the workspace (companies carry these tags and segments; teams list these admins).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::generator::{Workspace, mix64};
use crate::server::{Admitted, SimError, SimState, admit, json_response};

pub const SEGMENT_NAMES: [&str; 6] = ["Active", "New", "Slipping away", "All users", "All leads", "VIP"];
pub const ADMINS: u64 = 12;
pub const TEAMS: u64 = 3;

impl Workspace {
    /// Admin `a`'s id: digits, as Intercom's.
    pub fn admin_id(&self, a: u64) -> u64 {
        990_000_000 + mix64(self.seed ^ a ^ 0xad) % 9_000_000
    }

    /// Team `t`'s admins: every third admin, from the `t`-th.
    pub fn team_admins(&self, t: u64) -> Vec<u64> {
        (0..ADMINS).filter(|a| a % TEAMS == t).collect()
    }

    pub fn team_id(&self, t: u64) -> u64 {
        5_000_000 + mix64(self.seed ^ t ^ 0x7ea) % 1_000_000
    }

    pub fn tags_json(&self) -> serde_json::Value {
        let data: Vec<_> = (0..crate::relations::TAGS)
            .map(|k| {
                let (id, name) = self.tag(k);
                json!({"type": "tag", "id": id, "name": name})
            })
            .collect();
        json!({"type": "list", "data": data})
    }

    pub fn segments_json(&self) -> serde_json::Value {
        let segments: Vec<_> = (0..SEGMENT_NAMES.len() as u64)
            .map(|s| {
                let created_at = 1_500_000_000 + s as i64 * 86_400;
                json!({
                    "type": "segment", "id": self.segment_id(s), "name": SEGMENT_NAMES[s as usize],
                    "created_at": created_at, "updated_at": created_at + 3_600,
                    "person_type": if s == 4 { "lead" } else { "user" },
                })
            })
            .collect();
        // Real answers carry an empty `pages` object.
        json!({"type": "segment.list", "segments": segments, "pages": {}})
    }

    pub fn admins_json(&self) -> serde_json::Value {
        let admins: Vec<_> = (0..ADMINS)
            .map(|a| {
                json!({
                    "type": "admin", "id": self.admin_id(a).to_string(), "name": format!("Admin {a}"),
                    "email": format!("admin{a}@example.com"), "email_verified": a % 4 != 3,
                    "job_title": if a % 2 == 0 { json!("Support") } else { json!(null) },
                    "away_mode_enabled": a % 5 == 0, "away_mode_reassign": false, "has_inbox_seat": a % 6 != 5,
                    "team_ids": [self.team_id(a % TEAMS)],
                    "avatar": {"type": "avatar", "image_url": format!("https://static.intercomassets.com/avatars/{a}.png")},
                })
            })
            .collect();
        json!({"type": "admin.list", "admins": admins})
    }

    pub fn teams_json(&self) -> serde_json::Value {
        let teams: Vec<_> = (0..TEAMS)
            .map(|t| {
                let admins: Vec<u64> = self.team_admins(t).into_iter().map(|a| self.admin_id(a)).collect();
                let name = ["Support", "Sales", "Success"][t as usize];
                json!({
                    "type": "team", "id": self.team_id(t).to_string(), "name": name,
                    "admin_ids": admins,
                    "admin_priority_level": {"primary_admin_ids": &admins[..1], "secondary_admin_ids": &admins[1..]},
                })
            })
            .collect();
        json!({"type": "team.list", "teams": teams})
    }
}

async fn answer(
    state: &SimState,
    headers: &HeaderMap,
    body: impl Fn(&Workspace) -> serde_json::Value,
) -> Result<Response, SimError> {
    let Admitted { rate, .. } = admit(state, headers)?;
    let body = serde_json::to_vec(&body(&state.workspace())).expect("JSON values serialise");
    Ok(json_response(StatusCode::OK, body, Some(rate)))
}

/// `GET /tags` (connectors also call it to check a token).
pub(crate) async fn list_tags(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Result<Response, SimError> {
    answer(&state, &headers, Workspace::tags_json).await
}

/// `GET /segments`.
pub(crate) async fn list_segments(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Result<Response, SimError> {
    answer(&state, &headers, Workspace::segments_json).await
}

/// `GET /admins`.
pub(crate) async fn list_admins(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Result<Response, SimError> {
    answer(&state, &headers, Workspace::admins_json).await
}

/// `GET /teams`.
pub(crate) async fn list_teams(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Result<Response, SimError> {
    answer(&state, &headers, Workspace::teams_json).await
}
