//! The commands: `dump`, `demo`, `sim` and `bench`, from their parsed arguments to a printed
//! summary (or an error for `main` to map to its exit code).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use intercom_dump::config::{Config, Token};
use intercom_dump::error::ConfigError;
use intercom_dump::progress::Progress;
use intercom_dump::version::ApiVersion;
use intercom_dump::{DumpError, Summary};
use intercom_sim::{FaultPlan, FaultPlanFile, Prerender, RecordShape, SimConfig, SimHandle};

use super::bench::{BenchOptions, run_bench};
use super::bench_all::{WorkspaceBench, workspace_run};
use super::{BenchArgs, BenchTarget, DemoArgs, DumpArgs, OutputArgs, SimArgs, SourceArg};

/// `dump`: a real workspace.
pub(crate) fn dump(args: DumpArgs) -> anyhow::Result<()> {
    check_summary_path(&args.run.output)?;
    let no_progress = args.run.no_progress;
    let all = args.run.listing.source() == SourceArg::All;
    let (config, output) = dump_config(args)?;
    run_and_report(config, all, no_progress, &output)
}

/// Runs one source, or every table with `all`, and reports what was done.
fn run_and_report(config: Config, all: bool, no_progress: bool, output: &OutputArgs) -> anyhow::Result<()> {
    if all {
        intercom_dump::workspace::validate(&config)?;
        let summary = with_progress(no_progress, |progress| intercom_dump::workspace::run_workspace(config, progress))?;
        print_workspace(&summary);
        return write_summary_json(&summary, output);
    }
    let summary = with_progress(no_progress, |progress| intercom_dump::run_dump(config, progress))?;
    print_summary(&summary);
    write_summary_json(&summary, output)
}

/// The configuration `dump`'s arguments give (and its output options, for the report).
fn dump_config(args: DumpArgs) -> anyhow::Result<(Config, OutputArgs)> {
    let token = match &args.token_file {
        Some(path) => token_from_file(path)?,
        None => Token::new(std::env::var("INTERCOM_TOKEN").unwrap_or_default())?,
    };
    let base_url = args.base_url.clone().unwrap_or_else(|| args.region.base_url().to_string());
    let config = args.run.config(&base_url, token, args.allow_insecure_http, &args.out)?;
    Ok((config, args.run.output))
}

/// `check`: what a dump with these options would meet and do, without dumping.
pub(crate) fn check(args: DumpArgs) -> anyhow::Result<()> {
    let all = args.run.listing.source() == SourceArg::All;
    let (mut config, _) = dump_config(args)?;
    if all {
        intercom_dump::workspace::validate(&config)?;
        config = intercom_dump::workspace::table_config(&config, intercom_dump::workspace::TABLES[0])?;
    }
    let report = intercom_dump::check::check(&config)?;
    println!("ok: the token, the region and API version {} answer", report.api_version);
    if all {
        println!(
            "  --source all: every table's options are valid; what follows is the contacts, the table that sets the run's length"
        );
    }
    if report.records_at_least {
        println!("  {}: at least {} (the page list counts only those with users)", report.source, report.records);
    } else {
        println!("  {}: {} announced", report.source, report.records);
    }
    println!("  custom attributes declared: {} (a typed column each)", report.declared_attributes);
    println!("  --out {}: writable", config.output.dir.display());
    println!(
        "  a dump would list them by the {} ({} requests; {} ms a round trip): about {} at --rate-limit {}/min",
        report.mode,
        report.requests,
        report.round_trip_ms,
        report.estimate(),
        config.api.rate_limit_per_minute
    );
    Ok(())
}

/// `demo`: the embedded simulator, dumped.
pub(crate) fn demo(mut args: DemoArgs) -> anyhow::Result<()> {
    // The demo's job is the whole workspace unless told otherwise.
    args.run.listing.source.get_or_insert(SourceArg::All);
    let token = format!("demo-{:016x}", intercom_sim::generator::mix64(std::process::id() as u64 ^ args.seed));
    let mut sim_config = SimConfig::new(args.seed, args.contacts, token.clone());
    // The simulator enforces the same limit the client keeps to.
    sim_config.limit_per_window = (args.run.api.rate_limit / 6).max(1);
    apply_fault_plan(args.fault_plan.as_deref(), &mut sim_config)?;
    let sim = SimHandle::spawn(sim_config, 0).context("cannot start the simulator on 127.0.0.1")?;
    eprintln!("simulator: {} contacts (seed {}) at {}", args.contacts, args.seed, sim.base_url());
    let config = args.run.config(&sim.base_url(), Token::new(token)?, false, &args.out.to_string_lossy())?;
    let all = args.run.listing.source() == SourceArg::All;
    let tables: Vec<&str> = if all { intercom_dump::workspace::table_names() } else { vec![config.source.name()] };
    for table in tables {
        refuse_foreign_dump(&config.output.dir, table)?;
    }
    let config = Config { output: intercom_dump::config::OutputConfig { overwrite: true, ..config.output.clone() }, ..config };
    run_and_report(config, all, args.run.no_progress, &args.run.output)
}

/// The demo replaces its own earlier dumps, and refuses any other: a dump whose manifest names an
/// API that is not a simulator on this machine (loopback) is someone's data.
fn refuse_foreign_dump(out: &std::path::Path, table: &str) -> Result<(), ConfigError> {
    let path = out.join(table);
    let Ok(text) = std::fs::read(path.join("_manifest.json")) else { return Ok(()) };
    let manifest: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    let base_url = manifest["base_url"].as_str().unwrap_or("an unknown API").to_string();
    let ours =
        url::Url::parse(&base_url).ok().and_then(|u| u.host_str().map(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]"));
    if ours == Some(true) {
        return Ok(());
    }
    Err(ConfigError::DemoOut { path, base_url })
}

/// Writes the summary as JSON where asked.
fn write_summary_json(summary: &impl serde::Serialize, output: &OutputArgs) -> anyhow::Result<()> {
    if let Some(path) = &output.summary_json {
        let json = serde_json::to_vec_pretty(summary).context("cannot serialise the summary")?;
        // The dump is whole and published: a summary that cannot be written is worth a warning,
        // not a failed run (its place was checked before the run started).
        if let Err(error) = std::fs::write(path, json) {
            tracing::warn!("the dump is published, but --summary-json {} could not be written: {error}", path.display());
        }
    }
    Ok(())
}

/// Refuses, before anything is fetched, a `--summary-json` that could not be written.
fn check_summary_path(output: &OutputArgs) -> Result<(), ConfigError> {
    let Some(path) = &output.summary_json else { return Ok(()) };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let probe = dir.join(format!(".intercom-dump-summary-probe-{}", std::process::id()));
    let writable = std::fs::write(&probe, b"").is_ok() && !path.is_dir();
    let _ = std::fs::remove_file(&probe);
    if writable {
        return Ok(());
    }
    Err(ConfigError::SummaryPath { path: path.clone() })
}

/// The token from `--token-file`: the first line that is not blank, without a byte-order mark;
/// its errors name the file, not `INTERCOM_TOKEN`.
fn token_from_file(path: &std::path::Path) -> Result<Token, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::TokenFile { path: path.to_path_buf(), reason: e.to_string() })?;
    let line = text.trim_start_matches('\u{feff}').lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    Token::new(line).map_err(|e| {
        let reason = match e {
            ConfigError::MissingToken => "it holds no token".to_string(),
            ConfigError::MalformedToken => "its first line has spaces or control characters besides the token".to_string(),
            other => other.to_string(),
        };
        ConfigError::TokenFile { path: path.to_path_buf(), reason }
    })
}

/// Adds a `--fault-plan` file's faults to a simulator's configuration.
fn apply_fault_plan(path: Option<&std::path::Path>, config: &mut SimConfig) -> Result<(), ConfigError> {
    let Some(path) = path else { return Ok(()) };
    FaultPlanFile::load(path).map_err(ConfigError::FaultPlan)?.apply(config);
    Ok(())
}

/// `sim`: the simulator alone, until Ctrl-C.
pub(crate) fn sim(args: SimArgs) -> anyhow::Result<()> {
    let evolve = args.evolution().map_err(|e| anyhow::anyhow!("--evolve-*: {e}"))?;
    let mut config = SimConfig::new(args.seed, args.contacts, args.token);
    config.evolve = evolve;
    config.limit_per_window = args.limit_per_window;
    config.default_version = args.default_version.parse::<ApiVersion>()?.to_string();
    config.next_shape = args.next_shape;
    config.scroll.param_style = args.scroll_param;
    config.scroll.idle_expiry = Duration::from_secs(args.scroll_expiry);
    config.scroll.restart_at = args.scroll_restart_at.into_iter().collect();
    config.scroll.expire_at = args.scroll_expire_at.into_iter().collect();
    config.scroll.foreign_scroll = args.foreign_scroll;
    if let Some(companies) = args.companies {
        config.companies = companies;
    }
    config.company_scroll = intercom_sim::scroll::ScrollSettings {
        param_style: args.scroll_param,
        idle_expiry: config.scroll.idle_expiry,
        restart_at: args.companies_scroll_restart_at.into_iter().collect(),
        expire_at: args.companies_scroll_expire_at.into_iter().collect(),
        foreign_scroll: args.foreign_companies_scroll,
    };
    config.long_lists_percent = args.long_lists;
    config.page_cap = args.page_cap;
    config.faults = FaultPlan { seed: args.fault_seed, rules: args.faults };
    apply_fault_plan(args.fault_plan.as_deref(), &mut config)?;
    config.misdeclared_attribute = args.misdeclare_attribute;
    config.gzip = !args.no_gzip;
    config.prerender = args.prerender_dir.map(|dir| Prerender::new(dir, vec![RecordShape::ContactV2, RecordShape::V1]));
    config.past_cap = args.past_cap;
    config.search = intercom_sim::search::SearchSettings {
        dates: args.search_dates,
        utc_offset_secs: args.timezone,
        index_lag: args.search_index_lag,
    };
    config.imported_percent = args.created_skew;
    config.live_updates_per_sec = args.live_updates;
    let handle = SimHandle::spawn(config, args.port).with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let workspace = handle.state().workspace();
    let companies = workspace.companies;
    let evolved = args.evolve.map_or(String::new(), |steps| format!(" after {steps} steps of change"));
    eprintln!(
        "simulator: {} contacts, {companies} companies (seed {}){evolved} at {} — Ctrl-C stops it",
        workspace.count(),
        args.seed,
        handle.base_url()
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(tokio::signal::ctrl_c())?;
    drop(handle);
    Ok(())
}

/// `bench`: throughput against the embedded simulator.
pub(crate) fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let mut options = BenchOptions::new(args.out);
    options.contacts = args.contacts;
    options.seed = args.seed;
    options.modes = args.modes.iter().filter_map(|m| if let BenchTarget::Listing(m) = m { Some(*m) } else { None }).collect();
    options.latency = args.latency_ms.map(Duration::from_millis);
    options.latency_pages = args.latency_pages;
    options.created_skew = args.created_skew;
    options.sample_records = args.sample_records;
    options.prerender = !args.live_sim;
    options.gzip = args.gzip;
    args.files.apply(&mut options.output)?;
    options.pipeline = args.pipeline.config();
    if let Some(url) = &args.store_out {
        let store = intercom_dump::config::OutputConfig::at(url, args.storage_options.clone())?;
        if store.storage.is_none() {
            let reason = "--store-out compares object storage with --out's local disk".to_string();
            return Err(intercom_dump::error::ConfigError::OutUrl { url: url.clone(), reason }.into());
        }
        options.store_out = Some(store);
    }
    let report = if options.modes.is_empty() { None } else { Some(run_bench(&options)?) };
    let all = if args.modes.contains(&BenchTarget::All) {
        let bench = WorkspaceBench {
            contacts: args.contacts,
            companies: args.companies,
            long_lists_percent: args.long_lists,
            latency: options.latency.unwrap_or_default(),
        };
        Some(workspace_run(&bench, args.seed, options.prerender, &options.output, &options.pipeline, &options.out)?)
    } else {
        None
    };
    if args.json {
        let mut json = match &report {
            Some(report) => serde_json::to_value(report).context("cannot serialise the report")?,
            None => serde_json::json!({}),
        };
        if let Some(all) = &all {
            json["all"] = serde_json::to_value(all).context("cannot serialise the report")?;
        }
        println!("{}", serde_json::to_string_pretty(&json).context("cannot serialise the report")?);
    } else {
        if let Some(report) = &report {
            print!("{}", report.table());
        }
        if let Some(all) = &all {
            print!("{}", all.table());
        }
    }
    Ok(())
}

/// Runs `run` with a progress bar on a terminal (unless `no_progress`), following the records
/// `run` counts in the progress it is given.
fn with_progress<T>(no_progress: bool, run: impl FnOnce(Arc<Progress>) -> Result<T, DumpError>) -> Result<T, DumpError> {
    let progress = Arc::new(Progress::default());
    let show = !no_progress && std::io::stderr().is_terminal();
    let finished = Arc::new(AtomicBool::new(false));
    let bar_thread = show.then(|| {
        let (progress, finished) = (progress.clone(), finished.clone());
        std::thread::spawn(move || {
            // A spinner with the count and rate while the total is unknown (a scroll announces
            // none), a bar with an ETA once it is known.
            let spinner = indicatif::ProgressStyle::with_template("{spinner} {human_pos} records, {rate}")
                .expect("a valid template")
                .with_key("rate", per_sec);
            let bar_style =
                indicatif::ProgressStyle::with_template("{spinner} {human_pos}/{human_len} records [{bar:30}] {rate}, eta {eta}")
                    .expect("a valid template")
                    .with_key("rate", per_sec)
                    .progress_chars("=> ");
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(spinner);
            let mut known = false;
            while !finished.load(Ordering::Relaxed) {
                let total = progress.total.load(Ordering::Relaxed);
                if total > 0 && !known {
                    known = true;
                    bar.set_style(bar_style.clone());
                }
                if known {
                    bar.set_length(total);
                }
                bar.set_position(progress.records.load(Ordering::Relaxed));
                bar.tick();
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        })
    });
    let result = run(progress);
    finished.store(true, Ordering::Relaxed);
    if let Some(thread) = bar_thread {
        let _ = thread.join();
    }
    result
}

/// The bar's rate in whole records a second.
fn per_sec(state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write) {
    let _ = write!(out, "{:.0}/s", state.per_sec());
}

/// A `--source all` run: a line a table, then the run's pace against the rate limit.
fn print_workspace(summary: &intercom_dump::workspace::WorkspaceSummary) {
    let mb = |bytes: u64| bytes as f64 / 1_000_000.0;
    println!("{:<20} {:>9} {:>8} {:>6} {:>8} {:>9}  whole", "table", "records", "listing", "files", "MB", "requests");
    for table in &summary.tables {
        let whole = match (table.announced, table.complete) {
            (Some(a), true) if a.min == a.max => format!("{} announced", a.min),
            (Some(a), true) => format!("{} to {} announced", a.min, a.max),
            (Some(a), false) => format!("INCOMPLETE: {} to {} announced (--allow-incomplete)", a.min, a.max),
            (None, _) => "to the listing's end (no count announced)".into(),
        };
        println!(
            "{:<20} {:>9} {:>8} {:>6} {:>8.1} {:>9}  {whole}",
            table.source,
            table.records,
            table.mode,
            table.files.len(),
            mb(table.file_bytes),
            table.api.requests
        );
        for relation in &table.relations {
            let c = relation.counts;
            let whole = if c.is_whole() { String::new() } else { format!(", INCOMPLETE: {} contacts short", c.contacts_short) };
            println!(
                "{:<20} {:>9} {:>8} {:>6} {:>8.1} {:>9}  {} announced ({} lists fetched whole){whole}",
                relation.table,
                relation.records,
                "relation",
                relation.files.len(),
                mb(relation.file_bytes),
                "",
                c.announced,
                c.fetched_lists
            );
        }
    }
    println!(
        "all {} tables in {} in {:.2} s: {} requests, {:.1} a second ({:.0}% of the rate limit, {:.1}/s); {} ties them together",
        summary.tables.iter().map(|t| 1 + t.relations.len()).sum::<usize>(),
        summary.output_dir.display(),
        summary.seconds,
        summary.requests,
        summary.requests_per_second,
        100.0 * summary.requests_per_second / summary.rate_limit_per_second,
        summary.rate_limit_per_second,
        intercom_dump::workspace::WORKSPACE_RECORD
    );
}

fn print_summary(summary: &Summary) {
    let mb = |bytes: u64| bytes as f64 / 1_000_000.0;
    println!(
        "dumped {} {} ({}) in {:.2} s: {:.0} records/s",
        summary.records,
        summary.source,
        summary.mode,
        summary.elapsed.as_secs_f64(),
        summary.records_per_second
    );
    println!("  pages:   {} ({:.1} MB of JSON)", summary.pages, mb(summary.page_bytes));
    println!("  files:   {} ({:.1} MB) in {}", summary.files.len(), mb(summary.file_bytes), summary.output_dir.display());
    println!(
        "  api:     {} requests, {} retries, {} rate-limited ({:.1} s waited)",
        summary.api.requests,
        summary.api.retries,
        summary.api.rate_limited,
        summary.api.waited_ms as f64 / 1000.0
    );
    if !summary.typed_custom_attributes.is_empty() {
        println!(
            "  custom attributes: {} typed columns, {} values did not fit their declared type (kept in custom_attributes)",
            summary.typed_custom_attributes.len(),
            summary.custom_attribute_misfits
        );
    }
    let whole = match (summary.announced, summary.complete) {
        (Some(a), true) if a.min == a.max => format!("{} written of {} announced", summary.records, a.min),
        (Some(a), true) => format!("{} written, {} to {} announced", summary.records, a.min, a.max),
        (Some(a), false) => {
            format!("INCOMPLETE: {} written, {} to {} announced (--allow-incomplete)", summary.records, a.min, a.max)
        }
        (None, _) => format!("{} written to the listing's end (it announces no count)", summary.records),
    };
    println!("  whole:   {whole}");
    let time = |t: Option<i64>| t.map_or("none".to_string(), intercom_dump::sink::manifest::rfc3339);
    if summary.changed_since.is_some() {
        let tombstones =
            summary.tombstones.map_or(String::new(), |n| format!("; {n} tombstones for contacts gone (--reconcile)"));
        println!("  changes: updated after {} (the table's mark less --lookback){tombstones}", time(summary.changed_since));
    }
    if summary.mark.is_some() {
        println!("  mark:    {} (the newest updated_at the table holds; --incremental goes on from there)", time(summary.mark));
    }
    match summary.listed {
        Some(listed) if listed == summary.records => println!("  listed:  GET /contacts announces {listed}: the same"),
        Some(listed) => println!(
            "  listed:  GET /contacts announces {listed}, {} {} than written (search misses merged contacts and those created in the last minutes; --strict refuses this)",
            listed.abs_diff(summary.records),
            if listed > summary.records { "more" } else { "fewer" }
        ),
        None => {}
    }
    println!(
        "  exactly-once: {} repeats dropped, {} ids remembered ({:.1} MB), {} scroll restarts, {:.1} MB spilled to disk",
        summary.duplicates_dropped,
        summary.ids_remembered,
        mb(summary.dedupe_bytes),
        summary.restarts,
        mb(summary.spilled_bytes)
    );
    if !summary.repairs.is_empty() {
        let fields: Vec<String> = summary.repairs.fields.iter().map(|(field, n)| format!("{field} {n}")).collect();
        println!(
            "  repairs: values kept in _extra (not fitting their column): {}; text replaced by U+FFFD: {}",
            if fields.is_empty() { "none".to_string() } else { fields.join(", ") },
            summary.repairs.replaced_text
        );
    }
    for relation in &summary.relations {
        let c = relation.counts;
        println!(
            "  {}: {} links of {} announced{} ({} lists fetched whole), {} files ({:.1} MB) in {}",
            relation.table,
            relation.records,
            c.announced,
            if c.is_whole() {
                String::new()
            } else {
                format!(", INCOMPLETE: {} contacts short (--allow-incomplete)", c.contacts_short)
            },
            c.fetched_lists,
            relation.files.len(),
            mb(relation.file_bytes),
            relation.output_dir.display()
        );
    }
}
