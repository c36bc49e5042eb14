//! Hostile scenarios: the grammar's limits fail where they are passed, with a position,
//! on a small stack; and the loader's work grows linearly with its input.

use super::limits::{
    MAX_ATTRIBUTES, MAX_COMMANDS, MAX_DEPTH, MAX_ELEMENTS, MAX_FILE_CONTENT_BYTES, MAX_REGEX_BYTES,
    MAX_REGEXES, work,
};
use super::*;

const SEND: &str = "<send><![CDATA[\nINVITE sip:x SIP/2.0\nContent-Length: 0\n\n]]></send>";

/// Loads `xml` on a thread with a 256 KiB stack (an eighth of a request thread's), so a
/// walk that recursed per nesting level would overflow here first.
#[allow(
    clippy::disallowed_methods,
    reason = "a thread with a small stack is the measuring tape of this test"
)]
fn load_on_small_stack(xml: String) -> Result<Scenario, ScenarioErrors> {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || load(xml.as_bytes(), "deep.xml", &LoadOptions::default()))
        .expect("spawn")
        .join()
        .expect("the loader did not overflow its stack")
}

/// 1-based line and column of the `nth` (0-based) occurrence of `needle` in `xml`.
fn line_col(xml: &str, needle: &str, nth: usize) -> (u32, u32) {
    let (at, _) = xml.match_indices(needle).nth(nth).expect("present");
    let before = &xml[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line as u32, column as u32)
}

fn limit_error(xml: String) -> ScenarioError {
    let errors = load_on_small_stack(xml).expect_err("refused");
    assert_eq!(errors.0.len(), 1, "{errors}");
    errors.0.into_iter().next().expect("one")
}

#[test]
fn nesting_past_the_cap_fails_at_the_first_element_too_deep() {
    for depth in [MAX_DEPTH + 1, 60_000, 1_000_000] {
        // One element per line: element k (1-based) sits on line k.
        let xml = format!(
            "<scenario>\n{}{}</scenario>",
            "<a>\n".repeat(depth - 1),
            "</a>".repeat(depth - 1)
        );
        let e = limit_error(xml);
        assert_eq!(e.kind, ScenarioErrorKind::Limit(Limit::Depth), "{e}");
        assert_eq!((e.pos.line, e.pos.column), (MAX_DEPTH as u32 + 1, 1), "{e}");
    }
    // At the cap itself the tree is built (and refused for what it is, not its depth).
    let xml = format!(
        "<scenario>{SEND}<nop>{}{}</nop></scenario>",
        "<a>".repeat(MAX_DEPTH - 2),
        "</a>".repeat(MAX_DEPTH - 2)
    );
    let errors = load_on_small_stack(xml).expect_err("unknown element");
    assert!(
        errors
            .0
            .iter()
            .all(|e| !matches!(e.kind, ScenarioErrorKind::Limit(_))),
        "{errors}"
    );
}

#[test]
fn element_attribute_and_command_caps_name_the_first_one_past() {
    let e = limit_error(format!(
        "<scenario>{}</scenario>",
        "<nop/>\n".repeat(MAX_ELEMENTS)
    ));
    assert_eq!(e.kind, ScenarioErrorKind::Limit(Limit::Elements));
    assert_eq!((e.pos.line, e.pos.column), (MAX_ELEMENTS as u32, 1), "{e}");

    let attrs: String = (0..=MAX_ATTRIBUTES)
        .map(|i| format!(" a{i}=\"v\""))
        .collect();
    let xml = format!("<scenario>{SEND}\n<nop{attrs}/></scenario>");
    let past = line_col(&xml, &format!("a{MAX_ATTRIBUTES}="), 0);
    let e = limit_error(xml);
    assert_eq!(e.kind, ScenarioErrorKind::Limit(Limit::Attributes));
    assert_eq!((e.pos.line, e.pos.column), past, "{e}");

    // Commands count in file order, <init> included: with 10 commands in <init>, the
    // main program's last <nop/> is one too many.
    let xml = format!(
        "<scenario>\n<init>\n{}</init>\n{SEND}\n{}</scenario>",
        "<nop/>\n".repeat(10),
        "<nop/>\n".repeat(MAX_COMMANDS - 10)
    );
    let past = line_col(&xml, "<nop/>", 10 + MAX_COMMANDS - 11);
    let e = limit_error(xml);
    assert_eq!(e.kind, ScenarioErrorKind::Limit(Limit::Commands));
    assert_eq!((e.pos.line, e.pos.column), past, "{e}");

    let at_cap = format!(
        "<scenario>{SEND}{}</scenario>",
        "<nop/>".repeat(MAX_COMMANDS - 1)
    );
    load_on_small_stack(at_cap).expect("exactly MAX_COMMANDS commands load");
}

#[test]
fn regular_expressions_are_counted_before_they_are_compiled() {
    let ereg = |re: &str| {
        format!(
            "<nop><action><ereg regexp=\"{re}\" search_in=\"msg\" assign_to=\"v\"/></action></nop>\n"
        )
    };
    let use_v = "<nop><action><log message=\"[$v]\"/></action></nop>";
    let xml = format!(
        "<scenario>{SEND}{}{use_v}</scenario>",
        (0..=MAX_REGEXES)
            .map(|i| ereg(&format!("a{i}")))
            .collect::<String>()
    );
    let past = line_col(&xml, &format!("regexp=\"a{MAX_REGEXES}\""), 0);
    let e = limit_error(xml);
    assert_eq!(e.kind, ScenarioErrorKind::Limit(Limit::Regexes));
    assert_eq!((e.pos.line, e.pos.column), past, "{e}");

    let big = "x".repeat(MAX_REGEX_BYTES / 2);
    let xml = format!(
        "<scenario>{SEND}{}{}<recv request=\"X{big}\" regexp_match=\"true\"/>{use_v}</scenario>",
        ereg(&big),
        ereg("small")
    );
    let e = limit_error(xml);
    assert_eq!(e.kind, ScenarioErrorKind::Limit(Limit::RegexBytes));
}

#[test]
fn file_contents_are_read_once_per_name_and_capped_in_all() {
    let third = MAX_FILE_CONTENT_BYTES / 3 + 1;
    let mut files = crate::files::MemFiles::new(FileAccess::Cwd);
    for name in ["a", "b", "c"] {
        files = files.with(format!("dir/{name}"), &vec![b'x'; third]);
    }
    let msg = |names: &[&str]| {
        let kws: String = names
            .iter()
            .map(|n| format!("[file name=\"dir/{n}\"]\n"))
            .collect();
        format!("<scenario><send><![CDATA[\nMESSAGE sip:x SIP/2.0\n\n{kws}]]></send></scenario>")
    };
    let opts = LoadOptions {
        keys: &[],
        files: &files,
    };
    // One file named 200 times is read (and held) once.
    let names = ["a"; 200];
    let s = load(msg(&names).as_bytes(), "f.xml", &opts).expect("loads");
    let CommandKind::Send(send) = &s.commands[0].kind else {
        panic!("a send")
    };
    let files: Vec<&std::sync::Arc<[u8]>> = send
        .template
        .segments
        .iter()
        .filter_map(|seg| match seg {
            Segment::Keyword(Keyword::File(b)) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(files.len(), 200);
    assert!(files.iter().all(|b| std::sync::Arc::ptr_eq(b, files[0])));
    // Three distinct files go past the total at the third.
    let xml = msg(&["a", "b", "a", "c", "b"]);
    let errors = load(xml.as_bytes(), "f.xml", &opts).expect_err("refused").0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kind, ScenarioErrorKind::Limit(Limit::FileContent));
    assert_eq!(errors[0].pos.line, 7, "the line naming c");
}

/// Hostile shapes that each hit a step that used to cost O(n²): column lookups on one
/// long line, SIPp's blank clean-up, keyword positions, interning of rtd, counter and file
/// names, transaction checks, and attribute positions.
fn shapes(n: usize) -> Vec<(&'static str, String)> {
    let many = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<String>();
    vec![
        (
            "nops on one line",
            format!("<scenario>{SEND}{}</scenario>", "<nop/>".repeat(n)),
        ),
        (
            "blank runs in a message",
            format!(
                "<scenario><send><![CDATA[\nINVITE sip:x SIP/2.0\n{}x{}\n\n]]></send></scenario>",
                " \t".repeat(n * 4),
                " ".repeat(n * 4)
            ),
        ),
        (
            "distinct keywords",
            format!(
                "<scenario><send><![CDATA[\nINVITE sip:x SIP/2.0\nX: {}\n\n]]></send></scenario>",
                many(&|i| format!("[$v{i}][$v{i}]"))
            ),
        ),
        (
            "keywords the clean-up changed",
            format!(
                "<scenario><send><![CDATA[\nINVITE sip:x SIP/2.0\nX: {}\n\n]]></send></scenario>",
                many(&|i| format!("[$v{i} \n ][$v{i}]"))
            ),
        ),
        (
            "rtd and counter names",
            format!(
                "<scenario>{SEND}{}</scenario>",
                many(&|i| format!("<nop start_rtd=\"r{i}\" rtd=\"r{i}\" counter=\"c{i}\"/>"))
            ),
        ),
        (
            "transactions",
            format!(
                "<scenario>{}{}</scenario>",
                many(&|i| format!(
                    "<send start_txn=\"t{i}\"><![CDATA[\nOPTIONS sip:x SIP/2.0\n\n]]></send>"
                )),
                many(&|i| format!("<recv response=\"200\" response_txn=\"t{i}\"/>"))
            ),
        ),
        (
            "injection file names",
            format!(
                "<scenario>{SEND}{}</scenario>",
                many(&|i| format!(
                    "<nop><action><insert file=\"f{i}\" value=\"x\"/></action></nop>"
                ))
            ),
        ),
        (
            "attributes",
            format!(
                "<scenario>{SEND}{}</scenario>",
                many(&|_| format!(
                    "<nop{}/>",
                    (0..MAX_ATTRIBUTES)
                        .map(|a| format!(" x{a}=\"{a}\""))
                        .collect::<String>()
                ))
            ),
        ),
    ]
}

#[test]
fn the_loaders_work_grows_linearly_with_its_input() {
    // Sizes stay under every cap; a quadratic step would do 64 times the work at 8n.
    let (small, large) = (shapes(150), shapes(1_200));
    for ((name, s), (_, l)) in small.into_iter().zip(large) {
        work::take();
        let _ = load(s.as_bytes(), "s.xml", &LoadOptions::default());
        let w_small = work::take();
        let _ = load(l.as_bytes(), "l.xml", &LoadOptions::default());
        let w_large = work::take();
        let bytes_ratio = l.len() as f64 / s.len() as f64;
        let work_ratio = w_large as f64 / w_small.max(1) as f64;
        assert!(
            w_small > 0 && work_ratio <= bytes_ratio * 1.25,
            "{name}: {w_small} → {w_large} units of work for {} → {} bytes",
            s.len(),
            l.len()
        );
        // And the work per byte stays small in absolute terms.
        assert!(
            w_large <= 64 * l.len() as u64,
            "{name}: {w_large} units for {} bytes",
            l.len()
        );
    }
}
