//! `uadpbench report` writes a self-contained report.html that a real browser renders with
//! every section filled: conditions, verdict, latency CDFs, and the layer waterfalls of a probe
//! run. Chromium (headless, from Debian; scripts/setup.sh installs it) loads the file from
//! disk with the network disabled and dumps the DOM it built.
//!
//! With `UADPBENCH_SCREENSHOT=DIR` the test also saves the browser's screenshots of the page
//! and of one waterfall there (how docs/img/report-*.png are made).

use std::path::{Path, PathBuf};
use std::process::Command;

const UADPBENCH: &str = env!("CARGO_BIN_EXE_uadpbench");

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return c;
        }
    }
    panic!("no headless browser: install Debian's chromium (scripts/setup.sh does)");
}

fn browser(args: &[&str], profile: &Path) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

fn ub(args: &[&str]) {
    let o = Command::new(UADPBENCH)
        .args(args)
        .output()
        .expect("uadpbench");
    assert!(
        o.status.success(),
        "uadpbench {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The text between `<tag` … `</tag>` blocks with `id="id"`.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = dom[start..].find("</section>").expect("section end") + start;
    &dom[start..end]
}

#[test]
fn report_html_renders_in_a_real_browser_with_every_section_filled() {
    let base: PathBuf = std::env::temp_dir().join(format!("uadpbench-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("dir");
    // A small campaign: udp and xdp ping-pong, probes off and on, two repetitions.
    let file = base.join("c.toml");
    std::fs::write(
        &file,
        "name = \"html\"\n[matrix]\npaths = [\"udp\", \"xdp\"]\nmodes = [\"pingpong\"]\npayload_bytes = [64]\nprobes = [\"none\", \"all\"]\nrepetitions = 2\n[run]\ncount = 400\nwarmup = 50\n",
    )
    .expect("campaign file");
    let dir = base.join("campaign");
    ub(&[
        "campaign",
        &file.display().to_string(),
        "--out",
        &dir.display().to_string(),
    ]);
    ub(&["report", &dir.display().to_string()]);
    let html = dir.join("report.html");
    let text = std::fs::read_to_string(&html).expect("report.html");
    // Self-contained: nothing fetched from anywhere (the SVG namespace URI is a name, not a
    // fetch).
    for bad in [
        "src=\"http",
        "href=\"http",
        "xlink:href=\"http",
        "url(http",
        "@import",
        "<script",
        "<link",
        "<img",
    ] {
        assert!(!text.contains(bad), "report.html references {bad}");
    }
    let profile = base.join("profile");
    let out = browser(
        &["--dump-dom", &format!("file://{}", html.display())],
        &profile,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("<h1>uadpbench report"),
        "the browser built no page"
    );
    let cond = section(&dom, "conditions");
    assert!(
        cond.contains("<td>") && cond.contains("cpuidle driver"),
        "{cond}"
    );
    let verdict = section(&dom, "verdict");
    assert!(verdict.contains("pingpong 64 B, cross-cpu:"), "{verdict}");
    assert!(verdict.contains("answer"), "{verdict}");
    let cdf = section(&dom, "cdf");
    assert!(
        cdf.contains("<svg") && (cdf.contains("<polyline") || cdf.contains("<path")),
        "CDF section without a drawn line"
    );
    let layers = section(&dom, "layers");
    assert!(
        layers.matches("<rect").count() >= 10,
        "waterfalls without bars"
    );
    assert!(layers.contains("largest:"), "no dominant segment named");
    assert!(layers.contains("A → B") && layers.contains("B → A (echo)"));
    // No empty element: every section has a heading and content; every figure has an svg
    // with something drawn in it.
    for id in [
        "conditions",
        "verdict",
        "cdf",
        "overhead",
        "layers",
        "table",
    ] {
        let s = section(&dom, id);
        assert!(s.contains("<h2>"), "{id}: no heading");
        assert!(s.len() > 200, "{id}: nearly empty ({} bytes)", s.len());
    }
    for fig in dom.split("<figure>").skip(1) {
        let fig = &fig[..fig.find("</figure>").expect("figure end")];
        assert!(fig.contains("<svg"), "a figure without svg");
        assert!(
            ["<rect", "<path", "<polyline", "<line"]
                .iter()
                .any(|t| fig.contains(t)),
            "an svg with nothing drawn"
        );
        assert!(fig.contains("<figcaption>") && !fig.contains("<figcaption></figcaption>"));
    }
    // The browser can render it to pixels.
    let png = base.join("report.png");
    let out = browser(
        &[
            "--window-size=1200,1600",
            &format!("--screenshot={}", png.display()),
            &format!("file://{}", html.display()),
        ],
        &profile,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&png).expect("screenshot").len() > 10_000);
    if let Ok(dest) = std::env::var("UADPBENCH_SCREENSHOT") {
        std::fs::copy(&png, Path::new(&dest).join("report-top.png")).expect("copy screenshot");
        // The waterfalls alone, for the README.
        let only = base.join("waterfall.html");
        let start = text.find("<section id=\"layers\"").expect("layers");
        let end = text[start..].find("</section>").expect("end") + start + "</section>".len();
        std::fs::write(
            &only,
            format!("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif\">{}</body></html>", &text[start..end]),
        )
        .expect("waterfall page");
        let wpng = Path::new(&dest).join("report-waterfall.png");
        let out = browser(
            &[
                "--window-size=960,1000",
                &format!("--screenshot={}", wpng.display()),
                &format!("file://{}", only.display()),
            ],
            &profile,
        );
        assert!(out.status.success());
    }
    let _ = std::fs::remove_dir_all(&base);
}
