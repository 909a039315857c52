//! What the running kernel offers: BTF, tracefs events and their formats, kprobes, uprobes,
//! kernel symbols, lockdown.

use std::{collections::HashSet, fs, path::Path};

use crate::{
    btf::{kernel_offsets, KernelBtf, VMLINUX_BTF},
    layers::{AttachPoint, Candidate, Mechanism},
};
use uadpbench_common::KernelOffsets;

/// Facts about the running kernel, gathered once per session or plan.
pub(crate) struct KernelInfo {
    pub btf: Result<KernelBtf, String>,
    pub offsets: Result<KernelOffsets, String>,
    pub tracefs: Option<&'static str>,
    kallsyms: Option<HashSet<String>>,
    pub lockdown: Option<String>,
}

const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe/type";
const UPROBE_PMU: &str = "/sys/bus/event_source/devices/uprobe/type";

impl KernelInfo {
    pub fn gather(tracefs: Option<&'static str>, functions: &[&str]) -> Self {
        let btf = KernelBtf::from_sys_fs().map_err(|e| {
            format!("no kernel BTF ({VMLINUX_BTF}: {e}); the kernel needs CONFIG_DEBUG_INFO_BTF")
        });
        let offsets = match &btf {
            Ok(b) => kernel_offsets(b),
            Err(e) => Err(e.clone()),
        };
        // Only the symbols we care about, to keep memory small.
        let kallsyms = fs::read_to_string("/proc/kallsyms").ok().map(|s| {
            s.lines()
                .filter_map(|l| l.split_whitespace().nth(2))
                .filter(|name| functions.contains(name))
                .map(str::to_owned)
                .collect()
        });
        let lockdown = fs::read_to_string("/sys/kernel/security/lockdown")
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .find(|w| w.starts_with('['))
                    .map(|w| w.trim_matches(['[', ']']).to_owned())
            });
        KernelInfo {
            btf,
            offsets,
            tracefs,
            kallsyms,
            lockdown,
        }
    }

    fn function_exists(&self, name: &str) -> Result<(), String> {
        if let Ok(btf) = &self.btf {
            if btf.has_function(name) {
                return Ok(());
            }
        }
        match &self.kallsyms {
            Some(syms) if syms.contains(name) => Ok(()),
            Some(_) => Err(format!(
                "kernel function {name} not found in BTF or /proc/kallsyms (inlined or absent)"
            )),
            None => Err(format!(
                "kernel function {name} not found in BTF and /proc/kallsyms is unreadable"
            )),
        }
    }

    fn lockdown_note(&self) -> String {
        match self.lockdown.as_deref() {
            Some(mode) if mode != "none" => format!(", kernel lockdown={mode}"),
            _ => String::new(),
        }
    }

    /// Checks that can be made without the kernel loading anything: `Err(reason)` if the
    /// candidate cannot work here.
    pub fn preflight(&self, c: &Candidate) -> Result<(), String> {
        match (c.mechanism, c.attach) {
            (Mechanism::FEntry, AttachPoint::Function(f)) => {
                self.btf.as_ref().map_err(Clone::clone)?;
                self.function_exists(f)
            }
            (Mechanism::KProbe, AttachPoint::Function(f)) => {
                let events = self.tracefs.map(|t| format!("{t}/kprobe_events"));
                if !Path::new(KPROBE_PMU).exists()
                    && !events.as_deref().is_some_and(|e| Path::new(e).exists())
                {
                    return Err(format!(
                        "CONFIG_KPROBES is off (no {KPROBE_PMU}, no kprobe_events in tracefs)"
                    ));
                }
                self.function_exists(f)
            }
            (
                Mechanism::TpBtf,
                AttachPoint::BtfTracepoint {
                    name,
                    skb_arg: None,
                },
            ) => {
                let btf = self.btf.as_ref().map_err(Clone::clone)?;
                if btf.has_btf_tracepoint(name) {
                    Ok(())
                } else {
                    Err(format!("no BTF tracepoint {name} (btf_trace_{name})"))
                }
            }
            (
                Mechanism::TpBtf,
                AttachPoint::BtfTracepoint {
                    name,
                    skb_arg: Some(skb_arg),
                },
            ) => {
                let btf = self.btf.as_ref().map_err(Clone::clone)?;
                self.offsets.as_ref().map_err(Clone::clone)?;
                match btf.tracepoint_arg_is(name, skb_arg, "sk_buff") {
                    Some(true) => Ok(()),
                    Some(false) => Err(format!(
                        "btf_trace_{name}: argument {skb_arg} is not a struct sk_buff * on this \
                         kernel"
                    )),
                    None => Err(format!("no BTF tracepoint {name} (btf_trace_{name})")),
                }
            }
            (
                Mechanism::Tracepoint,
                AttachPoint::Tracepoint {
                    category,
                    name,
                    fields,
                },
            ) => {
                let tracefs = self
                    .tracefs
                    .ok_or_else(|| "tracefs is not mounted (see ensure_tracefs)".to_owned())?;
                let fmt_path = format!("{tracefs}/events/{category}/{name}/format");
                let format = fs::read_to_string(&fmt_path)
                    .map_err(|e| format!("no tracepoint {category}:{name} ({fmt_path}: {e})"))?;
                for (field, offset) in fields {
                    match format_field_offset(&format, field) {
                        Some(o) if o == *offset => {}
                        Some(o) => {
                            return Err(format!(
                                "{category}:{name} field {field} is at offset {o}, the probe \
                                 reads {offset}: rebuild the probe for this kernel"
                            ))
                        }
                        None => {
                            return Err(format!("{category}:{name} has no field {field}"));
                        }
                    }
                }
                Ok(())
            }
            (Mechanism::UProbe, AttachPoint::Libc { .. }) => {
                if Path::new(UPROBE_PMU).exists() {
                    Ok(())
                } else {
                    Err(format!("CONFIG_UPROBE_EVENTS is off (no {UPROBE_PMU})"))
                }
            }
            (Mechanism::Xdp, _) => Err(
                "stamped by the xdp path's own XDP program during `uadpbench run --path xdp` \
                 (not by a probe session; docs/probes.md, \"XDP hook\")"
                    .to_owned(),
            ),
            (m, a) => Err(format!("{m} cannot attach to {a}")),
        }
    }

    /// A reason for a failed load of `mechanism`, with hints.
    pub fn explain_load_failure(&self, mechanism: Mechanism, error: &str) -> String {
        match mechanism {
            Mechanism::FEntry
                if error.contains("Operation not permitted") || error.contains("EPERM") =>
            {
                format!(
                    "kernel refuses to load fentry programs (EPERM{}; BPF trampolines \
                     unavailable)",
                    self.lockdown_note()
                )
            }
            _ => error.to_owned(),
        }
    }
}

/// Offset of a field in a tracefs `format` file.
fn format_field_offset(format: &str, field: &str) -> Option<u16> {
    for line in format.lines() {
        let line = line.trim();
        let Some(decl) = line.strip_prefix("field:") else {
            continue;
        };
        let mut parts = decl.split(';');
        let decl = parts.next()?.trim();
        // The name is the last word of the declaration, without array brackets.
        let name = decl
            .rsplit([' ', '*'])
            .next()
            .map(|n| n.split('[').next().unwrap_or(n))?;
        if name != field {
            continue;
        }
        for p in parts {
            if let Some(o) = p.trim().strip_prefix("offset:") {
                return o.trim().parse().ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::format_field_offset;

    #[test]
    fn parses_format_files() {
        let f = "name: net_dev_queue\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:__data_loc char[] name;\toffset:20;\tsize:4;\tsigned:0;\n\tfield:const void * skbaddr2;\toffset:16;\tsize:8;\tsigned:0;\n";
        assert_eq!(format_field_offset(f, "skbaddr"), Some(8));
        assert_eq!(format_field_offset(f, "skbaddr2"), Some(16));
        assert_eq!(format_field_offset(f, "name"), Some(20));
        assert_eq!(format_field_offset(f, "common_type"), Some(0));
        assert_eq!(format_field_offset(f, "len"), None);
    }
}
