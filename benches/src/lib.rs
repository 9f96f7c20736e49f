//! Shared helpers of the aqueduct benchmarks.
