//! Small helpers shared by the walkthroughs: narration and terminal drawings.
//!
//! The walkthroughs themselves are the examples of this package; run them with
//! `cargo xtask demo` (all, in tour order) or `cargo xtask demo NAME`.

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
