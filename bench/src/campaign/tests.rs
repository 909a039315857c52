use super::*;

const SMALL: &str = r#"
name = "t"
[matrix]
paths = ["udp", "eth"]
encaps = ["eth", "udp"]
modes = ["pingpong", "cyclic"]
payload_bytes = [64, 1400]
intervals_us = [1000, 250]
probes = ["none", "all"]
repetitions = 2
[run]
count = 100
"#;

#[test]
fn matrix_expansion_counts_and_order() {
    let c = Campaign::parse(SMALL, "t.toml").unwrap();
    let runs = c.expand();
    // udp: 1 encap; eth: 2 encaps → 3 path/encap; pingpong 1 interval + cyclic 2 → 3;
    // 2 payloads, 2 probe sets, 2 repetitions.
    assert_eq!(runs.len(), 3 * 3 * 2 * 2 * 2);
    let ids: BTreeSet<String> = runs.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), runs.len(), "run ids are unique");
    // Interleaved: all of repetition 1 before repetition 2.
    let first_r2 = runs.iter().position(|r| r.repetition == 2).unwrap();
    assert!(runs[..first_r2].iter().all(|r| r.repetition == 1));
    assert_eq!(
        runs.iter().map(|r| r.index).collect::<Vec<_>>(),
        (1..=runs.len()).collect::<Vec<_>>()
    );
}

#[test]
fn placements_are_an_axis_with_unique_ids() {
    let text = SMALL.replace(
        "repetitions = 2",
        "placements = [\"cross-cpu\", \"same-cpu\", \"none\"]\nrepetitions = 2",
    );
    let c = Campaign::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e:?}"));
    let runs = c.expand();
    assert_eq!(runs.len(), 3 * 3 * 2 * 2 * 2 * 3);
    let ids: BTreeSet<String> = runs.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), runs.len(), "run ids are unique");
    let of = |p: Placement| runs.iter().filter(|r| r.config.placement == p).count();
    assert_eq!(of(Placement::CrossCpu), runs.len() / 3);
    assert_eq!(of(Placement::None), runs.len() / 3);
    // The default placement keeps the old ids; the others name theirs.
    assert!(runs
        .iter()
        .filter(|r| r.config.placement == Placement::CrossCpu)
        .all(|r| !r.id().contains("cpu")));
    assert!(runs
        .iter()
        .filter(|r| r.config.placement == Placement::SameCpu)
        .all(|r| r.id().contains("-same-cpu-")));
    // Defaults: cross-cpu, PM QoS 0.
    let d = Campaign::parse(SMALL, "t.toml").unwrap();
    assert!(d
        .expand()
        .iter()
        .all(|r| r.config.placement == Placement::CrossCpu
            && r.config.idle_latency == IdleLatency::Hold(0)));
    let off = format!("{SMALL}\n[sched]\nidle_latency_us = \"off\"\n");
    let o = Campaign::parse(&off, "t.toml").unwrap_or_else(|e| panic!("{e:?}"));
    assert!(o
        .expand()
        .iter()
        .all(|r| r.config.idle_latency == IdleLatency::Off));
    let bad = SMALL.replace("repetitions = 2", "placements = []\nrepetitions = 2");
    let errs = Campaign::parse(&bad, "t.toml").unwrap_err();
    assert!(errs
        .iter()
        .any(|e| e.to_string().contains("matrix.placements is empty")));
    let bad = SMALL.replace(
        "repetitions = 2",
        "placements = [\"sideways\"]\nrepetitions = 2",
    );
    assert!(Campaign::parse(&bad, "t.toml").is_err());
}

#[test]
fn names_that_escape_results_are_refused() {
    for bad in ["../../escaped", "/abs/path", "a/b", ".hidden", "", "x y"] {
        let text = SMALL.replace("name = \"t\"", &format!("name = {bad:?}"));
        let errs = Campaign::parse(&text, "c.toml").unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.to_string().contains("names the results directory")),
            "{bad}: {errs:?}"
        );
    }
    assert!(name_is_safe("default"));
    assert!(name_is_safe("smoke-2.v1_x"));
}

#[test]
fn differences_name_the_changed_keys() {
    let a = Campaign::parse(SMALL, "t").unwrap();
    let b = Campaign::parse(&SMALL.replace("count = 100", "count = 700"), "t").unwrap();
    assert_eq!(differences(&a, &b), vec!["run.count: 100 → 700".to_owned()]);
    assert!(differences(&a, &a).is_empty());
}

#[test]
fn random_order_is_reproducible_with_its_seed() {
    let text = format!("{SMALL}\n[order]\nkind = \"random\"\nseed = 7\n");
    let a: Vec<String> = Campaign::parse(&text, "t")
        .unwrap()
        .expand()
        .iter()
        .map(PlannedRun::id)
        .collect();
    let b: Vec<String> = Campaign::parse(&text, "t")
        .unwrap()
        .expand()
        .iter()
        .map(PlannedRun::id)
        .collect();
    assert_eq!(a, b);
    let other = text.replace("seed = 7", "seed = 8");
    let c: Vec<String> = Campaign::parse(&other, "t")
        .unwrap()
        .expand()
        .iter()
        .map(PlannedRun::id)
        .collect();
    assert_ne!(a, c);
    let mut sorted_a = a.clone();
    sorted_a.sort();
    let mut sorted_c = c;
    sorted_c.sort();
    assert_eq!(sorted_a, sorted_c, "same runs, different order");
}

#[test]
fn unknown_keys_are_rejected_with_line_and_column() {
    let text = "name = \"x\"\n[matrix]\npaths = [\"udp\"]\nmodes = [\"pingpong\"]\npayload_bytes = [64]\n  colour = 3\n";
    let errs = Campaign::parse(text, "c.toml").unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!((errs[0].line, errs[0].column), (6, 3), "{}", errs[0]);
    assert!(
        errs[0]
            .to_string()
            .starts_with("c.toml:6:3: unknown field `colour`"),
        "{}",
        errs[0]
    );
}

#[test]
fn bad_values_are_reported_each_with_a_position() {
    let text = "name = \"x\"\n[matrix]\npaths = [\"udp\"]\nmodes = [\"flood\"]\npayload_bytes = [64, 5000]\n";
    let errs = Campaign::parse(text, "c.toml").unwrap_err();
    let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("c.toml:5:1:") && m.contains("payload 5000")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("flood mode needs duration")),
        "{msgs:?}"
    );
    let errs =
        Campaign::parse("name = \"x\"\n[matrix]\npaths = [\"udq\"]\n", "c.toml").unwrap_err();
    assert_eq!(errs[0].line, 3, "{}", errs[0]);
}

const LAYOUTS: &str = r#"
name = "l"
[matrix]
paths = ["udp"]
modes = ["pingpong"]
payload_bytes = [64, 256]
probes = ["none", "all"]
layouts = ["benchmark", "sdk-tutorial", "plc"]
[layouts.plc]
preset = "dynamic"
publisher_id = "UInt64:77"
writer_ids = [5]
fields = ["UInt32=counter", "Double=counter"]
"#;

#[test]
fn layouts_expand_once_per_combination_without_probes() {
    let c = Campaign::parse(LAYOUTS, "l.toml").unwrap_or_else(|e| panic!("{e:?}"));
    let runs = c.expand();
    // benchmark: 2 payloads × 2 probe sets; each layout: its own size, probes none.
    assert_eq!(runs.len(), 4 + 1 + 1);
    let plc: Vec<&PlannedRun> = runs.iter().filter(|r| r.layout == "plc").collect();
    assert_eq!(plc.len(), 1);
    let plc = plc[0];
    assert_eq!(plc.probes, "none");
    assert!(plc.id().contains("-layout_plc-probes_none"), "{}", plc.id());
    let l = plc
        .config
        .layout
        .as_ref()
        .expect("layout")
        .resolve()
        .expect("resolves");
    assert_eq!(
        l.publisher_id,
        crate::interop::layout::PublisherIdValue::UInt64(77)
    );
    // The size is the layout's message, not a payload axis value.
    assert!(![64, 256].contains(&plc.config.payload_bytes));
    assert!(plc.config.payload_bytes > 20);
    assert!(
        plc.config.validate().is_empty(),
        "{:?}",
        plc.config.validate()
    );
    let sdk = runs
        .iter()
        .find(|r| r.layout == "sdk-tutorial")
        .expect("sdk run");
    assert_eq!(
        sdk.config.layout.as_ref().and_then(|l| l.preset),
        Some(Preset::SdkTutorial)
    );
    assert!(runs
        .iter()
        .filter(|r| r.layout == BENCHMARK_LAYOUT)
        .all(|r| r.config.layout.is_none()));
}

#[test]
fn bad_layouts_are_reported_with_a_position() {
    let unknown = LAYOUTS.replace("\"plc\"]", "\"plc\", \"nope\"]");
    let errs = Campaign::parse(&unknown, "l.toml").unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.line == 8 && e.message.contains("\"nope\" is neither")),
        "{errs:?}"
    );
    let unused = LAYOUTS.replace(", \"plc\"]", "]");
    let errs = Campaign::parse(&unused, "l.toml").unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.line == 9 && e.message.contains("not in matrix.layouts")),
        "{errs:?}"
    );
    let no_identity = LAYOUTS.replace(
        "fields = [\"UInt32=counter\", \"Double=counter\"]",
        "fields = [\"Boolean=toggle\"]\ndataset_message = \"Timestamp\"",
    );
    let errs = Campaign::parse(&no_identity, "l.toml").unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message.contains("SequenceNumber or an integer counter")),
        "{errs:?}"
    );
    let only_probes = LAYOUTS.replace("probes = [\"none\", \"all\"]", "probes = [\"all\"]");
    let errs = Campaign::parse(&only_probes, "l.toml").unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message.contains("add \"none\" to matrix.probes")),
        "{errs:?}"
    );
    let bad_key = LAYOUTS.replace("writer_ids = [5]", "writer_idz = [5]");
    let errs = Campaign::parse(&bad_key, "l.toml").unwrap_err();
    assert_eq!(errs[0].line, 12, "{errs:?}");
}

#[test]
fn shipped_campaigns_parse() {
    for f in ["default", "smoke", "full"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../campaigns")
            .join(format!("{f}.toml"));
        let (c, _) = Campaign::load(&path).unwrap_or_else(|e| panic!("{f}: {e:#}"));
        assert!(!c.expand().is_empty());
    }
}

const ACROSS_HOSTS: &str = r#"
name = "two-hosts"
[matrix]
paths = ["udp", "xdp"]
modes = ["pingpong", "cyclic"]
payload_bytes = [64]
intervals_us = [1000]
probes = ["none"]
repetitions = 1
[run]
count = 100
[peer]
address = "198.18.0.2"
interface = "ub000000000001a"
peer_interface = "ub000000000001b"
"#;

#[test]
fn a_peer_table_runs_every_run_across_hosts() {
    let c = Campaign::parse(ACROSS_HOSTS, "t.toml").unwrap();
    let peer = c.peer.as_ref().unwrap();
    assert_eq!(peer.address, "198.18.0.2");
    assert!(!peer.allow_external_interface && peer.token_file.is_none());
    assert_eq!(c.expand().len(), 4);
    // It is part of what a resume compares.
    let mut other = c.clone();
    other.peer.as_mut().unwrap().peer_interface = "eth1".into();
    assert!(differences(&c, &other)
        .iter()
        .any(|d| d.starts_with("peer.peer_interface")));
}

#[test]
fn what_runs_cannot_do_across_hosts_is_refused_at_parse_time() {
    // Flood runs across hosts (a counting subscriber on the agent); fan-out with the
    // subscribers of one agent is not built, and probes have a bound: refused with the
    // position of the cause.
    let text = ACROSS_HOSTS
        .replace("\"cyclic\"]", "\"cyclic\", \"flood\"]")
        .replace("count = 100", "count = 100\nduration_s = 1");
    let c = Campaign::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e:?}"));
    assert!(c.expand().iter().any(|r| r.config.mode == Mode::Flood));
    let text = ACROSS_HOSTS.replace("repetitions", "subscribers = [2]\nrepetitions");
    let errors = Campaign::parse(&text, "t.toml").unwrap_err();
    assert!(
        errors.iter().any(|e| e.message.contains("subscribers")),
        "{errors:?}"
    );
    // Probes run on both hosts, up to the stamps an agent sends back.
    let text = ACROSS_HOSTS.replace("probes = [\"none\"]", "probes = [\"all\"]");
    let c = Campaign::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e:?}"));
    assert!(c.expand().iter().all(|r| r.config.probes == "all"));
    let text = text.replace("count = 100", "count = 200000");
    let errors = Campaign::parse(&text, "t.toml").unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("with probes takes at most")),
        "{errors:?}"
    );
    // A bad address and an unknown key.
    let text = ACROSS_HOSTS.replace("\"198.18.0.2\"", "\"\"");
    let errors = Campaign::parse(&text, "t.toml").unwrap_err();
    assert!(
        errors.iter().any(|e| e.message.starts_with("peer.address")),
        "{errors:?}"
    );
    let text = ACROSS_HOSTS.replace("[peer]", "[peer]\ncommand = \"x\"");
    assert!(Campaign::parse(&text, "t.toml").is_err());
}

#[test]
fn fan_out_across_hosts_takes_its_agents_from_peer_fanout() {
    let base = ACROSS_HOSTS
        .replace("modes = [\"pingpong\", \"cyclic\"]", "modes = [\"cyclic\"]")
        .replace("repetitions", "subscribers = [1, 2]\nrepetitions");
    let two = "\n[[peer.fanout]]\naddress = \"198.19.1.2\"\npeer_interface = \"ub0000001b1\"\n[[peer.fanout]]\naddress = \"198.19.2.2:4851\"\npeer_interface = \"ub0000001b2\"\n";
    let c = Campaign::parse(&format!("{base}{two}"), "t.toml").unwrap_or_else(|e| panic!("{e:?}"));
    let peer = c.peer.as_ref().unwrap();
    assert_eq!(
        peer.agents_for(Some(2)),
        vec![
            ("198.19.1.2", "ub0000001b1"),
            ("198.19.2.2:4851", "ub0000001b2")
        ]
    );
    assert_eq!(
        peer.agents_for(Some(1)),
        vec![("198.19.1.2", "ub0000001b1")]
    );
    assert_eq!(
        peer.agents_for(None),
        vec![("198.18.0.2", "ub000000000001b")]
    );
    // Without [[peer.fanout]] only one subscriber (the [peer] agent) is possible.
    let errors = Campaign::parse(&base, "t.toml").unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("subscribers 2 with 1 peer")),
        "{errors:?}"
    );
    // More subscribers than agents, and one agent listed twice.
    let three = base.replace("[1, 2]", "[3]");
    let errors = Campaign::parse(&format!("{three}{two}"), "t.toml").unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("subscribers 3 with 2 peer")),
        "{errors:?}"
    );
    let twice = two.replace("198.19.2.2:4851", "198.19.1.2:4850");
    let errors = Campaign::parse(&format!("{base}{twice}"), "t.toml").unwrap_err();
    assert!(
        errors.iter().any(|e| e.message.contains("listed twice")),
        "{errors:?}"
    );
}

#[test]
fn subscribers_are_an_axis_of_cyclic_runs_only() {
    let text = SMALL
        .replace("probes = [\"none\", \"all\"]", "probes = [\"none\"]")
        .replace("repetitions = 2", "subscribers = [1, 4]\nrepetitions = 2");
    let c = Campaign::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e:?}"));
    let runs = c.expand();
    // 3 path/encap × 2 payloads × (pingpong 1 + cyclic 2 intervals × 2 counts) × 2 reps.
    assert_eq!(runs.len(), 3 * 2 * (1 + 2 * 2) * 2);
    let ids: BTreeSet<String> = runs.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), runs.len(), "run ids are unique");
    for r in &runs {
        match r.config.mode {
            Mode::Cyclic => {
                let n = r.config.subscribers.expect("cyclic runs fan out");
                assert!(r.id().contains(&format!("-{n}sub")), "{}", r.id());
            }
            _ => assert_eq!(r.config.subscribers, None, "{}", r.id()),
        }
    }
    // Fan-out measures without probes: a probe set other than none is refused, with why.
    let probed = SMALL.replace("repetitions = 2", "subscribers = [2]\nrepetitions = 2");
    let errs = Campaign::parse(&probed, "t.toml").unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.to_string().contains("--probes none")
                || e.to_string().contains("probes none")),
        "{errs:?}"
    );
}
