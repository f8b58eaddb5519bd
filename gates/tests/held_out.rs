//! The engine must not learn questions: no question or phrasing of any golden case file
//! (`fixtures/golden/`, pending ones included) appears, case-folded, in any file under `core/`.
//! A planted core file holding a question must be caught.

use std::path::{Path, PathBuf};

use autocapture_gates::contract::workspace_root;

/// Every question and phrasing in the TOML files under `dir`.
fn questions_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(questions_in(&path));
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let doc: toml::Value =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in doc
            .get("case")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(question) = case.get("question").and_then(|q| q.as_str()) {
                found.push(question.to_owned());
            }
            for phrasing in case
                .get("phrasings")
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten()
            {
                found.extend(phrasing.as_str().map(str::to_owned));
            }
        }
    }
    found
}

/// Every file under `dir`, skipping build output.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if path.file_name().and_then(|n| n.to_str()) != Some("target") {
                files_under(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// `(file, question)` for every question that appears in a file under `core`.
fn leaks(core: &Path, questions: &[String]) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    files_under(core, &mut files);
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let text = text.to_lowercase();
        for question in questions {
            if text.contains(&question.to_lowercase()) {
                found.push((file.clone(), question.clone()));
            }
        }
    }
    found
}

#[test]
fn no_golden_question_appears_in_the_core() {
    let root = workspace_root().expect("a checkout");
    let questions = questions_in(&root.join("fixtures/golden"));
    assert!(
        questions.len() >= 200,
        "only {} questions found under fixtures/golden",
        questions.len()
    );
    assert_eq!(leaks(&root.join("core"), &questions), Vec::new());
}

#[test]
fn a_planted_question_in_the_core_is_caught() {
    let root = workspace_root().expect("a checkout");
    let questions = questions_in(&root.join("fixtures/golden"));
    let dir = tempfile::tempdir().expect("temp dir");
    let core = dir.path().join("core/src/query");
    std::fs::create_dir_all(&core).expect("mkdir");
    std::fs::write(core.join("clean.rs"), "//! Nothing learned here.\n").expect("write");
    let planted = format!(
        "//! Learned.\nconst Q: &str = {:?};\n",
        questions[7].to_uppercase()
    );
    std::fs::write(core.join("learned.rs"), planted).expect("write");
    assert_eq!(
        leaks(dir.path(), &questions),
        vec![(core.join("learned.rs"), questions[7].clone())]
    );
}
