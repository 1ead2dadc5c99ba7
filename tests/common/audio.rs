//! Real speech for the recording tests: `espeak-ng` speaks two sentences, `sox` turns them into
//! 16 kHz mono WAV, stereo WAV and FLAC, `opusenc` into stereo OGG/Opus (what a LiveKit worker's
//! recorder writes), and the WAV repeated past [`LONG_WAV_BYTES`] (a recording of several of
//! the PostgreSQL store's chunks). Made once per test process in a folder of its own;
//! `scripts/setup-test-env.sh` installs the three tools (Debian's `espeak-ng`, `sox`,
//! `opus-tools`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const SETUP: &str = "scripts/setup-test-env.sh";
/// What the speech says: a caller's two questions from the LiveKit fixture's call.
const TEXT: &str = "Hello, how are you? What's the weather in Tokyo?";
/// The long WAV's size at least: two and a half of the PostgreSQL store's 1 MiB chunks, so
/// that it has a short last chunk and ranges can cross chunk boundaries.
pub const LONG_WAV_BYTES: u64 = 5 * 512 * 1024;

/// The speech in each format, and its duration as sox measures it.
pub struct Speech {
    pub wav: PathBuf,
    pub ogg: PathBuf,
    pub flac: PathBuf,
    /// The WAV said again and again, past [`LONG_WAV_BYTES`].
    pub long_wav: PathBuf,
    /// `soxi -D` of the WAV, ms.
    pub duration_ms: i64,
    _dir: tempfile::TempDir,
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): run {SETUP} (it installs it)"));
    assert!(status.success(), "{program} {args:?} failed");
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// The speech, made at the first call.
pub fn speech() -> &'static Speech {
    static SPEECH: OnceLock<Speech> = OnceLock::new();
    SPEECH.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw.wav");
        let wav = dir.path().join("speech.wav");
        let stereo = dir.path().join("stereo.wav");
        let ogg = dir.path().join("speech.ogg");
        let flac = dir.path().join("speech.flac");
        let long_wav = dir.path().join("long.wav");
        run("espeak-ng", &["-w", path(&raw), TEXT]);
        run(
            "sox",
            &[path(&raw), "-r", "16000", "-c", "1", "-b", "16", path(&wav)],
        );
        run("sox", &["-M", path(&wav), path(&wav), path(&stereo)]);
        run("opusenc", &["--quiet", path(&stereo), path(&ogg)]);
        run("sox", &[path(&wav), path(&flac)]);
        let once = std::fs::metadata(&wav).unwrap().len();
        let again = LONG_WAV_BYTES.div_ceil(once).to_string();
        run("sox", &[path(&wav), path(&long_wav), "repeat", &again]);
        let out = Command::new("soxi")
            .args(["-D", path(&wav)])
            .output()
            .unwrap();
        let seconds: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        Speech {
            wav,
            ogg,
            flac,
            long_wav,
            duration_ms: (seconds * 1000.0).round() as i64,
            _dir: dir,
        }
    })
}
