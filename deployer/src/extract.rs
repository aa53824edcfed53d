//! Text from the files `ingest` and `sync` read, by extension: text and Markdown as they are
//! (UTF-8), PDF (`pdf-extract`, page by page), HTML (`html2text`, with navigation, headers,
//! footers, scripts and forms left out) and DOCX (its `word/document.xml`: paragraphs, and
//! table rows as `cell | cell`). A file that yields no text is an error, never an empty
//! document; so is a file that is not what its extension says.

use std::io::Read;
use std::path::Path;

/// The formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.md`, `.markdown`, `.txt`, `.text`.
    Text,
    /// `.pdf`.
    Pdf,
    /// `.html`, `.htm`.
    Html,
    /// `.docx`.
    Docx,
}

/// Extensions and their formats (lowercase).
const EXTENSIONS: [(&str, Format); 8] = [
    ("md", Format::Text),
    ("markdown", Format::Text),
    ("txt", Format::Text),
    ("text", Format::Text),
    ("pdf", Format::Pdf),
    ("html", Format::Html),
    ("htm", Format::Html),
    ("docx", Format::Docx),
];

/// The largest `word/document.xml` read (a zip bomb stops here).
const MAX_DOCX_XML_BYTES: u64 = 64 * 1024 * 1024;
/// Columns HTML is laid out in (wide: lines are not wrapped for the embedding's sake).
const HTML_WIDTH: usize = 10_000;
/// What an HTML page shows that is not its content.
const HTML_HIDDEN: &str =
    "nav, header, footer, aside, script, style, noscript, form, template { display: none }";

impl Format {
    /// The format of `path`, by its extension; `None` for files not read.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        EXTENSIONS
            .iter()
            .find(|(e, _)| *e == ext)
            .map(|(_, format)| *format)
    }

    /// The name stored in a document's `format` metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Pdf => "pdf",
            Format::Html => "html",
            Format::Docx => "docx",
        }
    }

    /// Every extension read, for messages.
    pub fn extensions() -> String {
        EXTENSIONS
            .iter()
            .map(|(e, _)| format!(".{e}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A file's text.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    /// The text.
    pub text: String,
    /// What it was.
    pub format: Format,
    /// PDF: each page's text (empty for other formats).
    pub pages: Vec<String>,
}

/// The text of `bytes`, read as `format`; the error says why there is none.
pub fn extract(format: Format, bytes: &[u8]) -> Result<Extracted, String> {
    let (text, pages) = match format {
        Format::Text => (
            String::from_utf8(bytes.to_vec())
                .map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))?,
            Vec::new(),
        ),
        Format::Pdf => {
            let pages: Vec<String> = pdf_pages(bytes)?.iter().map(|p| tidy(p)).collect();
            (pages.join("\n\n"), pages)
        }
        Format::Html => (html_text(bytes)?, Vec::new()),
        Format::Docx => (docx_text(bytes)?, Vec::new()),
    };
    let text = tidy(&text);
    if text.trim().is_empty() {
        return Err(match format {
            Format::Pdf => "no text could be extracted (a scanned PDF needs OCR first)".into(),
            _ => "no text in it".into(),
        });
    }
    Ok(Extracted {
        text,
        format,
        pages,
    })
}

/// Lines without trailing blanks, and at most one empty line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim_end) {
        blank = if line.is_empty() { blank + 1 } else { 0 };
        if blank <= 1 {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim().to_string()
}

fn pdf_pages(bytes: &[u8]) -> Result<Vec<String>, String> {
    // The parser must not take the process down with a malformed file.
    let owned = bytes.to_vec();
    std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem_by_pages(&owned))
        .map_err(|_| "not a PDF this reader can parse".to_string())?
        .map_err(|e| format!("not a readable PDF: {e}"))
}

fn html_text(bytes: &[u8]) -> Result<String, String> {
    html2text::config::plain_no_decorate()
        .add_css(HTML_HIDDEN)
        .map_err(|e| format!("HTML reader: {e}"))?
        .string_from_read(bytes, HTML_WIDTH)
        .map_err(|e| format!("not readable HTML: {e}"))
}

fn docx_text(bytes: &[u8]) -> Result<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a DOCX (zip) file: {e}"))?;
    let entry = archive
        .by_name("word/document.xml")
        .map_err(|_| "not a DOCX file: it has no word/document.xml".to_string())?;
    let mut xml = String::new();
    entry
        .take(MAX_DOCX_XML_BYTES)
        .read_to_string(&mut xml)
        .map_err(|e| format!("not a readable DOCX: {e}"))?;
    docx_xml_text(&xml)
}

/// The text of a DOCX body: `w:t` runs, `w:tab`, `w:br`, paragraphs on lines of their own and
/// table rows as `cell | cell`.
fn docx_xml_text(xml: &str) -> Result<String, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = String::new();
    let (mut in_text, mut cells) = (false, 0usize);
    let bad = |e: &dyn std::fmt::Display| format!("not a readable DOCX: {e}");
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Start(e) if e.name().0 == "w:t" => in_text = true,
            Event::End(e) => match e.name().0 {
                "w:t" => in_text = false,
                "w:p" => out.push(if cells > 0 { ' ' } else { '\n' }),
                "w:tc" => {
                    cells = cells.saturating_sub(1);
                    out.truncate(out.trim_end_matches(' ').len());
                    out.push_str(" | ");
                }
                "w:tr" => {
                    let row = out.trim_end_matches([' ', '|']).len();
                    out.truncate(row);
                    out.push('\n');
                }
                _ => {}
            },
            Event::Start(e) if e.name().0 == "w:tc" => cells += 1,
            Event::Empty(e) => match e.name().0 {
                "w:tab" => out.push('\t'),
                "w:br" => out.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => out.push_str(&t.into_inner()),
            Event::GeneralRef(r) if in_text => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| bad(&e))? {
                    out.push(c);
                } else {
                    let name = r.into_inner();
                    out.push_str(quick_xml::escape::resolve_predefined_entity(&name).unwrap_or(""));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use testkit::files::{HTML, docx, pdf};

    #[test]
    fn html_keeps_the_article_and_drops_navigation_scripts_and_footers() {
        let got = extract(Format::Html, HTML.as_bytes()).unwrap();
        assert!(
            got.text.contains("Rivian expands its charging network"),
            "{}",
            got.text
        );
        assert!(
            got.text.contains("forty new adventure network sites"),
            "{}",
            got.text
        );
        for noise in [
            "tracking code",
            "font-family",
            "Newsletter",
            "Sign in",
            "Copyright",
            "ten stocks",
        ] {
            assert!(!got.text.contains(noise), "{noise} in {}", got.text);
        }
    }

    #[test]
    fn docx_paragraphs_and_table_rows_are_read_in_order() {
        let bytes = docx(
            &[
                "Lucid Motors annual review",
                "Deliveries grew &amp; margins improved.",
            ],
            &[["Quarter", "Deliveries"], ["Q1", "1,967"], ["Q2", "2,394"]],
        );
        let got = extract(Format::Docx, &bytes).unwrap();
        assert_eq!(
            got.text,
            "Lucid Motors annual review\nQuarter | Deliveries\nQ1 | 1,967\nQ2 | 2,394\nDeliveries grew & margins improved."
        );
        assert!(
            extract(Format::Docx, b"not a zip")
                .unwrap_err()
                .contains("not a DOCX")
        );
    }

    #[test]
    fn a_two_column_pdf_is_read_page_by_page() {
        let bytes = pdf(
            &["Left column: NextEra Energy", "builds wind farms."],
            &["Right column: First Solar", "makes thin film panels."],
            &["Page two: utility scale storage."],
        );
        let got = extract(Format::Pdf, &bytes).unwrap();
        assert_eq!(got.pages.len(), 2);
        assert!(got.pages[1].contains("utility scale storage."));
        for part in [
            "NextEra Energy",
            "builds wind farms.",
            "First Solar",
            "thin film panels.",
            "utility scale storage.",
        ] {
            assert!(got.text.contains(part), "{part} in {:?}", got.text);
        }
        // A column's lines stay together.
        let (a, b) = (
            got.text.find("NextEra").unwrap(),
            got.text.find("builds wind").unwrap(),
        );
        assert!(a < b);
        assert!(extract(Format::Pdf, b"%PDF-1.4 garbage").is_err());
    }

    #[test]
    fn files_without_text_are_errors_not_empty_documents() {
        assert!(
            extract(Format::Text, b"  \n\n ")
                .unwrap_err()
                .contains("no text")
        );
        assert!(
            extract(Format::Text, b"ok \xff")
                .unwrap_err()
                .contains("UTF-8")
        );
        assert!(extract(Format::Html, b"<html><nav>menu</nav></html>").is_err());
        let empty = pdf(&[], &[], &[]);
        assert!(extract(Format::Pdf, &empty).unwrap_err().contains("OCR"));
        assert_eq!(Format::of(Path::new("a/B.PDF")), Some(Format::Pdf));
        assert_eq!(Format::of(Path::new("a/b.png")), None);
        assert_eq!(tidy("a  \n\n\n\nb\n"), "a\n\nb");
    }
}
