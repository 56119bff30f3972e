//! The shape of `src/`, held by a test so it stays true (docs/architecture.md,
//! "Layers"): no circle between the top-level modules, none between the
//! files of one module (a module's `mod.rs` is its interface and does not
//! count), and no file over 600 lines, in `src/` or `tests/`.
//!
//! Dependencies are read from the source text: every `crate::a::b` path and,
//! inside a module's directory, every `super::x` that names a sibling file.
//! Comments are skipped; a path that names no file or directory is an item,
//! not a module, and is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The longest file `src/` or `tests/` may hold.
const MAX_LINES: usize = 600;

/// Module name (a `/`-joined path under `src/`, "" for the crate root) to
/// the names of what it contains (files without `.rs`, and directories).
type Units = BTreeMap<String, BTreeSet<String>>;

/// A graph: for each node, the nodes it uses.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as a path relative to `src/` without `.rs`.
fn sources(dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(src()).unwrap().with_extension("");
            out.push(rel.to_str().unwrap().to_string());
        }
    }
}

/// What each module directory holds.
fn units(files: &[String]) -> Units {
    let mut units = Units::new();
    for file in files {
        let parts: Vec<&str> = file.split('/').collect();
        for depth in 0..parts.len() {
            let module = parts[..depth].join("/");
            let name = parts[depth];
            if name != "mod" && name != "lib" && name != "main" {
                units.entry(module).or_default().insert(name.to_string());
            }
        }
    }
    units
}

/// The code of a file with `//` comments (and doc comments) removed.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths after each occurrence of `prefix` (`crate::` or `super::`),
/// as lists of identifiers.
fn paths<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let path: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        found.push(path);
    }
    found
}

/// Adds, for `file`, an edge for each module it names: in the graph of
/// the top-level modules, and in the graph of each directory it sits in
/// (between that directory's units).
fn edges(file: &str, text: &str, units: &Units, graphs: &mut BTreeMap<String, Graph>) {
    let parts: Vec<&str> = file.split('/').collect();
    let code = code(text);
    // The module `file` is, as a path (a `mod.rs` is its directory's module).
    let own: Vec<&str> = match parts.last() {
        Some(&"mod") => parts[..parts.len() - 1].to_vec(),
        _ => parts.clone(),
    };
    let mut targets: Vec<Vec<&str>> = paths(&code, "crate::");
    if !own.is_empty() {
        let parent = &own[..own.len() - 1];
        for path in paths(&code, "super::") {
            targets.push(parent.iter().copied().chain(path).collect());
        }
    }
    for target in targets {
        // For each directory both paths share, the units they go through.
        for depth in 0..own.len().min(target.len()) {
            if own[..depth] != target[..depth] {
                break;
            }
            let module = own[..depth].join("/");
            let (from, to) = (own[depth], target[depth]);
            let is_unit = |name| units.get(&module).is_some_and(|u| u.contains(name));
            if from != to && is_unit(from) && is_unit(to) {
                let graph = graphs.entry(module).or_default();
                graph
                    .entry(from.to_string())
                    .or_default()
                    .insert(to.to_string());
            }
        }
    }
}

/// A circle in `graph`, if there is one, as the nodes along it.
fn circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, done, path) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

/// The graphs of `src/`: "" for the top-level modules, else one per
/// module directory.
fn graphs() -> BTreeMap<String, Graph> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let units = units(&files);
    let mut graphs = BTreeMap::new();
    for file in &files {
        let text = fs::read_to_string(src().join(format!("{file}.rs"))).unwrap();
        edges(file, &text, &units, &mut graphs);
    }
    graphs
}

#[test]
fn no_circle_between_modules_or_files() {
    let graphs = graphs();
    assert!(
        graphs[""]
            .get("mode")
            .is_some_and(|uses| uses.contains("submit")),
        "the reader of src/ found too little: {graphs:?}"
    );
    let circles: Vec<String> = graphs
        .iter()
        .filter_map(|(module, graph)| {
            let circle = circle(graph)?;
            let module = if module.is_empty() { "src" } else { module };
            Some(format!("{module}: {}", circle.join(" -> ")))
        })
        .collect();
    assert!(
        circles.is_empty(),
        "circles in src/:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_circle_finder_finds_circles() {
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
        .iter()
        .map(|(from, to)| (from.to_string(), BTreeSet::from([to.to_string()])))
        .collect();
    assert_eq!(circle(&graph).unwrap(), ["a", "b", "c", "a"]);
    let tree: Graph = [("a", "b"), ("b", "c"), ("d", "c")]
        .iter()
        .map(|(from, to)| (from.to_string(), BTreeSet::from([to.to_string()])))
        .collect();
    assert_eq!(circle(&tree), None);
}

#[test]
fn sibling_files_through_super_and_crate_paths_are_edges() {
    let files: Vec<String> = ["m/mod", "m/a", "m/b", "m/c/mod", "m/c/d", "top"]
        .map(String::from)
        .to_vec();
    let units = units(&files);
    let mut graphs = BTreeMap::new();
    edges("m/a", "use super::b::X; // super::c\n", &units, &mut graphs);
    edges(
        "m/c/d",
        "use crate::m::a::Y;\nuse crate::top;",
        &units,
        &mut graphs,
    );
    edges("m/mod", "use a::Z; use crate::m::b;", &units, &mut graphs);
    edges(
        "top",
        "fn f() { crate::m::b::g(); my_crate::x(); }",
        &units,
        &mut graphs,
    );
    let m = &graphs["m"];
    assert_eq!(m["a"], BTreeSet::from(["b".to_string()]));
    assert_eq!(m["c"], BTreeSet::from(["a".to_string()]));
    assert_eq!(m.len(), 2, "mod.rs is the interface: {m:?}");
    assert_eq!(graphs[""]["m"], BTreeSet::from(["top".to_string()]));
    assert_eq!(graphs[""]["top"], BTreeSet::from(["m".to_string()]));
}

/// Every `.rs` file under `dir`, as a full path.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    assert!(files.iter().any(|f| f.ends_with("tests/suite/layers.rs")));
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = fs::read_to_string(file).unwrap().lines().count();
            let shown = file.strip_prefix(root).unwrap().display();
            (lines > MAX_LINES).then(|| format!("{shown}: {lines} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}
