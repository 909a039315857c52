//! The bpftrace arm: the bpftrace script equivalent to a probe selection (classic tracepoints
//! and libc uprobes from the probes crate's layer table), and the bpftrace process that runs
//! it next to a benchmark run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use uadpbench_probes::{
    path_layers, AttachPoint, Candidate, Correlation, Helper, Layer, Mechanism, Requirement,
    Selection,
};
use uadpbench_sender::transport::PathKind;

/// The printed line bpftrace's BEGIN probe emits once every probe is attached (bpftrace
/// triggers BEGIN after attaching the other probes).
const READY_MARKER: &str = "uadpbench: bpftrace probes attached";

/// One probe of the generated bpftrace script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BpftraceProbe {
    /// Layer (or helper) name.
    pub name: String,
    /// bpftrace attach point(s), e.g. `tracepoint:net:net_dev_queue`.
    pub attach: String,
    /// Map key: `tid` or `args->skbaddr`.
    pub key: String,
}

/// The bpftrace equivalent of a probe selection.
#[derive(Debug, Clone, Serialize)]
pub struct BpftraceScript {
    pub text: String,
    pub probes: Vec<BpftraceProbe>,
    /// Selected layers bpftrace cannot hook here, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// The libc file the benchmark threads call (for uprobe layers).
fn libc_path() -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| {
            Path::new(p)
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("libc.so"))
        })
        .map(str::to_owned)
}

/// The layers `selection` traces on `path`, prerequisites included (as the probe session
/// resolves them: [`uadpbench_probes::resolve`]), and the helper programs they need.
fn selected_layers(path: PathKind, selection: &Selection) -> (Vec<&'static Layer>, Vec<Helper>) {
    let selected = uadpbench_probes::resolve(path, selection);
    let on = |i: usize| selected[i] != uadpbench_probes::Selected::No;
    let layers: Vec<&'static Layer> = path_layers(path).filter(|l| on(l.id.index())).collect();
    let mut helpers = Vec::new();
    for l in &layers {
        for r in l.requires {
            if let Requirement::Helper(h) = r {
                if !helpers.contains(h) {
                    helpers.push(*h);
                }
            }
        }
    }
    (layers, helpers)
}

/// A bpftrace attach point for a candidate: classic tracepoints and libc uprobes (bpftrace 0.17
/// has no tp_btf; fentry/kprobe layers are skipped, as the kernels this targets refuse them).
fn bpftrace_attach(c: &Candidate, libc: Option<&str>) -> Option<(String, String)> {
    match c.attach {
        AttachPoint::Tracepoint { category, name, .. } => {
            let key = if c.correlation == Correlation::SkbMap {
                "args->skbaddr"
            } else {
                "tid"
            };
            Some((format!("tracepoint:{category}:{name}"), key.into()))
        }
        AttachPoint::Libc { symbols, ret } => {
            let libc = libc?;
            let kind = if ret { "uretprobe" } else { "uprobe" };
            let attach = symbols
                .iter()
                .map(|s| format!("{kind}:{libc}:{s}"))
                .collect::<Vec<_>>()
                .join(",");
            Some((attach, "tid".into()))
        }
        _ => None,
    }
}

/// The bpftrace script equivalent to `selection` on `path`: for every layer with a classic
/// tracepoint (or libc uprobe), a probe filtered to process `pid` that stores `nsecs` in a map
/// keyed by thread id (syscall and socket layers) or skb address (device layers) and counts
/// the event; helpers store their argument. END clears the timestamp maps so only the counts
/// are printed.
pub fn bpftrace_script(path: PathKind, selection: &Selection, pid: u32) -> BpftraceScript {
    let (layers, helpers) = selected_layers(path, selection);
    let libc = libc_path();
    let mut probes = Vec::new();
    let mut skipped = Vec::new();
    for l in layers {
        let found = l
            .candidates
            .iter()
            .filter(|c| matches!(c.mechanism, Mechanism::Tracepoint | Mechanism::UProbe))
            .find_map(|c| bpftrace_attach(c, libc.as_deref()));
        match found {
            Some((attach, key)) => probes.push(BpftraceProbe {
                name: l.name().into(),
                attach,
                key,
            }),
            None => skipped.push((
                l.name().to_owned(),
                format!(
                    "no classic tracepoint or uprobe (candidates: {})",
                    l.candidates
                        .iter()
                        .map(|c| c.mechanism.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
    let mut helper_probes = Vec::new();
    for h in helpers {
        let c = h.candidate();
        if let Some((attach, _)) = bpftrace_attach(&c, libc.as_deref()) {
            let arg = match c.attach {
                AttachPoint::Tracepoint { fields, .. } => fields
                    .first()
                    .map_or_else(|| "nsecs".into(), |(f, _)| format!("args->{f}")),
                _ => "arg1".into(),
            };
            helper_probes.push((h.name().replace(':', "_"), attach, arg));
        }
    }
    let selection = match selection {
        Selection::All => "all".to_owned(),
        Selection::None => "none".to_owned(),
        Selection::Layers(ids) => ids.iter().map(|i| i.name()).collect::<Vec<_>>().join(","),
    };
    let mut text = String::new();
    text.push_str(&format!(
        "// uadpbench overhead: the bpftrace equivalent of --probes {selection} on the {path} path,\n\
         // filtered to the benchmark process (pid {pid}). Each probe stores nsecs keyed by thread id\n\
         // or skb address and counts its events. Generated; see docs/csv-schema.md.\n\n"
    ));
    text.push_str(&format!("BEGIN {{ printf(\"{READY_MARKER}\\n\"); }}\n\n"));
    for p in &probes {
        text.push_str(&format!(
            "{} /pid == {pid}/ {{ @t_{}[{}] = nsecs; @events[\"{}\"] = count(); }}\n",
            p.attach, p.name, p.key, p.name
        ));
    }
    for (name, attach, arg) in &helper_probes {
        text.push_str(&format!(
            "{attach} /pid == {pid}/ {{ @{name}[tid] = {arg}; }}\n"
        ));
    }
    text.push_str("\nEND {\n");
    for p in &probes {
        text.push_str(&format!("  clear(@t_{});\n", p.name));
    }
    for (name, _, _) in &helper_probes {
        text.push_str(&format!("  clear(@{name});\n"));
    }
    text.push_str("}\n");
    let mut all = probes;
    all.extend(
        helper_probes
            .into_iter()
            .map(|(name, attach, _)| BpftraceProbe {
                name,
                attach,
                key: "tid".into(),
            }),
    );
    BpftraceScript {
        text,
        probes: all,
        skipped,
    }
}

/// `@events[NAME]: N` lines of bpftrace's exit output.
pub(super) fn parse_event_counts(lines: &[String]) -> BTreeMap<String, u64> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("@events[")?;
            let (name, n) = rest.split_once("]:")?;
            Some((name.trim().to_owned(), n.trim().parse().ok()?))
        })
        .collect()
}

/// A running bpftrace child. Dropping it stops it (SIGINT to its pid, then SIGKILL).
pub(super) struct Bpftrace {
    child: Option<Child>,
    stdout: Option<std::thread::JoinHandle<Vec<String>>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// What bpftrace printed.
pub(super) struct BpftraceOutput {
    pub(super) stdout: Vec<String>,
    pub(super) stderr: String,
    pub(super) status: Option<std::process::ExitStatus>,
}

impl Bpftrace {
    /// Starts `bpftrace SCRIPT` and waits until it printed that its probes are attached.
    pub(super) fn start(script: &Path, timeout: Duration) -> anyhow::Result<Bpftrace> {
        let mut cmd = Command::new("bpftrace");
        cmd.arg("-B")
            .arg("none")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal reaches only uadpbench, which
            // then stops bpftrace in order.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it makes the kernel signal bpftrace if this
        // thread dies without stopping it.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().context(
            "cannot start bpftrace: install it (scripts/setup.sh installs Debian's bpftrace)",
        )?;
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let out = child.stdout.take().expect("piped stdout");
        let stdout = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if line.contains(READY_MARKER) {
                    let _ = ready_tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let mut bt = Bpftrace {
            child: Some(child),
            stdout: Some(stdout),
            stderr: Some(stderr),
        };
        match ready_rx.recv_timeout(timeout) {
            Ok(()) => Ok(bt),
            Err(e) => {
                let out = bt.stop();
                let why = match e {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("did not attach its probes within {} s", timeout.as_secs())
                    }
                    mpsc::RecvTimeoutError::Disconnected => {
                        format!("exited before attaching its probes ({:?})", out.status)
                    }
                };
                bail!(
                    "bpftrace {why}:\n{}\n{}",
                    out.stdout.join("\n"),
                    out.stderr.trim()
                )
            }
        }
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGINT to bpftrace's pid (it prints its maps and exits), SIGKILL after 15 s.
    pub(super) fn stop(&mut self) -> BpftraceOutput {
        let mut status = None;
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            // The child is not reaped yet, so its pid cannot have been reused.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                match child.try_wait() {
                    Ok(Some(s)) => {
                        status = Some(s);
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        status = child.wait().ok();
                        break;
                    }
                }
            }
        }
        BpftraceOutput {
            stdout: self
                .stdout
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default(),
            stderr: self
                .stderr
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default(),
            status,
        }
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpftrace_script_mirrors_the_udp_layers() {
        let s = bpftrace_script(PathKind::Udp, &Selection::All, 4242);
        for tp in [
            "tracepoint:syscalls:sys_enter_sendto",
            "tracepoint:net:net_dev_queue",
            "tracepoint:net:net_dev_start_xmit",
            "tracepoint:net:netif_rx",
            "tracepoint:net:net_dev_xmit",
            "tracepoint:sock:sock_send_length",
            "tracepoint:syscalls:sys_exit_sendto",
            "tracepoint:net:netif_receive_skb",
            "tracepoint:sock:sock_recv_length",
            "tracepoint:syscalls:sys_exit_recvfrom",
            "tracepoint:syscalls:sys_enter_recvfrom",
        ] {
            let line = s
                .text
                .lines()
                .find(|l| l.starts_with(&format!("{tp} ")))
                .unwrap_or_else(|| panic!("{tp} missing:\n{}", s.text));
            assert!(line.contains("/pid == 4242/"), "{line}");
        }
        assert!(s.text.contains("@t_net_dev_queue[args->skbaddr] = nsecs"));
        assert!(s.text.contains("@t_sys_enter_sendto[tid] = nsecs"));
        assert!(s.text.contains(READY_MARKER));
        assert!(!s.text.contains("libc"), "optional layers are not in all");
        let skipped: Vec<&str> = s.skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(skipped, ["udp_sendmsg", "ip_send_skb", "ip_rcv", "udp_rcv"]);
        // A list adds the prerequisites, as the probe session does.
        let s = bpftrace_script(PathKind::Udp, &"sock_send_length".parse().unwrap(), 1);
        let names: Vec<&str> = s.probes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["sys_enter_sendto", "sock_send_length", "sys_exit_sendto"]
        );
    }

    #[test]
    fn script_is_balanced_and_clears_every_map() {
        let s = bpftrace_script(PathKind::Udp, &Selection::All, 7);
        assert_eq!(s.text.matches('{').count(), s.text.matches('}').count());
        assert!(s.text.starts_with("// uadpbench overhead"));
        for p in &s.probes {
            let map = if p.name.starts_with("helper") {
                format!("clear(@{});", p.name)
            } else {
                format!("clear(@t_{});", p.name)
            };
            assert!(s.text.contains(&map), "{map} missing:\n{}", s.text);
        }
        let none = bpftrace_script(PathKind::Udp, &Selection::None, 7);
        assert!(none.probes.is_empty() && none.skipped.is_empty());
    }

    #[test]
    fn selection_follows_the_probes_table() {
        // Not on the path: left out; optional layers only by name; prerequisites added.
        let (layers, _) = selected_layers(PathKind::Udp, &Selection::All);
        assert!(layers
            .iter()
            .all(|l| l.on_path(PathKind::Udp) && !l.optional));
        let (layers, _) = selected_layers(
            PathKind::Udp,
            &"sock_send_length,packet_rcv".parse().unwrap(),
        );
        let names: Vec<&str> = layers.iter().map(|l| l.name()).collect();
        assert_eq!(
            names,
            ["sys_enter_sendto", "sock_send_length", "sys_exit_sendto"]
        );
    }

    #[test]
    fn event_counts_parse() {
        let lines: Vec<String> = [
            "Attaching 5 probes...",
            "",
            "@events[net_dev_queue]: 12000",
            "@events[sys_exit_sendto]: 11999",
            "@events[broken]: x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = parse_event_counts(&lines);
        assert_eq!(c["net_dev_queue"], 12000);
        assert_eq!(c["sys_exit_sendto"], 11999);
        assert_eq!(c.len(), 2);
    }
}
