//! `cargo xtask test`'s architecture check: in `fwxdp/src`, every module imports only from
//! its own folder or from the layers below it (docs/DESIGN.md, "Userspace layers"), and no
//! modules import each other in a cycle.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use anyhow::{Context as _, Result, bail};

/// The top-level modules of `fwxdp/src`, from the top layer down; a layer may import only
/// from the layers after it.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["service"],
    &["confirm"],
    &["metrics", "report"],
    &["attach"],
    &["state"],
    &["policy"],
    &["mode", "iface", "netlink", "process", "file", "error"],
];

/// A module path below the crate root, such as `["attach", "switch"]`.
type ModPath = Vec<String>;

/// Checks the layering and the absence of cycles in the crate at `src`.
pub(crate) fn check(src: &Path) -> Result<()> {
    let modules = modules(src)?;
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (path, file) in &modules {
        let text = fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        let targets = references(&code_of(&text))
            .into_iter()
            .filter_map(|reference| resolve(&reference, path, &modules))
            .filter(|target| target != path)
            .collect();
        edges.insert(path.clone(), targets);
    }
    let mut problems = Vec::new();
    for (from, targets) in &edges {
        for to in targets {
            if let (Some(a), Some(b)) = (layer_of(from), layer_of(to))
                && from[0] != to[0]
                && b <= a
            {
                problems.push(format!(
                    "{} imports {}, which is not below it",
                    from.join("::"),
                    to.join("::")
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
        problems.push(format!("import cycle: {}", names.join(" -> ")));
    }
    if !problems.is_empty() {
        bail!(
            "layering of {}:\n  {}",
            src.display(),
            problems.join("\n  ")
        );
    }
    println!("{} modules: imports point down, no cycles", modules.len());
    Ok(())
}

/// Every module file of the library (`main.rs` is the binary), by module path.
fn modules(src: &Path) -> Result<BTreeMap<ModPath, std::path::PathBuf>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![src.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(src) else {
                continue;
            };
            let Some(text) = relative.to_str().and_then(|r| r.strip_suffix(".rs")) else {
                continue;
            };
            if text == "main" {
                continue;
            }
            let mut parts: ModPath = text.split('/').map(str::to_owned).collect();
            if parts
                .last()
                .is_some_and(|last| last == "mod" || last == "lib")
            {
                parts.pop();
            }
            found.insert(parts, path);
        }
    }
    Ok(found)
}

/// Where a file's unit tests start; what they import does not count.
const TEST_MARK: &str = concat!("#[cfg", "(test)]");

/// The code of a file before its tests, without line comments.
fn code_of(text: &str) -> String {
    let before_tests = text.split(TEST_MARK).next().unwrap_or_default();
    before_tests
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a file names: each `use` tree expanded, and every `crate::`/`super::` path.
fn references(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let tree = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|prefix| trimmed.strip_prefix(prefix));
        if let Some(tree) = tree {
            let at = offset + (line.len() - tree.len());
            let end = code[at..].find(';').map_or(code.len(), |e| at + e);
            expand("", &code[at..end], &mut paths);
        }
        offset += line.len();
    }
    for start in ["crate::", "super::"] {
        for (at, _) in code.match_indices(start) {
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            // `super::{...}` heads a use tree, expanded above.
            if path.len() > start.len() {
                paths.push(path);
            }
        }
    }
    paths
}

/// Expands a `use` tree such as `a::{b, c::{d, e}}` into its paths, each after `prefix`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    let join = |rest: &str| {
        if prefix.is_empty() {
            rest.to_owned()
        } else {
            format!("{prefix}::{rest}")
        }
    };
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(join(path));
        return;
    };
    let head = join(tree[..open].trim_end_matches("::").trim());
    let inner = tree[open + 1..].trim_end().trim_end_matches('}');
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                expand(&head, &inner[start..i], out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner[start..].trim().is_empty() {
        expand(&head, &inner[start..], out);
    }
}

/// The module a path names, seen from the module `from`.
fn resolve(
    path: &str,
    from: &ModPath,
    modules: &BTreeMap<ModPath, std::path::PathBuf>,
) -> Option<ModPath> {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut base: ModPath = match *segments.peek()? {
        "crate" => {
            segments.next();
            Vec::new()
        }
        "super" | "self" => {
            // `super` of `a::b` (`a/b.rs` or `a/b/mod.rs`) is `a`.
            let mut base = from.clone();
            while let Some(&s) = segments.peek() {
                match s {
                    "super" => drop(base.pop()),
                    "self" => {}
                    _ => break,
                }
                segments.next();
            }
            base
        }
        first => {
            let mut child = from.clone();
            child.push(first.to_owned());
            if !modules.contains_key(&child) {
                return None;
            }
            from.clone()
        }
    };
    base.extend(segments.map(str::to_owned));
    (0..=base.len())
        .rev()
        .map(|n| base[..n].to_vec())
        .find(|candidate| modules.contains_key(candidate))
}

fn layer_of(module: &ModPath) -> Option<usize> {
    let top = module.first()?;
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top.as_str()))
}

/// A cycle in `edges`, if there is one.
fn find_cycle(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Option<Vec<ModPath>> {
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, edges, &mut done, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

/// Depth-first from `node`; `path` holds the modules on the way there.
fn visit<'a>(
    node: &'a ModPath,
    edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
    done: &mut BTreeSet<&'a ModPath>,
    path: &mut Vec<&'a ModPath>,
) -> Option<Vec<ModPath>> {
    if let Some(start) = path.iter().position(|m| *m == node) {
        let mut cycle: Vec<ModPath> = path[start..].iter().map(|m| (*m).clone()).collect();
        cycle.push(node.clone());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node);
    for next in edges.get(node).into_iter().flatten() {
        if let Some(cycle) = visit(next, edges, done, path) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(path: &str) -> ModPath {
        path.split("::").map(str::to_owned).collect()
    }

    #[test]
    fn finds_a_cycle_and_accepts_a_tree() {
        let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        edges.insert(module("a"), [module("b")].into());
        edges.insert(module("b"), [module("c")].into());
        edges.insert(module("c"), BTreeSet::new());
        assert_eq!(find_cycle(&edges), None);
        edges.insert(module("c"), [module("a")].into());
        assert!(find_cycle(&edges).is_some_and(|cycle| cycle.len() == 4));
    }

    #[test]
    fn resolves_super_and_crate_paths() {
        let modules: BTreeMap<ModPath, std::path::PathBuf> =
            ["", "attach", "attach::switch", "state"]
                .iter()
                .map(|m| {
                    let path = if m.is_empty() { Vec::new() } else { module(m) };
                    (path, std::path::PathBuf::new())
                })
                .collect();
        let from = module("attach::switch");
        assert_eq!(
            resolve("super::Thing", &from, &modules),
            Some(module("attach"))
        );
        assert_eq!(
            resolve("crate::state::PinDir", &from, &modules),
            Some(module("state"))
        );
        assert_eq!(resolve("std::io", &from, &modules), None);
    }

    #[test]
    fn the_real_tree_passes() {
        check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fwxdp/src")).unwrap();
    }

    #[test]
    fn expands_nested_use_trees() {
        let mut out = Vec::new();
        expand("", "crate::{a::{self, B}, c::D as E}", &mut out);
        assert_eq!(out, ["crate::a::self", "crate::a::B", "crate::c::D"]);
    }
}
