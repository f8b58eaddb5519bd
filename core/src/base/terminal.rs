//! Text for a terminal. Captured text (window titles, screen text, handoff names) can hold
//! control characters and bidirectional overrides: printed raw, `ESC]0;…BEL` retitles the
//! terminal, `ESC[2J` clears it, U+202E reverses what follows. Everything the command line
//! prints for a person passes through here; `--json` keeps the exact strings (JSON escapes
//! them itself).

/// The Unicode bidirectional formatting characters: marks, embeddings, overrides, isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// `text` with every control character and bidirectional formatting character written as an
/// escape (`\n`, `\r`, `\t`, `\x1b`, `\u{202e}`), so it prints as one inert line.
pub fn safe_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || is_bidi_control(c) => {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// [`safe_text`] of each line: the line breaks the program wrote stay line breaks.
pub fn safe_lines(text: &str) -> String {
    text.split('\n')
        .map(safe_text)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_inert_and_plain_text_is_unchanged() {
        assert_eq!(
            safe_text("Save As\u{1b}]0;pwned\u{7}"),
            "Save As\\x1b]0;pwned\\x07"
        );
        assert_eq!(safe_text("\u{1b}[2Jcleared"), "\\x1b[2Jcleared");
        assert_eq!(
            safe_text("invoice\u{202E}fdp.exe"),
            "invoice\\u{202e}fdp.exe"
        );
        assert_eq!(safe_text("a\u{9b}b"), "a\\x9bb", "the 8-bit CSI");
        assert_eq!(safe_text("two\nlines\r"), "two\\nlines\\r");
        for plain in [
            "Résumé — 4:20 PM",
            "日本語のタイトル",
            "INV-20931 $1,248.50",
            "",
        ] {
            assert_eq!(safe_text(plain), plain);
        }
        assert_eq!(safe_lines("[ok] a\u{1b}b\n  - c"), "[ok] a\\x1bb\n  - c");
    }
}
