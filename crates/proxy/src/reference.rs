//! The parts of `docs/reference/` and `types/proxy.d.ts` that are made from the
//! filter registry: each filter's page opens with its signature, its summary and a
//! table of its options, and the editor types declare every filter method and
//! options interface. The test below fails when a file is out of date, naming the
//! command that rewrites it (`scripts/reference.sh`), and when a filter page has
//! no hand-written "Events" and "Example" sections after the generated part or
//! no link from `docs/reference/README.md`.

use proxy_core::filters::{FilterDef, Registry};
use proxy_core::{OptionDef, Support};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Ends the generated part of a page; what follows is written by hand.
const PAGE_END: &str = "<!-- end of the generated part: what follows is written by hand -->";
/// Opens a page's generated part.
const PAGE_START: &str =
    "<!-- generated from the filter's declaration by scripts/reference.sh: edit the code, not this part -->";
/// Bounds of the generated part of `types/proxy.d.ts`.
const TYPES_START: &str =
    "// ---- generated from the filter registry by scripts/reference.sh: do not edit by hand ----";
const TYPES_END: &str = "// ---- end of the generated part ----";

/// One page of the reference: a filter, or `listen`.
struct Entry {
    name: &'static str,
    params: &'static str,
    doc: &'static str,
    options: Vec<&'static OptionDef>,
    options_type: String,
}

impl Entry {
    fn of(def: &'static FilterDef) -> Entry {
        Entry {
            name: def.name,
            params: def.params,
            doc: def.doc,
            options: def.options.iter().flat_map(|g| g.iter()).collect(),
            options_type: def.options_type(),
        }
    }

    fn listen() -> Entry {
        Entry {
            name: "listen",
            params: "port: number | string, options?: ListenOptions",
            doc: "Starts a pipeline of the layout that follows for every connection to a port.",
            options: proxy_core::LISTEN_OPTIONS.iter().collect(),
            options_type: "ListenOptions".into(),
        }
    }
}

fn entries(registry: &Registry) -> Vec<Entry> {
    let mut all: Vec<Entry> = registry.iter().map(Entry::of).collect();
    all.push(Entry::listen());
    all
}

fn option_row(o: &OptionDef) -> String {
    let (default, what) = match o.support {
        Support::Yes => (format!("`{}`", o.default.describe()), o.doc.to_string()),
        Support::Ignored(why) => ("—".to_string(), format!("{} Accepted without effect: {why}.", o.doc)),
        Support::Refused => ("—".to_string(), format!("{} Not supported yet: giving it is a load error.", o.doc)),
    };
    let default = default.replace("`none`", "none").replace("`no limit`", "no limit");
    format!("| `{}` | {} | {default} | {what} |\n", o.name, o.describe_types())
}

/// The generated part of an entry's page.
fn page_head(e: &Entry) -> String {
    let mut s = String::new();
    writeln!(s, "{PAGE_START}\n# `{}`\n\n```ts\n{}({})\n```\n\n{}\n", e.name, e.name, e.params, e.doc).unwrap();
    if e.options.is_empty() {
        s.push_str("It takes no options.\n");
    } else {
        s.push_str("| option | type | default | what it does |\n|---|---|---|---|\n");
        for o in &e.options {
            s.push_str(&option_row(o));
        }
    }
    writeln!(s, "\n{PAGE_END}").unwrap();
    s
}

/// `page` with its generated part replaced by `head` (or `head` first, for a page
/// without one).
fn with_head(page: &str, head: &str) -> String {
    let hand = match page.find(PAGE_END) {
        Some(end) => &page[end + PAGE_END.len()..],
        None => page,
    };
    format!("{head}\n{}", hand.trim_start_matches('\n'))
}

fn doc_comment(indent: &str, text: &str) -> String {
    format!("{indent}/** {} */\n", text.replace("*/", "* /"))
}

/// The generated part of `types/proxy.d.ts`.
fn types(entries: &[Entry]) -> String {
    let mut s = String::new();
    writeln!(s, "{TYPES_START}\n").unwrap();
    s.push_str("/** The filters: methods of a pipeline layout under construction. */\ninterface Configuration {\n");
    for e in entries.iter().filter(|e| e.name != "listen") {
        s.push_str(&doc_comment("  ", e.doc));
        writeln!(s, "  {}({}): Configuration;", e.name, e.params).unwrap();
    }
    s.push_str("}\n");
    for e in entries.iter().filter(|e| !e.options.is_empty()) {
        writeln!(s, "\n/** Options of `{}`. */\ninterface {} {{", e.name, e.options_type).unwrap();
        for o in &e.options {
            let note = match o.support {
                Support::Yes => format!("{} Default: {}.", o.doc, o.default.describe()),
                Support::Ignored(why) => format!("{} Accepted without effect: {why}.", o.doc),
                Support::Refused => format!("{} Not supported yet: giving it is a load error.", o.doc),
            };
            s.push_str(&doc_comment("  ", &note));
            writeln!(s, "  {}?: {};", o.name, o.typescript()).unwrap();
        }
        s.push_str("}\n");
    }
    writeln!(s, "\n{TYPES_END}").unwrap();
    s
}

fn with_types(file: &str, generated: &str) -> String {
    match (file.find(TYPES_START), file.find(TYPES_END)) {
        (Some(a), Some(b)) if a < b => {
            let rest = &file[b + TYPES_END.len()..];
            format!("{}{generated}{}", &file[..a], rest.strip_prefix('\n').unwrap_or(rest))
        }
        _ => format!("{file}\n{generated}"),
    }
}

/// Every file the reference generates, with the text it should have.
fn expected(root: &Path, registry: &Registry) -> Vec<(PathBuf, String)> {
    let all = entries(registry);
    let mut files = Vec::new();
    for e in &all {
        let path = root.join("docs/reference/filters").join(format!("{}.md", e.name));
        let page = std::fs::read_to_string(&path).unwrap_or_default();
        files.push((path, with_head(&page, &page_head(e))));
    }
    let path = root.join("types/proxy.d.ts");
    let file = std::fs::read_to_string(&path).unwrap_or_default();
    files.push((path, with_types(&file, &types(&all))));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn the_reference_and_the_editor_types_match_the_registry() {
        let update = std::env::var_os("UPDATE_REFERENCE").is_some();
        let mut stale = Vec::new();
        for (path, want) in expected(&root(), &crate::filters()) {
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            if have != want {
                if update {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, &want).unwrap();
                } else {
                    stale.push(path.display().to_string());
                }
            }
        }
        assert!(stale.is_empty(), "out of date with the filter registry (run scripts/reference.sh): {stale:#?}");
    }

    #[test]
    fn every_filter_page_has_its_events_and_an_example() {
        let mut missing = Vec::new();
        let index = std::fs::read_to_string(root().join("docs/reference/README.md")).unwrap_or_default();
        for e in entries(&crate::filters()) {
            if !index.contains(&format!("(filters/{}.md)", e.name)) {
                missing.push(format!("docs/reference/README.md: no link to filters/{}.md", e.name));
            }
            let path = root().join("docs/reference/filters").join(format!("{}.md", e.name));
            let page = std::fs::read_to_string(&path).unwrap_or_default();
            let hand = page.split(PAGE_END).nth(1).unwrap_or("");
            for section in ["## Events", "## Example"] {
                if !hand.contains(section) {
                    missing.push(format!("{}: {section}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "filter pages without their hand-written sections or index entry: {missing:#?}");
    }

    #[test]
    fn every_options_parameter_is_typed_by_its_interface() {
        for e in entries(&crate::filters()) {
            assert_eq!(
                !e.options.is_empty(),
                e.params.contains(&e.options_type),
                "{}: its params name {} exactly when it has options",
                e.name,
                e.options_type
            );
        }
    }

    #[test]
    fn a_regenerated_page_keeps_its_hand_written_part() {
        let e = Entry::listen();
        let head = page_head(&e);
        let once = with_head("Hand-written.\n", &head);
        assert!(once.starts_with(PAGE_START) && once.ends_with(&format!("{PAGE_END}\n\nHand-written.\n")), "{once}");
        assert_eq!(with_head(&once, &head), once, "regenerating changes nothing");
    }
}
