//! Building and packaging the function: a release `bootstrap` for the Lambda architecture,
//! checked (ELF machine, glibc ≤ 2.34 for Amazon Linux 2023) and zipped deterministically so
//! `CodeSha256` only changes when the binary does.

use crate::model::Arch;
use anyhow::{Context, anyhow, bail};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Highest glibc version Amazon Linux 2023 provides.
pub const MAX_GLIBC: (u32, u32) = (2, 34);

/// A packaged function.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The zip bytes.
    pub zip: Vec<u8>,
    /// `base64(sha256(zip))`, as Lambda reports `CodeSha256`.
    pub sha256: String,
}

/// The workspace this deployer was built from, if it is still there.
fn workspace_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    root.join("function/Cargo.toml").exists().then_some(root)
}

/// Builds `bootstrap` in release for `arch` and returns its path.
pub fn build(arch: Arch, quiet: bool) -> anyhow::Result<PathBuf> {
    let root = workspace_root().ok_or_else(|| {
        anyhow!("the function's source is not available to build\nhint: pass a prebuilt artifact with `--zip PATH`")
    })?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let (mut cmd, out) = build_command(arch, &target_dir)?;
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(is_outer_cargo_var) {
            cmd.env_remove(&key);
        }
    }
    if quiet {
        cmd.arg("--quiet");
    }
    let status = cmd
        .current_dir(&root)
        .stdout(std::process::Stdio::null())
        .status()
        .context("could not run cargo to build the function")?;
    if !status.success() {
        bail!("building the function failed (see cargo's output above)");
    }
    Ok(out)
}

/// The cargo command that builds `bootstrap` for `arch`, and where the binary lands: a plain
/// release build on a Linux host of the same architecture, else cargo-zigbuild (glibc 2.34,
/// as provided.al2023) or cargo-lambda.
fn build_command(arch: Arch, target_dir: &Path) -> anyhow::Result<(Command, PathBuf)> {
    if arch == Arch::host() && cfg!(target_os = "linux") {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "--release", "-p", "function", "--bin", "bootstrap"]);
        return Ok((cmd, target_dir.join("release/bootstrap")));
    }
    let triple = match arch {
        Arch::X86_64 => "x86_64-unknown-linux-gnu",
        Arch::Arm64 => "aarch64-unknown-linux-gnu",
    };
    let mut cmd = Command::new("cargo");
    if which("cargo-zigbuild") {
        let target = format!("{triple}.2.34");
        cmd.args([
            "zigbuild",
            "--release",
            "-p",
            "function",
            "--bin",
            "bootstrap",
            "--target",
            &target,
        ]);
    } else if which("cargo-lambda") {
        cmd.args([
            "lambda",
            "build",
            "--release",
            "-p",
            "function",
            "--target",
            triple,
        ]);
    } else {
        bail!(
            "building for {} on this machine needs cargo-zigbuild or cargo-lambda, and neither is installed\nhint: install one, or pass a prebuilt artifact with `--zip PATH`",
            arch.as_str()
        );
    }
    Ok((cmd, target_dir.join(triple).join("release/bootstrap")))
}

/// Variables an outer `cargo run` or `cargo test` sets for the program it starts. Inherited by
/// the nested build, they change what build scripts see (ring's reruns on `CARGO_PKG_NAME`),
/// so the function would be rebuilt each time the deployer is started the other way.
fn is_outer_cargo_var(key: &str) -> bool {
    const SET_FOR_PROGRAMS: [&str; 8] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
    ];
    key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_BIN_EXE_")
        || SET_FOR_PROGRAMS.contains(&key)
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()))
}

/// Reads a zip given with `--zip`, checking the `bootstrap` inside.
pub fn from_zip(path: &Path, arch: Arch) -> anyhow::Result<Artifact> {
    let zip =
        std::fs::read(path).with_context(|| format!("could not read `{}`", path.display()))?;
    let mut elf = Vec::new();
    {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zip))
            .with_context(|| format!("`{}` is not a zip file", path.display()))?;
        let mut entry = archive
            .by_name("bootstrap")
            .map_err(|_| anyhow!("`{}` has no `bootstrap` at its root", path.display()))?;
        std::io::Read::read_to_end(&mut entry, &mut elf)?;
    }
    check_elf(&elf, arch)?;
    Ok(Artifact {
        sha256: sha256_b64(&zip),
        zip,
    })
}

/// Packages the binary at `binary`.
pub fn package(binary: &Path, arch: Arch) -> anyhow::Result<Artifact> {
    let elf =
        std::fs::read(binary).with_context(|| format!("could not read `{}`", binary.display()))?;
    check_elf(&elf, arch)?;
    let zip = zip_bootstrap(&elf)?;
    Ok(Artifact {
        sha256: sha256_b64(&zip),
        zip,
    })
}

/// A zip with one entry, `bootstrap`, mode 0755, fixed timestamp: the same bytes for the same binary.
pub fn zip_bootstrap(elf: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default());
    out.start_file("bootstrap", options)?;
    out.write_all(elf)?;
    Ok(out.finish()?.into_inner())
}

/// `base64(sha256(bytes))`.
pub fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The highest `GLIBC_x.y` version the ELF's `.gnu.version_r` requires.
pub fn glibc_floor(elf: &[u8]) -> Option<(u32, u32)> {
    const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
    let shoff = u64_at(elf, 0x28)? as usize;
    let shentsize = u16_at(elf, 0x3a)? as usize;
    let shnum = u16_at(elf, 0x3c)? as usize;
    let section = |i: usize| shoff + i * shentsize;
    let mut best: Option<(u32, u32)> = None;
    for i in 0..shnum {
        let s = section(i);
        if u32_at(elf, s + 4)? != SHT_GNU_VERNEED {
            continue;
        }
        let offset = u64_at(elf, s + 0x18)? as usize;
        let link = u32_at(elf, s + 0x28)? as usize;
        let count = u32_at(elf, s + 0x2c)? as usize;
        let strtab = u64_at(elf, section(link) + 0x18)? as usize;
        let mut need = offset;
        for _ in 0..count {
            let cnt = u16_at(elf, need + 2)? as usize;
            let mut aux = need + u32_at(elf, need + 8)? as usize;
            for _ in 0..cnt {
                let name_at = strtab + u32_at(elf, aux + 8)? as usize;
                let end = elf.get(name_at..)?.iter().position(|&c| c == 0)?;
                let name = std::str::from_utf8(&elf[name_at..name_at + end]).ok()?;
                if let Some(v) = name.strip_prefix("GLIBC_") {
                    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
                    if let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) {
                        best = best.max(Some((major, minor)));
                    }
                }
                aux += u32_at(elf, aux + 12)? as usize;
            }
            let next = u32_at(elf, need + 12)? as usize;
            if next == 0 {
                break;
            }
            need += next;
        }
    }
    best
}

/// Refuses anything but a 64-bit little-endian ELF for `arch` needing glibc ≤ 2.34.
pub fn check_elf(elf: &[u8], arch: Arch) -> anyhow::Result<()> {
    if elf.get(..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        bail!("`bootstrap` is not a 64-bit little-endian Linux executable");
    }
    let machine = u16_at(elf, 0x12).unwrap_or(0);
    let found = match machine {
        0x3e => "x86_64",
        0xb7 => "arm64",
        _ => "an unknown architecture",
    };
    if found != arch.as_str() {
        bail!(
            "`bootstrap` is built for {found}, but the function is {}\nhint: pass `--arch {found}` or build for {}",
            arch.as_str(),
            arch.as_str()
        );
    }
    if let Some((major, minor)) = glibc_floor(elf)
        && (major, minor) > MAX_GLIBC
    {
        bail!(
            "`bootstrap` needs glibc {major}.{minor}, but Lambda's provided.al2023 has {}.{}\nhint: build with cargo-zigbuild (`--target x86_64-unknown-linux-gnu.2.34`) or on an older distribution",
            MAX_GLIBC.0,
            MAX_GLIBC.1
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
