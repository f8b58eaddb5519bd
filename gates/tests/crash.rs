//! The crash gate's parts, each shown to catch a planted fault: an unregistered point in the
//! source, a temp file left behind, a marker whose media is gone, a point the child never reaches,
//! and the lock of a killed child.

use std::path::Path;

use autocapture_core::base::clock::SystemClock;
use autocapture_core::base::crash::POINTS;
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::store::DataRoot;
use autocapture_gates::corpus::copies::{copy_tree, private_spool};
use autocapture_gates::corpus::digest::digest_without_ingest_time;
use autocapture_gates::corpus::generate::{GenerateOptions, generate};
use autocapture_gates::corpus::story::Story;
use autocapture_gates::gates::crash_gate::{
    Death, Stage1Reference, crash_binary, kill_at, lock_free, marker_violations, points_in_source,
    temp_files,
};

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gates crate sits in the workspace")
}

/// A one-handoff corpus of a few frames, privately copied; returns its handoff.
fn small_handoff(dir: &Path) -> std::path::PathBuf {
    let corpus = dir.join("corpus");
    generate(
        &Story::default_story().expect("story"),
        &GenerateOptions {
            out: corpus.clone(),
            seed: 3,
            frames: 12,
            handoffs: 1,
        },
    )
    .expect("generate");
    let (_, handoffs) = private_spool(&corpus, &dir.join("work")).expect("spool");
    let handoff = handoffs.into_iter().next().expect("one handoff");
    let _ = std::fs::remove_file(handoff.join(marker::MARKER_FILE));
    handoff
}

#[test]
fn the_core_source_places_every_registered_point_and_no_other() {
    let found = points_in_source(&workspace().join("core").join("src")).expect("scan");
    let registry: std::collections::BTreeSet<String> =
        POINTS.iter().map(|p| p.name.to_owned()).collect();
    assert_eq!(found, registry);
}

#[test]
fn a_planted_unregistered_point_is_found_by_the_source_scan() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("x.rs"),
        "fn f() { crate::base::crash::point(\"ingest.nowhere\"); }\nconst P: AtomicWritePoints = AtomicWritePoints { before_temp: \"marker.elsewhere\", };\n",
    )
    .expect("plant");
    let found = points_in_source(dir.path()).expect("scan");
    assert!(found.contains("ingest.nowhere"));
    assert!(found.contains("marker.elsewhere"));
}

#[test]
fn planted_temp_files_are_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    let media = dir.path().join("media").join("a");
    std::fs::create_dir_all(&media).expect("dirs");
    assert!(temp_files(dir.path()).expect("walk").is_empty());
    std::fs::write(media.join(".x.png.123.tmp"), b"half").expect("plant");
    std::fs::create_dir(dir.path().join(autocapture_core::stage1::media::TEMP_DIR))
        .expect("plant dir");
    assert_eq!(temp_files(dir.path()).expect("walk").len(), 2);
}

#[test]
fn a_marker_whose_media_is_gone_is_a_violation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let handoff = small_handoff(dir.path());
    let data = DataRoot::new(dir.path().join("data"));
    ingest_handoff(&handoff, &data, &IngestOptions::default(), &SystemClock).expect("ingest");
    let MarkerState::Valid(found) = marker::read(&handoff) else {
        panic!("no marker after a clean ingest");
    };
    let reference = Stage1Reference {
        digest: digest_without_ingest_time(&data.root).expect("digest"),
        integrity: found.integrity.clone(),
    };
    let (present, violations) = marker_violations(&handoff, &data, &reference).expect("check");
    assert!(present);
    assert!(violations.is_empty(), "{violations:?}");
    // Planted: one media file of the handoff vanishes from the DataRoot behind the marker.
    let mut media = Vec::new();
    for entry in walk(&data.media_dir()) {
        media.push(entry);
    }
    std::fs::remove_file(media.first().expect("a media file")).expect("remove");
    let (_, violations) = marker_violations(&handoff, &data, &reference).expect("check");
    assert_eq!(violations.len(), 1, "{violations:?}");
    // Planted: a torn marker.
    std::fs::write(handoff.join(marker::MARKER_FILE), b"{\"schema\": ").expect("tear");
    let (present, violations) = marker_violations(&handoff, &data, &reference).expect("check");
    assert!(!present);
    assert!(violations[0].contains("torn"), "{violations:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn a_killed_child_is_seen_at_its_point_frees_its_lock_and_an_unreached_point_is_reported() {
    let autocapture = autocapture_gates::harness::bins::autocapture_beside(Path::new(env!(
        "CARGO_BIN_EXE_autocapture-gates"
    )))
    .expect("autocapture");
    let bin = crash_binary(&autocapture).expect("the crash binary");
    let dir = tempfile::tempdir().expect("temp dir");
    let pristine = small_handoff(dir.path());
    for (i, (point, death)) in [
        ("ingest.after_lock", Death::Kill),
        ("marker.after_rename", Death::Abort),
    ]
    .into_iter()
    .enumerate()
    {
        let handoff = dir.path().join(format!("h{i}"));
        copy_tree(&pristine, &handoff).expect("copy");
        let data = DataRoot::new(dir.path().join(format!("d{i}")));
        let args = [
            "handoff".as_ref(),
            "ingest".as_ref(),
            "--handoff-root".as_ref(),
            handoff.as_os_str(),
            "--data-dir".as_ref(),
            data.root.as_os_str(),
        ];
        let ending = kill_at(&bin, &args, point, 1, death).expect("run");
        assert!(ending.reached && ending.died, "{point}: {ending:?}");
        assert!(lock_free(&data), "{point}: the dead child's lock blocks");
    }
    // Planted: the copy-path point is never reached by a hardlink ingest, and the run says so.
    let handoff = dir.path().join("unreached");
    copy_tree(&pristine, &handoff).expect("copy");
    let data = dir.path().join("unreached_data");
    let args = [
        "handoff".as_ref(),
        "ingest".as_ref(),
        "--handoff-root".as_ref(),
        handoff.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ];
    let ending = kill_at(&bin, &args, "media.after_temp_write", 1, Death::Abort).expect("run");
    assert!(!ending.reached && !ending.died, "{ending:?}");
}

#[test]
fn power_loss_explorer_passes_the_real_protocol_and_finds_each_planted_bug() {
    use autocapture_core::stage1::ingest::ImportMode;
    use autocapture_gates::gates::crash_gate::record_ingest;
    use autocapture_gates::power_loss::{PlantedBug, explore, plant};

    let dir = tempfile::tempdir().expect("temp dir");
    let pristine = small_handoff(dir.path());
    let mut runs = Vec::new();
    for (name, mode) in [("copy", ImportMode::Copy), ("link", ImportMode::Hardlink)] {
        let handoff = dir.path().join(name);
        copy_tree(&pristine, &handoff).expect("copy");
        let run = record_ingest(&handoff, &dir.path().join(format!("{name}_data")), mode)
            .expect("recorded ingest");
        assert!(!run.expected.media.is_empty());
        let found = explore(&run.ops, &run.expected);
        assert!(found.states > run.ops.len() as u64);
        assert_eq!(found.violating_states, 0, "{name}: {:?}", found.examples);
        runs.push(run);
    }
    for (bug, run, says) in [
        (PlantedBug::NoMediaDirSync, &runs[0], "missing"),
        (PlantedBug::NoMediaFileSync, &runs[0], "not whole"),
        (PlantedBug::NoMarkerFileSync, &runs[0], "torn"),
        (PlantedBug::NoSyncFs, &runs[1], "missing"),
    ] {
        let ops = plant(&run.ops, bug, &run.media_root, &run.expected.marker);
        let found = explore(&ops, &run.expected);
        assert!(found.violating_states > 0, "{bug:?} not found");
        assert!(
            found.examples.iter().any(|e| e.contains(says)),
            "{bug:?}: {:?}",
            found.examples
        );
    }
}
