//! A frame's `uia_ref`, resolved and judged by the core's own Stage-1 UIA path
//! (`uia::resolve_snapshot` with the fallback off, `build_docs`, `validate_doc`): the snapshot
//! it names is a row of the handoff (or of an earlier handoff of the spool, as the DataRoot would
//! hold it), its id and `content_hash` are the ref's, it carries the window linkage, and its
//! docs validate. Also the section lengths of every snapshot row against the parser's bound.

use std::collections::HashMap;
use std::fmt;

use autocapture_core::base::bounded_json::{MAX_SECTION_ITEMS, SECTION_KEYS};
use autocapture_core::handoff::METADATA_DB;
use autocapture_core::uia::{
    FallbackFiles, Lookup, NoDocs, SnapshotLookup, UiaSettings, build_docs, resolve_snapshot,
    uia_ref, validate_doc,
};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::database::{Opened, payload_of};
use super::report::{Collector, Finding};

/// Snapshots looked up in the handoff's database, then by `earlier` (the spool's earlier
/// handoffs, which the DataRoot would hold by the time this one is ingested).
pub struct HandoffLookup<'a> {
    pub opened: &'a Opened,
    pub earlier: &'a dyn Fn(&str) -> Lookup,
}

impl SnapshotLookup for HandoffLookup<'_> {
    fn lookup(&self, record_id: &str) -> Lookup {
        match payload_of(self.opened, record_id) {
            Ok(Some(bytes)) => Lookup::Found(bytes),
            Ok(None) => (self.earlier)(record_id),
            Err(e) => Lookup::Failed(e.to_string()),
        }
    }
}

/// What a (snapshot id, hash) pair gave, cached as Stage 1 caches it.
#[derive(Debug, Clone)]
enum Verdict {
    /// Docs built; whether they all validate is reported once, on the snapshot.
    Docs,
    /// No snapshot to build from: reported on every frame that names it.
    PerFrame(&'static str, String),
    /// Built but refused for the snapshot's own sake: reported once, on the snapshot.
    Snapshot,
}

/// Checks the frames' UIA refs of one handoff.
#[derive(Debug)]
pub struct UiaChecker {
    settings: UiaSettings,
    cache: HashMap<(String, String), Verdict>,
}

impl Default for UiaChecker {
    fn default() -> Self {
        UiaChecker {
            settings: UiaSettings {
                // The handoff alone is judged: the DataRoot's fallback file is not the producer's.
                allow_latest_snapshot_fallback: false,
                ..UiaSettings::default()
            },
            cache: HashMap::new(),
        }
    }
}

impl UiaChecker {
    /// Checks the frame `frame_id`'s `uia_ref` (none is fine: the frame is only incomplete).
    pub fn check_frame(
        &mut self,
        frame_id: &str,
        frame: &Value,
        lookup: &dyn SnapshotLookup,
        out: &mut Collector,
    ) {
        let Some(key) = uia_ref(frame) else {
            return;
        };
        let verdict = match self.cache.get(&key) {
            Some(verdict) => verdict.clone(),
            None => match self.judge(frame_id, frame, &key.0, lookup, out) {
                Some(verdict) => {
                    self.cache.insert(key.clone(), verdict.clone());
                    verdict
                }
                None => return,
            },
        };
        if let Verdict::PerFrame(rule, message) = verdict {
            out.add(Finding::new(rule, METADATA_DB, message).row(frame_id));
        }
    }

    /// Resolves and builds as Stage 1 does; `None` for a fault of the frame alone (no
    /// dimensions: the schema check reports it), which is not cached.
    fn judge(
        &self,
        frame_id: &str,
        frame: &Value,
        snapshot_id: &str,
        lookup: &dyn SnapshotLookup,
        out: &mut Collector,
    ) -> Option<Verdict> {
        let no_fallback = FallbackFiles::default;
        let snapshot = match resolve_snapshot(frame, lookup, &no_fallback, &self.settings) {
            Ok((snapshot, _)) => snapshot,
            Err(NoDocs { code, detail }) => {
                let rule = if code == "uia_snapshot_invalid" {
                    "uia_snapshot_invalid"
                } else {
                    "uia_ref_unresolved"
                };
                return Some(Verdict::PerFrame(rule, format!("uia_ref: {detail}")));
            }
        };
        match build_docs(frame_id, frame, &snapshot, &self.settings) {
            Err(NoDocs {
                code: "frame_dims_missing",
                ..
            }) => None,
            Err(NoDocs { code, detail }) => {
                let rule = if code == "uia_linkage_missing" {
                    "uia_linkage_missing"
                } else {
                    "uia_docs_invalid"
                };
                out.add(Finding::new(rule, METADATA_DB, detail).row(snapshot_id));
                Some(Verdict::Snapshot)
            }
            Ok(docs) => {
                let invalid: Vec<String> = docs
                    .iter()
                    .filter_map(|doc| {
                        validate_doc(doc, frame)
                            .err()
                            .map(|why| format!("{}: {why}", doc.section.kind()))
                    })
                    .collect();
                if invalid.is_empty() {
                    return Some(Verdict::Docs);
                }
                out.add(
                    Finding::new(
                        "uia_docs_invalid",
                        METADATA_DB,
                        format!(
                            "the docs built for frame {frame_id} do not validate: {}",
                            invalid.join("; ")
                        ),
                    )
                    .row(snapshot_id),
                );
                Some(Verdict::Snapshot)
            }
        }
    }
}

/// Reports each section of the snapshot row `id` longer than Stage 1 reads. `doc` is the
/// payload as parsed (sections bounded); only a section at the bound is counted in full.
pub fn check_sections(id: &str, payload: &[u8], doc: &Map<String, Value>, out: &mut Collector) {
    let at_bound = SECTION_KEYS.iter().any(|key| {
        doc.get(*key)
            .and_then(Value::as_array)
            .is_some_and(|items| items.len() >= MAX_SECTION_ITEMS)
    });
    if !at_bound {
        return;
    }
    let mut counts = HashMap::new();
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    if (SectionCounter {
        depth: 0,
        counts: &mut counts,
    })
    .deserialize(&mut deserializer)
    .is_err()
    {
        return;
    }
    let mut keys: Vec<_> = counts.into_iter().collect();
    keys.sort();
    for (key, count) in keys {
        if count > MAX_SECTION_ITEMS as u64 {
            out.add(
                Finding::new(
                    "uia_section_too_long",
                    METADATA_DB,
                    format!(
                        "{key} holds {count} items; Stage 1 reads the first {MAX_SECTION_ITEMS} and skips the rest"
                    ),
                )
                .row(id),
            );
        }
    }
}

/// Counts the items of each section (top level or inside a `payload` wrapper), keeping none.
struct SectionCounter<'c> {
    depth: u8,
    counts: &'c mut HashMap<String, u64>,
}

impl<'de> DeserializeSeed<'de> for SectionCounter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SectionCounter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        while let Some(key) = access.next_key::<String>()? {
            if SECTION_KEYS.contains(&key.as_str()) {
                // A repeated key: the last one wins, as in the parsed payload.
                let count = access.next_value_seed(ItemCounter)?;
                self.counts.insert(key, count);
            } else if key == "payload" && self.depth == 0 {
                access.next_value_seed(SectionCounter {
                    depth: 1,
                    counts: &mut *self.counts,
                })?;
            } else {
                access.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        while access.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// The number of items of an array (0 for anything else).
struct ItemCounter;

impl<'de> DeserializeSeed<'de> for ItemCounter {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemCounter {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<u64, A::Error> {
        let mut count = 0;
        while access.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        Ok(count)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<u64, A::Error> {
        while access.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(0)
    }

    fn visit_bool<E>(self, _: bool) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_i64<E>(self, _: i64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_u64<E>(self, _: u64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_f64<E>(self, _: f64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_str<E>(self, _: &str) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_unit<E>(self) -> Result<u64, E> {
        Ok(0)
    }
}
