//! Prints the frames of a captured Tally exchange stream, one JSON object
//! per line, and stops at the first invalid frame with the decoder's error.
//!
//! ```sh
//! cargo run --example inspect_frames -- stream.bin
//! cargo run --example inspect_frames < stream.bin
//! ```

use std::io::{BufReader, Read};
use std::process::ExitCode;

use tally::wire::FrameReader;

fn main() -> ExitCode {
    let input: Box<dyn Read> = match std::env::args_os().nth(1) {
        Some(path) => match std::fs::File::open(&path) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("error: cannot open {}: {e}", path.to_string_lossy());
                return ExitCode::FAILURE;
            }
        },
        None => Box::new(std::io::stdin()),
    };
    let mut reader = FrameReader::new(BufReader::new(input));
    let mut count = 0u64;
    loop {
        match reader.read_frame() {
            Ok(Some(frame)) => {
                count += 1;
                let json = serde_json::to_string(&frame).expect("frames serialize to JSON");
                println!("{json}");
            }
            Ok(None) => {
                eprintln!("{count} frame(s), stream ended cleanly");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("error: frame {}: {e}", count + 1);
                eprintln!("The stream is not valid Tally version 1 framing from that point (see spec/wire.md).");
                return ExitCode::FAILURE;
            }
        }
    }
}
