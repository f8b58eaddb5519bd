//! How the harness shows results to people: one template environment (minijinja, with HTML
//! auto-escaping as the one escaping function for every page and chart), figures with units and
//! sensible rounding, and the charts ([`chart`]).

pub mod chart;
pub mod figure;

use minijinja::{AutoEscape, Environment};

/// The templates, by name. Every name ends in `.html` or `.svg`, and both are auto-escaped.
const TEMPLATES: [(&str, &str); 3] = [
    ("summary.html", include_str!("templates/summary.html")),
    ("line.svg", include_str!("templates/line.svg")),
    ("bars.svg", include_str!("templates/bars.svg")),
];

/// The environment every page and chart is rendered with. Escaping is decided here, once:
/// everything a template prints is HTML-escaped unless it is a chart this module rendered.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    for (name, source) in TEMPLATES {
        // The templates are built in: a syntax error is caught by this module's tests.
        if let Err(e) = env.add_template(name, source) {
            panic!("built-in template {name}: {e}");
        }
    }
    env
}

/// Renders the built-in template `name` with `context`.
pub fn render(name: &str, context: impl serde::Serialize) -> anyhow::Result<String> {
    let env = environment();
    let template = env
        .get_template(name)
        .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
    template
        .render(context)
        .map_err(|e| anyhow::anyhow!("render {name}: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let env = environment();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn templates_escape_what_they_print() {
        let mut env = environment();
        env.add_template("probe.svg", "<t>{{ v }}</t>")
            .expect("template");
        let out = env
            .get_template("probe.svg")
            .expect("template")
            .render(minijinja::context! { v => "<script>&\"'" })
            .expect("render");
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.contains("&lt;script&gt;&amp;"), "{out}");
    }
}
