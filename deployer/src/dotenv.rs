//! Writing `.env` files, as the original scripts used them: `output --write-env` upserts its
//! lines (other lines kept, mode 0600, replaced atomically). Reading them is
//! [`crate::settings::DotEnv`]: read once, never applied to the process.

use anyhow::Context as _;
use std::path::Path;

/// Upserts `KEY=value` lines into the `.env` at `path` (other lines kept; mode 0600).
pub fn upsert(path: &Path, lines: &[(&str, String)]) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("could not read `{}`", path.display())),
    };
    let mut out: Vec<String> = Vec::new();
    let mut written = std::collections::HashSet::new();
    for line in existing.lines() {
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_start_matches("export ").trim());
        match key.and_then(|k| lines.iter().find(|(name, _)| *name == k)) {
            Some((name, value)) => {
                if written.insert(*name) {
                    out.push(format!("{name}={value}"));
                }
            }
            None => out.push(line.to_string()),
        }
    }
    for (name, value) in lines {
        if !written.contains(name) {
            out.push(format!("{name}={value}"));
        }
    }
    let text = out.join("\n") + "\n";
    let tmp = path.with_extension("env.tmp");
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("could not write `{}`", tmp.display()))?;
        f.write_all(text.as_bytes())?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("could not replace `{}`", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_env_upserts_and_keeps_other_lines() {
        let dir = std::env::temp_dir().join(format!("deployer-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(
            &path,
            "# mine\nOPENAI_API_KEY=x\nALEX_API_KEY=old\nVECTOR_BUCKET=old\n",
        )
        .unwrap();
        let lines = vec![
            ("VECTOR_BUCKET", "b".to_string()),
            ("ALEX_API_ENDPOINT", "e".to_string()),
            ("ALEX_API_KEY", "k".to_string()),
        ];
        upsert(&path, &lines).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# mine\nOPENAI_API_KEY=x\nALEX_API_KEY=k\nVECTOR_BUCKET=b\nALEX_API_ENDPOINT=e\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
