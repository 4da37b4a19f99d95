//! Transport benchmark (to come in the next commit).

fn main() {}
