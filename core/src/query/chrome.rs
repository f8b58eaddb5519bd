//! Browser chrome: in the window a question names, at a moment, the active tab (the tab the UIA
//! walk marks as selected) and the page's address (an edit whose value is a URL) with its host.

use serde_json::json;

use super::context::{Cited, Ctx, Draft, hms, window_nodes_or_absent};
use super::lexer::TimeSpec;

/// The host of a URL: between `://` and the next `/`, `?` or `#`, without user or port.
pub(super) fn host_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next()?
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

pub(super) fn browser_chrome(
    ctx: &mut Ctx<'_>,
    window: &str,
    at: Option<&TimeSpec>,
    out: &mut Draft,
) -> rusqlite::Result<()> {
    let Some((frame, nodes)) = window_nodes_or_absent(ctx, window, at, out)? else {
        return Ok(());
    };
    let tab = nodes.iter().find(|n| n.role == "tab_item" && n.hot);
    let address = nodes.iter().find_map(|n| {
        let value_aid = format!("{}.value", n.aid);
        (n.role == "edit" && !n.aid.is_empty())
            .then(|| nodes.iter().find(|v| v.aid == value_aid))
            .flatten()
            .filter(|v| host_of(&v.name).is_some())
    });
    if tab.is_none() && address.is_none() {
        out.no_evidence(format!(
            "\"{}\" showed no tabs or address at {}",
            frame.title,
            hms(&frame.ts)
        ));
        return Ok(());
    }
    let mut claims = Vec::new();
    if let Some(tab) = tab {
        claims.push((format!("the active tab was \"{}\"", tab.name), tab));
        out.fields.insert("active_tab".into(), json!(tab.name));
    }
    if let Some(address) = address {
        let host = host_of(&address.name).unwrap_or_default();
        claims.push((
            format!("the address was {} (host {host})", address.name),
            address,
        ));
        out.fields.insert("url".into(), json!(address.name));
        out.fields.insert("host".into(), json!(host));
    }
    out.summary = format!(
        "in \"{}\" at {}: {}",
        frame.title,
        hms(&frame.ts),
        claims
            .iter()
            .map(|c| c.0.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    ctx.cite(0, &out.summary.clone(), Cited::frame(&frame.id));
    for (index, (claim, node)) in claims.iter().enumerate() {
        out.bullets.push(claim.clone());
        ctx.cite(
            index as u32 + 1,
            claim,
            Cited::doc(&node.doc_id, &node.kind, &frame.id, node.bbox, (0, 0)),
        );
    }
    out.fields.insert("window_title".into(), json!(frame.title));
    out.fields.insert("ts_utc".into(), json!(frame.ts));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts() {
        for (url, host) in [
            ("https://sheets.example/d/x", Some("sheets.example")),
            ("http://user@host.example:8080/p?q", Some("host.example")),
            ("https://[::1]:8787/", Some("[::1]")),
            ("not a url", None),
            ("https:///path", None),
        ] {
            assert_eq!(host_of(url), host, "{url}");
        }
    }
}
