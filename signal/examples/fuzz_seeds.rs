//! Writes seed inputs for the decoder's fuzz target (signal/fuzz) into the directory given as
//! the only argument: the test suite's sample messages, encoded. `cargo xtask test` runs this
//! before the fuzz run, so the fuzzer starts from messages that decode.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use anchor_signal::{Lifetime, MnId, MobilityHeader, MobilityOption, Pbu, PbuFlags};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: fuzz_seeds DIR")?
        .into();
    std::fs::create_dir_all(&dir)?;
    let nai = MobilityHeader::Pbu(Pbu {
        sequence: 1,
        flags: PbuFlags::A | PbuFlags::P,
        lifetime: Lifetime::DEREGISTRATION,
        options: vec![MobilityOption::MnId(MnId::Nai("mn1@example.net".into()))],
    });
    let seeds = [
        ("pbu-every-option", common::pbu_with_every_option()),
        ("pba-every-option", common::pba_with_every_option()),
        ("pbu-nai-deregistration", nai),
    ];
    // The fuzz target decodes as a packet from the MAAR to the CMD.
    for (name, message) in seeds {
        let path = dir.join(name);
        std::fs::write(&path, message.encode(common::MAAR, common::CMD)?)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
