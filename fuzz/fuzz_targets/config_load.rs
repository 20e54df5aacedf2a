//! `Config::parse` (YAML, `${env:...}` substitution, validation) never panics on any text.
//! The first line of the input holds the environment: tab-separated values, and a variable
//! whose name has length `n` gets value number `n` modulo (values + 1), the last one
//! standing for "not set". The rest is the YAML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary::runtime::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (env_line, yaml) = text.split_once('\n').unwrap_or(("", text));
    let values: Vec<&str> = if env_line.is_empty() {
        Vec::new()
    } else {
        env_line.split('\t').collect()
    };
    let lookup = |name: &str| {
        values
            .get(name.len() % (values.len() + 1))
            .map(|v| v.to_string())
    };
    if let Ok(config) = Config::parse(yaml, lookup) {
        let _ = config.summary();
    }
});
