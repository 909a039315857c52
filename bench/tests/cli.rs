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
