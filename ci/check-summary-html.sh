#!/usr/bin/env bash
# check-summary-html.sh: loads the harness's summary.html in headless Chromium and fails when
# the page is broken.
#
#   ci/check-summary-html.sh [--expect pass|fail|error] SUMMARY_HTML SCREENSHOT_PNG
#   ci/check-summary-html.sh --self-test
#
# It fails (exit 1, naming each finding) on:
#   - any message the page sends to the console: console.error and friends, uncaught exceptions,
#     and what Chromium itself reports there, such as an SVG attribute it cannot parse
#     (`<rect width="-x">`, `<path d="M x">`) or a resource that does not load. Chromium
#     headless logs every console message at INFO whatever its level, so the level cannot be
#     told apart; the summary is a static page that has nothing to log, so any message is a
#     finding;
#   - a rendered DOM (--dump-dom) without the verdict banner (#banner), the identity section
#     (#identity), the gates table (table#gates) or an inline chart (svg.chart); with
#     --expect fail, without the failures section (#failures), a banner whose verdict is fail
#     and #fail-<gate> links that all resolve (--expect error: the same with verdict error, for
#     a run where a gate could not run, harness exit 2); with --expect pass (the default), with a
#     failures section or a banner that is neither pass nor partial;
#   - any reference to another host (an http(s): or //host src, href, srcset, CSS url() or
#     @import): the summary is self-contained.
# It writes a screenshot of the whole page to SCREENSHOT_PNG, also when a check fails.
# --self-test checks a valid pass page and a valid fail page (which must pass) and planted
# broken pages (each must fail), proving the checks can fail.
#
# Chromium: $CHROMIUM, else chromium, chromium-browser or google-chrome on PATH; when none is
# there, Debian's `chromium` package is installed (apt-get, through sudo when not root).
# Chromium runs headless with a fresh profile, no sandbox, no network (every host name fails to
# resolve) and its background networking off. Everything generated goes to a temporary folder,
# removed on exit, or to SCREENSHOT_PNG.
#
# Exit: 0 the page passed, 1 a check failed, 2 usage error or no working Chromium.
set -euo pipefail

readonly WIDTH=1400
readonly MIN_HEIGHT=900
readonly MAX_HEIGHT=16000
readonly TIMEOUT_S=120
readonly PROBE_KEY='check-summary-probe'

say() { printf 'check-summary-html: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 2
}

usage() {
  sed -n '5,6p' "$0" | sed 's/^# *//' >&2
  exit 2
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/check-summary-html.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The Chromium binary: $CHROMIUM, one on PATH, else Debian's package, installed.
find_chromium() {
  if [[ -n ${CHROMIUM:-} ]]; then
    command -v "$CHROMIUM" || die "CHROMIUM=$CHROMIUM is not an executable"
    return
  fi
  local name
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return
    fi
  done
  install_chromium
  [[ -x /usr/bin/chromium ]] || die "installed the chromium package but /usr/bin/chromium is missing"
  echo /usr/bin/chromium
}

install_chromium() {
  local -a root=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 ||
      die "Chromium is not installed, and installing it needs root or sudo"
    root=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 ||
    die "Chromium is not installed and there is no apt-get to install it; set CHROMIUM"
  say "no Chromium found: installing Debian's chromium package"
  local -a install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)
  if ! "${root[@]}" "${install[@]}" >&2; then
    say "apt-get install failed: updating the package lists and trying again"
    "${root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2 ||
      die "apt-get update failed"
    "${root[@]}" "${install[@]}" >&2 || die "apt-get install chromium failed"
  fi
}

# file:// URL of an absolute path, percent-encoding every byte outside [A-Za-z0-9/._~-].
file_url() {
  local path=$1 out='' c i
  local LC_ALL=C
  for ((i = 0; i < ${#path}; i++)); do
    c=${path:i:1}
    case $c in
      [A-Za-z0-9/._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf 'file://%s' "$out"
}

RUNS=0
# Runs Chromium headless on a URL with extra flags; stdout to $1, stderr to $2.
chromium_run() {
  local stdout=$1 stderr=$2 url=$3
  shift 3
  RUNS=$((RUNS + 1))
  local profile="$WORK/profile.$RUNS"
  local rc=0
  timeout "$TIMEOUT_S" "$CHROME" \
    --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --no-default-browser-check \
    --host-resolver-rules='MAP * ~NOTFOUND' \
    --user-data-dir="$profile" --enable-logging=stderr --v=0 \
    "$@" "$url" >"$stdout" 2>"$stderr" || rc=$?
  rm -rf "$profile"
  if [[ $rc -ne 0 ]]; then
    say "Chromium exited with $rc on $url; its last words:"
    tail -n 20 "$stderr" >&2
    return 2
  fi
}

# A script appended to a copy of the page: once it has loaded, writes the page's height and
# the banner's verdict into the DOM, where --dump-dom shows them. Only the copy runs it: the
# console and DOM checks run on the page as it is.
probe_script() {
  cat <<'EOF'
<script>
addEventListener('load', function () {
  var key = 'check-summary' + '-probe:';
  var html = document.documentElement;
  var height = Math.max(html.scrollHeight, document.body ? document.body.scrollHeight : 0);
  var banner = document.getElementById('banner');
  var verdict = '';
  if (banner) {
    var tagged = banner.hasAttribute('data-verdict') ? banner : banner.querySelector('[data-verdict]');
    var words = ['pass', 'partial', 'fail', 'error'];
    if (tagged) {
      verdict = tagged.getAttribute('data-verdict');
    } else {
      for (var i = 0; i < words.length && !verdict; i++) {
        if (banner.classList.contains(words[i])) verdict = words[i];
      }
      var first = /\b(pass|partial|fail|error)/i.exec(banner.textContent);
      if (!verdict && first) verdict = first[1];
    }
  }
  var out = document.createElement('pre');
  out.textContent = key + 'height=' + Math.ceil(height) + '\n' +
    key + 'verdict=' + verdict.toLowerCase() + '\n' +
    key + 'banner=' + (banner ? banner.innerText.replace(/\s+/g, ' ').trim() : '') + '\n';
  document.body.appendChild(out);
});
</script>
EOF
}

# Checks one page; prints each finding, returns 1 when there was one (2: Chromium failed).
check_page() {
  local expect=$1 page=$2 shot=$3
  local findings=()
  [[ -f $page ]] || die "no such file: $page"
  [[ $expect == pass || $expect == fail || $expect == error ]] ||
    die "--expect takes pass, fail or error, not $expect"
  local abs
  abs=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
  local dom="$WORK/dom.html" log="$WORK/console.log"

  # 1. The page as it is: its console and its rendered DOM.
  chromium_run "$dom" "$log" "$(file_url "$abs")" --window-size="$WIDTH,$MIN_HEIGHT" --dump-dom ||
    return 2
  [[ -s $dom ]] || findings+=("Chromium rendered no DOM")
  local line
  while IFS= read -r line; do
    findings+=("console: ${line#*CONSOLE*] }")
  done < <(grep -E '^\[[^]]*:CONSOLE[^]]*\]' "$log" || true)

  has() { grep -Eq "$1" "$dom"; }
  has '<[a-zA-Z][a-zA-Z0-9-]*[[:space:]]([^>]*[[:space:]])?id="banner"' ||
    findings+=("DOM: no verdict banner (an element with id=\"banner\")")
  has '<[a-zA-Z][a-zA-Z0-9-]*[[:space:]]([^>]*[[:space:]])?id="identity"' ||
    findings+=("DOM: no identity section (an element with id=\"identity\")")
  has '<table[[:space:]]([^>]*[[:space:]])?id="gates"' ||
    findings+=("DOM: no gates table (a <table> with id=\"gates\")")
  has '<svg[[:space:]]([^>]*[[:space:]])?class="([^"]*[[:space:]])?chart([[:space:]][^"]*)?"' ||
    findings+=("DOM: no inline chart (an <svg> with class \"chart\")")
  local failures=no
  has '<[a-zA-Z][a-zA-Z0-9-]*[[:space:]]([^>]*[[:space:]])?id="failures"' && failures=yes
  if [[ $expect != pass && $failures == no ]]; then
    findings+=("DOM: --expect $expect but no failures section (id=\"failures\")")
  elif [[ $expect == pass && $failures == yes ]]; then
    findings+=("DOM: --expect pass but the page has a failures section (id=\"failures\")")
  fi
  local links=0 target
  while IFS= read -r target; do
    links=$((links + 1))
    grep -Fq "id=\"$target\"" "$dom" ||
      findings+=("DOM: the link to #$target leads nowhere (no element with id=\"$target\")")
  done < <(grep -Eo 'href="#fail-[^"]*"' "$dom" | sed -e 's/^href="#//' -e 's/"$//' | sort -u)
  while IFS= read -r target; do
    grep -Fq "href=\"#$target\"" "$dom" ||
      findings+=("DOM: the failure entry #$target is not linked from the page (no href=\"#$target\")")
  done < <(grep -Eo '[[:space:]]id="fail-[^"]*"' "$dom" | sed -e 's/^[[:space:]]id="//' -e 's/"$//' | sort -u)
  if [[ $expect != pass && $links -eq 0 ]]; then
    findings+=("DOM: --expect $expect but no failing row links to #fail-<gate>")
  fi
  local external
  external=$(grep -Eio \
    -e '\b(src|href|srcset|poster|data|action|formaction|background)="[[:space:]]*(https?:|//)[^"]*"' \
    -e 'url\([[:space:]]*(&quot;|["'\''])?[[:space:]]*(https?:|//)[^)]*\)' \
    -e '@import[[:space:]]+(url\()?[[:space:]]*(&quot;|["'\''])?(https?:|//)[^;]*' \
    "$dom" | sort -u || true)
  while IFS= read -r line; do
    [[ -n $line ]] && findings+=("DOM: external reference $line (the summary must be self-contained)")
  done <<<"$external"
  # Files beside the page are not part of it either: whatever the page loads (src, srcset,
  # poster, object data, stylesheet links, CSS url()) must be inline, a data: URI or #fragment.
  local loaded
  loaded=$(grep -Eio \
    -e '\b(src|srcset|poster|data)="[^"]*"' \
    -e '<link[[:space:]][^>]*href="[^"]*"' \
    -e 'url\([[:space:]]*(&quot;|["'\''])?[^)]*\)' \
    "$dom" | sort -u || true)
  local remote_re='(https?:|="[[:space:]]*//|\([[:space:]]*(&quot;|["'\''])?[[:space:]]*//)'
  local inline_re='(="|\([[:space:]]*(&quot;|["'\''])?)[[:space:]]*(data:|#)'
  while IFS= read -r line; do
    [[ -z $line || $line =~ $remote_re || $line =~ $inline_re ]] && continue
    findings+=("DOM: the page loads another file: $line (the summary must be self-contained)")
  done <<<"$loaded"

  # 2. A copy with the probe: the page's height and the banner's verdict.
  local copy="$WORK/probe.html" probe="$WORK/probe.dom"
  { cat "$abs"; probe_script; } >"$copy"
  chromium_run "$probe" "$WORK/probe.log" "$(file_url "$copy")" --window-size="$WIDTH,400" --dump-dom ||
    return 2
  local height verdict banner
  height=$(grep -o "$PROBE_KEY:height=[0-9]*" "$probe" | head -n 1 | cut -d= -f2 || true)
  verdict=$(grep -o "$PROBE_KEY:verdict=[a-z]*" "$probe" | head -n 1 | cut -d= -f2 || true)
  banner=$(grep -o "$PROBE_KEY:banner=.*" "$probe" | head -n 1 | cut -d= -f2- || true)
  if grep -q 'id="banner"' "$dom"; then
    if [[ $expect != pass && $verdict != "$expect" ]]; then
      findings+=("DOM: --expect $expect but the banner's verdict is \"${verdict:-none}\": $banner")
    elif [[ $expect == pass && $verdict != pass && $verdict != partial ]]; then
      findings+=("DOM: --expect pass but the banner's verdict is \"${verdict:-none}\": $banner")
    fi
  fi

  # 3. The screenshot: the whole page, as tall as it is (within limits).
  [[ -n $height ]] || height=2400
  ((height < MIN_HEIGHT)) && height=$MIN_HEIGHT
  ((height > MAX_HEIGHT)) && height=$MAX_HEIGHT
  mkdir -p "$(dirname "$shot")"
  local shot_abs
  shot_abs=$(cd "$(dirname "$shot")" && pwd)/$(basename "$shot")
  rm -f "$shot_abs"
  chromium_run "$WORK/shot.out" "$WORK/shot.log" "$(file_url "$abs")" \
    --hide-scrollbars --window-size="$WIDTH,$height" --screenshot="$shot_abs" || return 2
  [[ -s $shot_abs ]] || findings+=("no screenshot was written to $shot")

  if ((${#findings[@]} > 0)); then
    say "FAIL: $page (--expect $expect): ${#findings[@]} finding(s)"
    local finding
    for finding in "${findings[@]}"; do
      printf '  %s\n' "$finding" >&2
    done
    return 1
  fi
  say "ok: $page (--expect $expect, verdict ${verdict:-?}, screenshot ${WIDTH}x$height in $shot)"
}

# A page with what the checks look for; $1 its verdict (pass, fail, error), $2 extra markup.
page() {
  local verdict=$1 extra=${2:-}
  local word=${1^^} failures='' link=bind
  if [[ $verdict != pass ]]; then
    failures='<section id="failures"><h2>Failures</h2><article id="fail-bind"><h3>bind</h3><p>1 of 2 checks did not hold.</p></article></section>'
    link='<a href="#fail-bind">bind</a>'
  fi
  cat <<EOF
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$word: self-test</title>
<style>body { font: 14px sans-serif; } .chart rect { fill: #1b5e20; }</style></head>
<body>
<header id="banner" class="banner $verdict"><h1 data-verdict="$verdict">$word: self-test</h1><p>1 gates, 0 failed</p></header>
<section id="identity"><dl><dt>commit</dt><dd>c0ffee</dd></dl></section>
$failures
<table id="gates"><tr><th>gate</th><th>verdict</th></tr><tr class="$verdict"><td>$link</td><td>$verdict</td></tr></table>
<figure><svg class="chart" xmlns="http://www.w3.org/2000/svg" width="200" height="40" viewBox="0 0 200 40"><rect x="0" y="10" width="120" height="20"/><path d="M0 35 L200 35" stroke="#000"/></svg></figure>
$extra
</body></html>
EOF
}

self_test() {
  local dir="$WORK/self-test" bad=0
  mkdir -p "$dir"
  # Valid pages: each must pass with its --expect.
  page pass >"$dir/valid-pass.html"
  page fail >"$dir/valid-fail.html"
  page error >"$dir/valid-error.html"
  # Planted pages: each must fail (see the list below for the --expect each is checked with).
  page pass '<script>console.error("planted console error")</script>' >"$dir/console-error.html"
  page pass '<script>null.planted();</script>' >"$dir/uncaught-exception.html"
  page pass '<svg class="chart" width="10" height="10"><path d="M x"/></svg>' >"$dir/svg-path-error.html"
  page pass '<svg class="chart" width="10" height="10"><rect width="-x" height="5"/></svg>' >"$dir/svg-rect-error.html"
  page pass | sed 's/id="banner"/id="heading"/' >"$dir/missing-banner.html"
  page pass | sed 's/<table id="gates">/<table id="gate-list">/' >"$dir/missing-gates-table.html"
  page pass '<script src="https://cdn.example.invalid/chart.js"></script>' >"$dir/external-script.html"
  page pass '<img alt="" src="//images.example.invalid/logo.png">' >"$dir/external-image.html"
  page pass '<link rel="stylesheet" href="summary.css">' >"$dir/local-stylesheet.html"
  page fail | sed 's/href="#fail-bind"/href="#fail-crash"/' >"$dir/broken-fail-link.html"
  page fail | sed 's/data-verdict="fail"/data-verdict="pass"/' >"$dir/fail-banner-says-pass.html"

  local name expect want valid=0 planted=0
  for spec in \
    valid-pass:pass:ok valid-fail:fail:ok valid-error:error:ok \
    console-error:pass:fails uncaught-exception:pass:fails \
    svg-path-error:pass:fails svg-rect-error:pass:fails \
    missing-banner:pass:fails missing-gates-table:pass:fails \
    external-script:pass:fails external-image:pass:fails local-stylesheet:pass:fails \
    broken-fail-link:fail:fails fail-banner-says-pass:fail:fails \
    valid-fail:pass:fails valid-pass:fail:fails; do
    IFS=: read -r name expect want <<<"$spec"
    local rc=0 log="$dir/$name.$expect.log"
    check_page "$expect" "$dir/$name.html" "$dir/$name.$expect.png" 2>"$log" || rc=$?
    if [[ $rc -eq 2 ]]; then
      cat "$log" >&2
      say "self-test: Chromium did not run on $name"
      return 2
    fi
    if [[ $want == ok && $rc -eq 0 ]]; then
      valid=$((valid + 1))
      say "self-test: ok: the valid page $name passes with --expect $expect"
    elif [[ $want == fails && $rc -eq 1 ]]; then
      planted=$((planted + 1))
      say "self-test: ok: the planted page $name is refused with --expect $expect: $(sed -n '2s/^ *//p' "$log")"
    else
      cat "$log" >&2
      local kind=valid
      [[ $want == fails ]] && kind=planted
      say "self-test: BROKEN: the $kind page $name gave exit $rc with --expect $expect"
      bad=1
    fi
  done
  if [[ $bad -ne 0 ]]; then
    say "self-test FAILED"
    return 1
  fi
  say "self-test passed: $valid valid pages passed and $planted planted pages failed, as they must"
}

main() {
  local expect=pass
  local -a args=()
  while (($# > 0)); do
    case $1 in
      --self-test)
        (($# == 1)) || usage
        CHROME=$(find_chromium)
        self_test
        return
        ;;
      --expect)
        (($# >= 2)) || usage
        expect=$2
        shift 2
        ;;
      --expect=*)
        expect=${1#--expect=}
        shift
        ;;
      -h | --help) usage ;;
      -*) usage ;;
      *)
        args+=("$1")
        shift
        ;;
    esac
  done
  ((${#args[@]} == 2)) || usage
  CHROME=$(find_chromium)
  check_page "$expect" "${args[0]}" "${args[1]}"
}

main "$@"
