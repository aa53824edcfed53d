//! The CLI's help and usage errors, pinned with insta snapshots.

use std::process::Command;

fn deployer(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("SAGEMAKER_ENDPOINT")
        .env_remove("AWS_PROFILE")
        .env_remove("ALEX_STACK")
        .env_remove("ALEX_API_ENDPOINT")
        .env_remove("ALEX_API_KEY")
        .env("COLUMNS", "100")
        .output()
        .unwrap()
}

#[test]
fn help_texts() {
    for cmd in [
        vec!["--help"],
        vec!["up", "--help"],
        vec!["plan", "--help"],
        vec!["down", "--help"],
        vec!["output", "--help"],
        vec!["ingest", "--help"],
        vec!["search", "--help"],
        vec!["package", "--help"],
    ] {
        let out = deployer(&cmd);
        assert!(out.status.success());
        let name = if cmd.len() == 1 {
            "main".to_string()
        } else {
            cmd[0].to_string()
        };
        insta::assert_snapshot!(format!("help_{name}"), String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = deployer(&["up", "--memory", "64"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("usage_error_memory", String::from_utf8_lossy(&out.stderr));
    assert_eq!(deployer(&["frobnicate"]).status.code(), Some(2));
}

/// Values AWS would refuse are refused before anything is read or created (and before an
/// `alex.toml` could keep them): names the vector bucket or index rules forbid, retention
/// periods CloudWatch Logs does not have. No AWS endpoint is set, so reaching AWS would fail
/// differently (exit 1).
#[test]
fn values_aws_refuses_are_usage_errors() {
    for args in [
        vec!["--name", "my_stack", "up"],
        vec!["--name", "MyStack", "plan"],
        vec!["--name=-alex", "down"],
        vec!["up", "--index-name", "Research_2024"],
        vec!["plan", "--log-retention-days", "10"],
    ] {
        let out = deployer(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("lowercase letters") || stderr.contains("3653"),
            "{args:?}: {stderr}"
        );
    }
    let out = deployer(&[
        "--name",
        "a-b",
        "plan",
        "--log-retention-days",
        "14",
        "--help",
    ]);
    assert!(out.status.success());
}
