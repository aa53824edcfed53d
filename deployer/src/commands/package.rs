//! `package`: builds the function and writes the deployment zip `up` would upload.

use crate::cli::PackageArgs;
use crate::printer::Printer;
use crate::report::Report;
use serde::Serialize;

/// What `package` wrote.
#[derive(Debug, Serialize)]
pub struct PackageReport {
    /// The zip's path.
    pub path: String,
    /// Its size.
    pub bytes: usize,
    /// Lambda's `CodeSha256` of it.
    pub code_sha256: String,
}

impl std::fmt::Display for PackageReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} {} bytes sha256 {}",
            self.path, self.bytes, self.code_sha256
        )
    }
}

impl Report for PackageReport {}

/// `package`.
pub fn run(args: &PackageArgs, printer: &Printer) -> anyhow::Result<PackageReport> {
    printer.step(&format!(
        "build   function (release, {})",
        args.arch.as_str()
    ));
    let binary = crate::package::build(args.arch, printer.is_quiet())?;
    let artifact = crate::package::package(&binary, args.arch)?;
    std::fs::write(&args.out, &artifact.zip)
        .map_err(|e| anyhow::anyhow!("could not write `{}`: {e}", args.out.display()))?;
    Ok(PackageReport {
        path: args.out.display().to_string(),
        bytes: artifact.zip.len(),
        code_sha256: artifact.sha256,
    })
}
