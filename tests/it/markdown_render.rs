//! The markdown compatibility tables as GitHub renders them: parsed by a real
//! GitHub-flavoured markdown parser (pulldown-cmark, tables and footnotes on), every table
//! keeps its shape and every footnote reference meets its definition, both in the
//! committed reports and in one rendered now.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use std::collections::BTreeSet;
use std::process::Command;

/// What a parse found: per table its heading and each row's cell count; the footnotes
/// referenced and defined; text that still looks like a footnote reference.
#[derive(Default)]
struct Parsed {
    tables: Vec<(usize, Vec<usize>)>,
    references: BTreeSet<String>,
    definitions: BTreeSet<String>,
    loose: Vec<String>,
}

fn parse(markdown: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut row: Option<usize> = None;
    let mut row_source = 0..0;
    let mut last_cell_end = 0;
    let mut text_seen = String::new();
    let options = Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES;
    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        match event {
            Event::Start(Tag::Table(alignments)) => parsed.tables.push((alignments.len(), vec![])),
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                row = Some(0);
                row_source = range;
                last_cell_end = row_source.start;
            }
            // The parser pads a short row with cells that have no source: count only the
            // cells the markdown wrote.
            Event::Start(Tag::TableCell) if !range.is_empty() => {
                *row.as_mut().expect("a cell inside a row") += 1;
                last_cell_end = range.end;
            }
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                let mut cells = row.take().expect("a row ends once");
                // The parser drops cells past the heading's count: count them back.
                let rest = markdown
                    .get(last_cell_end..row_source.end)
                    .unwrap_or_default()
                    .trim_start_matches(|c: char| c == '|' || c.is_whitespace());
                cells += rest.split('|').filter(|c| !c.trim().is_empty()).count();
                parsed.tables.last_mut().expect("a table").1.push(cells);
            }
            Event::FootnoteReference(label) => {
                parsed.references.insert(label.to_string());
            }
            Event::Start(Tag::FootnoteDefinition(label)) => {
                parsed.definitions.insert(label.to_string());
            }
            // The parser may split text around brackets: join it before looking.
            Event::Text(text) => text_seen.push_str(&text),
            Event::End(TagEnd::Paragraph | TagEnd::TableCell) => text_seen.push('\n'),
            _ => {}
        }
    }
    parsed.loose = (text_seen.lines())
        .filter(|l| l.contains("[^"))
        .map(str::to_string)
        .collect();
    parsed
}

/// Asserts the shape GitHub would show: tables with as many cells in every row as the
/// heading has columns, footnote references and definitions that match both ways.
fn assert_renders(name: &str, markdown: &str) -> Parsed {
    let parsed = parse(markdown);
    assert!(!parsed.tables.is_empty(), "{name}: no table");
    for (i, (columns, rows)) in parsed.tables.iter().enumerate() {
        assert!(rows.len() > 1, "{name}: table {i} has no body");
        for (r, cells) in rows.iter().enumerate() {
            assert_eq!(
                cells, columns,
                "{name}: table {i}, row {r} has {cells} cells for {columns} columns"
            );
        }
    }
    let unresolved: Vec<_> = parsed.references.difference(&parsed.definitions).collect();
    assert!(
        unresolved.is_empty(),
        "{name}: no definition for {unresolved:?}"
    );
    let unused: Vec<_> = parsed.definitions.difference(&parsed.references).collect();
    assert!(unused.is_empty(), "{name}: never referenced: {unused:?}");
    assert!(
        parsed.loose.is_empty(),
        "{name}: footnote syntax left as text: {:?}",
        parsed.loose
    );
    parsed
}

#[test]
fn a_row_with_a_missing_or_an_extra_cell_is_caught() {
    let short = parse("| a | b |\n|---|---|\n| 1 |\n");
    assert_eq!(short.tables, vec![(2, vec![2, 1])]);
    let long = parse("| a | b |\n|---|---|\n| 1 | 2 | 3 |\n");
    assert_ne!(long.tables[0].1[1], 2, "an extra cell is seen");
    let dangling = parse("x [^nowhere]\n");
    let unresolved = !dangling.references.is_subset(&dangling.definitions);
    assert!(
        unresolved || !dangling.loose.is_empty(),
        "a dangling reference is seen"
    );
}

#[test]
fn the_committed_reports_render_as_tables_with_resolving_footnotes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
    for name in ["azure-openai.md", "azure-openai-v1.md"] {
        let markdown = std::fs::read_to_string(dir.join(name)).expect("a committed report");
        let parsed = assert_renders(name, &markdown);
        // What each package records, every cell, customers' setups.
        assert_eq!(parsed.tables.len(), 3, "{name}");
        assert!(
            markdown.len() < 15_000,
            "{name} is {} bytes, over 15 KB",
            markdown.len()
        );
        // A known issue's note is labelled with its id and defined once.
        assert!(
            markdown
                .contains("[^traceloop-no-server-address]: Traceloop records no server.address."),
            "{name}"
        );
        assert_eq!(
            markdown.matches("[^traceloop-no-server-address]:").count(),
            1
        );
    }
}

#[test]
fn a_report_rendered_now_keeps_its_shape() {
    let dir = std::env::temp_dir().join(format!("hh-compat-markdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let results = dir.join("results.json");
    let hh = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hh-compat"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("the binary runs")
    };
    let run = hh(&[
        "run", "--driver", "rust", "--stable", "--format", "json", "--out",
    ]
    .into_iter()
    .chain([results.to_str().expect("a UTF-8 path")])
    .collect::<Vec<_>>());
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let report = hh(&["report", results.to_str().unwrap(), "--format", "markdown"]);
    assert_eq!(report.status.code(), Some(0), "{report:?}");
    let markdown = String::from_utf8(report.stdout).expect("UTF-8 markdown");
    let parsed = assert_renders("the reference run", &markdown);
    // Reference cells only: no package rows, so only the cells table.
    assert_eq!(parsed.tables.len(), 1, "{markdown}");
    assert!(!parsed.references.is_empty(), "{markdown}");
    let _ = std::fs::remove_dir_all(&dir);
}
