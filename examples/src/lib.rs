//! Small helpers shared by the walkthroughs: narration and terminal drawings.
//!
//! The walkthroughs themselves are the examples of this package; run them with
//! `cargo xtask demo` (all, in tour order) or `cargo xtask demo NAME`.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// Prints a section heading inside a walkthrough.
///
/// ```
/// aqueduct_examples::section("sequential");
/// ```
pub fn section(title: &str) {
    println!("\n-- {title}");
}

/// Formats a duration for narration: `850 µs`, `12.3 ms`, `1.25 s`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(aqueduct_examples::ms(Duration::from_millis(250)), "250.0 ms");
/// assert_eq!(aqueduct_examples::ms(Duration::from_micros(850)), "850 µs");
/// assert_eq!(aqueduct_examples::ms(Duration::from_millis(1250)), "1.25 s");
/// ```
#[must_use]
pub fn ms(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1e-3 {
        format!("{:.0} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

/// A horizontal bar of `value` out of `max`, `width` characters wide.
///
/// ```
/// assert_eq!(aqueduct_examples::bar(5, 10, 10), "█████     ");
/// assert_eq!(aqueduct_examples::bar(20, 10, 4), "████");
/// assert_eq!(aqueduct_examples::bar(0, 0, 3), "   ");
/// ```
#[must_use]
pub fn bar(value: u64, max: u64, width: usize) -> String {
    let filled = if max == 0 {
        0
    } else {
        let f = (u128::from(value.min(max)) * width as u128) / u128::from(max);
        usize::try_from(f).unwrap_or(width)
    };
    format!("{}{}", "█".repeat(filled), " ".repeat(width - filled))
}

/// Fails the walkthrough (as an error from `main`) unless what it showed
/// really happened.
///
/// # Errors
///
/// `expected: {what}` when `ok` is false.
///
/// ```
/// assert!(aqueduct_examples::check(1 + 1 == 2, "arithmetic").is_ok());
/// let err = aqueduct_examples::check(false, "the limit held").unwrap_err();
/// assert_eq!(err.to_string(), "expected: the limit held");
/// ```
pub fn check(ok: bool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    if ok {
        Ok(())
    } else {
        Err(format!("expected: {what}").into())
    }
}

/// Runs a walkthrough that tells whether everything it showed happened,
/// failing it, rather than hanging, if it has not ended within `deadline`.
/// Prints `ok_line` on success, or points at the lines marked `!!`, and
/// gives the exit code for `main`.
///
/// ```
/// use std::process::ExitCode;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let code = aqueduct_examples::finish_within(
///     Duration::from_secs(5),
///     async { true },
///     "ok: it all happened",
/// )
/// .await;
/// assert_eq!(code, ExitCode::SUCCESS);
/// let code = aqueduct_examples::finish_within(
///     Duration::from_millis(1),
///     std::future::pending::<bool>(),
///     "never printed",
/// )
/// .await;
/// assert_eq!(code, ExitCode::FAILURE);
/// # }
/// ```
pub async fn finish_within(
    deadline: Duration,
    walkthrough: impl Future<Output = bool>,
    ok_line: &str,
) -> ExitCode {
    let ok = match tokio::time::timeout(deadline, walkthrough).await {
        Ok(ok) => ok,
        Err(_) => {
            println!(
                "\n   !! the walkthrough did not end within {}",
                ms(deadline)
            );
            false
        }
    };
    if ok {
        println!("\n{ok_line}");
        ExitCode::SUCCESS
    } else {
        println!("\nFAILED: see the lines marked !!");
        ExitCode::FAILURE
    }
}

/// Like [`check`], for code that cannot return an error: prints
/// `FAILED: {what}` and ends the process with exit code 1 unless `ok`.
///
/// ```
/// aqueduct_examples::require(true, "never printed");
/// ```
pub fn require(ok: bool, what: &str) {
    if !ok {
        eprintln!("FAILED: {what}");
        std::process::exit(1);
    }
}
