//! v1 users and leads, end to end, through the scroll and the page lists, with every rule the
//! documents state: restarts, expiry, the workspace's one scroll, a stalled writer, filters and
//! the 10,000 cap.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use intercom_dump::config::{Mode, PageSort, Source};
use intercom_dump::progress::Progress;
use intercom_dump::version::ApiVersion;
use intercom_dump::{DumpError, run_dump_with};
use intercom_sim::{ParamStyle, Role, SimConfig, Workspace};

use crate::helpers::*;

fn role_of(source: Source) -> Role {
    if source == Source::Users { Role::User } else { Role::Lead }
}

#[test]
fn users_and_leads_scroll_to_the_generators_records() {
    let (seed, n) = (31, 6_000);
    let ws = Workspace::new(seed, n);
    for (source, style) in [(Source::Users, ParamStyle::Rotating), (Source::Leads, ParamStyle::Fixed)] {
        let mut sim_config = SimConfig::new(seed, n, TOKEN);
        sim_config.scroll.param_style = style;
        let sim = simulator_with(sim_config);
        let out = tempfile::tempdir().unwrap();
        let summary = dump(v1_config(&sim, out.path(), source, Mode::Scroll)).unwrap();
        assert_eq!((summary.mode, summary.restarts, summary.duplicates_dropped), ("scroll", 0, 0));
        let ids = output_ids(out.path(), source.name());
        assert_exact_ids(&ids, ids_of_role(&ws, role_of(source)));

        // Values, field by field, for a sample.
        let batch = read_parquet(&parquet_files(&out.path().join(source.name())));
        let index: HashMap<String, u64> = (0..n).map(|i| (ws.contact_id(i), i)).collect();
        let emails = batch.column_by_name("email").unwrap().as_string::<i32>();
        let sessions = batch.column_by_name("session_count").unwrap().as_primitive::<Int64Type>();
        let created = timestamp_seconds(&batch, "created_at");
        let anonymous = batch.column_by_name("anonymous").unwrap().as_boolean();
        let user_ids = batch.column_by_name("user_id").unwrap().as_string::<i32>();
        for row in (0..ids.len()).step_by(53) {
            let record = ws.v1_record(index[&ids[row]]);
            assert_eq!(emails.is_valid(row).then(|| emails.value(row)), record.email.as_deref());
            assert_eq!(sessions.value(row), record.session_count);
            assert_eq!(created[row], Some(record.created_at));
            assert_eq!(anonymous.value(row), record.anonymous);
            assert_eq!(user_ids.is_valid(row).then(|| user_ids.value(row)), record.user_id.as_deref());
        }
    }
}

#[test]
fn the_restart_500_at_three_pages_loses_and_repeats_nothing() {
    let (seed, n) = (32, 5_000);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.scroll.restart_at = BTreeSet::from([3, 10, 18]);
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let summary = dump(v1_config(&sim, out.path(), Source::Users, Mode::Scroll)).unwrap();
    assert_eq!(summary.restarts, 3);
    assert!(summary.duplicates_dropped > 0, "restarted scrolls serve the first records again");
    assert_exact_ids(&output_ids(out.path(), "users"), ids_of_role(&Workspace::new(seed, n), Role::User));
}

#[test]
fn a_forced_expiry_opens_a_fresh_scroll() {
    let (seed, n) = (33, 5_000);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.scroll.expire_at = BTreeSet::from([6]);
    sim_config.scroll.param_style = ParamStyle::Fixed;
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let summary = dump(v1_config(&sim, out.path(), Source::Leads, Mode::Scroll)).unwrap();
    assert_eq!(summary.restarts, 1);
    assert_exact_ids(&output_ids(out.path(), "leads"), ids_of_role(&Workspace::new(seed, n), Role::Lead));
}

#[test]
fn too_many_restarts_stop_the_run_and_publish_nothing() {
    let mut sim_config = SimConfig::new(34, 3_000, TOKEN);
    sim_config.scroll.restart_at = (2..40).collect();
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let mut config = v1_config(&sim, out.path(), Source::Users, Mode::Scroll);
    config.listing.max_restarts = 2;
    let error = dump(config).unwrap_err();
    assert!(matches!(error, DumpError::TooManyRestarts { restarts: 2, .. }), "{error}");
    assert!(error.to_string().contains("--max-restarts"), "{error}");
    assert!(parquet_files(out.path()).is_empty());
}

#[test]
fn another_clients_scroll_is_waited_out() {
    let (seed, n) = (35, 3_000);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.scroll.foreign_scroll = true;
    sim_config.scroll.idle_expiry = Duration::from_secs(2);
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let mut config = v1_config(&sim, out.path(), Source::Users, Mode::Scroll);
    config.listing.scroll_lock_poll = Duration::from_millis(250);
    config.listing.scroll_lock_wait = Duration::from_secs(20);
    let summary = dump(config).unwrap();
    // The foreign scroll expires 2 s after the run starts; polled every 250 ms, the lock refuses
    // several opens first (one refusal would mean no polling, dozens a busy loop).
    let refused = sim.state().refused_scroll_opens();
    assert!((4..=12).contains(&refused), "it polled while the lock was held: {refused} opens refused");
    assert!(summary.elapsed >= Duration::from_secs(1), "it waited for the foreign scroll to expire");
    assert_exact_ids(&output_ids(out.path(), "users"), ids_of_role(&Workspace::new(seed, n), Role::User));
}

#[test]
fn a_scroll_lock_held_past_the_bound_fails_clearly() {
    let mut sim_config = SimConfig::new(36, 1_000, TOKEN);
    sim_config.scroll.foreign_scroll = true;
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let mut config = v1_config(&sim, out.path(), Source::Leads, Mode::Scroll);
    config.listing.scroll_lock_poll = Duration::from_millis(200);
    config.listing.scroll_lock_wait = Duration::from_secs(1);
    let error = dump(config).unwrap_err();
    assert!(matches!(error, DumpError::ScrollLocked { .. }), "{error}");
    assert!(error.to_string().contains("scroll_exists") && error.to_string().contains("--scroll-lock-wait"), "{error}");
    assert!(parquet_files(out.path()).is_empty());
}

#[test]
fn a_writer_stalled_past_the_expiry_does_not_lose_the_scroll() {
    let (seed, n) = (37, 8_000);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.scroll.idle_expiry = Duration::from_secs(1);
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let mut config = v1_config(&sim, out.path(), Source::Users, Mode::Scroll);
    // 40 pages at once, then 4 a second: the scroll lives on through the writer's stall.
    config.api.rate_limit_per_minute = 240;
    config.pipeline.max_buffer_bytes = 2 * 1024 * 1024;
    let stall = Duration::from_secs(3);
    let summary = run_dump_with(config, Arc::new(Progress::default()), stalled_writer(stall)).unwrap();
    assert_eq!(summary.restarts, 0, "the scroll never idled");
    assert!(summary.spilled_bytes > 0, "pages waited on disk, not in memory");
    assert_exact_ids(&output_ids(out.path(), "users"), ids_of_role(&Workspace::new(seed, n), Role::User));
}

#[test]
fn page_lists_honour_every_filter() {
    let (seed, n) = (38, 3_000);
    let ws = Workspace::new(seed, n);
    let sim = simulator(seed, n);
    let run = |source: Source, edit: &dyn Fn(&mut intercom_dump::Config)| {
        let out = tempfile::tempdir().unwrap();
        let mut config = v1_config(&sim, out.path(), source, Mode::Pages);
        edit(&mut config);
        let summary = dump(config).unwrap();
        assert_eq!(summary.mode, "pages");
        output_ids(out.path(), source.name())
    };
    let users: Vec<u64> = (0..n).filter(|&i| ws.role(i) == Role::User).collect();

    // Default order: newest first, and every user exactly once.
    let ids = run(Source::Users, &|_| {});
    let newest_first: Vec<String> = users.iter().rev().map(|&i| ws.contact_id(i)).collect();
    assert_eq!(ids, newest_first);

    // Sorted by updated_at, ascending.
    let ids = run(Source::Users, &|c| {
        c.listing.query.sort = Some(PageSort::UpdatedAt);
        c.listing.query.order = Some(intercom_dump::config::SortOrder::Asc);
    });
    let index: HashMap<String, u64> = (0..n).map(|i| (ws.contact_id(i), i)).collect();
    assert_exact_ids(&ids, ids_of_role(&ws, Role::User));
    assert!(ids.windows(2).all(|w| ws.updated_at(index[&w[0]]) <= ws.updated_at(index[&w[1]])));

    // Created in the last two days.
    let ids = run(Source::Leads, &|c| c.listing.query.created_since_days = Some(2));
    let recent = (0..n).filter(|&i| ws.role(i) == Role::Lead && ws.created_at(i) >= ws.now() - 2 * 86_400);
    assert_exact_ids(&ids, recent.map(|i| ws.contact_id(i)));

    // By email, and by phone.
    let user = *users.iter().find(|&&i| ws.phone(i).is_some()).unwrap();
    let email = ws.contact(user).email.unwrap();
    assert_eq!(run(Source::Users, &|c| c.listing.query.email = Some(email.clone())), vec![ws.contact_id(user)]);
    let phone = ws.phone(user).unwrap();
    assert_eq!(run(Source::Users, &|c| c.listing.query.phone = Some(phone.clone())), vec![ws.contact_id(user)]);
    assert!(run(Source::Leads, &|c| c.listing.query.phone = Some(phone.clone())).is_empty(), "a user is not a lead");
}

#[test]
fn the_page_cap_is_known_before_it_bites_and_auto_scrolls_instead() {
    // About 11,200 users: more than paging reaches.
    let (seed, n) = (39, 16_000);
    let ws = Workspace::new(seed, n);
    let sim = simulator(seed, n);
    let out = tempfile::tempdir().unwrap();
    let error = dump(v1_config(&sim, out.path(), Source::Users, Mode::Pages)).unwrap_err();
    assert!(matches!(error, DumpError::PastPageCap { cap: 10_000, .. }), "{error}");
    assert!(error.to_string().contains("--mode scroll"), "{error}");
    assert_eq!(sim.requests(), 1, "one page told it all");

    let summary = dump(v1_config(&sim, out.path(), Source::Users, Mode::Auto)).unwrap();
    assert_eq!(summary.mode, "scroll");
    assert_exact_ids(&output_ids(out.path(), "users"), ids_of_role(&ws, Role::User));

    // The leads (about 4,800) fit: auto pages them.
    let summary = dump(v1_config(&sim, out.path(), Source::Leads, Mode::Auto)).unwrap();
    assert_eq!(summary.mode, "pages");
    assert_exact_ids(&output_ids(out.path(), "leads"), ids_of_role(&ws, Role::Lead));
}

#[test]
fn v1_endpoints_refuse_v2_versions_and_the_client_says_which_to_use() {
    let sim = simulator(40, 100);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, body) = runtime.block_on(async {
        let answer = http_client()
            .get(format!("{}/users/scroll", sim.base_url()))
            .bearer_auth(TOKEN)
            .header("Intercom-Version", "2.14")
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    });
    assert_eq!(status, 400);
    assert!(body.contains("intercom_version_invalid"), "{body}");

    let out = tempfile::tempdir().unwrap();
    let mut config = v1_config(&sim, out.path(), Source::Users, Mode::Scroll);
    config.api.version = ApiVersion::V2(14);
    let error = dump(config).unwrap_err();
    assert!(error.to_string().contains("--api-version 1.4"), "{error}");
}

#[test]
fn a_stalled_writer_pauses_the_page_list_instead_of_spilling() {
    let (seed, n) = (43, 9_000);
    let sim = simulator(seed, n);
    let out = tempfile::tempdir().unwrap();
    let mut config = v1_config(&sim, out.path(), Source::Users, Mode::Pages);
    config.pipeline.max_buffer_bytes = 512 * 1024;
    config.pipeline.batch_rows = 300;
    let summary = run_dump_with(config, Arc::new(Progress::default()), stalled_writer(Duration::from_secs(2))).unwrap();
    assert_eq!(summary.mode, "pages");
    assert_eq!(summary.spilled_bytes, 0, "a page list does not expire: it pauses, nothing goes to disk");
    // It asks for pages only while there is room, at most `page_concurrency` (4) at once: the
    // budget is passed by the pages in flight when it filled, no more.
    let in_flight = 4 * summary.largest_page_bytes;
    assert!(
        summary.peak_buffered_bytes <= 512 * 1024 + in_flight,
        "held {} bytes of pages at once against a budget of 512 KiB and pages of at most {}",
        summary.peak_buffered_bytes,
        summary.largest_page_bytes
    );
    assert_exact_ids(&output_ids(out.path(), "users"), ids_of_role(&Workspace::new(seed, n), Role::User));
}
