//! The `uadpbench` binary as a user calls it.

use std::process::Command;

fn uadpbench(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_uadpbench"))
        .args(args)
        .output()
        .expect("run uadpbench");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const README_EXAMPLE: &str = "f101ba08016400014df4e11000c08976453cda01010000000200000004000d00c08976453cda0106d6ffffff08cb04fb711f0100000101";

#[test]
fn decode_hex_prints_the_readme_values() {
    let (code, out, err) = uadpbench(&["decode", "--hex", README_EXAMPLE]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["publisher_id"]["value"], 2234);
    assert_eq!(v["group_header"]["writer_group_id"], 100);
    let d = &v["dataset_messages"][0];
    assert_eq!(d["writer_id"], 62541);
    let values: Vec<&serde_json::Value> = d["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| &f["value"])
        .collect();
    assert_eq!(
        values,
        [
            &serde_json::json!("2024-01-01T00:00:00Z"),
            &serde_json::json!(-42),
            &serde_json::json!(1234567890123u64),
            &serde_json::json!(true)
        ]
    );
}

#[test]
fn decode_file_and_malformed_input() {
    let dir = std::env::temp_dir().join(format!("uadpbench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.bin");
    std::fs::write(&good, hex::decode(README_EXAMPLE).unwrap()).unwrap();
    let (code, out, _) = uadpbench(&["decode", good.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1);

    let bad = dir.join("bad.bin");
    std::fs::write(&bad, [0x41u8, 0x21]).unwrap();
    let (code, out, err) = uadpbench(&["decode", bad.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(
        err.contains("at byte offset 1: PayloadHeader Count is 33"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn invalid_run_options_exit_2_before_any_setup() {
    let (code, _, err) = uadpbench(&["run", "--payload", "20000", "--mode", "flood"]);
    assert_eq!(code, 2);
    assert!(err.contains("--payload 20000 does not fit"), "{err}");
    assert!(err.contains("flood mode needs --duration"), "{err}");
    let (code, _, err) = uadpbench(&["run", "--path", "bogus"]);
    assert_eq!(code, 2, "{err}");
}

/// `probes list` names every layer of a path with how it attaches here or why not; on the xdp
/// path the XDP program's own stamp and the peer's skb layers.
#[test]
fn probes_list_shows_each_paths_layers() {
    let (code, out, err) = uadpbench(&["probes", "list", "--path", "xdp"]);
    assert_eq!(code, 0, "{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no {name} line in:\n{out}"))
            .to_owned()
    };
    assert!(line("xdp_ingress").contains("own XDP program"), "{out}");
    for name in ["netif_rx", "netif_receive_skb", "dev_direct_xmit"] {
        line(name);
    }
    assert!(
        !out.contains("net_dev_start_xmit"),
        "AF_XDP's direct transmit never fires net_dev_start_xmit: {out}"
    );
    let (code, _, err) = uadpbench(&["probes", "list", "--path", "carrier-pigeon"]);
    assert_ne!(code, 0);
    assert!(err.contains("--path"), "{err}");
}

/// A frame open62541 v1.4 sent: IEEE 802.3 length 0x003b, then 59 bytes of UADP, no LLC header.
const OPEN62541_BARE_8023: &str = "01005e7f000162eac941d008003bf101ba080964000000014df4e9100000a8bbac9d3b82dd01080a3d7836093d7804000dc6bbac9d3b82dd0106000000000800000000000000000101";

/// A classic pcap file (microsecond stamps, Ethernet link type) holding `frames`.
fn pcap_file(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65_535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        let len = u32::try_from(f.len()).unwrap();
        for v in [1_700_000_000u32, i as u32, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

/// `decode --pcap` finds UADP in all three Ethernet framings: the captured open62541 frame
/// (bare 802.3), a bare 802.3 frame built here with trailing padding beyond its length, the same
/// message behind LLC/SNAP and in Ethernet II; STP is skipped.
#[test]
fn decode_pcap_reads_ieee_8023_frames_bare_and_llc_snap() {
    let v2 = hex::decode(README_EXAMPLE).unwrap();
    let (dst, src) = (
        [0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01],
        [0x02, 0x75, 0x62, 0, 0, 1],
    );
    let with_type = |type_or_len: u16, body: &[u8]| {
        let mut f = [dst, src].concat();
        f.extend_from_slice(&type_or_len.to_be_bytes());
        f.extend_from_slice(body);
        f
    };
    let mut bare = with_type(v2.len() as u16, &v2);
    bare.extend_from_slice(&[0; 7]); // padding the length field excludes
    let llc_snap = [&[0xaa, 0xaa, 0x03, 0, 0, 0, 0xb6, 0x2c][..], &v2].concat();
    let snap = with_type(llc_snap.len() as u16, &llc_snap);
    let eth2 = with_type(0xb62c, &v2);
    let mut stp = with_type(39, &[0x42, 0x42, 0x03, 0, 0, 0, 0]);
    stp.resize(60, 0);
    let frames = vec![
        hex::decode(OPEN62541_BARE_8023).unwrap(),
        bare,
        stp,
        snap,
        eth2,
    ];
    let dir = std::env::temp_dir().join(format!("uadpbench-cli-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("ieee8023.pcap");
    std::fs::write(&pcap, pcap_file(&frames)).unwrap();

    let (code, out, err) = uadpbench(&["decode", "--pcap", pcap.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 4, "{out}");
    let sources: Vec<(u64, &str, &str, u64)> = lines
        .iter()
        .map(|v| {
            (
                v["source"]["frame"].as_u64().unwrap(),
                v["source"]["carrier"].as_str().unwrap(),
                v["source"]["framing"].as_str().unwrap(),
                v["length"].as_u64().unwrap(),
            )
        })
        .collect();
    let n = v2.len() as u64;
    assert_eq!(
        sources,
        [
            (1, "ethernet", "ieee8023-bare", 59),
            (2, "ethernet", "ieee8023-bare", n),
            (4, "ethernet", "ieee8023-llc-snap", n),
            (5, "ethernet", "ethernet-ii", n),
        ]
    );

    // open62541's message: the SDK tutorial identities, its DataSet (time, 0, 0, true).
    let o = &lines[0];
    assert_eq!(o["publisher_id"]["type"], "UInt16");
    assert_eq!(o["publisher_id"]["value"], 2234);
    assert_eq!(o["group_header"]["writer_group_id"], 100);
    let d = &o["dataset_messages"][0];
    assert_eq!(d["writer_id"], 62541);
    let values: Vec<&serde_json::Value> = d["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| &f["value"])
        .collect();
    assert_eq!(
        values,
        [
            &serde_json::json!("2026-12-02T09:00:45.100743Z"),
            &serde_json::json!(0),
            &serde_json::json!(0),
            &serde_json::json!(true)
        ]
    );
    assert_eq!(d["fields"][0]["ticks"], 0x01dd_823b_9dac_bbc6u64);
    assert_eq!(d["sequence_number"], 0);
    // The message built here decodes alike in each framing.
    for v in &lines[1..] {
        let d = &v["dataset_messages"][0];
        assert_eq!(d["writer_id"], 62541);
        assert_eq!(d["fields"][1]["value"], -42);
        assert_eq!(d["fields"][3]["value"], true);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `publish --help` names the three raw Ethernet framings and which stack uses which, and
/// `--eth-framing ieee8023-bare` is accepted.
#[test]
fn publish_help_names_the_ethernet_framings() {
    let (code, out, err) = uadpbench(&["publish", "--help"]);
    assert_eq!(code, 0, "{err}");
    for (value, says) in [
        ("ethernet-ii", "what open62541 v1.4 subscribers receive"),
        ("ieee8023", "open62541 v1.4 discards these frames"),
        ("ieee8023-bare", "what open62541 v1.4 publishers send"),
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("- {value}:")))
            .unwrap_or_else(|| panic!("no {value} in:\n{out}"));
        assert!(line.contains(says), "{value}: {line}");
    }
    let (code, _, err) = uadpbench(&[
        "publish",
        "--eth-framing",
        "ieee8023-bare",
        "--preset",
        "sdk-tutorial",
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = uadpbench(&["publish", "--eth-framing", "ieee8023-snap", "--dry-run"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ieee8023-bare"), "{err}");
}

/// `probes dispatch` prints what a tracepoint hit costs beyond its program (root: it loads
/// two empty programs), and refuses an empty calibration.
#[test]
fn probes_dispatch_prices_a_tracepoint_hit() {
    let (code, out, err) = uadpbench(&["probes", "dispatch", "--calls", "500", "--rounds", "3"]);
    assert_eq!(code, 0, "{out}\n{err} (needs root)");
    for line in [
        "getppid, nothing attached",
        "classic tracepoint hit, empty program",
        "BTF tracepoint hit, empty program",
        "BPF statistics count for one empty run",
        "added to each counted run by the compensation",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    let (code, out, err) = uadpbench(&["probes", "dispatch", "--calls", "0"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("at least 1"), "{err}");
}
