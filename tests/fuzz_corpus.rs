//! Replays every checked-in fuzz corpus file through its target's function,
//! so the corpus is exercised by `cargo test` on stable, not only under
//! cargo-fuzz. A target without a corpus fails the test.

use std::path::PathBuf;

#[test]
fn every_fuzz_corpus_file_replays_without_panic() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let targets = tally::wire::fuzzing::TARGETS
        .iter()
        .chain(tally::envelope::fuzzing::TARGETS)
        .chain(tally::grant::fuzzing::TARGETS)
        .chain(tally::receipt::fuzzing::TARGETS);
    for (name, target) in targets {
        let dir = corpus.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut replayed = 0;
        for entry in entries {
            let path = entry.expect("readable corpus directory").path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            target(&data);
            replayed += 1;
        }
        assert!(replayed > 0, "fuzz target {name} has an empty corpus");
    }
}
