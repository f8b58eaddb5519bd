//! The Stage-1 import guard's checks, on data: the denylist (`fixtures/import-guard/denylist.toml`),
//! the crate closure read statically from a checkout's `Cargo.lock` and manifests, the crates
//! linked into a built binary (from its demangled symbols), the module graph of `core/src`, and
//! the mapped files of a process (`/proc/<pid>/maps`). Each check returns the violations it
//! found, each naming the crate, module or library at fault and how Stage 1 reaches it; the
//! `import-guard` gate runs them. Nothing here runs cargo or needs a package registry.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::Context;
use object::{Object, ObjectSymbol};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::probe::module_graph::ModuleGraph;

/// The denylist's default place, relative to the workspace root.
pub const DENYLIST_PATH: &str = "fixtures/import-guard/denylist.toml";

/// The package whose normal dependencies make up the Stage-1 binary's closure.
pub const CORE_PACKAGE: &str = "autocapture-core";

/// That package's manifest, relative to a checkout's root.
pub const CORE_MANIFEST: &str = "core/Cargo.toml";

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

/// A TOML file read whole, its errors naming the file and what it should have been.
fn read_toml<T: DeserializeOwned>(path: &Path, expected: &str) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read {} (expected {expected})", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parse {} as {expected}", path.display()))
}

/// One `[[package]]` of a `Cargo.lock`.
#[derive(Debug, Deserialize)]
struct LockPackage {
    name: String,
    version: String,
    source: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct LockFile {
    #[serde(default)]
    package: Vec<LockPackage>,
}

/// A `Cargo.lock`: every package of the resolve, for every platform and dependency kind.
struct Lock {
    path: PathBuf,
    packages: Vec<LockPackage>,
}

/// A `dependencies` entry of a lock package: `name`, `name version` or `name version (source)`.
fn parse_lock_entry(entry: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let mut words = entry.splitn(3, ' ');
    let name = words.next().filter(|n| !n.is_empty())?;
    let version = words.next();
    let source = match words.next() {
        Some(source) => Some(source.strip_prefix('(')?.strip_suffix(')')?),
        None => None,
    };
    Some((name, version, source))
}

impl Lock {
    fn load(path: &Path) -> anyhow::Result<Lock> {
        let file: LockFile = read_toml(path, "a Cargo.lock with [[package]] entries")?;
        anyhow::ensure!(
            !file.package.is_empty(),
            "{}: no [[package]] entries (expected a Cargo.lock)",
            path.display()
        );
        Ok(Lock {
            path: path.to_owned(),
            packages: file.package,
        })
    }

    fn label(&self, idx: usize) -> String {
        format!("{} {}", self.packages[idx].name, self.packages[idx].version)
    }

    /// The workspace package `name` (a lock package without a source).
    fn member(&self, name: &str) -> anyhow::Result<usize> {
        self.packages
            .iter()
            .position(|p| p.name == name && p.source.is_none())
            .with_context(|| {
                format!(
                    "{}: no workspace package {name} (expected a [[package]] without a source)",
                    self.path.display()
                )
            })
    }

    /// The one package the `dependencies` entry `entry` of package `from` names.
    fn resolve(&self, entry: &str, from: usize) -> anyhow::Result<usize> {
        let (name, version, source) = parse_lock_entry(entry).with_context(|| {
            format!(
                "{}: {} has a malformed dependency `{entry}` (expected `name`, `name version` or `name version (source)`)",
                self.path.display(),
                self.label(from)
            )
        })?;
        let matches: Vec<usize> = (0..self.packages.len())
            .filter(|&idx| {
                let package = &self.packages[idx];
                package.name == name
                    && version.is_none_or(|v| package.version == v)
                    && source.is_none_or(|s| package.source.as_deref() == Some(s))
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            _ => anyhow::bail!(
                "{}: {} depends on `{entry}`, which {} [[package]] entries match (expected one)",
                self.path.display(),
                self.label(from),
                matches.len()
            ),
        }
    }
}

/// The workspace manifest's `[workspace.dependencies]`, which `x.workspace = true` refers to.
struct WorkspaceDependencies {
    path: PathBuf,
    table: toml::Table,
}

impl WorkspaceDependencies {
    fn load(path: &Path) -> anyhow::Result<WorkspaceDependencies> {
        let manifest: toml::Table = read_toml(path, "the workspace manifest")?;
        let table = match manifest
            .get("workspace")
            .and_then(|w| w.get("dependencies"))
        {
            None => toml::Table::new(),
            Some(deps) => deps.as_table().cloned().with_context(|| {
                format!(
                    "{}: [workspace.dependencies] is not a table",
                    path.display()
                )
            })?,
        };
        Ok(WorkspaceDependencies {
            path: path.to_owned(),
            table,
        })
    }

    /// The package a dependency `key = spec` names: its `package`, or through the workspace
    /// entry when `workspace = true`, or its key.
    fn package_of(&self, key: &str, spec: &toml::Value) -> anyhow::Result<String> {
        let renamed = |spec: &toml::Value| spec.get("package")?.as_str().map(str::to_owned);
        if let Some(package) = renamed(spec) {
            return Ok(package);
        }
        if spec.get("workspace").and_then(toml::Value::as_bool) != Some(true) {
            return Ok(key.to_owned());
        }
        let inherited = self.table.get(key).with_context(|| {
            format!(
                "{key}.workspace = true, but {} has no [workspace.dependencies] {key}",
                self.path.display()
            )
        })?;
        Ok(renamed(inherited).unwrap_or_else(|| key.to_owned()))
    }
}

/// `value` as a table, or an error naming the file and the table.
fn table_at<'m>(
    value: &'m toml::Value,
    path: &Path,
    name: &str,
) -> anyhow::Result<&'m toml::Table> {
    value
        .as_table()
        .with_context(|| format!("{}: {name} is not a table", path.display()))
}

/// The `[dependencies]` table of a manifest and every `[target.'cfg(…)'.dependencies]` one, each
/// with its name.
fn dependency_tables<'m>(
    manifest: &'m toml::Table,
    path: &Path,
) -> anyhow::Result<Vec<(String, &'m toml::Table)>> {
    let mut tables = Vec::new();
    if let Some(deps) = manifest.get("dependencies") {
        tables.push((
            "[dependencies]".to_owned(),
            table_at(deps, path, "[dependencies]")?,
        ));
    }
    let Some(targets) = manifest.get("target") else {
        return Ok(tables);
    };
    for (cfg, target) in table_at(targets, path, "[target]")? {
        if let Some(deps) = target.get("dependencies") {
            let name = format!("[target.'{cfg}'.dependencies]");
            tables.push((name.clone(), table_at(deps, path, &name)?));
        }
    }
    Ok(tables)
}

/// The package names of `autocapture-core`'s normal dependencies in a checkout, every platform's
/// (dev and build dependencies are not linked into the binary).
fn core_normal_dependencies(checkout: &Path) -> anyhow::Result<BTreeSet<String>> {
    let path = checkout.join(CORE_MANIFEST);
    let manifest: toml::Table = read_toml(&path, "the autocapture-core package manifest")?;
    let name = manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str);
    anyhow::ensure!(
        name == Some(CORE_PACKAGE),
        "{}: expected [package] name = \"{CORE_PACKAGE}\", found {name:?}",
        path.display()
    );
    let workspace = WorkspaceDependencies::load(&checkout.join("Cargo.toml"))?;
    let mut names = BTreeSet::new();
    for (where_, table) in dependency_tables(&manifest, &path)? {
        for (key, spec) in table {
            let package = workspace
                .package_of(key, spec)
                .with_context(|| format!("{}: {where_} {key}", path.display()))?;
            names.insert(package);
        }
    }
    Ok(names)
}

/// The packages reached from a root in a lock file, each with the package it was reached from.
struct Walk {
    root: usize,
    previous: BTreeMap<usize, usize>,
    order: Vec<usize>,
}

impl Walk {
    /// Records `idx` as reached from `from`; false when it is the root or was reached before.
    fn reach(&mut self, idx: usize, from: usize) -> bool {
        if idx == self.root || self.previous.contains_key(&idx) {
            return false;
        }
        self.previous.insert(idx, from);
        self.order.push(idx);
        true
    }

    /// The chain of packages from the root to `idx`.
    fn chain(&self, lock: &Lock, idx: usize) -> String {
        let mut chain = vec![lock.packages[idx].name.as_str()];
        let mut at = idx;
        while let Some(&before) = self.previous.get(&at) {
            chain.push(&lock.packages[before].name);
            at = before;
        }
        chain.reverse();
        chain.join(" -> ")
    }
}

/// The root's lock dependencies that its manifest lists as normal dependencies; an error when a
/// normal dependency has no lock entry (a stale lock file must not shrink the closure).
fn direct_normal(
    lock: &Lock,
    root: usize,
    normal: &BTreeSet<String>,
) -> anyhow::Result<Vec<usize>> {
    let mut direct = Vec::new();
    for entry in &lock.packages[root].dependencies {
        let idx = lock.resolve(entry, root)?;
        if normal.contains(&lock.packages[idx].name) {
            direct.push(idx);
        }
    }
    for name in normal {
        anyhow::ensure!(
            direct.iter().any(|&idx| &lock.packages[idx].name == name),
            "{}: {CORE_PACKAGE} lists no dependency {name}, which its manifest has (is Cargo.lock out of date?)",
            lock.path.display()
        );
    }
    Ok(direct)
}

/// Walks the lock file from the root's direct normal dependencies through every package's
/// `dependencies` list (which holds its build dependencies and every platform's too).
fn walk_lock(lock: &Lock, root: usize, direct: Vec<usize>) -> anyhow::Result<Walk> {
    let mut walk = Walk {
        root,
        previous: BTreeMap::new(),
        order: Vec::new(),
    };
    let mut queue = VecDeque::new();
    for idx in direct {
        if walk.reach(idx, root) {
            queue.push_back(idx);
        }
    }
    while let Some(current) = queue.pop_front() {
        for entry in &lock.packages[current].dependencies {
            let idx = lock.resolve(entry, current)?;
            if walk.reach(idx, current) {
                queue.push_back(idx);
            }
        }
    }
    Ok(walk)
}

/// The normal-dependency closure of one package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrateClosure {
    /// Every crate in the closure (names), the root aside.
    pub crates: BTreeSet<String>,
    /// `denylisted crate … in the Stage-1 closure: a -> b -> crate` for each denylisted crate.
    pub violations: Vec<String>,
}

/// The closure of `autocapture-core` in the checkout at `checkout`, read statically from its
/// `Cargo.lock`, `core/Cargo.toml` and workspace `Cargo.toml`, with each denylisted crate named
/// with the chain that pulls it in.
///
/// Core's own dev and build dependencies are left out: they are not linked into the binary.
/// Below core the lock file does not tell dependency kinds or platforms apart, so the walk
/// over-approximates (build dependencies and every platform's dependencies of the crates below
/// count), which errs on the safe side for a denylist.
pub fn crate_closure(checkout: &Path, denylist: &Denylist) -> anyhow::Result<CrateClosure> {
    let normal = core_normal_dependencies(checkout)?;
    let lock = Lock::load(&checkout.join("Cargo.lock"))?;
    let root = lock.member(CORE_PACKAGE)?;
    let walk = walk_lock(&lock, root, direct_normal(&lock, root, &normal)?)?;
    let mut closure = CrateClosure::default();
    for &idx in &walk.order {
        let package = &lock.packages[idx];
        if let Some(rule) = denylist.crate_rule(&package.name) {
            closure.violations.push(format!(
                "denylisted crate {} {} ({rule}) in the Stage-1 closure: {}",
                package.name,
                package.version,
                walk.chain(&lock, idx)
            ));
        }
        closure.crates.insert(package.name.clone());
    }
    Ok(closure)
}

/// Crates whose code is in every real `autocapture` binary: a symbol list without them was not
/// read from one (a stripped or wrong file), and the linked-crates check must not pass on it.
pub const LINKED_WITNESSES: [&str; 2] = ["rusqlite", "autocapture-core"];

/// The crate names that start paths in a demangled symbol: `<rusqlite::Error as
/// core::fmt::Display>::fmt` gives `rusqlite` and `core`.
fn path_roots(demangled: &str) -> Vec<&str> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut roots = Vec::new();
    let mut at = 0;
    while let Some(rest) = demangled.get(at..).filter(|r| !r.is_empty()) {
        let len = rest.find(|c| !is_ident(c)).unwrap_or(rest.len());
        if len == 0 {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let ident = &rest[..len];
        let starts_path = rest[len..].starts_with("::") && !demangled[..at].ends_with("::");
        if starts_path && !ident.starts_with(|c: char| c.is_ascii_digit()) {
            roots.push(ident);
        }
        at += len;
    }
    roots
}

/// The crates linked into a binary, read from the path roots of its demangled Rust symbols.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkedCrates {
    /// Crate name (`-` form, as the denylist compares them) -> one demangled symbol of it.
    pub crates: BTreeMap<String, String>,
}

impl LinkedCrates {
    /// The crates of Rust symbols, legacy (`_ZN…`) or v0 (`_R…`) mangled; other symbols (C,
    /// C++) are left out.
    pub fn from_symbols<'a>(symbols: impl IntoIterator<Item = &'a str>) -> LinkedCrates {
        let mut linked = LinkedCrates::default();
        for symbol in symbols {
            let Ok(demangled) = rustc_demangle::try_demangle(symbol) else {
                continue;
            };
            let demangled = format!("{demangled:#}");
            for root in path_roots(&demangled) {
                linked
                    .crates
                    .entry(normalise(root))
                    .or_insert_with(|| demangled.clone());
            }
        }
        linked
    }

    /// The crates linked into the ELF binary at `path`, from its symbol tables.
    pub fn of_binary(path: &Path) -> anyhow::Result<LinkedCrates> {
        let data = std::fs::read(path)
            .with_context(|| format!("read {} (expected an ELF binary)", path.display()))?;
        let file = object::File::parse(data.as_slice())
            .with_context(|| format!("parse {} (expected an ELF binary)", path.display()))?;
        anyhow::ensure!(
            file.symbols().next().is_some(),
            "{}: no symbol table (a stripped binary?); the linked-crates check reads it",
            path.display()
        );
        let names = file
            .symbols()
            .chain(file.dynamic_symbols())
            .filter_map(|symbol| symbol.name().ok());
        Ok(LinkedCrates::from_symbols(names))
    }

    /// The crates of an `nm`-style listing: the last field of each line (`#` lines are comments).
    pub fn from_nm(text: &str) -> LinkedCrates {
        LinkedCrates::from_symbols(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.starts_with('#'))
                .filter_map(|line| line.split_whitespace().last()),
        )
    }

    pub fn contains(&self, name: &str) -> bool {
        self.crates.contains_key(&normalise(name))
    }

    /// The [`LINKED_WITNESSES`] the list lacks: any means it was not read from a real binary.
    pub fn missing_witnesses(&self) -> Vec<&'static str> {
        LINKED_WITNESSES
            .into_iter()
            .filter(|name| !self.contains(name))
            .collect()
    }

    /// Each linked crate the denylist names, with its rule and one of its symbols.
    pub fn violations(&self, denylist: &Denylist) -> Vec<String> {
        self.crates
            .iter()
            .filter_map(|(name, symbol)| {
                denylist.crate_rule(name).map(|rule| {
                    format!("denylisted crate {name} ({rule}) linked into the binary: {symbol}")
                })
            })
            .collect()
    }
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
    fn lock_entries_give_name_version_and_source() {
        assert_eq!(parse_lock_entry("serde"), Some(("serde", None, None)));
        assert_eq!(
            parse_lock_entry("ort 2.0.0"),
            Some(("ort", Some("2.0.0"), None))
        );
        assert_eq!(
            parse_lock_entry("ort 2.0.0 (git+https://host/ort?rev=1#abc)"),
            Some(("ort", Some("2.0.0"), Some("git+https://host/ort?rev=1#abc")))
        );
        assert_eq!(
            parse_lock_entry("ort 2.0.0 git"),
            None,
            "unbracketed source"
        );
        assert_eq!(parse_lock_entry(""), None);
    }

    #[test]
    fn path_roots_are_the_identifiers_that_start_paths() {
        assert_eq!(
            path_roots("<rusqlite::Error as core::fmt::Display>::fmt"),
            ["rusqlite", "core"]
        );
        assert_eq!(
            path_roots("core::ptr::drop_in_place<alloc::vec::Vec<u8>>"),
            ["core", "alloc"]
        );
        assert_eq!(
            path_roots("<impl tokio::io::AsyncRead for &[u8]>::poll::{closure#0}"),
            ["tokio"]
        );
        assert_eq!(path_roots("sqlite3_open_v2"), Vec::<&str>::new());
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
