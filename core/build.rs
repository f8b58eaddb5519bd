//! Embeds every `contracts/*.schema.json` so that `contract show`, the reap marker and the
//! gates compute `schema_hash` from exactly the schemas this binary was built with.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let contracts = manifest_dir.join("..").join("contracts");
    println!("cargo::rerun-if-changed={}", contracts.display());
    let mut names: Vec<String> = std::fs::read_dir(&contracts)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".schema.json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut source =
        String::from("/// Every contract schema file, sorted by name: (file name, file text).\n");
    source.push_str("pub static EMBEDDED_SCHEMAS: &[(&str, &str)] = &[\n");
    for name in &names {
        let path = contracts
            .join(name)
            .canonicalize()
            .expect("schema file path resolves");
        println!("cargo::rerun-if-changed={}", path.display());
        writeln!(
            source,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("write to string");
    }
    source.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("embedded_schemas.rs");
    std::fs::write(out, source).expect("write embedded_schemas.rs");
}
