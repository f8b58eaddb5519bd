//! The developer tools of the command line: `sla estimate`, `golden` and `fuzz`.

use super::*;

/// `sla estimate`: the verdict (exit 0 pass, 1 fail), or a bad input's code (exit 1, printed by
/// the caller like every error).
pub(super) fn sla_estimate(
    input: &Path,
    json: bool,
    now: Option<&str>,
    svg: Option<&Path>,
) -> anyhow::Result<u8> {
    use crate::sla::{chart, estimate, inputs};
    let inputs = inputs::load_inputs(input).map_err(|e| CliError::sla_input(&e))?;
    let now = match now {
        Some(text) => autocapture_core::contract::parse_ts_utc(text)
            .map_err(|e| CliError::usage("time_invalid", format!("--now {text:?}: {e}")))?,
        None => time::OffsetDateTime::now_utc(),
    };
    let estimate = estimate::estimate(&inputs, now, svg.is_some());
    if let Some(path) = svg {
        let title = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let drawing = chart::burn_down_svg(&title, &estimate)?.context("no series to chart")?;
        std::fs::write(path, drawing).map_err(|e| CliError::out_unwritable(path, &e))?;
    }
    let estimate = estimate::Estimate {
        series: None,
        ..estimate
    };
    if json {
        let mut value = serde_json::to_value(&estimate)?;
        value["ok"] = serde_json::Value::Bool(true);
        println!("{value}");
    } else {
        print!("{}", crate::sla::estimate::describe(&estimate));
    }
    Ok(match estimate.verdict {
        estimate::SlaVerdict::Pass => exit::PASS,
        estimate::SlaVerdict::Fail => exit::FAIL,
    })
}

/// A case file's text and how the report names it.
fn read_cases(path: &Path) -> Result<(String, String), CliError> {
    Ok((
        std::fs::read_to_string(path).map_err(|e| CliError::input("the case file", path, &e))?,
        path.display().to_string(),
    ))
}

/// A story file: missing or unreadable, or not a valid story (`story_invalid`); exit 2, a file
/// the command needs to run.
pub(super) fn load_story(path: &Path) -> Result<Story, CliError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError::input("the story file", path, &e))?;
    Story::parse(&text).map_err(|e| {
        CliError::new(
            "story_invalid",
            format!(
                "the story {} is not valid: {}: {}",
                path.display(),
                e.what,
                error::one_line(&e.detail)
            ),
            exit::ERROR,
        )
        .at(path)
    })
}

/// The case file of a story file `DIR/story/NAME.toml`: `DIR/golden/NAME.toml`, or for a
/// copy of a built-in story, that story's built-in case file.
fn story_cases(story: &Path) -> Result<(String, String), CliError> {
    use crate::golden::stories::GOLDEN_STORIES;
    let beside = story
        .parent()
        .and_then(Path::parent)
        .zip(story.file_name())
        .map(|(dir, name)| dir.join("golden").join(name));
    if let Some(cases) = beside.filter(|c| c.is_file()) {
        return read_cases(&cases);
    }
    let text =
        std::fs::read_to_string(story).map_err(|e| CliError::input("the story file", story, &e))?;
    match GOLDEN_STORIES.iter().find(|s| s.story == text) {
        Some(builtin) => Ok((
            builtin.cases.to_owned(),
            format!("built-in {}", builtin.cases_path),
        )),
        None => Err(CliError::usage(
            "golden_cases_missing",
            format!(
                "the story {} has no case file beside it (DIR/golden/NAME.toml for DIR/story/NAME.toml); give --cases",
                story.display()
            ),
        )
        .at(story)),
    }
}

pub(super) fn golden(args: &GoldenArgs) -> anyhow::Result<u8> {
    use autocapture_core::base::clock::SteppingClock;
    use autocapture_core::contract::sha256_hex;

    use crate::corpus::build;
    use crate::corpus::copies::copy_tree;
    use crate::corpus::digest::tree_digest;
    use crate::corpus::story::Story;
    use crate::golden::report::GoldenSource;
    use crate::golden::run::run_golden;
    use crate::golden::stories::GOLDEN_STORIES;
    let target = Target::parse(&args.target).map_err(|m| CliError::usage("target_invalid", m))?;
    let builtin = args.story.as_ref().and_then(|path| {
        let name = path.to_str()?;
        (!path.exists())
            .then(|| GOLDEN_STORIES.iter().find(|s| s.name == name))
            .flatten()
    });
    if let (Some(path), None) = (&args.story, builtin)
        && !path.is_file()
    {
        return Err(CliError::usage(
            "input_missing",
            format!(
                "no story file {} (nor a built-in story of that name: {})",
                path.display(),
                GOLDEN_STORIES.map(|s| s.name).join(", ")
            ),
        )
        .at(path)
        .into());
    }
    let (case_text, cases) = match (&args.cases, builtin, &args.story) {
        (Some(path), _, _) => read_cases(path)?,
        (None, Some(story), _) => (
            story.cases.to_owned(),
            format!("built-in {}", story.cases_path),
        ),
        (None, None, Some(story)) => story_cases(story)?,
        (None, None, None) => (
            crate::golden::run::DEFAULT_CASES.to_owned(),
            "built-in fixtures/golden/q40.toml".to_owned(),
        ),
    };
    let phrasings = match &args.phrasings {
        Some(path) => Some((
            std::fs::read_to_string(path)
                .map_err(|e| CliError::input("the phrasing file", path, &e))?,
            path.display().to_string(),
        )),
        None => None,
    };
    let spool = args.out.join("spool");
    if let Some(dir) = &args.corpus {
        // Refused before anything is created.
        if !dir.is_dir() {
            return Err(CliError::usage(
                "input_missing",
                format!("no corpus folder {}", dir.display()),
            )
            .at(dir)
            .into());
        }
        if !dir.join("truth.json").is_file() {
            return Err(CliError::usage(
                "corpus_truth_missing",
                format!(
                    "the corpus {} has no truth.json (write one as `fixtures generate` does)",
                    dir.display()
                ),
            )
            .at(dir.join("truth.json"))
            .into());
        }
        if spool.exists() {
            return Err(CliError::usage(
                "out_in_use",
                format!(
                    "{} already holds a corpus; give an empty --out",
                    spool.display()
                ),
            )
            .at(&spool)
            .into());
        }
    }
    error::writable_dir(&args.out)?;
    let (story, corpus) = match (&args.corpus, &args.story) {
        (Some(dir), _) => {
            copy_tree(dir, &spool)?;
            (None, Some(dir.display().to_string()))
        }
        (None, Some(path)) => {
            let (story, name) = match builtin {
                Some(story) => (
                    Story::parse(story.story)?,
                    format!("built-in {}", story.story_path),
                ),
                None => (load_story(path)?, path.display().to_string()),
            };
            build::spool_of(&story, &args.out, args.seed, args.frames, 3)?;
            (Some(name), None)
        }
        (None, None) => {
            let story = Story::default_story()?;
            build::spool_of(&story, &args.out, args.seed, args.frames, 3)?;
            (
                Some("built-in fixtures/story/workday.toml".to_owned()),
                None,
            )
        }
    };
    let corpus_sha256 = tree_digest(&spool)?.sha256;
    let truth = build::truth(&spool)?;
    let data = match target {
        Target::Embedded => {
            let data = build::ingest_spool(&spool, &args.out)?;
            build::index_while_idle(
                &data,
                &SteppingClock::new(build::BUILD_TIME, time::Duration::ZERO),
            )?;
            Some(data)
        }
        Target::Url(_) => None,
    };
    let (mut report, errors) = run_golden(
        &case_text,
        phrasings.as_ref().map(|(text, _)| text.as_str()),
        &truth,
        &target,
        data.as_ref(),
        args.repro,
    )?;
    report.source = Some(GoldenSource {
        story,
        corpus,
        corpus_sha256,
        cases,
        cases_sha256: sha256_hex(case_text.as_bytes()),
        phrasings: phrasings.as_ref().map(|(_, path)| path.clone()),
        phrasings_sha256: phrasings
            .as_ref()
            .map(|(text, _)| sha256_hex(text.as_bytes())),
    });
    for error in &errors {
        CliError::new("golden_question_failed", error.as_str(), exit::FAIL).eprint();
    }
    let path = args.out.join("golden-report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    let junit = args.out.join("golden-junit.xml");
    let name = report
        .source
        .as_ref()
        .and_then(|s| s.story.clone().or_else(|| s.corpus.clone()))
        .unwrap_or_default();
    std::fs::write(&junit, crate::golden::junit::render(&report, &name)?)?;
    print!("{}", report.table());
    println!("report: {}", path.display());
    println!("junit: {}", junit.display());
    Ok(exit::of(report.passed))
}

/// `autocapture-gates fuzz`: the property and fuzz cases of the hostile suite.
pub(super) fn fuzz_runs(
    slow: bool,
    seconds: u64,
    seed: u64,
    out: &Path,
    json: bool,
) -> anyhow::Result<u8> {
    use crate::hostile::{fuzz, property};
    // The committed seeds and regressions are read from the checkout.
    contract::workspace_root().map_err(error::checkout_missing)?;
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| CliError::out_unwritable(out, &e))?;
    }
    error::writable_dir(out)?;
    let ctx = GateContext {
        seed,
        slow,
        ..GateContext::new(out.join("no-corpus"), out.to_path_buf())
    };
    let mut cases = property::cases(&ctx)?;
    cases.extend(fuzz::cases_with_budget(&ctx, seconds)?);
    if json {
        println!("{}", serde_json::to_string_pretty(&cases)?);
    } else {
        for case in &cases {
            let verdict = if case.passed() { "pass" } else { "FAIL" };
            println!(
                "{verdict} {:<28} {:>9} inputs  {}",
                case.name, case.inputs, case.detail
            );
        }
    }
    Ok(exit::of(cases.iter().all(|c| c.passed())))
}
