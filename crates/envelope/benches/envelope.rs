//! Benchmarks of the envelope (filled in below).
fn main() {}
