//! The runtime's layers import only downwards (DESIGN.md, "Layers").
//!
//! Reads every source file of the runtime package and the `crate::` paths it names, and
//! fails on a path that runs up a layer. The layers, bottom up:
//! - kernel: task sources, queues, scheduler, clock, timers, lifecycle data, trace hooks;
//! - actors: the event-loop actor (generic over its host), the supervision decision, the
//!   broadcast registry; they never name a handle type;
//! - handles: the realm's state, listeners, `MessageEvent`, dispatch, `Scope`,
//!   `WindowProxy`, ports, broadcast channels, workers, the runtime's shared state,
//!   carrying out supervision; the host of the event loop;
//! - api: `Browser`, `WindowHandle`; the RPC layer (`rpc`), built on the handles;
//! - ops: observing (`EventLog`), trace export;
//! - the crate root, which declares and re-exports them all.
//!
//! It also holds the size rule: no source file of the workspace over 700 lines.

use std::fs;
use std::path::Path;

/// Layer of each module of `actors/src` (lower imports nothing higher).
fn layer_of(module: &str) -> Option<u8> {
    Some(match module {
        "kernel" | "id_hash" => 0,
        "event_loop" | "supervisor" | "broadcast_registry" => 1,
        "realm" | "realm_actor" | "dispatch" | "event" | "scope" | "window" | "port" | "worker"
        | "shared_worker" | "broadcast" | "global_scope" | "supervision" | "runtime"
        | "observer" => 2,
        "browser" | "rpc" => 3,
        "observe" | "trace" | "simulation" | "sim_export" => 4,
        "lib" => 5,
        // Items re-exported at the crate root (`crate::Browser`), by where they live.
        "Browser" | "WindowHandle" => 3,
        "EventLog" | "Simulation" => 4,
        m if m.starts_with(|c: char| c.is_ascii_uppercase()) => 2,
        _ => return None,
    })
}

/// The modules a source text names through `crate::` paths.
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
            rest = after;
        }
        // `use crate::{a, b::c}` groups.
        if let Some(i) = code.find("use crate::{") {
            let group = &code[i + "use crate::{".len()..];
            for part in group.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        }
    }
    out
}

fn module_of(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The violations in `text`, a file of module `module`.
fn violations(module: &str, text: &str) -> Vec<String> {
    let Some(own) = layer_of(module) else {
        return vec![format!("module {module} has no layer: add it to layer_of")];
    };
    crate_paths(text)
        .into_iter()
        .filter_map(|m| match layer_of(&m) {
            Some(l) if l > own => Some(format!("{module} (layer {own}) imports {m} (layer {l})")),
            None if m != "core" && m != "prelude" => {
                Some(format!("{module} names crate::{m}, which has no layer"))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn imports_only_go_down() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&root, &mut all);
    assert!(all.len() > 10, "found the runtime's sources");
    let mut bad = Vec::new();
    for f in &all {
        let module = module_of(f, &root);
        let text = fs::read_to_string(f).unwrap();
        bad.extend(violations(&module, &text));
    }
    bad.sort();
    bad.dedup();
    assert!(bad.is_empty(), "imports up a layer:\n{}", bad.join("\n"));
}

#[test]
fn the_check_catches_an_upward_import() {
    let v = violations("kernel", "use crate::realm::RealmInner;\n");
    assert_eq!(v, ["kernel (layer 0) imports realm (layer 2)"]);
    let v = violations(
        "event_loop",
        "use crate::{kernel::TaskQueues, scope::Scope};\n",
    );
    assert_eq!(v, ["event_loop (layer 1) imports scope (layer 2)"]);
    let v = violations("realm", "fn f(b: &crate::Browser) {}\n");
    assert_eq!(v, ["realm (layer 2) imports Browser (layer 3)"]);
    let v = violations("browser", "use crate::observe::EventLog;\n");
    assert_eq!(v, ["browser (layer 3) imports observe (layer 4)"]);
    assert!(violations("observe", "use crate::browser::WindowHandle;\n").is_empty());
    assert!(violations("realm", "use crate::kernel::TimerId;\n").is_empty());
    // Comments do not count.
    assert!(violations("kernel", "// see crate::realm\n").is_empty());
}

/// Every `.rs` file under `dir`, with its line count.
fn line_counts(dir: &Path) -> Vec<(std::path::PathBuf, usize)> {
    let mut all = Vec::new();
    files(dir, &mut all);
    all.into_iter()
        .map(|f| {
            let n = fs::read_to_string(&f).unwrap().lines().count();
            (f, n)
        })
        .collect()
}

#[test]
fn no_source_file_is_over_700_lines() {
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = runtime.parent().unwrap();
    let mut long: Vec<String> = [
        runtime.join("src"),
        workspace.join("src"),
        workspace.join("bridge/src"),
        workspace.join("bridge/tests"),
    ]
    .iter()
    .flat_map(|d| line_counts(d))
    .filter(|(_, n)| *n > 700)
    .map(|(f, n)| format!("{}: {n} lines", f.display()))
    .collect();
    long.sort();
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}
