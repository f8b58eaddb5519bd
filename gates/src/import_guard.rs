//! The Stage-1 import guard's checks, on data: the denylist (`fixtures/import-guard/denylist.toml`),
//! the crate graph from `cargo metadata`, the module graph of `core/src`, and the mapped files of a
//! process (`/proc/<pid>/maps`). Each check returns the violations it found, each naming the crate,
//! module or library at fault and how Stage 1 reaches it; the `import-guard` gate runs them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;

use crate::module_graph::ModuleGraph;

/// The denylist's default place, relative to the workspace root.
pub const DENYLIST_PATH: &str = "fixtures/import-guard/denylist.toml";

/// The package whose normal dependencies make up the Stage-1 binary's closure.
pub const CORE_PACKAGE: &str = "autocapture-core";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameRules {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    prefixes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LibraryRules {
    prefixes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleRules {
    stage1_roots: Vec<String>,
    heavy: Vec<String>,
}

/// What Stage 1 must not reach.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denylist {
    crates: NameRules,
    libraries: LibraryRules,
    modules: ModuleRules,
}

fn normalise(name: &str) -> String {
    name.replace('_', "-").to_ascii_lowercase()
}

impl Denylist {
    pub fn load(path: &Path) -> anyhow::Result<Denylist> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let list: Denylist =
            toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
        anyhow::ensure!(
            !list.crates.names.is_empty() || !list.crates.prefixes.is_empty(),
            "{}: the crate denylist is empty",
            path.display()
        );
        anyhow::ensure!(
            !list.libraries.prefixes.is_empty(),
            "{}: the library denylist is empty",
            path.display()
        );
        anyhow::ensure!(
            !list.modules.stage1_roots.is_empty() && !list.modules.heavy.is_empty(),
            "{}: the module lists are empty",
            path.display()
        );
        Ok(list)
    }

    /// The rule that denies crate `name` (`name ort`, `prefix candle`), if any.
    pub fn crate_rule(&self, name: &str) -> Option<String> {
        let name = normalise(name);
        if let Some(hit) = self.crates.names.iter().find(|n| normalise(n) == name) {
            return Some(format!("name {hit}"));
        }
        self.crates
            .prefixes
            .iter()
            .find(|p| name.starts_with(&normalise(p)))
            .map(|p| format!("prefix {p}"))
    }

    /// The prefix that denies a mapped file, judged by its basename.
    pub fn library_rule(&self, path: &str) -> Option<&str> {
        let base = path.rsplit('/').next().unwrap_or(path);
        self.libraries
            .prefixes
            .iter()
            .find(|p| base.starts_with(p.as_str()))
            .map(String::as_str)
    }

    pub fn stage1_roots(&self) -> &[String] {
        &self.modules.stage1_roots
    }

    pub fn heavy_modules(&self) -> &[String] {
        &self.modules.heavy
    }
}

/// `cargo metadata --format-version 1` of the workspace at `root`, run as a child process.
pub fn cargo_metadata(root: &Path) -> anyhow::Result<Value> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(&cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(root.join("Cargo.toml"))
        .output()
        .with_context(|| format!("run {} metadata", PathBuf::from(&cargo).display()))?;
    anyhow::ensure!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    serde_json::from_slice(&output.stdout).context("parse the cargo metadata output")
}

/// The normal-dependency closure of one package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrateClosure {
    /// Every crate in the closure (names), the root aside.
    pub crates: BTreeSet<String>,
    /// `crate via a -> b -> crate (rule)` for each denylisted crate.
    pub violations: Vec<String>,
}

/// Walks the normal dependencies (`dep_kinds` with a null kind; build and dev dependencies are
/// not linked into the binary) of `package` in a `cargo metadata` document and names each
/// denylisted crate with the chain that pulls it in.
pub fn crate_closure(
    metadata: &Value,
    package: &str,
    denylist: &Denylist,
) -> anyhow::Result<CrateClosure> {
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata: no packages array")?;
    let names: BTreeMap<&str, (&str, &str)> = packages
        .iter()
        .filter_map(|p| {
            Some((
                p["id"].as_str()?,
                (p["name"].as_str()?, p["version"].as_str().unwrap_or("?")),
            ))
        })
        .collect();
    let root = packages
        .iter()
        .find(|p| p["name"].as_str() == Some(package))
        .and_then(|p| p["id"].as_str())
        .with_context(|| format!("cargo metadata: no package {package}"))?;
    let nodes: BTreeMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .context("cargo metadata: no resolve graph (was it run with --no-deps?)")?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([root]);
    let mut order = Vec::new();
    while let Some(current) = queue.pop_front() {
        let node = nodes
            .get(current)
            .with_context(|| format!("cargo metadata: {current} has no resolve node"))?;
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()));
            let Some(id) = dep["pkg"].as_str() else {
                continue;
            };
            if !normal || id == root || previous.contains_key(id) {
                continue;
            }
            previous.insert(id, current);
            order.push(id);
            queue.push_back(id);
        }
    }
    let name_of = |id: &str| {
        names
            .get(id)
            .map(|(n, _)| (*n).to_owned())
            .unwrap_or_else(|| id.to_owned())
    };
    let mut closure = CrateClosure::default();
    for id in order {
        let name = name_of(id);
        if let Some(rule) = denylist.crate_rule(&name) {
            let mut chain = vec![name.clone()];
            let mut at = id;
            while let Some(&before) = previous.get(at) {
                chain.push(name_of(before));
                at = before;
            }
            chain.reverse();
            let version = names.get(id).map(|(_, v)| *v).unwrap_or("?");
            closure.violations.push(format!(
                "denylisted crate {name} {version} ({rule}) in the Stage-1 closure: {}",
                chain.join(" -> ")
            ));
        }
        closure.crates.insert(name);
    }
    Ok(closure)
}

/// Every Stage-1 root that reaches a heavy module (or a module naming a denylisted crate), with
/// the chain of use edges; an error when a root or heavy module named in the denylist does not
/// exist in `graph` (a rename must update the list, not silently shrink the check).
pub fn module_violations(graph: &ModuleGraph, denylist: &Denylist) -> anyhow::Result<Vec<String>> {
    for module in denylist
        .stage1_roots()
        .iter()
        .chain(denylist.heavy_modules())
    {
        anyhow::ensure!(
            graph.modules.contains_key(module),
            "module {module} of the import-guard denylist is not in the crate"
        );
    }
    let mut violations = Vec::new();
    for root in denylist.stage1_roots() {
        let mut reached: Vec<String> = graph.reachable_from(root).into_iter().collect();
        reached.insert(0, root.clone());
        for module in &reached {
            if let Some(heavy) = denylist
                .heavy_modules()
                .iter()
                .find(|h| ModuleGraph::within(module, h))
            {
                let chain = graph
                    .path_between(root, module)
                    .unwrap_or_else(|| vec![root.clone(), module.clone()]);
                violations.push(format!(
                    "Stage-1 module {root} reaches heavy module {module} (in {heavy}): {}",
                    chain.join(" -> ")
                ));
            }
            for krate in &graph.modules[module].extern_crates {
                if let Some(rule) = denylist.crate_rule(krate) {
                    violations.push(format!(
                        "Stage-1 module {root} reaches {module}, which uses denylisted crate {krate} ({rule})"
                    ));
                }
            }
        }
    }
    violations.sort();
    violations.dedup();
    Ok(violations)
}

/// The distinct files mapped in a `/proc/<pid>/maps` text, in order of first appearance
/// (anonymous and pseudo mappings such as `[heap]` left out).
pub fn mapped_files(maps: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for line in maps.lines() {
        // address perms offset dev inode pathname; the path may contain spaces.
        let path = line.splitn(6, ' ').nth(5).unwrap_or_default().trim();
        let path = path.strip_suffix(" (deleted)").unwrap_or(path);
        if path.starts_with('/') && seen.insert(path.to_owned()) {
            out.push(path.to_owned());
        }
    }
    out
}

/// Each mapped file the denylist names, with its rule.
pub fn library_violations(files: &[String], denylist: &Denylist) -> Vec<String> {
    files
        .iter()
        .filter_map(|file| {
            denylist.library_rule(file).map(|rule| {
                format!("denylisted shared library {file} (prefix {rule}) mapped in a Stage-1 run")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denylist() -> Denylist {
        Denylist::load(
            &crate::contract::workspace_root()
                .expect("a checkout")
                .join(DENYLIST_PATH),
        )
        .expect("denylist")
    }

    #[test]
    fn crate_rules_match_names_and_families() {
        let list = denylist();
        assert_eq!(list.crate_rule("ort").as_deref(), Some("name ort"));
        assert_eq!(
            list.crate_rule("candle-core").as_deref(),
            Some("prefix candle")
        );
        assert_eq!(
            list.crate_rule("zune_jpeg").as_deref(),
            Some("prefix zune-")
        );
        assert_eq!(list.crate_rule("rusqlite"), None);
        assert_eq!(list.crate_rule("imagesize"), None, "names match whole");
    }

    #[test]
    fn maps_lines_give_their_files() {
        let maps = "5555-5556 r--p 00000000 08:01 12 /usr/bin/auto capture\n\
                    7f00-7f01 r-xp 00000000 08:01 13 /usr/lib/libonnxruntime.so.1.17 (deleted)\n\
                    7f01-7f02 rw-p 00000000 00:00 0 \n\
                    7ffd-7ffe rw-p 00000000 00:00 0                          [stack]\n\
                    7f00-7f01 r--p 00001000 08:01 13 /usr/lib/libonnxruntime.so.1.17\n";
        let files = mapped_files(maps);
        assert_eq!(
            files,
            vec!["/usr/bin/auto capture", "/usr/lib/libonnxruntime.so.1.17"]
        );
        let violations = library_violations(&files, &denylist());
        assert_eq!(violations.len(), 1);
        assert!(
            violations[0].contains("libonnxruntime.so.1.17"),
            "{violations:?}"
        );
    }
}
