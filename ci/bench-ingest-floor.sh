#!/usr/bin/env bash
# Times `autocapture handoff ingest` against the raw floor on the same generated handoff:
# the sqlite3 CLI doing ATTACH + INSERT OR IGNORE … SELECT, plus `cp -al` of the media and
# `sha256sum` of every media file. Runs alternate; prints medians, the ratio, a re-ingest,
# and our peak RSS. Usage: ci/bench-ingest-floor.sh [FRAMES] [RUNS]   (default 100000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
frames="${1:-100000}"
runs="${2:-3}"
work="${BENCH_DIR:-$(mktemp -d)}"
export TZ=UTC

if ! command -v sqlite3 >/dev/null 2>&1; then
  echo "installing the sqlite3 CLI" >&2
  apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null
fi
if [ ! -x /usr/bin/time ]; then
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

cargo build --release --locked -q -p autocapture-core -p autocapture-gates
bin=target/release

spool="$work/spool"
if [ ! -d "$spool" ]; then
  "$bin/autocapture-gates" fixtures generate --out "$spool" --seed 7 --frames "$frames" --handoffs 1 >/dev/null
fi
handoff=$(find "$spool" -mindepth 1 -maxdepth 1 -type d | sort | head -n 1)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

floor_run() {
  local dest="$work/floor"
  rm -rf "$dest" && mkdir -p "$dest"
  local t0; t0=$(now)
  sqlite3 "$dest/metadata.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE metadata (id TEXT PRIMARY KEY, record_type TEXT, ts_utc TEXT, payload TEXT, run_id TEXT,
  nonce_b64 TEXT, ciphertext_b64 TEXT, key_id TEXT);
CREATE INDEX idx_metadata_record_type ON metadata(record_type);
CREATE INDEX idx_metadata_ts_utc ON metadata(ts_utc);
CREATE INDEX idx_metadata_run_id ON metadata(run_id);
ATTACH '$handoff/metadata.db' AS h;
INSERT OR IGNORE INTO metadata (id, record_type, ts_utc, payload, run_id) SELECT id, record_type, ts_utc, payload, run_id FROM h.metadata;
SQL
  cp -al "$handoff/media" "$dest/media"
  find "$dest/media" -type f -print0 | xargs -0 -n 2000 sha256sum >/dev/null
  elapsed "$t0" "$(now)"
}

ours_run() {
  local dest="$work/ours"
  rm -rf "$dest"
  rm -f "$handoff/reap_eligible.json"
  local t0; t0=$(now)
  /usr/bin/time -f "%M" -o "$work/rss.txt" "$bin/autocapture" handoff ingest --handoff-root "$handoff" --data-dir "$dest" --json >"$work/ours.json"
  elapsed "$t0" "$(now)"
}

: >"$work/floor.txt"; : >"$work/ours.txt"; : >"$work/rss_all.txt"
for i in $(seq 1 "$runs"); do
  floor_run >>"$work/floor.txt"
  ours_run >>"$work/ours.txt"
  cat "$work/rss.txt" >>"$work/rss_all.txt"
done
t0=$(now)
"$bin/autocapture" handoff ingest --handoff-root "$handoff" --data-dir "$work/ours" --json >"$work/reingest.json"
reingest=$(elapsed "$t0" "$(now)")

floor=$(median <"$work/floor.txt")
ours=$(median <"$work/ours.txt")
rss_kib=$(sort -n "$work/rss_all.txt" | tail -n 1)
rows=$(python3 -c "import json; print(json.load(open('$work/ours.json'))['rows_seen'])")
media=$(python3 -c "import json; print(json.load(open('$work/ours.json'))['media_files_seen'])")
echo "handoff: $handoff ($frames frames, $rows rows, $media media files)"
echo "floor runs (s): $(tr '\n' ' ' <"$work/floor.txt")"
echo "ours runs (s):  $(tr '\n' ' ' <"$work/ours.txt")"
awk -v f="$floor" -v o="$ours" -v r="$reingest" -v rows="$rows" -v media="$media" -v rss="$rss_kib" 'BEGIN {
  printf "median floor %.3f s, median ours %.3f s, ratio ours/floor %.2f\n", f, o, o / f
  printf "ours: %.0f rows/s, %.0f media files/s, peak RSS %.1f MiB\n", rows / o, media / o, rss / 1024
  printf "re-ingest %.3f s = %.1f%% of the ingest\n", r, 100 * r / o
}'
