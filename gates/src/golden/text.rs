//! Reading the texts a story's screens show, as the truth rules need them: dollar amounts, and
//! the clock stamp of a list entry on a 24- or 12-hour clock.

/// Dollar amounts in a text, in cents.
pub(super) fn dollar_cents(text: &str) -> Vec<i64> {
    text.split_whitespace()
        .filter_map(|token| {
            let token = token.trim_end_matches([',', '.', ';', ':']);
            let digits: String = token
                .strip_prefix('$')?
                .chars()
                .filter(|c| *c != ',')
                .collect();
            let (whole, cents) = digits.split_once('.').unwrap_or((&digits, "00"));
            Some(whole.parse::<i64>().ok()? * 100 + cents.parse::<i64>().ok()?)
        })
        .collect()
}

/// Minutes since midnight of the first clock time in a label: `HH:MM` on a 24-hour clock, or
/// `H:MM` followed by `AM`/`PM` (attached or as the next word, any case, with or without dots)
/// on a 12-hour clock, so a chat stamp "1:22 PM" is 13:22.
pub(super) fn label_minutes(label: &str) -> Option<u32> {
    let tokens: Vec<&str> = label.split_whitespace().collect();
    tokens.iter().enumerate().find_map(|(i, token)| {
        let token = token.trim_end_matches([',', ';', ')']);
        let digits_end = token
            .find(|c: char| !c.is_ascii_digit() && c != ':')
            .unwrap_or(token.len());
        let (clock, attached) = token.split_at(digits_end);
        let (h, m) = clock.split_once(':')?;
        let ok = (1..=2).contains(&h.len())
            && m.len() == 2
            && h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit());
        if !ok {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        let meridiem = |word: &str| -> Option<bool> {
            match word.to_ascii_lowercase().replace('.', "").as_str() {
                "am" => Some(false),
                "pm" => Some(true),
                _ => None,
            }
        };
        let suffix = if attached.is_empty() {
            tokens.get(i + 1).and_then(|next| meridiem(next))
        } else {
            Some(meridiem(attached)?)
        };
        match suffix {
            None => (h < 24 && m < 60).then_some(h * 60 + m),
            Some(pm) => ((1..=12).contains(&h) && m < 60)
                .then_some((h % 12 + if pm { 12 } else { 0 }) * 60 + m),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_labels() {
        assert_eq!(dollar_cents("Totals now match: $5,816.75."), vec![581_675]);
        assert_eq!(dollar_cents("no money 1,248.50"), Vec::<i64>::new());
        assert_eq!(label_minutes("Priya Raman 10:20"), Some(620));
        assert_eq!(label_minutes("09:30-09:45 standup"), None);
    }

    #[test]
    fn chat_stamps_on_a_12_hour_clock() {
        for (label, minutes) in [
            ("Priya Raman 1:22 PM", Some(13 * 60 + 22)),
            ("Priya Raman 1:22 pm", Some(13 * 60 + 22)),
            ("Priya Raman 1:22PM", Some(13 * 60 + 22)),
            ("Priya Raman 11:59 p.m.", Some(23 * 60 + 59)),
            ("Priya Raman 12:05 AM", Some(5)),
            ("Priya Raman 12:30 PM", Some(12 * 60 + 30)),
            ("Priya Raman 9:07 AM", Some(9 * 60 + 7)),
            ("Priya Raman 16:07", Some(16 * 60 + 7)),
            ("Priya Raman 13:00 PM", None),
            ("Priya Raman 0:30 AM", None),
            ("Priya Raman 24:00", None),
        ] {
            assert_eq!(label_minutes(label), minutes, "{label}");
        }
    }
}
