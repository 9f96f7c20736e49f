//! `cargo xtask bench`: runs the criterion benches and prints, from
//! criterion's own `benchmark.json` + `estimates.json` files, a table of
//! our time beside each anchor's and the ratio ours / anchor.
//!
//! Conventions the benches follow: in each criterion group, our
//! implementation's function id is `aqueduct` (or starts with `aqueduct`,
//! for variants such as `aqueduct-fastclock`); every other function id is an
//! anchor (`governor`, `tokio-util`, `deadpool`, `memcpy`, ...), measured
//! under the same parameter.

use crate::json::{self, Value};
use crate::{Result, cargo, root, step};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A glibc tunable set for the bench processes: copies of any size use
/// vector moves instead of `rep movsb`. On AMD CPUs with fast short
/// `rep movsb` (FSRM), that instruction runs over ten times slower when the
/// destination lies less than 16 bytes past the source modulo 4 KiB. A
/// bench that copies input into a read buffer would then measure where the
/// allocator happened to put the buffer, not the code under test, and the
/// same code would swing between runs. No effect with other C libraries or
/// CPUs; a value already in the environment is kept.
const COPY_TUNABLE: (&str, &str) = (
    "GLIBC_TUNABLES",
    "glibc.cpu.x86_rep_movsb_threshold=1000000000",
);

/// The criterion bench targets of `aqueduct-benches`, one per crate.
const BENCHES: &[&str] = &["framing", "flow", "pool", "resilience", "io"];

pub(crate) fn run(args: &[String]) -> Result {
    let which: Vec<&str> = match args.first().map(String::as_str) {
        None => BENCHES.to_vec(),
        Some("kv") => return kv_load(),
        Some(name) if BENCHES.contains(&name) => vec![name],
        Some(other) => {
            return Err(format!(
                "unknown bench `{other}`: expected one of {} or kv",
                BENCHES.join(", ")
            ));
        }
    };
    let since = SystemTime::now();
    for bench in &which {
        step(&format!("cargo bench --bench {bench}"));
        let mut cmd = cargo();
        cmd.args(["bench", "-p", "aqueduct-benches", "--bench", bench]);
        with_copy_tunable(&mut cmd);
        crate::run(cmd, &format!("bench {bench}"))?;
        match *bench {
            "io" => c10k()?,
            "framing" => paired("framing_paired", "framing goals")?,
            "pool" => paired("pool_paired", "pool contended goals")?,
            _ => {}
        }
    }
    let results = collect(&criterion_dir(), since)?;
    println!("\n{}", table(&results));
    Ok(())
}

/// The C10K memory program (a binary of `aqueduct-benches`), if present.
fn c10k() -> Result {
    if !root().join("benches/src/bin/c10k.rs").is_file() {
        return Ok(());
    }
    step("c10k: resident memory per idle connection");
    crate::run(
        crate::release_run("aqueduct-benches", "--bin", "c10k"),
        "c10k",
    )
}

/// A crate's goals measured in pairs (a binary of `aqueduct-benches`): the
/// sides of each goal alternate within milliseconds, so a machine whose
/// speed changes from second to second cannot set one side's time against
/// the other's.
fn paired(bin: &str, what: &str) -> Result {
    step(&format!("{what}, each pair measured side by side ({bin})"));
    let mut cmd = crate::release_run("aqueduct-benches", "--bin", bin);
    with_copy_tunable(&mut cmd);
    crate::run(cmd, bin)
}

/// Sets [`COPY_TUNABLE`] for `cmd`, unless the environment sets
/// `GLIBC_TUNABLES` already.
fn with_copy_tunable(cmd: &mut std::process::Command) {
    if std::env::var_os(COPY_TUNABLE.0).is_none() {
        cmd.env(COPY_TUNABLE.0, COPY_TUNABLE.1);
    }
}

/// The key-value service load test.
fn kv_load() -> Result {
    step("kv load test (loopback, bounded in count and time)");
    let mut cmd = crate::example("kv_server");
    cmd.arg("load");
    crate::run(cmd, "kv load test")
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("criterion")
}

/// One measured function under one parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Measurement {
    pub(crate) group: String,
    pub(crate) function: String,
    pub(crate) parameter: String,
    /// Median time per iteration, in nanoseconds.
    pub(crate) median_ns: f64,
}

/// Reads every `new/benchmark.json` below `dir` written at or after `since`.
pub(crate) fn collect(dir: &Path, since: SystemTime) -> Result<Vec<Measurement>> {
    let mut found = Vec::new();
    walk(dir, &mut |path| {
        if path.file_name().is_some_and(|n| n == "benchmark.json")
            && path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "new")
        {
            let fresh = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            if fresh {
                found.push(path.to_path_buf());
            }
        }
    });
    found.sort();
    found.iter().map(|p| read_measurement(p)).collect()
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, f);
        } else {
            f(&path);
        }
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    json::parse(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
}

fn read_measurement(benchmark_json: &Path) -> Result<Measurement> {
    let id = read_json(benchmark_json)?;
    let estimates_path = benchmark_json.with_file_name("estimates.json");
    let estimates = read_json(&estimates_path)?;
    let text = |key: &str| {
        id.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let median_ns = estimates
        .path(&["median", "point_estimate"])
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("{}: no median estimate", estimates_path.display()))?;
    Ok(Measurement {
        group: text("group_id"),
        function: text("function_id"),
        parameter: text("value_str"),
        median_ns,
    })
}

fn is_ours(function: &str) -> bool {
    function.starts_with("aqueduct")
}

/// The markdown table: one row per (group, parameter, our variant, anchor).
pub(crate) fn table(results: &[Measurement]) -> String {
    // (group, parameter) -> function -> time, in first-seen order of groups.
    let mut cells: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    for m in results {
        cells
            .entry((m.group.clone(), m.parameter.clone()))
            .or_default()
            .insert(m.function.clone(), m.median_ns);
    }
    let mut out = String::from(
        "| group | parameter | ours | time | anchor | time | ours/anchor |\n\
         |---|---|---|---:|---|---:|---:|\n",
    );
    let mut rows = 0;
    for ((group, param), funcs) in &cells {
        let param = if param.is_empty() { "-" } else { param };
        for (ours, ours_t) in funcs.iter().filter(|(f, _)| is_ours(f)) {
            for (anchor, anchor_t) in funcs.iter().filter(|(f, _)| !is_ours(f)) {
                out.push_str(&format!(
                    "| {group} | {param} | {ours} | {} | {anchor} | {} | {:.2} |\n",
                    human(*ours_t),
                    human(*anchor_t),
                    ours_t / anchor_t
                ));
                rows += 1;
            }
        }
    }
    if rows == 0 {
        out.push_str("| (no group measured ours beside an anchor) | | | | | | |\n");
    }
    out.push_str("\nratio = median time ours / median time anchor: below 1.00 is faster.\n");
    out
}

fn human(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.2} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/criterion")
    }

    #[test]
    fn reads_every_fixture_measurement() {
        let got = collect(&fixtures(), SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(got.len(), 5);
        let ours = got
            .iter()
            .find(|m| m.group == "gcra/check" && m.function == "aqueduct")
            .unwrap();
        assert_eq!(ours.parameter, "allowed");
        assert!((ours.median_ns - 20.5).abs() < 1e-9);
    }

    #[test]
    fn table_pairs_ours_with_each_anchor() {
        let got = collect(&fixtures(), SystemTime::UNIX_EPOCH).unwrap();
        let t = table(&got);
        // gcra/check: one row against governor, ratio 20.5 / 41.0.
        assert!(
            t.contains(
                "| gcra/check | allowed | aqueduct | 20.50 ns | governor | 41.00 ns | 0.50 |"
            ),
            "{t}"
        );
        // framing/lines: ours beside two anchors, two rows.
        assert!(t.contains("| tokio-util | 2.00 µs | 0.75 |"), "{t}");
        assert!(t.contains("| memcpy | 500.00 ns | 3.00 |"), "{t}");
        assert_eq!(
            t.lines()
                .filter(|l| l.starts_with("| framing/lines"))
                .count(),
            2
        );
    }

    #[test]
    fn stale_results_are_left_out() {
        let future = SystemTime::now() + std::time::Duration::from_secs(3600);
        assert!(collect(&fixtures(), future).unwrap().is_empty());
        assert!(table(&[]).contains("no group measured"));
    }
}
