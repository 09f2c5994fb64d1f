//! SIGINT and SIGTERM end a run cleanly: the run's actor system is stopped, [`crate::run_dump`]
//! returns [`crate::DumpError::Interrupted`], and the unpublished staging directory goes with the
//! run (a dump already being published finishes publishing first: that step is atomic and short).
//! A second signal ends the process at once; the next run into the same `--out` removes what it
//! left. SIGXFSZ (a file-size limit, `ulimit -f`) is caught so that the write fails with EFBIG and
//! the run reports it like a full disk, instead of the process dying without a word.
//!
//! Only a binary calls [`install`]: a library user keeps its own signal handling.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM, SIGXFSZ};

static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The actor systems of the runs going on (`--source all` runs a table a system).
static RUNNING: Mutex<Vec<actix::System>> = Mutex::new(Vec::new());

/// Starts the thread that turns SIGINT and SIGTERM into a clean stop.
pub fn install() -> std::io::Result<()> {
    // Any handler replaces the default action (end the process); the write then fails with EFBIG.
    signal_hook::flag::register(SIGXFSZ, std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)))?;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        for signal in signals.forever() {
            if SIGNAL.swap(signal, Ordering::SeqCst) != 0 {
                eprintln!("error: {} again: stopping at once", name(signal));
                std::process::exit(exit_code(signal));
            }
            for system in RUNNING.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                system.stop();
            }
        }
    })?;
    Ok(())
}

/// The signal that asked the process to stop, if one did.
pub fn received() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// A run's actor system, stopped when a signal comes, until [`ended`].
pub(crate) fn started(system: actix::System) {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).push(system);
}

/// The actor system `id` has ended.
pub(crate) fn ended(id: usize) {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).retain(|system| system.id() != id);
}

pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: i32) -> i32 {
    128 + signal
}
