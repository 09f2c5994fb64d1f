//! The `intercom-dump` command: `dump` (a real workspace), `demo` (the embedded simulator,
//! dumped), `sim` (the simulator alone), `bench` (throughput against the simulator). The
//! arguments and the commands are in `cli`; here errors become one line on stderr and a
//! documented exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the dump is complete and published |
//! | 1 | the run stopped for an unexpected reason |
//! | 2 | bad arguments or configuration |
//! | 3 | the API refused the token or its permissions (401, 403) |
//! | 4 | the API failed otherwise (version, retries exhausted, unexpected answer), or the listing was not whole (`--strict`: a search unlike the list's count) |
//! | 5 | the output could not be written or published, or a checkpoint cannot be resumed |
//! | 6 | a page could not be decoded |

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser as _;
use cli::{Cli, Command, LogFormat, commands};
use intercom_dump::DumpError;
use intercom_dump::error::ConfigError;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = cli::config_file::named(&args) {
        match cli::config_file::read(&path) {
            Ok(entries) => {
                for (variable, value) in entries {
                    if std::env::var_os(&variable).is_none() {
                        // SAFETY: nothing else runs yet: no thread reads the environment meanwhile.
                        unsafe { std::env::set_var(&variable, value) };
                    }
                }
            }
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let json = cli.log_format == LogFormat::Json;
    if json {
        logs.json().with_current_span(false).init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
    if matches!(cli.command, Command::Dump(_) | Command::Demo(_))
        && let Err(error) = intercom_dump::interrupt::install()
    {
        eprintln!("error: cannot install the signal handlers: {error}");
        return ExitCode::from(1);
    }
    let result = match cli.command {
        Command::Dump(args) => commands::dump(args),
        Command::Check(args) => commands::check(args),
        Command::Demo(args) => commands::demo(args),
        Command::Sim(args) => commands::sim(args),
        Command::Bench(args) => commands::bench(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "intercom-dump",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
            .render(&mut std::io::stdout())
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = exit_code(&error);
            if json {
                let line = serde_json::json!({"level": "ERROR", "message": one_line(&error), "exit_code": code});
                eprintln!("{line}");
            } else {
                eprintln!("error: {}", one_line(&error));
            }
            ExitCode::from(code)
        }
    }
}

fn exit_code(error: &anyhow::Error) -> u8 {
    if let Some(error) = error.downcast_ref::<DumpError>() {
        return dump_exit_code(error);
    }
    if error.downcast_ref::<ConfigError>().is_some() {
        return 2;
    }
    1
}

/// A run's error's code; `--source all`: that of the table that failed.
fn dump_exit_code(error: &DumpError) -> u8 {
    match error {
        DumpError::Table { error, .. } => dump_exit_code(error),
        DumpError::Config(_) => 2,
        DumpError::Api(api) | DumpError::Fetch { error: api, .. } | DumpError::DataAttributes(api) if api.is_auth() => 3,
        DumpError::Fetch { .. } | DumpError::DataAttributes(_) | DumpError::ResumeRefused(_) => 4,
        DumpError::Api(_) => 4,
        DumpError::Sink(_) => 5,
        DumpError::Decode(_) => 6,
        DumpError::Aborted(_) => 1,
        DumpError::Interrupted { signal } => intercom_dump::interrupt::exit_code(*signal) as u8,
        DumpError::PastPageCap { .. } => 2,
        DumpError::Reconcile(_) => 4,
        DumpError::ScrollLocked { .. }
        | DumpError::TooManyRestarts { .. }
        | DumpError::Loop(_)
        | DumpError::Incomplete { .. }
        | DumpError::RelationsIncomplete { .. }
        | DumpError::CountDiffers { .. }
        | DumpError::CountUnavailable { .. } => 4,
        DumpError::BadCheckpoint(_) => 5,
    }
}

/// The error and its causes on one line.
fn one_line(error: &anyhow::Error) -> String {
    error.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": ").replace('\n', " ")
}
