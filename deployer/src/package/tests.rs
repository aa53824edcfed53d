//! Unit tests of [`super`].

use super::*;

#[test]
fn an_outer_cargos_program_variables_are_not_passed_to_the_nested_build() {
    for outer in [
        "CARGO_PKG_NAME",
        "CARGO_PKG_VERSION_MAJOR",
        "CARGO_MANIFEST_DIR",
        "CARGO_BIN_EXE_deployer",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        assert!(is_outer_cargo_var(outer), "{outer}");
    }
    for kept in [
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_TERM_COLOR",
        "CARGO",
        "RUSTUP_HOME",
    ] {
        assert!(!is_outer_cargo_var(kept), "{kept}");
    }
}

#[test]
fn zips_are_deterministic_and_executable() {
    let a = zip_bootstrap(b"\x7fELF-binary").unwrap();
    let b = zip_bootstrap(b"\x7fELF-binary").unwrap();
    assert_eq!(a, b);
    assert_eq!(sha256_b64(&a), sha256_b64(&b));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(a)).unwrap();
    let entry = archive.by_index(0).unwrap();
    assert_eq!(entry.name().unwrap(), "bootstrap");
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
}

#[test]
fn this_test_binary_is_checked_and_its_glibc_floor_read() {
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let floor = glibc_floor(&me).expect("a glibc-linked test binary");
    assert!(floor >= (2, 2), "{floor:?}");
    let other = if Arch::host() == Arch::X86_64 {
        Arch::Arm64
    } else {
        Arch::X86_64
    };
    let err = check_elf(&me, other).unwrap_err().to_string();
    assert!(err.contains("but the function is"), "{err}");
    assert!(check_elf(b"#!/bin/sh\n", Arch::host()).is_err());
}

#[test]
fn too_new_glibc_is_refused() {
    // Patch a copy of this binary's first GLIBC_2.x requirement string to 2.99.
    let mut me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let needle = b"GLIBC_2.2.5\0";
    if let Some(at) = me.windows(needle.len()).position(|w| w == needle) {
        me[at..at + needle.len()].copy_from_slice(b"GLIBC_2.99\0\0");
        assert_eq!(glibc_floor(&me), Some((2, 99)));
        assert!(
            check_elf(&me, Arch::host())
                .unwrap_err()
                .to_string()
                .contains("glibc 2.99")
        );
    }
}
