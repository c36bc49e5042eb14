//! Writes the generated media assets into `assets/media/` (or the directory given as the
//! first argument): the A-law tone and RFC 2833 DTMF captures and the WAV prompt.
//! Run with `cargo run -p gossipper-media --example gen_assets`. The unit test
//! `asset_gen::tests::checked_in_assets_are_byte_identical_to_a_fresh_generation`
//! fails when the checked-in files drift from this output.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use gossipper_media::asset_gen;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/media"));
    std::fs::create_dir_all(&dir)?;
    asset_gen::write_tone_pcap(BufWriter::new(File::create(
        dir.join(asset_gen::TONE_PCAP),
    )?))?;
    asset_gen::write_dtmf_pcap(BufWriter::new(File::create(
        dir.join(asset_gen::DTMF_PCAP),
    )?))?;
    asset_gen::write_tone_wav(BufWriter::new(File::create(dir.join(asset_gen::TONE_WAV))?))?;
    println!(
        "wrote {}, {}, {} in {}",
        asset_gen::TONE_PCAP,
        asset_gen::DTMF_PCAP,
        asset_gen::TONE_WAV,
        dir.display()
    );
    Ok(())
}
