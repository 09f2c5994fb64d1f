//! Integration tests: one binary, shared helpers in `helpers`.

mod api_facts;
mod bad_input;
mod bench;
mod cli;
mod companies;
mod dump_v1;
mod dump_v2;
mod faults;
mod fuzz_values;
mod helpers;
mod hostile_server;
mod incremental;
mod object_store;
mod output;
mod python;
mod reference;
mod relations;
mod search_dump;
mod search_sim;
mod search_whole;
mod seaweed;
mod whole;
mod workspace;
