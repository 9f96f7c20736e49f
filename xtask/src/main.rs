//! Project automation for aqueduct, run as `cargo xtask <command>`.
//!
//! std only: this crate depends on nothing outside the standard library and
//! on no workspace crate, so it builds in seconds on a fresh machine.

mod bench;
mod json;
mod tour;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "\
cargo xtask <command>

commands:
  demo [NAME|--list]      run every walkthrough in tour order, one by name, or list them
  test                    run every test in the workspace (all features, doctests, loom models, miri)
  ci [--skip-test]        fmt --check, clippy -D warnings, a build on the MSRV, test,
                          rustdoc -D warnings (also as docs.rs builds), every walkthrough
  bench [CRATE|kv]        run criterion benches (framing, flow, pool, resilience, io) and print ratios
  fuzz [TARGET|all] [SECONDS] [--runs N]
                          run the cargo-fuzz targets in fuzz/ (nightly), each for SECONDS
                          (default 60) or until N executions
  publish-check           package every publishable crate in dependency order
  help                    this text
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str);
    let rest = if args.is_empty() { &[][..] } else { &args[1..] };
    let result = match cmd {
        None | Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("demo") => demo(rest),
        Some("test") => test(),
        Some("ci") => ci(rest),
        Some("bench") => bench::run(rest),
        Some("fuzz") => fuzz(rest),
        Some("publish-check") => publish_check(),
        Some(other) => {
            eprintln!("unknown command `{other}`\n");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Error type of every step: a message naming what failed.
pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root (the parent of this crate's directory).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `cargo run -q --release -p PACKAGE KIND NAME`: one target (`--example`,
/// `--bin`) of a workspace package, built with the release profile.
pub(crate) fn release_run(package: &str, kind: &str, name: &str) -> Command {
    let mut cmd = cargo();
    cmd.args(["run", "-q", "--release", "-p", package, kind, name]);
    cmd
}

/// `cargo run --release` of one example of `aqueduct-examples`; arguments
/// added to the command go to the example.
pub(crate) fn example(name: &str) -> Command {
    let mut cmd = release_run("aqueduct-examples", "--example", name);
    cmd.arg("--");
    cmd
}

/// Whether the nightly toolchain is installed, with the cargo subcommand
/// `sub` if one is named.
fn nightly_has(sub: Option<&str>) -> bool {
    Command::new("cargo")
        .arg("+nightly")
        .args(sub)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs a command to completion, failing with `what` if it does not succeed.
pub(crate) fn run(mut cmd: Command, what: &str) -> Result {
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn step(title: &str) {
    println!("\n==> {title}");
}

fn demo(args: &[String]) -> Result {
    match args.first().map(String::as_str) {
        Some("--list") => {
            for (i, w) in tour::TOUR.iter().enumerate() {
                if i == tour::PATTERN_COUNT {
                    println!("    and to close the tour, a real service:");
                }
                let mark = if w.exists() {
                    ""
                } else {
                    "  (not written yet)"
                };
                println!("{:>2}. {:<18} {}{mark}", i + 1, w.name, w.purpose);
            }
            Ok(())
        }
        Some(name) => {
            let w = tour::find(name).ok_or_else(|| {
                format!("no walkthrough named `{name}` (see `cargo xtask demo --list`)")
            })?;
            build_examples()?;
            run_walkthrough(w, None)
        }
        None => {
            build_examples()?;
            let started = Instant::now();
            let total = tour::TOUR.len();
            let mut failed = Vec::new();
            let mut missing = Vec::new();
            for (i, w) in tour::TOUR.iter().enumerate() {
                if !w.exists() {
                    missing.push(w.name);
                    continue;
                }
                if let Err(e) = run_walkthrough(w, Some((i + 1, total))) {
                    eprintln!("{e}");
                    failed.push(w.name);
                }
            }
            println!(
                "\ntour finished in {:.1} s: {} walkthroughs ran, {} failed{}",
                started.elapsed().as_secs_f64(),
                total - missing.len(),
                failed.len(),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", {} not written yet ({})",
                        missing.len(),
                        missing.join(", ")
                    )
                }
            );
            if failed.is_empty() {
                Ok(())
            } else {
                Err(format!("walkthroughs failed: {}", failed.join(", ")))
            }
        }
    }
}

fn build_examples() -> Result {
    let mut cmd = cargo();
    cmd.args([
        "build",
        "-q",
        "--release",
        "-p",
        "aqueduct-examples",
        "--examples",
    ]);
    run(cmd, "building the walkthroughs")
}

fn run_walkthrough(w: &tour::Walkthrough, position: Option<(usize, usize)>) -> Result {
    let rule = "=".repeat(78);
    println!("\n{rule}");
    match position {
        Some((i, n)) => println!("[{i}/{n}] {} — {}", w.name, w.purpose),
        None => println!("{} — {}", w.name, w.purpose),
    }
    println!("{rule}");
    let started = Instant::now();
    run(example(w.name), &format!("walkthrough `{}`", w.name))?;
    println!(
        "--- {} finished in {:.2} s",
        w.name,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn test() -> Result {
    step("cargo test --workspace --all-features (unit, integration and doctests)");
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--all-features"]);
    run(cmd, "cargo test")?;
    loom_models()?;
    miri_checks()
}

/// Tests that exercise an `unsafe` block, run under miri: (package, filter).
const MIRI_TESTS: &[(&str, &str)] = &[
    ("aqueduct-framing", "utf8_bytes"),
    ("aqueduct-pool", "homes"),
    ("aqueduct-pool", "track"),
];

/// Runs [`MIRI_TESTS`] under miri when the nightly toolchain has it.
fn miri_checks() -> Result {
    if !nightly_has(Some("miri")) {
        println!(
            "\n(miri skipped: `rustup +nightly component add miri rust-src` to check the unsafe blocks)"
        );
        return Ok(());
    }
    for (package, filter) in MIRI_TESTS {
        step(&format!("miri: {package} tests matching `{filter}`"));
        let mut cmd = Command::new("cargo");
        cmd.current_dir(root())
            .args(["+nightly", "miri", "test", "-p", package, "--lib", filter])
            .env("CARGO_TARGET_DIR", root().join("target/miri"));
        run(cmd, &format!("miri on {package}"))?;
    }
    Ok(())
}

/// Runs every `tests/loom.rs` under `--cfg loom`, in a target directory of
/// its own so the normal build is not invalidated.
fn loom_models() -> Result {
    let crates_dir = root().join("crates");
    let mut entries: Vec<_> = std::fs::read_dir(&crates_dir)
        .map_err(|e| format!("reading {}: {e}", crates_dir.display()))?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("tests/loom.rs").is_file())
        .collect();
    entries.sort();
    for dir in entries {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        step(&format!("loom models of {name}"));
        let mut cmd = cargo();
        cmd.args([
            "test",
            "--release",
            "-p",
            &name,
            "--test",
            "loom",
            "--all-features",
        ])
        .env("RUSTFLAGS", "--cfg loom")
        .env("CARGO_TARGET_DIR", root().join("target/loom"));
        run(cmd, &format!("loom models of {name}"))?;
    }
    Ok(())
}

fn ci(args: &[String]) -> Result {
    let skip_test = match args.first().map(String::as_str) {
        None => false,
        Some("--skip-test") => true,
        Some(other) => {
            return Err(format!(
                "ci takes no argument but --skip-test, got `{other}`"
            ));
        }
    };
    let started = Instant::now();
    step("cargo fmt --all --check");
    let mut cmd = cargo();
    cmd.args(["fmt", "--all", "--check"]);
    run(cmd, "cargo fmt --check")?;

    step("cargo clippy --workspace --all-targets --all-features -- -D warnings");
    let mut cmd = cargo();
    cmd.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]);
    run(cmd, "cargo clippy")?;

    msrv_check()?;

    if skip_test {
        println!("\n(tests skipped: they already ran as `cargo xtask test`)");
    } else {
        test()?;
    }

    step("cargo doc --workspace --no-deps --all-features (RUSTDOCFLAGS=-D warnings)");
    let mut cmd = cargo();
    cmd.args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings");
    run(cmd, "cargo doc")?;

    docs_rs_check()?;

    step("every walkthrough");
    demo(&[])?;

    println!("\nci green in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Builds the published crates' docs as docs.rs does (nightly, all
/// features, `--cfg docsrs`), when the nightly toolchain is installed: the
/// `doc(cfg)` attributes only take effect there, and a break would
/// otherwise show only after publishing. The same build denies a public
/// item without a code example (rustdoc's `missing_doc_code_examples`,
/// which only nightly has).
fn docs_rs_check() -> Result {
    if !nightly_has(None) {
        println!("\n(docs.rs build skipped: it needs the nightly toolchain)");
        return Ok(());
    }
    step(
        "cargo +nightly doc of the published crates as docs.rs builds them (--cfg docsrs), \
         every public item with an example",
    );
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root())
        .args(["+nightly", "doc", "--no-deps", "--all-features"])
        .env(
            "RUSTDOCFLAGS",
            "--cfg docsrs -D warnings -Z unstable-options \
             -Zcrate-attr=feature(rustdoc_missing_doc_code_examples) \
             -D rustdoc::missing_doc_code_examples",
        )
        .env("CARGO_TARGET_DIR", root().join("target/docsrs"));
    for package in PUBLISHED {
        cmd.args(["-p", package]);
    }
    run(cmd, "the docs.rs build")
}

/// The crates' minimum supported Rust version: the workspace manifest's
/// `rust-version`.
fn msrv() -> Result<String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml"))
        .map_err(|e| format!("reading Cargo.toml: {e}"))?;
    manifest
        .lines()
        .find_map(|line| {
            let value = line.trim().strip_prefix("rust-version")?.trim_start();
            Some(value.strip_prefix('=')?.trim().trim_matches('"').to_owned())
        })
        .ok_or_else(|| "Cargo.toml names no rust-version".into())
}

/// The full name of an installed toolchain of Rust `version` (`1.85`
/// matches `1.85-<host>` and `1.85.0-<host>`), if rustup has one.
fn installed_toolchain(version: &str) -> Option<String> {
    let out = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .find(|name| is_toolchain_of(name, version))
        .map(str::to_owned)
}

/// Whether the toolchain named `name` is Rust `version`.
fn is_toolchain_of(name: &str, version: &str) -> bool {
    name.strip_prefix(version)
        .is_some_and(|rest| rest.starts_with('-') || rest.starts_with(".0-"))
}

/// Builds every crate, test, example and the xtask on the MSRV toolchain,
/// when it is installed, so the version the README promises is kept. The
/// benchmarks are left out: criterion needs a newer Rust, and they are not
/// published.
fn msrv_check() -> Result {
    let version = msrv()?;
    let Some(toolchain) = installed_toolchain(&version) else {
        println!(
            "\n(MSRV check skipped: `rustup toolchain install {version} --profile minimal` to build on Rust {version})"
        );
        return Ok(());
    };
    step(&format!(
        "cargo +{version} check --workspace --exclude aqueduct-benches --all-targets --all-features"
    ));
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root())
        .arg(format!("+{toolchain}"))
        .args([
            "check",
            "--workspace",
            "--exclude",
            "aqueduct-benches",
            "--all-targets",
            "--all-features",
        ])
        .env("CARGO_TARGET_DIR", root().join("target/msrv"));
    run(cmd, &format!("the build on Rust {version}"))
}

fn fuzz(args: &[String]) -> Result {
    let fuzz_dir = root().join("fuzz");
    if !fuzz_dir.join("Cargo.toml").is_file() {
        return Err("there is no fuzz/ workspace yet".into());
    }
    if !nightly_has(Some("fuzz")) {
        return Err(
            "cargo-fuzz is not installed: `cargo install cargo-fuzz` (it needs the nightly toolchain)"
                .into(),
        );
    }
    // `--runs N` stops each target after N executions instead of after a time.
    let mut runs_goal: Option<u64> = None;
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--runs" {
            let n = it.next().ok_or("--runs needs a number")?;
            runs_goal = Some(
                n.parse()
                    .map_err(|_| format!("--runs must be a whole number, got `{n}`"))?,
            );
        } else {
            positional.push(a.clone());
        }
    }
    let seconds: u64 = match positional.get(1) {
        Some(s) => s
            .parse()
            .map_err(|_| format!("SECONDS must be a whole number, got `{s}`"))?,
        None if runs_goal.is_some() => 0,
        None => 60,
    };
    let targets: Vec<String> = match positional.first().filter(|t| t.as_str() != "all") {
        Some(t) => vec![t.clone()],
        None => {
            let out = Command::new("cargo")
                .args(["+nightly", "fuzz", "list"])
                .current_dir(&fuzz_dir)
                .output()
                .map_err(|e| format!("cargo fuzz list: {e}"))?;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        }
    };
    let mut summary = Vec::new();
    for target in &targets {
        let mut limits = Vec::new();
        if seconds > 0 {
            limits.push(format!("-max_total_time={seconds}"));
        }
        if let Some(n) = runs_goal {
            limits.push(format!("-runs={n}"));
        }
        step(&format!("fuzz {target} ({})", limits.join(" ")));
        let out = Command::new("cargo")
            .args(["+nightly", "fuzz", "run", target, "--release", "--"])
            .args(&limits)
            .current_dir(&fuzz_dir)
            .output()
            .map_err(|e| format!("cargo fuzz run {target}: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let runs = fuzz_executions(&stderr);
        if !out.status.success() {
            eprintln!("{stderr}");
            return Err(fuzz_failure(target, &stderr, runs));
        }
        match runs_goal {
            Some(goal) if runs < goal => {
                println!("{target}: {runs} executions (time ran out before {goal}), no crash");
            }
            _ => println!("{target}: {runs} executions, no crash"),
        }
        summary.push((target.clone(), runs));
    }
    println!("\n| target | executions |\n|---|---:|");
    for (t, n) in summary {
        println!("| {t} | {n} |");
    }
    Ok(())
}

/// The executions a libFuzzer run reports: its closing `Done N runs`
/// line, else the count on its last status line (`#N ...`), which is all
/// a run stopped early leaves.
fn fuzz_executions(stderr: &str) -> u64 {
    stderr
        .lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("Done ")
                .or_else(|| l.strip_prefix('#'))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// What a fuzz run that did not succeed means: a crash only when libFuzzer
/// reports one (an error of its own, or an input it kept); a run stopped by
/// an interrupt, or a build that failed, is named as such.
fn fuzz_failure(target: &str, stderr: &str, runs: u64) -> String {
    if stderr.contains("ERROR: libFuzzer") || stderr.contains("Test unit written to") {
        format!("fuzz target `{target}` found a crash after {runs} runs")
    } else if stderr.contains("libFuzzer: run interrupted") {
        format!("fuzz target `{target}` was interrupted after {runs} runs, with no crash")
    } else {
        format!("cargo fuzz run {target} failed before fuzzing (its output is above)")
    }
}

/// The crates `publish-check` packages.
const PUBLISHED: &[&str] = &[
    "aqueduct",
    "aqueduct-io",
    "aqueduct-framing",
    "aqueduct-flow",
    "aqueduct-pool",
    "aqueduct-resilience",
];

/// Removes earlier verification copies of our own crates from cargo's
/// registry cache. The dry run verifies each crate against the others through
/// a temporary local registry, and cargo reuses an extracted crate of the same
/// name and version instead of extracting the new one, so a copy left by an
/// earlier run would be verified in place of the current code. The dry run's
/// own target directory goes too, for the same reason.
fn forget_verified_copies() {
    let cargo_home = env::var_os("CARGO_HOME").map_or_else(
        || {
            env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cargo"))
                .unwrap_or_default()
        },
        PathBuf::from,
    );
    let Ok(registries) = std::fs::read_dir(cargo_home.join("registry/src")) else {
        return;
    };
    for registry in registries.flatten() {
        let Ok(entries) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = PUBLISHED.iter().any(|c| {
                name.strip_prefix(c)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|v| v.starts_with(|ch: char| ch.is_ascii_digit()))
            });
            if ours {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir_all(publish_target_dir());
}

/// A target directory of its own for the dry run: cargo takes a crate built
/// from a registry as unchanged when its name and version are, so the
/// verification builds must not share a directory with an earlier run's.
fn publish_target_dir() -> PathBuf {
    root().join("target/publish-check")
}

fn publish_check() -> Result {
    forget_verified_copies();
    step("cargo publish --workspace --dry-run (every publishable crate, in dependency order)");
    let mut cmd = cargo();
    cmd.args(["publish", "--workspace", "--dry-run", "--allow-dirty"])
        .env("CARGO_TARGET_DIR", publish_target_dir());
    run(cmd, "publish dry run")
}

#[cfg(test)]
mod tests {
    use super::{fuzz_executions, fuzz_failure, is_toolchain_of};

    #[test]
    fn the_msrv_toolchain_is_found_by_either_name() {
        assert!(is_toolchain_of("1.85-x86_64-unknown-linux-gnu", "1.85"));
        assert!(is_toolchain_of("1.85.0-x86_64-unknown-linux-gnu", "1.85"));
        assert!(!is_toolchain_of("1.85.1-x86_64-unknown-linux-gnu", "1.85"));
        assert!(!is_toolchain_of("1.850-x86_64-unknown-linux-gnu", "1.85"));
        assert!(!is_toolchain_of("stable-x86_64-unknown-linux-gnu", "1.85"));
    }

    #[test]
    fn a_finished_fuzz_run_counts_its_done_line() {
        let stderr =
            "#1048576\tpulse  cov: 911 exec/s: 2549\nDone 5000000 runs in 1961 second(s)\n";
        assert_eq!(fuzz_executions(stderr), 5_000_000);
    }

    #[test]
    fn a_stopped_fuzz_run_counts_its_last_status_line() {
        let stderr = "#4510615\tREDUCE cov: 911 ft: 5844\n\
                      #4512556\tREDUCE cov: 911 ft: 5844\n\
                      ==28034== libFuzzer: run interrupted; exiting\n";
        assert_eq!(fuzz_executions(stderr), 4_512_556);
        let msg = fuzz_failure("delimiter", stderr, 4_512_556);
        assert_eq!(
            msg,
            "fuzz target `delimiter` was interrupted after 4512556 runs, with no crash"
        );
    }

    #[test]
    fn only_a_reported_crash_is_called_one() {
        let crash = "#812\tNEW cov: 40\n==7== ERROR: libFuzzer: deadly signal\n\
                     artifact_prefix='artifacts/'; Test unit written to artifacts/crash-1\n";
        assert_eq!(
            fuzz_failure("lines", crash, fuzz_executions(crash)),
            "fuzz target `lines` found a crash after 812 runs"
        );
        let build = "error[E0425]: cannot find value `x` in this scope\n";
        assert_eq!(fuzz_executions(build), 0);
        assert!(fuzz_failure("lines", build, 0).contains("failed before fuzzing"));
    }
}
