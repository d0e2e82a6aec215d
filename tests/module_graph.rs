//! No module of any crate imports a sibling that imports it back, directly or
//! around a circle (ARCHITECTURE.md: arrows point one way). Read from the
//! sources' `crate::` and `super::` paths outside their test modules; a child
//! using its parent's items is the module tree, not a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use orderflow_tests::repo_root;

/// A module's path in its crate: `["processor", "run"]`.
type ModulePath = Vec<String>;

/// The library and binary crates; every crate under `functions/` is added.
const CRATES: &[&str] = &[
    "batch", "orders", "embedded", "aws", "otel", "redis", "cli", "tests",
];

fn crates() -> Vec<String> {
    let mut crates: Vec<String> = CRATES.iter().map(|c| (*c).to_owned()).collect();
    for entry in std::fs::read_dir(repo_root().join("functions")).expect("a functions directory") {
        let name = entry.expect("a directory entry").file_name();
        crates.push(format!("functions/{}", name.to_string_lossy()));
    }
    crates
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_path(src: &Path, file: &Path) -> ModulePath {
    let relative = file
        .strip_prefix(src)
        .expect("a file under src")
        .with_extension("");
    let mut path: ModulePath = relative
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if matches!(path.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        path.pop();
    }
    path
}

/// The production text: without the test module (`#[cfg(test)]` then a
/// `mod ... {` ends the text), without other one-line `#[cfg(test)]` items
/// (`mod parity_tests;`, a test-only `use`), and without comment lines.
fn production(text: &str) -> String {
    let mut kept = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        if line.starts_with("#[cfg(test)]") {
            match lines.next() {
                Some(item) if item.trim_end().ends_with('{') => break,
                _ => continue,
            }
        }
        if !line.starts_with("//") {
            kept.push(line);
        }
    }
    kept.join("\n")
}

/// The first segment of every path after `crate::` or `super::` (groups
/// `{a, b::c}` give `a` and `b`), resolved to a module path.
fn references(module: &ModulePath, text: &str) -> BTreeSet<ModulePath> {
    let mut found = BTreeSet::new();
    for (keyword, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        for (at, _) in text.match_indices(keyword) {
            if text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue; // `mycrate::`
            }
            let rest = &text[at + keyword.len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => top_level_items(group),
                None => vec![rest],
            };
            for name in names {
                let name: String = name
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    let mut target = base.clone();
                    target.push(name);
                    found.insert(target);
                }
            }
        }
    }
    found
}

/// The items of a `{...}` group up to its closing brace, split at the commas
/// outside nested groups: `a::{b, c}, d}` gives `a::{b, c}` and `d`.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..at]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// Edges between sibling modules: `a::b` using `a::c::x` is `a::b -> a::c`.
fn sibling_edges(src: &Path) -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<ModulePath> = files.iter().map(|f| module_path(src, f)).collect();
    let mut edges: BTreeMap<ModulePath, BTreeSet<ModulePath>> = BTreeMap::new();
    for file in &files {
        let from = module_path(src, file);
        let text = production(&std::fs::read_to_string(file).expect("a readable source file"));
        for target in references(&from, &text) {
            let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common < from.len() && common < target.len() {
                let (a, b) = (from[..=common].to_vec(), target[..=common].to_vec());
                if modules.contains(&b) {
                    edges.entry(a).or_default().insert(b);
                }
            }
        }
    }
    edges
}

fn reaches(edges: &BTreeMap<ModulePath, BTreeSet<ModulePath>>, from: &ModulePath, to: &ModulePath) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.clone()];
    while let Some(module) = stack.pop() {
        if &module == to {
            return true;
        }
        if seen.insert(module.clone()) {
            stack.extend(edges.get(&module).into_iter().flatten().cloned());
        }
    }
    false
}

fn circles(src: &Path) -> Vec<String> {
    let edges = sibling_edges(src);
    let mut found = Vec::new();
    for (from, targets) in &edges {
        for to in targets {
            if reaches(&edges, to, from) {
                found.push(format!("{} -> {}", from.join("::"), to.join("::")));
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_sibling_that_imports_it_back() {
    let root = repo_root();
    let found: Vec<String> = crates()
        .into_iter()
        .flat_map(|krate| {
            circles(&root.join(&krate).join("src"))
                .into_iter()
                .map(move |circle| format!("{krate}: {circle}"))
        })
        .collect();
    assert!(found.is_empty(), "import circles: {found:#?}");
}

#[test]
fn a_circle_is_found() {
    let dir = std::env::temp_dir().join(format!("module-graph-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(dir.join("a/mod.rs"), "mod x;\nmod y;\nuse crate::b::Thing;\n").unwrap();
    std::fs::write(dir.join("a/x.rs"), "use super::{y::Y, Z};\n").unwrap();
    std::fs::write(dir.join("a/y.rs"), "pub struct Y;\n// use super::x;\n").unwrap();
    std::fs::write(
        dir.join("b.rs"),
        "pub struct Thing;\n#[cfg(test)]\nuse crate::a::X;\n",
    )
    .unwrap();
    assert!(
        circles(&dir).is_empty(),
        "one-way uses, a comment and a test module"
    );
    std::fs::write(dir.join("b.rs"), "use crate::a::x::X;\n").unwrap();
    assert_eq!(circles(&dir), ["a -> b", "b -> a"]);
    // A nested group: `b` is used through the group's second item.
    std::fs::write(dir.join("b.rs"), "use crate::{c::{D, E}, a::x::X};\n").unwrap();
    assert_eq!(circles(&dir), ["a -> b", "b -> a"]);
    // A test module declared first does not hide the production code after it.
    std::fs::write(
        dir.join("b.rs"),
        "#[cfg(test)]\nmod checks;\nuse crate::a::x::X;\n",
    )
    .unwrap();
    assert_eq!(circles(&dir), ["a -> b", "b -> a"]);
    std::fs::write(dir.join("b.rs"), "pub struct Thing;\n").unwrap();
    std::fs::write(dir.join("a/y.rs"), "use super::x::X;\n").unwrap();
    assert_eq!(circles(&dir), ["a::x -> a::y", "a::y -> a::x"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
