//! Running `ip`, `ethtool` & co. with their stderr captured into the error.

use std::io::ErrorKind;
use std::process::Command;

use crate::error::{hint_for, Error, Result};

/// Which Debian package provides a tool (for the "install it" message).
fn package_of(tool: &'static str) -> &'static str {
    match tool {
        "ip" => "iproute2",
        "ethtool" => "ethtool",
        other => other,
    }
}

/// Run `tool args...`; on success return stdout, on failure an [`Error::Command`] carrying stderr.
pub(crate) fn run(tool: &'static str, args: &[&str]) -> Result<String> {
    let command = render(tool, args);
    let out = Command::new(tool).args(args).output().map_err(|source| {
        if source.kind() == ErrorKind::NotFound {
            Error::ToolMissing {
                tool,
                package: package_of(tool),
            }
        } else {
            Error::Spawn {
                command: command.clone(),
                source,
            }
        }
    })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let stderr = if stderr.is_empty() {
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    } else {
        stderr
    };
    let status = match out.status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("{}", out.status),
    };
    Err(Error::Command {
        command,
        status,
        hint: hint_for(&stderr),
        stderr,
    })
}

/// Run `ip args...`.
pub(crate) fn ip(args: &[&str]) -> Result<String> {
    run("ip", args)
}

/// Like [`ip`], but an error whose stderr says the object does not exist counts as success.
pub(crate) fn ip_ignore_missing(args: &[&str]) -> Result<()> {
    match ip(args) {
        Ok(_) => Ok(()),
        Err(Error::Command { ref stderr, .. }) if is_not_found(stderr) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Does this stderr text say "the thing you named is not there"?
pub(crate) fn is_not_found(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("no such file or directory")
        || s.contains("cannot find device")
        || s.contains("does not exist")
        || s.contains("no such device")
}

fn render(tool: &str, args: &[&str]) -> String {
    let mut s = String::from(tool);
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_texts() {
        assert!(is_not_found(
            "Cannot remove namespace file \"/run/netns/x\": No such file or directory"
        ));
        assert!(is_not_found("Cannot find device \"ubx\""));
        assert!(is_not_found(
            "Cannot open network namespace \"x\": No such file or directory"
        ));
        assert!(!is_not_found("RTNETLINK answers: Operation not permitted"));
    }

    #[test]
    fn missing_tool_is_reported_with_package() {
        let err = run("uadpbench-no-such-tool-xyz", &[]).unwrap_err();
        assert!(matches!(err, Error::ToolMissing { .. }), "{err}");
        assert!(err.to_string().contains("install"));
    }

    #[test]
    fn failing_command_carries_stderr() {
        let err = run("sh", &["-c", "echo boom >&2; exit 3"]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("boom") && msg.contains("exit code 3"), "{msg}");
    }
}
