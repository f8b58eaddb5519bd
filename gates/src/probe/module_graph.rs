//! The module graph of a Rust crate's library source, parsed with `syn`: which module uses which.
//! Guards use it to prove that a module (the export sanitiser, a heavy dependency) is reachable
//! only from where it is allowed.
//!
//! - Modules come from `mod` declarations, starting at `lib.rs`: file modules (`name.rs`,
//!   `name/mod.rs`, `#[path]`) and inline modules. `#[cfg(test)]` items are left out: test code
//!   is not shipped.
//! - A module uses another when its code names it: `use crate::…`, `use super::…`,
//!   `use self::…`, `use child::…`, and paths in types and expressions (`crate::x::f()`,
//!   `super::y::T`, `child::z`). A path resolves to the longest module prefix it names.
//! - `use` roots that name no local module are external crates (`regex`, `std`), kept per module.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::Context;
use syn::visit::Visit;

/// One module of the crate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Module {
    /// `crate`, `crate::export`, `crate::export::sanitize`, …
    pub path: String,
    /// The file that holds it (inline modules share their parent's file).
    pub file: PathBuf,
    /// Modules it uses (resolved paths, never itself).
    pub uses: BTreeSet<String>,
    /// Root names of `use` paths that name no local module: external crates and `std`.
    pub extern_crates: BTreeSet<String>,
}

/// The modules of a crate and their use edges.
#[derive(Debug, Clone, Default)]
pub struct ModuleGraph {
    pub modules: BTreeMap<String, Module>,
}

/// Paths named in one module, before resolution.
#[derive(Debug, Default)]
struct RawModule {
    file: PathBuf,
    use_paths: Vec<Vec<String>>,
    expr_paths: Vec<Vec<String>>,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Meta>()
                .is_ok_and(|meta| meta.path().is_ident("test"))
    })
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// Every full path of a use tree, as segments (`*` for a glob).
fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            path.push(n.ident.to_string());
            out.push(path);
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push(path);
        }
        syn::UseTree::Glob(_) => {
            let mut path = prefix.clone();
            path.push("*".into());
            out.push(path);
        }
        syn::UseTree::Group(g) => {
            for item in &g.items {
                use_paths(item, prefix, out);
            }
        }
    }
}

/// Collects the multi-segment paths of an item's types and expressions, not descending into
/// nested modules (they are modules of their own) or `#[cfg(test)]` items.
#[derive(Default)]
struct PathCollector {
    paths: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for PathCollector {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.segments.len() > 1 {
            self.paths
                .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {}

    fn visit_item_use(&mut self, _: &'ast syn::ItemUse) {}

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_cfg_test(&item.attrs) {
            syn::visit::visit_item_fn(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_cfg_test(&item.attrs) {
            syn::visit::visit_impl_item_fn(self, item);
        }
    }
}

struct Loader {
    raw: BTreeMap<String, RawModule>,
}

impl Loader {
    /// Loads the module `module` from `items`, found in `file`; its child file modules live in
    /// `child_dir`.
    fn items(
        &mut self,
        module: &str,
        file: &Path,
        child_dir: &Path,
        items: &[syn::Item],
    ) -> anyhow::Result<()> {
        self.raw.entry(module.to_owned()).or_default().file = file.to_path_buf();
        for item in items {
            match item {
                syn::Item::Mod(m) if is_cfg_test(&m.attrs) => {}
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let child = format!("{module}::{name}");
                    match &m.content {
                        Some((_, inner)) => {
                            self.items(&child, file, &child_dir.join(&name), inner)?;
                        }
                        None => self.file_module(&child, &name, child_dir, &m.attrs)?,
                    }
                }
                syn::Item::Use(u) if is_cfg_test(&u.attrs) => {}
                syn::Item::Use(u) => {
                    let mut out = Vec::new();
                    use_paths(&u.tree, &mut Vec::new(), &mut out);
                    let raw = self.raw.entry(module.to_owned()).or_default();
                    raw.use_paths.extend(out);
                }
                other => {
                    let attrs: &[syn::Attribute] = match other {
                        syn::Item::Fn(f) => &f.attrs,
                        syn::Item::Impl(i) => &i.attrs,
                        syn::Item::Struct(s) => &s.attrs,
                        syn::Item::Enum(e) => &e.attrs,
                        syn::Item::Const(c) => &c.attrs,
                        syn::Item::Static(s) => &s.attrs,
                        syn::Item::Trait(t) => &t.attrs,
                        _ => &[],
                    };
                    if is_cfg_test(attrs) {
                        continue;
                    }
                    let mut collector = PathCollector::default();
                    collector.visit_item(other);
                    let raw = self.raw.entry(module.to_owned()).or_default();
                    raw.expr_paths.extend(collector.paths);
                }
            }
        }
        Ok(())
    }

    fn file_module(
        &mut self,
        module: &str,
        name: &str,
        child_dir: &Path,
        attrs: &[syn::Attribute],
    ) -> anyhow::Result<()> {
        let (file, grandchild_dir) = match path_attr(attrs) {
            Some(relative) => {
                let file = child_dir
                    .parent()
                    .map(|p| p.join(&relative))
                    .unwrap_or_else(|| PathBuf::from(&relative));
                let dir = file.with_extension("");
                (file, dir)
            }
            None => {
                let flat = child_dir.join(format!("{name}.rs"));
                let nested = child_dir.join(name).join("mod.rs");
                if flat.is_file() {
                    (flat, child_dir.join(name))
                } else if nested.is_file() {
                    (nested, child_dir.join(name))
                } else {
                    anyhow::bail!(
                        "module {module}: neither {} nor {} exists",
                        flat.display(),
                        nested.display()
                    );
                }
            }
        };
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        let parsed = syn::parse_file(&text).with_context(|| format!("parse {}", file.display()))?;
        self.items(module, &file, &grandchild_dir, &parsed.items)
    }
}

impl ModuleGraph {
    /// Loads the crate whose library root is `src_dir/lib.rs`.
    pub fn load(src_dir: &Path) -> anyhow::Result<ModuleGraph> {
        let root = src_dir.join("lib.rs");
        let text =
            std::fs::read_to_string(&root).with_context(|| format!("read {}", root.display()))?;
        let parsed = syn::parse_file(&text).with_context(|| format!("parse {}", root.display()))?;
        let mut loader = Loader {
            raw: BTreeMap::new(),
        };
        loader.items("crate", &root, src_dir, &parsed.items)?;
        let known: BTreeSet<String> = loader.raw.keys().cloned().collect();
        let mut modules = BTreeMap::new();
        for (name, raw) in &loader.raw {
            let mut module = Module {
                path: name.clone(),
                file: raw.file.clone(),
                ..Module::default()
            };
            for segments in &raw.use_paths {
                match resolve(name, segments, &known) {
                    Some(target) => {
                        if target != *name {
                            module.uses.insert(target);
                        }
                    }
                    None => {
                        if let Some(first) = segments.first() {
                            module.extern_crates.insert(first.clone());
                        }
                    }
                }
            }
            for segments in &raw.expr_paths {
                if let Some(target) = resolve(name, segments, &known)
                    && target != *name
                {
                    module.uses.insert(target);
                }
            }
            modules.insert(name.clone(), module);
        }
        Ok(ModuleGraph { modules })
    }

    /// Every module reachable from `from` through use edges (without `from` itself unless a
    /// cycle leads back to it).
    pub fn reachable_from(&self, from: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<&str> = VecDeque::from([from]);
        while let Some(current) = queue.pop_front() {
            if let Some(module) = self.modules.get(current) {
                for next in &module.uses {
                    if seen.insert(next.clone()) {
                        queue.push_back(next);
                    }
                }
            }
        }
        seen
    }

    /// A shortest chain of use edges from `from` to `to`, both included.
    pub fn path_between(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue: VecDeque<&str> = VecDeque::from([from]);
        while let Some(current) = queue.pop_front() {
            let Some(module) = self.modules.get(current) else {
                continue;
            };
            for next in &module.uses {
                if next == from || previous.contains_key(next.as_str()) {
                    continue;
                }
                previous.insert(next, current);
                if next == to {
                    let mut chain = vec![to.to_owned()];
                    let mut at = to;
                    while let Some(&before) = previous.get(at) {
                        chain.push(before.to_owned());
                        if before == from {
                            break;
                        }
                        at = before;
                    }
                    chain.reverse();
                    return Some(chain);
                }
                queue.push_back(next);
            }
        }
        None
    }

    /// The import cycles: each set of two or more modules that reach one another through use
    /// edges, its modules in name order, the sets in the order of their first module. A module
    /// naming its own descendants (a parent declaring, re-exporting or dispatching to its
    /// children) is structure, not a use, and is left out; a child using its parent counts.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let edges = |from: &str| -> Vec<&str> {
            self.modules.get(from).map_or_else(Vec::new, |m| {
                m.uses
                    .iter()
                    .filter(|to| !ModuleGraph::within(to, from))
                    .map(String::as_str)
                    .collect()
            })
        };
        // Two modules are in one cycle when each reaches the other.
        let reach: BTreeMap<&str, BTreeSet<&str>> = self
            .modules
            .keys()
            .map(|start| {
                let mut seen = BTreeSet::new();
                let mut stack = vec![start.as_str()];
                while let Some(at) = stack.pop() {
                    for next in edges(at) {
                        if seen.insert(next) {
                            stack.push(next);
                        }
                    }
                }
                (start.as_str(), seen)
            })
            .collect();
        let mut placed = BTreeSet::new();
        let mut cycles = Vec::new();
        for (&start, reached) in &reach {
            if placed.contains(start) || !reached.contains(start) {
                continue;
            }
            let cycle: Vec<String> = reached
                .iter()
                .filter(|other| reach.get(*other).is_some_and(|back| back.contains(start)))
                .map(|m| (*m).to_owned())
                .collect();
            placed.extend(cycle.iter().cloned());
            cycles.push(cycle);
        }
        cycles
    }

    /// True when `module` is `prefix` or inside it (`crate::export` contains
    /// `crate::export::sanitize`).
    pub fn within(module: &str, prefix: &str) -> bool {
        module == prefix
            || module
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with("::"))
    }
}

/// Resolves `segments`, named in `module`, to the longest known module prefix; `None` when the
/// path does not start at a local module.
fn resolve(module: &str, segments: &[String], known: &BTreeSet<String>) -> Option<String> {
    let first = segments.first()?;
    let mut absolute: Vec<String> = match first.as_str() {
        "crate" => vec!["crate".into()],
        "self" => module.split("::").map(str::to_owned).collect(),
        "super" => {
            let mut base: Vec<String> = module.split("::").map(str::to_owned).collect();
            let mut rest = segments;
            while rest.first().is_some_and(|s| s == "super") {
                if base.len() <= 1 {
                    return None;
                }
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return longest_prefix(&base, known);
        }
        _ => {
            let child = format!("{module}::{first}");
            if !known.contains(&child) {
                return None;
            }
            let mut base: Vec<String> = module.split("::").map(str::to_owned).collect();
            base.push(first.clone());
            base
        }
    };
    absolute.extend(segments.iter().skip(1).cloned());
    longest_prefix(&absolute, known)
}

fn longest_prefix(segments: &[String], known: &BTreeSet<String>) -> Option<String> {
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|candidate| known.contains(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        dir
    }

    fn uses(graph: &ModuleGraph, module: &str) -> Vec<String> {
        graph.modules[module].uses.iter().cloned().collect()
    }

    #[test]
    fn modules_and_edges_of_every_kind() {
        let dir = tree(&[
            (
                "lib.rs",
                "pub mod a; pub mod b; mod c; pub mod inline { pub fn f() { crate::a::x::g(); } }",
            ),
            ("a/mod.rs", "pub mod x; pub use x::g; use regex::Regex;"),
            (
                "a/x.rs",
                "pub fn g() {} use super::super::b::{self, T}; use std::fs;",
            ),
            (
                "b.rs",
                "pub struct T; pub mod deep; fn h() -> crate::c::U { loop {} } #[cfg(test)] mod tests { use crate::a::x; }",
            ),
            ("b/deep.rs", "use super::T; fn k() { self::m(); } fn m() {}"),
            (
                "c.rs",
                "pub struct U; #[cfg(test)] fn t() { crate::a::g(); } #[path = \"other.rs\"] mod renamed;",
            ),
            ("other.rs", "use crate::inline::f;"),
        ]);
        let graph = ModuleGraph::load(dir.path()).expect("load");
        let names: Vec<&str> = graph.modules.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            vec![
                "crate",
                "crate::a",
                "crate::a::x",
                "crate::b",
                "crate::b::deep",
                "crate::c",
                "crate::c::renamed",
                "crate::inline"
            ]
        );
        assert_eq!(
            uses(&graph, "crate"),
            Vec::<String>::new(),
            "declarations are not uses"
        );
        assert_eq!(uses(&graph, "crate::a"), vec!["crate::a::x"]);
        assert_eq!(uses(&graph, "crate::a::x"), vec!["crate::b"]);
        assert_eq!(
            uses(&graph, "crate::b"),
            vec!["crate::c"],
            "test module left out"
        );
        assert_eq!(uses(&graph, "crate::b::deep"), vec!["crate::b"]);
        assert_eq!(
            uses(&graph, "crate::c"),
            Vec::<String>::new(),
            "cfg(test) fn left out"
        );
        assert_eq!(uses(&graph, "crate::c::renamed"), vec!["crate::inline"]);
        assert_eq!(uses(&graph, "crate::inline"), vec!["crate::a::x"]);
        assert!(graph.modules["crate::a"].extern_crates.contains("regex"));
        assert!(graph.modules["crate::a::x"].extern_crates.contains("std"));
        assert_eq!(
            graph.reachable_from("crate::inline"),
            ["crate::a::x", "crate::b", "crate::c"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        );
        assert_eq!(
            graph.path_between("crate::c::renamed", "crate::c"),
            Some(vec![
                "crate::c::renamed".to_owned(),
                "crate::inline".to_owned(),
                "crate::a::x".to_owned(),
                "crate::b".to_owned(),
                "crate::c".to_owned()
            ])
        );
        assert_eq!(graph.path_between("crate::c", "crate::a"), None);
        assert!(ModuleGraph::within("crate::a::x", "crate::a"));
        assert!(!ModuleGraph::within("crate::ab", "crate::a"));
    }

    #[test]
    fn a_missing_module_file_is_an_error() {
        let dir = tree(&[("lib.rs", "mod gone;")]);
        let error = ModuleGraph::load(dir.path()).expect_err("missing file");
        assert!(format!("{error:#}").contains("gone.rs"), "{error:#}");
        let dir = tree(&[("lib.rs", "fn (")]);
        assert!(ModuleGraph::load(dir.path()).is_err());
    }
}
