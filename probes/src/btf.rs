//! A minimal reader of the kernel's BTF (`/sys/kernel/btf/vmlinux`): struct member offsets,
//! function existence and BTF tracepoint prototypes. The eBPF programs are built without CO-RE,
//! so the loader resolves the few offsets they need here and passes them as constants.
//!
//! Why not aya-obj's BTF parser (`aya_obj::btf::Btf`, 0.3): it parses the same file, but its
//! public API stops at `id_by_type_name_kind`. `type_by_id`, `type_name` and the members of a
//! `Struct` (`members`, their `offset`) are `pub(crate)`, so it cannot answer "at which byte
//! offset is `sk_buff.head`" or "what does `btf_trace_net_dev_queue` take" from outside the
//! crate. This reader does only that, and its tests check it against the running kernel.

use std::{collections::HashMap, fs, io, path::Path};

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

#[derive(Clone, Debug)]
struct Type {
    kind: u32,
    name_off: u32,
    /// size (struct/union/int) or referenced type (ptr, typedef, modifiers, func).
    size_or_type: u32,
    /// struct/union members `(name_off, type, bit offset)` or func_proto params
    /// `(name_off, type, 0)`.
    members: Vec<(u32, u32, u32)>,
    kind_flag: bool,
}

/// Parsed kernel BTF.
#[derive(Debug)]
pub struct KernelBtf {
    /// Index 0 is the implicit `void`.
    types: Vec<Type>,
    strings: Vec<u8>,
    by_name: HashMap<String, Vec<u32>>,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl KernelBtf {
    /// Reads and parses [`VMLINUX_BTF`].
    pub fn from_sys_fs() -> io::Result<Self> {
        Self::from_file(Path::new(VMLINUX_BTF))
    }

    /// Reads and parses a raw BTF file.
    pub fn from_file(path: &Path) -> io::Result<Self> {
        Self::parse(&fs::read(path)?)
    }

    /// Parses raw BTF (little-endian, as the running kernel produces it).
    pub fn parse(data: &[u8]) -> io::Result<Self> {
        let u16_at = |o: usize| -> io::Result<u16> {
            data.get(o..o + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .ok_or_else(|| invalid("BTF truncated"))
        };
        let u32_at = |o: usize| -> io::Result<u32> {
            data.get(o..o + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| invalid("BTF truncated"))
        };
        if u16_at(0)? != 0xEB9F {
            return Err(invalid("not little-endian BTF (bad magic)"));
        }
        let hdr_len = u32_at(4)? as usize;
        let type_off = u32_at(8)? as usize;
        let type_len = u32_at(12)? as usize;
        let str_off = u32_at(16)? as usize;
        let str_len = u32_at(20)? as usize;
        let types_start = hdr_len + type_off;
        let types_end = types_start + type_len;
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .ok_or_else(|| invalid("BTF string section out of bounds"))?
            .to_vec();
        if types_end > data.len() {
            return Err(invalid("BTF type section out of bounds"));
        }
        let mut types = vec![Type {
            kind: 0,
            name_off: 0,
            size_or_type: 0,
            members: Vec::new(),
            kind_flag: false,
        }];
        let mut o = types_start;
        while o < types_end {
            let name_off = u32_at(o)?;
            let info = u32_at(o + 4)?;
            let size_or_type = u32_at(o + 8)?;
            o += 12;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 != 0;
            let mut members = Vec::new();
            match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => o += 4,
                KIND_ARRAY => o += 12,
                KIND_STRUCT | KIND_UNION => {
                    members.reserve(vlen);
                    for _ in 0..vlen {
                        members.push((u32_at(o)?, u32_at(o + 4)?, u32_at(o + 8)?));
                        o += 12;
                    }
                }
                KIND_ENUM => o += 8 * vlen,
                KIND_FUNC_PROTO => {
                    for _ in 0..vlen {
                        members.push((u32_at(o)?, u32_at(o + 4)?, 0));
                        o += 8;
                    }
                }
                KIND_DATASEC | KIND_ENUM64 => o += 12 * vlen,
                // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG: no data.
                k if k <= 20 => {}
                k => return Err(invalid(format!("unknown BTF kind {k}"))),
            }
            types.push(Type {
                kind,
                name_off,
                size_or_type,
                members,
                kind_flag,
            });
        }
        let mut btf = KernelBtf {
            types,
            strings,
            by_name: HashMap::new(),
        };
        let mut by_name: HashMap<String, Vec<u32>> = HashMap::new();
        for (id, t) in btf.types.iter().enumerate().skip(1) {
            if t.name_off != 0 {
                let name = btf.str_at(t.name_off).to_owned();
                by_name.entry(name).or_default().push(id as u32);
            }
        }
        btf.by_name = by_name;
        Ok(btf)
    }

    fn str_at(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or(&[]);
        let end = s.iter().position(|b| *b == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap_or("")
    }

    fn named(&self, name: &str, kind: u32) -> impl Iterator<Item = u32> + '_ {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |id| self.types[*id as usize].kind == kind)
    }

    fn ty(&self, id: u32) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// Skips typedefs and modifiers.
    fn resolve(&self, mut id: u32) -> Option<u32> {
        for _ in 0..32 {
            let t = self.ty(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type
                }
                _ => return Some(id),
            }
        }
        None
    }

    /// Whether a kernel function of this name has BTF (is traceable with fentry).
    pub fn has_function(&self, name: &str) -> bool {
        self.named(name, KIND_FUNC).next().is_some()
    }

    /// Byte offset of `path` (member names, descending through nested structs) in struct
    /// `name`. Anonymous struct/union members are searched transparently.
    pub fn member_offset(&self, name: &str, path: &[&str]) -> Option<u32> {
        let mut ty = self
            .named(name, KIND_STRUCT)
            .find(|id| !self.types[*id as usize].members.is_empty())?;
        let mut bits = 0u32;
        for member in path {
            let (member_ty, off) = self.find_member(ty, member, 0)?;
            bits += off;
            ty = self.resolve(member_ty)?;
        }
        bits.is_multiple_of(8).then_some(bits / 8)
    }

    /// `(type, bit offset)` of a member of struct/union `ty`, looking into anonymous members.
    fn find_member(&self, ty: u32, name: &str, depth: u32) -> Option<(u32, u32)> {
        if depth > 8 {
            return None;
        }
        let t = self.ty(ty)?;
        if t.kind != KIND_STRUCT && t.kind != KIND_UNION {
            return None;
        }
        for &(name_off, mty, off) in &t.members {
            // With kind_flag the offset field holds the bitfield size in its top 8 bits.
            let off = if t.kind_flag { off & 0x00ff_ffff } else { off };
            if name_off == 0 {
                if let Some(inner) = self.resolve(mty) {
                    if let Some((found, inner_off)) = self.find_member(inner, name, depth + 1) {
                        return Some((found, off + inner_off));
                    }
                }
            } else if self.str_at(name_off) == name {
                return Some((mty, off));
            }
        }
        None
    }

    /// Whether argument `arg` of BTF tracepoint `name` (`btf_trace_<name>`, whose first
    /// parameter is the hidden `void *`) is a `struct <struct_name> *`.
    pub fn tracepoint_arg_is(&self, name: &str, arg: usize, struct_name: &str) -> Option<bool> {
        let td = self
            .named(&format!("btf_trace_{name}"), KIND_TYPEDEF)
            .next()?;
        let ptr = self.resolve(td)?;
        let ptr_t = self.ty(ptr)?;
        if ptr_t.kind != KIND_PTR {
            return Some(false);
        }
        let proto = self.resolve(ptr_t.size_or_type)?;
        let proto_t = self.ty(proto)?;
        if proto_t.kind != KIND_FUNC_PROTO {
            return Some(false);
        }
        let Some(&(_, param, _)) = proto_t.members.get(arg + 1) else {
            return Some(false);
        };
        let p = self.resolve(param)?;
        let p_t = self.ty(p)?;
        if p_t.kind != KIND_PTR {
            return Some(false);
        }
        let s = self.resolve(p_t.size_or_type)?;
        let s_t = self.ty(s)?;
        Some(s_t.kind == KIND_STRUCT && self.str_at(s_t.name_off) == struct_name)
    }

    /// Whether the BTF tracepoint `name` exists.
    pub fn has_btf_tracepoint(&self, name: &str) -> bool {
        self.named(&format!("btf_trace_{name}"), KIND_TYPEDEF)
            .next()
            .is_some()
    }
}

/// The struct offsets the BTF-typed probes need.
pub fn kernel_offsets(btf: &KernelBtf) -> Result<uadpbench_common::KernelOffsets, String> {
    let get = |s: &str, path: &[&str]| -> Result<u16, String> {
        let off = btf
            .member_offset(s, path)
            .ok_or_else(|| format!("struct {s} has no member {} in BTF", path.join(".")))?;
        u16::try_from(off).map_err(|_| format!("offset of {s}.{} too large", path.join(".")))
    };
    Ok(uadpbench_common::KernelOffsets {
        skb_head: get("sk_buff", &["head"])?,
        skb_data: get("sk_buff", &["data"])?,
        skb_mac_header: get("sk_buff", &["mac_header"])?,
        skb_dev: get("sk_buff", &["dev"])?,
        dev_nd_net: get("net_device", &["nd_net"])?,
        net_ns_inum: get("net", &["ns", "inum"])?,
        skb_len: get("sk_buff", &["len"])?,
        _reserved: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_running_kernel() {
        let btf = KernelBtf::from_sys_fs().unwrap_or_else(|e| {
            panic!("{VMLINUX_BTF}: {e} (the probes need a kernel with BTF; this test fails rather than skip)")
        });
        let o = kernel_offsets(&btf).expect("offsets");
        assert!(o.skb_head > 0 && o.skb_data == o.skb_head + 8, "{o:?}");
        assert!(o.skb_mac_header > 0);
        assert!(o.skb_len > 0, "{o:?}");
        assert!(btf.has_function("udp_sendmsg"));
        assert!(!btf.has_function("no_such_function_hopefully"));
        assert_eq!(
            btf.tracepoint_arg_is("net_dev_queue", 0, "sk_buff"),
            Some(true)
        );
        assert_eq!(
            btf.tracepoint_arg_is("qdisc_dequeue", 3, "sk_buff"),
            Some(true)
        );
        assert_eq!(
            btf.tracepoint_arg_is("qdisc_dequeue", 0, "sk_buff"),
            Some(false)
        );
    }
}
