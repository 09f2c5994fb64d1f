//! `--config FILE`: options from a TOML file, by flag name. Every option already reads its
//! `INTERCOM_DUMP_*` variable, so the file's entries become those variables, under any already
//! set: flags win over the environment, the environment over the file, the file over the defaults.
//! Applied before the command line is parsed, while the process has one thread.

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

use super::Cli;

/// The file `--config FILE`, `--config=FILE` or `INTERCOM_DUMP_CONFIG` names, if any.
pub(crate) fn named(args: &[String]) -> Option<PathBuf> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("INTERCOM_DUMP_CONFIG").map(PathBuf::from)
}

/// The variables `path`'s entries stand for, with their values; an error names the file and the
/// entry.
pub(crate) fn read(path: &Path) -> Result<Vec<(String, String)>, String> {
    let shown = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read --config {shown}: {e}; give a readable TOML file"))?;
    let table: toml::Table =
        text.parse().map_err(|e: toml::de::Error| format!("--config {shown} is not TOML: {}", e.message()))?;
    let known = known_variables();
    let mut out = Vec::new();
    for (key, value) in table {
        let variable = format!("INTERCOM_DUMP_{}", key.replace('-', "_").to_uppercase());
        if !known.contains(&variable) || variable == "INTERCOM_DUMP_CONFIG" {
            return Err(format!(
                "--config {shown}: {key:?} is not an option; use the flag's name without dashes in front (max-file-rows = 100000)"
            ));
        }
        let value = match value {
            toml::Value::String(text) => text,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => return Err(format!("--config {shown}: {key} is a {}, not a string, number or boolean", other.type_str())),
        };
        out.push((variable, value));
    }
    Ok(out)
}

/// Every variable an option of any command reads.
fn known_variables() -> Vec<String> {
    let command = Cli::command();
    let mut out: Vec<String> = command.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into()).collect();
    for sub in command.get_subcommands() {
        out.extend(sub.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_names_options_by_their_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("intercom-dump.toml");
        std::fs::write(&file, "out = \"lake\"\nsearch-concurrency = 32\noverwrite = true\nmax_file_bytes = \"1GiB\"\n").unwrap();
        let mut entries = read(&file).unwrap();
        entries.sort();
        assert_eq!(
            entries,
            [
                ("INTERCOM_DUMP_MAX_FILE_BYTES".into(), "1GiB".into()),
                ("INTERCOM_DUMP_OUT".into(), "lake".into()),
                ("INTERCOM_DUMP_OVERWRITE".into(), "true".into()),
                ("INTERCOM_DUMP_SEARCH_CONCURRENCY".into(), "32".into()),
            ]
        );
        std::fs::write(&file, "shoe-size = 9\n").unwrap();
        assert!(read(&file).unwrap_err().contains("\"shoe-size\" is not an option"));
        std::fs::write(&file, "out = [1, 2]\n").unwrap();
        assert!(read(&file).unwrap_err().contains("not a string, number or boolean"));
        std::fs::write(&file, "out = \n").unwrap();
        assert!(read(&file).unwrap_err().contains("is not TOML"));
        assert!(read(&dir.path().join("missing.toml")).unwrap_err().contains("cannot read --config"));
        let args: Vec<String> = ["intercom-dump", "dump", "--config", "a.toml"].map(String::from).to_vec();
        assert_eq!(named(&args), Some(PathBuf::from("a.toml")));
        assert_eq!(named(&["x".into(), "--config=b.toml".into()]), Some(PathBuf::from("b.toml")));
    }
}
