//! The crate's layers import one way: `model` ← `config` ← `pipeline` ← `telemetry` ←
//! components (`receivers/`, `processors/`, `exporters/`) ← `runtime` ← `main` and the tools.
//! This reads every source file and fails on a `crate::` path that points up or sideways into
//! a later layer. Test code (files named `*tests.rs`, `test_data.rs`, and inline `mod tests`)
//! may reach anywhere.

use std::path::{Path, PathBuf};

/// A module's rank: it may name modules of its own rank or lower.
fn rank_of_module(name: &str) -> Option<usize> {
    Some(match name {
        "model" => 0,
        "config" => 1,
        "pipeline" => 2,
        "telemetry" => 3,
        "receivers" | "processors" | "exporters" => 4,
        "runtime" => 5,
        "workload" => 6,
        _ => return None,
    })
}

/// The rank of the layer a file belongs to, from its path in the repository.
fn rank_of_file(relative: &Path) -> usize {
    let mut parts = relative.iter().map(|p| p.to_str().unwrap_or_default());
    match (parts.next(), parts.next()) {
        (Some("src"), Some(module)) => {
            let module = module.trim_end_matches(".rs");
            // main.rs, lib.rs, bin/: the top.
            rank_of_module(module).unwrap_or(usize::MAX)
        }
        (Some(folder), _) => rank_of_module(folder).unwrap_or(usize::MAX),
        _ => usize::MAX,
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_test_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with("tests.rs") || name == "test_data.rs"
}

/// Every `crate::module` a file names outside its test code, with the line.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_test_module = false;
    let mut previous_was_cfg_test = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if previous_was_cfg_test && trimmed.starts_with("mod ") && trimmed.ends_with('{') {
            // Inline test modules sit at the end of a file by convention.
            in_test_module = true;
        }
        previous_was_cfg_test = trimmed.starts_with("#[cfg(test)]")
            || trimmed.starts_with("#[cfg(all(test")
            || (previous_was_cfg_test && trimmed.starts_with("#["));
        if in_test_module || trimmed.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let module: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::{a, b}` names several.
            if module.is_empty() && after.starts_with('{') {
                let inside = &after[1..after.find('}').unwrap_or(after.len())];
                for name in inside.split(',') {
                    let name = name.trim().split("::").next().unwrap_or_default();
                    found.push((index + 1, name.to_string()));
                }
            } else {
                found.push((index + 1, module));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn every_import_points_to_the_same_or_a_lower_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "receivers", "processors", "exporters"] {
        sources(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut violations = Vec::new();
    for file in &files {
        if is_test_file(file) {
            continue;
        }
        let relative = file.strip_prefix(root).unwrap();
        let own = rank_of_file(relative);
        let text = std::fs::read_to_string(file).unwrap();
        for (line, module) in crate_paths(&text) {
            let Some(target) = rank_of_module(&module) else {
                continue;
            };
            if target > own {
                violations.push(format!(
                    "{}:{line}: imports crate::{module}, a later layer",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that run against the layers (model ← config ← pipeline ← telemetry ← components ← runtime ← main):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    let text = "use crate::config::ComponentId;\nuse crate::{model, exporters::kafka};\n#[cfg(test)]\nmod tests {\n    use crate::runtime::Config;\n}\n";
    let names: Vec<String> = crate_paths(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(names, ["config", "model", "exporters"]);
    assert_eq!(rank_of_file(Path::new("src/model/signal.rs")), 0);
    assert_eq!(rank_of_file(Path::new("exporters/kafka/encode.rs")), 4);
    assert_eq!(rank_of_file(Path::new("src/main.rs")), usize::MAX);
}
