//! `uadpbench publish` / `uadpbench subscribe` as a user calls them: argument and URL
//! validation (exit status 2 and a message that says what to write), `--dry-run` output, and —
//! as root — the two commands talking to each other inside a fresh two-namespace topology
//! (`ip netns exec`), over UDP multicast on the veths and over raw Ethernet.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// Runs and expects exit status 2 with `needle` in stderr.
fn refused(args: &[&str], needle: &str) {
    let (code, out, err) = uadpbench(args);
    assert_eq!(code, 2, "{args:?}: stdout {out} stderr {err}");
    assert!(err.contains(needle), "{args:?}: `{needle}` not in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_urls_exit_2_with_the_valid_forms() {
    refused(
        &[
            "publish",
            "--target",
            "http://224.0.0.22:4840",
            "--count",
            "1",
        ],
        "opc.udp://HOST:PORT",
    );
    refused(
        &[
            "publish",
            "--target",
            "opc.udp://1.2.3.4:99999",
            "--count",
            "1",
        ],
        "invalid port `99999`",
    );
    refused(
        &["subscribe", "--target", "opc.udp://[ff02::1]:4840"],
        "IPv6 targets are not supported",
    );
    refused(
        &["publish", "--target", "opc.eth://01-00-5e", "--count", "1"],
        "is not a MAC address",
    );
    refused(
        &[
            "publish",
            "--target",
            "opc.eth://01-00-5e-7f-00-01:4096",
            "--count",
            "1",
        ],
        "VID 0..=4095",
    );
    refused(
        &["subscribe", "--target", "opc.eth://01-00-5e-7f-00-01:1.9"],
        "PCP 0..=7",
    );
}

#[test]
fn missing_or_conflicting_arguments_exit_2_before_any_socket() {
    // Multicast (the default target) and raw Ethernet need a named interface.
    refused(&["publish", "--count", "1"], "--interface IFNAME");
    refused(
        &["subscribe", "--target", "opc.eth://02-75-62-00-00-02"],
        "--interface IFNAME",
    );
    refused(
        &["publish", "--target", "opc.udp://198.18.0.2:4840"],
        "--count N or --duration SECS",
    );
    refused(
        &[
            "publish",
            "--target",
            "opc.udp://198.18.0.2",
            "--count",
            "1",
            "--duration",
            "1",
        ],
        "cannot be used with",
    );
    refused(
        &[
            "publish",
            "--target",
            "opc.udp://198.18.0.2",
            "--duration=-1",
        ],
        "--duration -1",
    );
    refused(
        &["subscribe", "--send-time-field", "4", "--send-log", "x.csv"],
        "cannot be used with",
    );
    refused(
        &["publish", "--interface", "uadpbench-nope0", "--count", "1"],
        "not found in this network namespace",
    );
}

#[test]
fn bad_layouts_exit_2_and_say_what_to_change() {
    refused(
        &["publish", "--dry-run", "--fields", "Int32=banana"],
        "not a Int32 value",
    );
    refused(
        &["publish", "--dry-run", "--fields", "Int33"],
        "known types:",
    );
    refused(
        &[
            "publish",
            "--dry-run",
            "--network-message",
            "PublisherId|Bogus",
        ],
        "unknown flag `Bogus`",
    );
    refused(
        &[
            "publish",
            "--dry-run",
            "--preset",
            "periodic-fixed",
            "--writer-ids",
            "1,2",
        ],
        "add PayloadHeader",
    );
    refused(
        &[
            "publish",
            "--dry-run",
            "--network-message",
            "PublisherId|SequenceNumber",
        ],
        "add GroupHeader",
    );
    refused(
        &["publish", "--dry-run", "--publisher-id", "Byte:300"],
        "TYPE:VALUE",
    );
    refused(
        &["publish", "--dry-run", "--config-version", "x"],
        "MAJOR.MINOR",
    );
    refused(
        &["publish", "--dry-run", "--preset", "bogus"],
        "sdk-tutorial",
    );
}

/// open62541 v1.5.7 vector V2 (the SDK tutorial layout; the vectors are in the `uadp` crate's tests).
const V2: &str = "f101ba08016400014df4e11000c08976453cda01010000000200000004000d00c08976453cda0106d6ffffff08cb04fb711f0100000101";

#[test]
fn dry_run_prints_the_layout_and_the_first_message() {
    let (code, out, err) = uadpbench(&[
        "publish",
        "--dry-run",
        "--preset",
        "sdk-tutorial",
        "--fields",
        "DateTime=2024-01-01T00:00:00Z,Int32=-42,Int64=1234567890123,Boolean=true",
        "--config-version",
        "1.2",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("PublisherId UInt16:2234, WriterGroupId 100, DataSetWriterId 62541"),
        "{out}"
    );
    assert!(
        out.contains("PublisherId|GroupHeader|WriterGroupId|PayloadHeader (0x00000047)"),
        "{out}"
    );
    // Byte for byte open62541's V2, except the DataSetMessage timestamp (bytes 12..20),
    // which is the send time.
    let hex = out
        .lines()
        .find_map(|l| l.strip_prefix("message 0 (55 bytes): "))
        .unwrap_or_else(|| panic!("no message line in {out}"));
    assert_eq!((&hex[..24], &hex[40..]), (&V2[..24], &V2[40..]), "{hex}");
    let json: serde_json::Value =
        serde_json::from_str(out.lines().last().expect("JSON line")).expect("JSON");
    assert_eq!(json["dataset_messages"][0]["writer_id"], 62541);

    // A layout file, with a flag over it.
    let dir = std::env::temp_dir().join(format!("uadpbench-interop-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("layout.toml");
    std::fs::write(
        &file,
        "preset = \"dynamic\"\npublisher_id = \"String:plc-1\"\nwriter_ids = [7, 8]\nencoding = \"data-value\"\nfields = [\"UInt32\", \"Double=2.5\"]\n",
    )
    .unwrap();
    let (code, out, err) = uadpbench(&[
        "publish",
        "--dry-run",
        "--layout-file",
        file.to_str().unwrap(),
        "--writer-ids",
        "9,10",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(json["publisher_id"]["value"], "plc-1");
    assert_eq!(json["dataset_messages"][1]["writer_id"], 10);
    assert_eq!(json["dataset_messages"][0]["field_encoding"], "DataValue");
    std::fs::write(&file, "bogus = 1\n").unwrap();
    refused(
        &[
            "publish",
            "--dry-run",
            "--layout-file",
            file.to_str().unwrap(),
        ],
        "unknown field `bogus`",
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_names_the_presets_and_flags() {
    let (code, out, _) = uadpbench(&["publish", "--help"]);
    assert_eq!(code, 0);
    for s in [
        "periodic-fixed",
        "dynamic",
        "sdk-tutorial",
        "--network-message",
        "--eth-framing",
    ] {
        assert!(out.contains(s), "{s} missing from:\n{out}");
    }
    let (code, out, _) = uadpbench(&["subscribe", "--help"]);
    assert_eq!(code, 0);
    for s in [
        "--publisher-id",
        "--writer-group-id",
        "--writer-id",
        "--json-lines",
        "--samples",
    ] {
        assert!(out.contains(s), "{s} missing from:\n{out}");
    }
}

/// `ip netns exec NS uadpbench ARGS`, with piped output.
fn in_netns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_uadpbench")])
        .args(args);
    c
}

/// Starts a subscriber in `ns`, waits until it listens, runs the publisher in `pub_ns`, and
/// returns the subscriber's stdout.
fn cli_exchange(sub_ns: &str, sub_args: &[&str], pub_ns: &str, pub_args: &[&str]) -> String {
    let mut sub = in_netns(sub_ns, sub_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the subscriber");
    let mut err = BufReader::new(sub.stderr.take().expect("stderr"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut line = String::new();
    loop {
        line.clear();
        let n = err.read_line(&mut line).expect("read subscriber stderr");
        assert!(
            n > 0 && Instant::now() < deadline,
            "subscriber did not start: {line}"
        );
        if line.contains("listening on") {
            break;
        }
    }
    let out = in_netns(pub_ns, pub_args)
        .output()
        .expect("run the publisher");
    assert!(
        out.status.success(),
        "publish failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let done = sub.wait_with_output().expect("subscriber output");
    let stdout = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(done.status.success(), "subscribe failed: {stdout}");
    stdout
}

#[test]
fn cli_publish_reaches_cli_subscribe_in_namespaces() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "needs root (network namespaces): run the tests as root (sudo scripts/test.sh)"
    );
    let topo = uadpbench_topology::Topology::create(Default::default()).expect("topology");
    let (a, b) = (topo.a(), topo.b());
    let dir = std::env::temp_dir().join(format!("uadpbench-interop-cli-ns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("m.jsonl");
    let samples = dir.join("s.csv");

    // SDK tutorial layout over UDP multicast, with a DataSetReader-like filter.
    let out = cli_exchange(
        b.netns(),
        &[
            "subscribe",
            "--target",
            "opc.udp://224.0.0.22:4840",
            "--interface",
            b.ifname(),
            "--publisher-id",
            "2234",
            "--writer-group-id",
            "100",
            "--writer-id",
            "62541",
            "--count",
            "20",
            "--duration",
            "10",
            "--json-lines",
            json.to_str().unwrap(),
            "--samples",
            samples.to_str().unwrap(),
        ],
        a.netns(),
        &[
            "publish",
            "--target",
            "opc.udp://224.0.0.22:4840",
            "--interface",
            a.ifname(),
            "--preset",
            "sdk-tutorial",
            "--count",
            "20",
            "--interval-us",
            "500",
        ],
    );
    assert!(out.contains("20 accepted"), "{out}");
    assert!(
        out.contains("writer PublisherId UInt16:2234, WriterGroupId 100, DataSetWriterId 62541"),
        "{out}"
    );
    assert!(
        out.contains(&format!("json lines: {} (20 lines)", json.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("samples:    {} (20 rows)", samples.display())),
        "{out}"
    );
    let text = std::fs::read_to_string(&json).expect("json lines");
    for (i, l) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
        let f = &v["dataset_messages"][0]["fields"];
        assert_eq!(f[0]["type"], "DateTime");
        assert_eq!(f[1]["value"], i);
        assert_eq!(f[2]["value"], i);
        assert_eq!(f[3]["value"], i.is_multiple_of(2));
    }
    assert_eq!(
        std::fs::read_to_string(&samples).unwrap().lines().count(),
        21
    );

    // Periodic-Fixed over raw Ethernet in 802.3 length-field frames (RawData: the subscriber
    // takes the field types from the preset).
    let target = format!("opc.eth://{}", uadpbench_topology::format_mac(&b.mac()));
    let out = cli_exchange(
        b.netns(),
        &[
            "subscribe",
            "--target",
            &target,
            "--interface",
            b.ifname(),
            "--preset",
            "periodic-fixed",
            "--count",
            "20",
            "--duration",
            "10",
        ],
        a.netns(),
        &[
            "publish",
            "--target",
            &target,
            "--interface",
            a.ifname(),
            "--preset",
            "periodic-fixed",
            "--eth-framing",
            "ieee8023",
            "--count",
            "20",
            "--interval-us",
            "500",
        ],
    );
    assert!(out.contains("20 accepted"), "{out}");
    assert!(out.contains("0 lost in 0 gap(s)"), "{out}");
    assert!(out.contains("field decode failures 0"), "{out}");
    drop(topo);
    std::fs::remove_dir_all(&dir).ok();
}
