//! Log benchmarks (below).
fn main() {}
