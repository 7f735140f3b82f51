//! The runtime's modules import one way: each module uses only modules
//! below it in [`LAYERS`], so there is no circle of imports and the crate
//! reads bottom-up (the module map in the crate docs, "How a call
//! travels", lists the same order).

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom to top. A module may use `crate::m` only for an `m` listed
/// before it (`cluster_pipeline` is a child of `pipeline`).
const LAYERS: &[&str] = &[
    "script",
    "function",
    "args",
    "connection",
    "node",
    "error",
    "handle",
    "metrics",
    "trace",
    "registry",
    "topology",
    "state",
    "policy",
    "span",
    "call",
    "drive",
    "invocation",
    "local",
    "cluster",
    "cluster_async",
    "cache",
    "pipeline",
    "cluster_pipeline",
    "pool",
    "lib",
];

/// The modules `source` names as `crate::m`, outside comments.
fn uses(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let name: String = rest[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
            rest = &rest[at + "crate::".len()..];
        }
    }
    out
}

#[test]
fn every_module_imports_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<String> = std::fs::read_dir(&src)
        .expect("src")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    files.sort();
    let mut upward = Vec::new();
    for module in &files {
        let Some(level) = LAYERS.iter().position(|m| m == module) else {
            panic!("src/{module}.rs is not in LAYERS: place it in the module order");
        };
        let source = std::fs::read_to_string(src.join(format!("{module}.rs"))).expect("read");
        for used in uses(&source) {
            match LAYERS.iter().position(|m| *m == used) {
                Some(at) if at < level => {}
                // Items of the crate root (re-exports, `crate::Ran`) are
                // not a module.
                None if used != "lib" && !files.contains(&used) => {}
                _ if used == *module => {}
                _ => upward.push(format!("{module} uses {used}")),
            }
        }
    }
    assert!(upward.is_empty(), "imports running upward: {upward:#?}");
    assert_eq!(
        files.len(),
        LAYERS.len(),
        "LAYERS lists a module that is gone: {LAYERS:?} vs {files:?}"
    );
}
