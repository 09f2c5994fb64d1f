//! The v1 shapes of the generated workspace: contact `i` as the v1 user or lead it is. Both are
//! rendered from the same v2 contact, so the two API versions describe one person.

use serde::Serialize;

use crate::generator::{AddressableList, Contact, CustomAttributes, Role, Salt, Workspace, uuid_like};

/// A v1 user (`"type": "user"`) or lead (`"type": "contact"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct V1Record {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub user_id: Option<String>,
    pub anonymous: bool,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub pseudonym: Option<String>,
    pub avatar: V1Avatar,
    pub app_id: String,
    pub companies: V1List<V1Company>,
    pub location_data: LocationData,
    pub last_request_at: Option<i64>,
    pub last_seen_ip: Option<String>,
    pub created_at: i64,
    pub remote_created_at: Option<i64>,
    pub signed_up_at: Option<i64>,
    pub updated_at: i64,
    pub session_count: i64,
    pub social_profiles: V1List<V1SocialProfile>,
    pub unsubscribed_from_emails: bool,
    pub marked_email_as_spam: bool,
    pub has_hard_bounced: bool,
    pub user_agent_data: Option<String>,
    pub tags: V1List<V1Tag>,
    pub segments: V1List<V1Segment>,
    pub custom_attributes: CustomAttributes,
    pub owner_id: Option<i64>,
    pub referrer: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_content: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_source: Option<String>,
    pub utm_term: Option<String>,
    pub do_not_track: Option<bool>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<crate::generator::UnknownFields>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct V1Avatar {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub image_url: Option<String>,
}

/// `{"type": "tag.list", "tags": [...]}` and its kin: the items sit under a key named like the list.
#[derive(Debug, Clone, PartialEq)]
pub struct V1List<T> {
    pub kind: &'static str,
    pub key: &'static str,
    pub items: Vec<T>,
}

impl<T: Serialize> Serialize for V1List<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", self.kind)?;
        map.serialize_entry(self.key, &self.items)?;
        map.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct V1Company {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub company_id: String,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct V1SocialProfile {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub username: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct V1Tag {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct V1Segment {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocationData {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub city_name: Option<String>,
    pub continent_code: Option<String>,
    pub country_name: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub postal_code: Option<String>,
    pub region_name: Option<String>,
    pub timezone: Option<String>,
    pub country_code: Option<String>,
}

impl Workspace {
    /// Contact `i` in its v1 shape: a user or a lead, as its role says.
    pub fn v1_record(&self, i: u64) -> V1Record {
        v1_from_contact(self, i, self.contact(i))
    }

    /// The v1 records at `indices`, as a JSON array.
    pub fn write_v1_json(&self, indices: impl IntoIterator<Item = u64>, out: &mut Vec<u8>) {
        self.write_json_array(crate::generator::RecordShape::V1, indices, out);
    }
}

fn v1_from_contact(ws: &Workspace, i: u64, c: Contact) -> V1Record {
    let mut rng = ws.stream(i, Salt::V1);
    let role = if c.role == "user" { Role::User } else { Role::Lead };
    let lead = role == Role::Lead;
    let tags = list("tag.list", "tags", &c.tags, |t| V1Tag { kind: "tag", name: format!("tag-{}", t.id), id: t.id.clone() });
    let companies = list("company.list", "companies", &c.companies, |co| V1Company {
        kind: "company",
        company_id: format!("cmp-{}", co.id),
        name: format!("Company {}", co.id),
        id: co.id.clone(),
    });
    let social_profiles = V1List {
        kind: "social_profile.list",
        key: "social_profiles",
        items: c
            .social_profiles
            .data
            .iter()
            .map(|p| V1SocialProfile {
                kind: "social_profile",
                name: p.name.clone(),
                username: p.url.rsplit('/').next().unwrap_or_default().to_string(),
                url: p.url.clone(),
            })
            .collect(),
    };
    let segments = V1List {
        kind: "segment.list",
        key: "segments",
        items: (0..rng.below(4)).map(|_| V1Segment { kind: "segment", id: format!("{:024x}", rng.next_u64()) }).collect(),
    };
    let located = c.location.city.is_some();
    let location_data = LocationData {
        kind: "location_data",
        latitude: located.then(|| (rng.below(180_000) as f64 - 90_000.0) / 1_000.0),
        longitude: located.then(|| (rng.below(360_000) as f64 - 180_000.0) / 1_000.0),
        postal_code: located.then(|| format!("{:05}", rng.below(100_000))),
        timezone: located.then(|| "Europe/Dublin".to_string()),
        city_name: c.location.city,
        continent_code: c.location.continent_code,
        country_name: c.location.country,
        region_name: c.location.region,
        country_code: c.location.country_code,
    };
    let user_agent_data = c.browser.as_ref().map(|b| {
        format!("Mozilla/5.0 ({}) {b}/{}", c.os.as_deref().unwrap_or("X11"), c.browser_version.as_deref().unwrap_or("1.0"))
    });
    let extras = c.extras.as_ref();
    let lead_user_id = {
        let (a, b) = (rng.next_u64(), rng.next_u64());
        uuid_like(a, b)
    };
    V1Record {
        kind: if lead { "contact" } else { "user" },
        user_id: if lead { Some(lead_user_id) } else { c.external_id.clone() },
        anonymous: lead,
        pseudonym: lead
            .then(|| format!("{} Camel from {}", ["Lime", "Azure", "Coral", "Amber"][rng.below(4) as usize], "Dublin")),
        avatar: V1Avatar { kind: "avatar", image_url: c.avatar.as_ref().and_then(|a| a.image_url.clone()) },
        app_id: c.workspace_id.clone(),
        last_request_at: c.last_seen_at,
        last_seen_ip: c
            .last_seen_at
            .map(|_| format!("{}.{}.{}.{}", 1 + rng.below(223), rng.below(256), rng.below(256), rng.below(256))),
        remote_created_at: (!lead && rng.chance(30)).then(|| c.created_at - rng.below(1_000_000) as i64),
        session_count: rng.below(500) as i64,
        owner_id: c.owner_id.as_ref().map(|o| o.value()),
        referrer: extras.and_then(|e| e.referrer.clone()),
        utm_campaign: extras.and_then(|e| e.utm_campaign.clone()),
        utm_content: extras.and_then(|e| e.utm_content.clone()),
        utm_medium: extras.and_then(|e| e.utm_medium.clone()),
        utm_source: extras.and_then(|e| e.utm_source.clone()),
        utm_term: extras.and_then(|e| e.utm_term.clone()),
        do_not_track: None,
        unknown: c.unknown,
        id: c.id,
        email: c.email,
        phone: c.phone,
        name: c.name,
        companies,
        location_data,
        created_at: c.created_at,
        signed_up_at: c.signed_up_at,
        updated_at: c.updated_at,
        social_profiles,
        unsubscribed_from_emails: c.unsubscribed_from_emails,
        marked_email_as_spam: c.marked_email_as_spam,
        has_hard_bounced: c.has_hard_bounced,
        user_agent_data,
        tags,
        segments,
        custom_attributes: c.custom_attributes,
    }
}

fn list<T>(
    kind: &'static str,
    key: &'static str,
    v2: &AddressableList,
    item: impl Fn(&crate::generator::Addressable) -> T,
) -> V1List<T> {
    V1List { kind, key, items: v2.data.iter().map(item).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_describe_the_same_person() {
        let ws = Workspace::new(13, 500);
        for i in 0..500 {
            let (v1, v2) = (ws.v1_record(i), ws.contact(i));
            assert_eq!(
                (v1.id.as_str(), v1.email.as_deref(), v1.created_at),
                (v2.id.as_str(), v2.email.as_deref(), v2.created_at)
            );
            assert_eq!(v1.kind == "user", v2.role == "user");
            assert_eq!(v1.anonymous, v2.role == "lead");
            assert_eq!(v1.last_request_at, v2.last_seen_at);
            assert_eq!(v1.tags.items.len(), v2.tags.data.len());
        }
    }

    #[test]
    fn renders_the_documented_v1_shape() {
        let ws = Workspace::new(13, 50);
        let lead = (0..50).find(|&i| ws.role(i) == Role::Lead).unwrap();
        let value = serde_json::to_value(ws.v1_record(lead)).unwrap();
        assert_eq!(value["type"], "contact");
        assert_eq!(value["tags"]["type"], "tag.list");
        assert!(value["tags"]["tags"].is_array());
        assert_eq!(value["location_data"]["type"], "location_data");
        for key in ["user_id", "anonymous", "pseudonym", "session_count", "last_request_at", "user_agent_data", "segments"] {
            assert!(value.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn emails_and_phones_lead_back_to_their_contact() {
        let ws = Workspace::new(13, 400);
        for i in 0..400 {
            let c = ws.contact(i);
            if let Some(email) = &c.email {
                assert_eq!(Workspace::index_of_email(email), Some(i));
            }
            if let Some(phone) = &c.phone {
                assert_eq!(Workspace::index_of_phone(phone), Some(i));
            }
        }
    }
}
