//! The binary's own modules: what the command line is (arguments), and the commands that are not
//! a dump (the bench).

pub(crate) mod bench;
