//! Decision benchmarks (below).
fn main() {}
