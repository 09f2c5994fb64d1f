//! The actors of a run, one file each, with their messages: [`coordinator`] (holds the listing,
//! paces everything), [`fetcher`] (HTTP), [`parser`] (JSON to Arrow, on a `SyncArbiter`) and
//! [`writer`] (Arrow to files), and [`relater`] (a contacts dump's relation tables, complete). They stay thin: the work is done by the plain types of
//! `listing`, `api`, `schema` and `sink`, which they own.
//!
//! An actor that panics takes the run down with it ([`stop_on_panic`], from each one's `Drop`):
//! actix's arbiters swallow a panicking handler's task, and the others would wait forever for
//! the messages it would have sent.

pub(crate) mod coordinator;
pub(crate) mod fetcher;
pub(crate) mod parser;
pub(crate) mod relater;
pub(crate) mod writer;

/// Called from an actor's `Drop`: when it is dropped by a panic, stops the run's system, which
/// then ends without a verdict and fails (the panic's message is on stderr).
pub(crate) fn stop_on_panic(actor: &str) {
    if std::thread::panicking() {
        tracing::error!("the {actor} panicked: the run stops");
        actix::System::current().stop();
    }
}

#[cfg(test)]
mod tests {
    use actix::prelude::*;

    struct Fragile;

    impl Actor for Fragile {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Break;

    impl Handler<Break> for Fragile {
        type Result = ();

        fn handle(&mut self, _: Break, _: &mut Self::Context) {
            panic!("a handler's bug");
        }
    }

    impl Drop for Fragile {
        fn drop(&mut self) {
            super::stop_on_panic("fragile actor");
        }
    }

    #[test]
    fn an_actor_that_panics_stops_its_system_instead_of_leaving_it_waiting() {
        let system = System::new();
        // On an arbiter of its own, as the Fetcher, Writer and Relater are.
        let arbiter = Arbiter::new();
        system.block_on(async {
            let fragile = Fragile::start_in_arbiter(&arbiter.handle(), |_| Fragile);
            fragile.do_send(Break);
        });
        // Without the stop, this would wait forever.
        assert!(system.run().is_ok());
        arbiter.stop();
        let _ = arbiter.join();
    }
}
