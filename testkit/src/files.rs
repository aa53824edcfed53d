//! Real-looking files for extraction tests: a two-column, two-page PDF (Helvetica text
//! objects), a DOCX with paragraphs and a table, and a news page with navigation, scripts, an
//! aside and a footer around its article.

/// A DOCX with a heading paragraph, a table and a closing paragraph.
pub fn docx(paragraphs: &[&str], table: &[[&str; 2]]) -> Vec<u8> {
    use std::io::Write;
    let p = |t: &str| format!("<w:p><w:r><w:t xml:space=\"preserve\">{t}</w:t></w:r></w:p>");
    let rows: String = table
        .iter()
        .map(|[a, b]| format!("<w:tr><w:tc>{}</w:tc><w:tc>{}</w:tc></w:tr>", p(a), p(b)))
        .collect();
    let (first, rest) = paragraphs.split_first().unwrap();
    let body = format!(
        "{}<w:tbl>{rows}</w:tbl>{}",
        p(first),
        rest.iter().map(|t| p(t)).collect::<String>()
    );
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>"
    );
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("[Content_Types].xml", opts).unwrap();
    zip.write_all(b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>").unwrap();
    zip.start_file("word/document.xml", opts).unwrap();
    zip.write_all(xml.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// A two-page PDF whose first page has two columns of text (Helvetica, `Tj` lines).
pub fn pdf(left: &[&str], right: &[&str], page_two: &[&str]) -> Vec<u8> {
    let column = |x: u32, lines: &[&str]| -> String {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("BT /F1 11 Tf {x} {} Td ({l}) Tj ET\n", 720 - 14 * i))
            .collect()
    };
    let contents = [
        format!("{}{}", column(56, left), column(316, right)),
        column(56, page_two),
    ];
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>".to_string(),
    ];
    for page in 0..2 {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 7 0 R >> >> /Contents {} 0 R >>",
            5 + page
        ));
    }
    for c in &contents {
        objects.push(format!("<< /Length {} >>\nstream\n{c}endstream", c.len()));
    }
    objects.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_string(),
    );
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    out
}

pub const HTML: &str = r#"<!doctype html><html><head><title>Q3 update</title>
<script>window.track = function () { return "tracking code"; };</script>
<style>body { font-family: sans-serif }</style></head>
<body><header><a href="/">Home</a> <a href="/markets">Markets</a> <a href="/login">Sign in</a></header>
<nav><ul><li><a href="/a">Newsletter</a></li><li><a href="/b">Podcasts</a></li></ul></nav>
<main><article><h1>Rivian expands its charging network</h1>
<p>Rivian opened forty new <b>adventure network</b> sites across the Pacific Northwest this quarter.</p>
<p>See <a href="/filing">the filing</a> for details.</p></article></main>
<aside>Related: ten stocks to watch</aside><footer>Copyright 2026 Example Media. Cookie settings.</footer>
</body></html>"#;
