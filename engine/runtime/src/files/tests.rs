//! The file rule against real files: names, links out of the roots, FIFOs, devices,
//! directories, sizes, and the files a job may read.

use super::*;

/// A data dir with a media library and a job folder, removed on drop.
struct Dir {
    root: PathBuf,
}

impl Dir {
    fn new(name: &str) -> Dir {
        let root =
            std::env::temp_dir().join(format!("gossipper-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in [
            "data/media/wav",
            "data/media/pcap",
            "data/artifacts/jobs/j1",
            "outside",
        ] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        Dir { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    fn confined(&self) -> FileAccess {
        FileAccess::Confined(JobRoots {
            data_dir: self.path("data"),
            job_dir: self.path("data/artifacts/jobs/j1"),
        })
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn mkfifo(p: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .expect("mkfifo runs")
        .success();
    assert!(ok, "mkfifo {}", p.display());
}

fn read(files: &FileAccess, name: &str) -> Result<Vec<u8>, FileError> {
    Disk(files).read(Path::new(name), MAX_FILE_BYTES)
}

#[test]
fn a_job_reads_its_media_library_and_its_own_folder() {
    let d = Dir::new("allowed");
    d.write("data/media/wav/ring.wav", b"RIFF");
    d.write("data/media/pcap/dtmf.pcap", b"pcap");
    d.write("data/artifacts/jobs/j1/body.txt", b"hello");
    let files = d.confined();
    assert_eq!(read(&files, "media/wav/ring.wav").unwrap(), b"RIFF");
    assert_eq!(read(&files, "./media/pcap/dtmf.pcap").unwrap(), b"pcap");
    assert_eq!(read(&files, "body.txt").unwrap(), b"hello");
    Disk(&files)
        .check(Path::new("media/wav/ring.wav"), MAX_DATA_FILE_BYTES)
        .unwrap();
    // A link that stays inside the roots is followed.
    std::os::unix::fs::symlink(
        d.path("data/media/wav/ring.wav"),
        d.path("data/artifacts/jobs/j1/ring-link.wav"),
    )
    .unwrap();
    assert_eq!(read(&files, "ring-link.wav").unwrap(), b"RIFF");
    // Missing is not a refusal: the job fails saying so.
    let e = read(&files, "nope.txt").unwrap_err();
    assert!(matches!(e, FileError::Io(_)) && !e.is_refusal(), "{e:?}");
}

#[test]
fn absolute_paths_and_dot_dot_are_refused_before_any_lookup() {
    let d = Dir::new("names");
    let secret = d.write("outside/secret", b"s3cret");
    d.write("data/settings.sqlite", b"db");
    for files in [d.confined(), FileAccess::NamesOnly] {
        let abs = secret.display().to_string();
        assert_eq!(read(&files, &abs), Err(FileError::Absolute));
        assert_eq!(read(&files, "/etc/passwd"), Err(FileError::Absolute));
        assert_eq!(
            read(&files, "../../settings.sqlite"),
            Err(FileError::ParentDir)
        );
        assert_eq!(
            read(&files, "media/wav/../../settings.sqlite"),
            Err(FileError::ParentDir)
        );
        assert_eq!(read(&files, ""), Err(FileError::Empty));
        assert_eq!(files.check_name(Path::new("/x")), Err(FileError::Absolute));
        assert!(FileError::Absolute.is_refusal() && FileError::ParentDir.is_refusal());
    }
    // The data dir itself is not a root: only media/wav and media/pcap are.
    let e = read(&d.confined(), "settings.sqlite").unwrap_err();
    assert!(matches!(e, FileError::Io(_)), "{e:?}");
    // Storing a scenario reads nothing.
    assert_eq!(read(&FileAccess::NamesOnly, "body.txt"), Ok(Vec::new()));
    assert_eq!(
        read(&FileAccess::NoFiles, "body.txt"),
        Err(FileError::NoFiles)
    );
    // The command line reads what it is given, as SIPp does.
    assert_eq!(
        read(&FileAccess::Cwd, &secret.display().to_string()).unwrap(),
        b"s3cret"
    );
}

#[test]
fn a_link_out_of_the_roots_is_refused() {
    let d = Dir::new("links");
    let secret = d.write("outside/secret", b"s3cret");
    std::os::unix::fs::symlink(&secret, d.path("data/media/pcap/evil.pcap")).unwrap();
    std::os::unix::fs::symlink(d.path("outside"), d.path("data/artifacts/jobs/j1/out")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", d.path("data/media/wav/zero.wav")).unwrap();
    let files = d.confined();
    for name in ["media/pcap/evil.pcap", "out/secret", "media/wav/zero.wav"] {
        assert_eq!(read(&files, name), Err(FileError::Escapes), "{name}");
        assert_eq!(
            Disk(&files).check(Path::new(name), MAX_DATA_FILE_BYTES),
            Err(FileError::Escapes),
            "{name}"
        );
    }
}

#[test]
fn fifos_devices_and_directories_are_refused_unopened() {
    let d = Dir::new("special");
    mkfifo(&d.path("data/artifacts/jobs/j1/pipe"));
    mkfifo(&d.path("outside/pipe"));
    std::fs::create_dir(d.path("data/media/wav/dir.wav")).unwrap();
    let files = d.confined();
    // Nobody writes to these FIFOs: a blocking open would hang the test.
    assert_eq!(read(&files, "pipe"), Err(FileError::NotRegular("FIFO")));
    assert_eq!(
        read(
            &FileAccess::Cwd,
            &d.path("outside/pipe").display().to_string()
        ),
        Err(FileError::NotRegular("FIFO"))
    );
    assert_eq!(
        read(&files, "media/wav/dir.wav"),
        Err(FileError::NotRegular("directory"))
    );
    assert_eq!(
        read(&FileAccess::Cwd, "/dev/zero"),
        Err(FileError::NotRegular("character device"))
    );
    assert_eq!(
        Disk(&FileAccess::Cwd).check(Path::new("/dev/null"), 1),
        Err(FileError::NotRegular("character device"))
    );
    assert!(FileError::NotRegular("FIFO").is_refusal());
}

#[test]
fn reads_are_capped() {
    let d = Dir::new("size");
    d.write("data/artifacts/jobs/j1/ten", &[b'x'; 10]);
    let rule = d.confined();
    let files = Disk(&rule);
    let name = Path::new("ten");
    assert_eq!(files.read(name, 10).unwrap().len(), 10);
    assert_eq!(files.read(name, 9), Err(FileError::TooLarge { limit: 9 }));
    assert_eq!(files.check(name, 9), Err(FileError::TooLarge { limit: 9 }));
    let cwd = d.path("data/artifacts/jobs/j1/ten");
    assert_eq!(
        Disk(&FileAccess::Cwd).read(&cwd, 9),
        Err(FileError::TooLarge { limit: 9 })
    );
    assert!(FileError::TooLarge { limit: 9 }.is_refusal());
}

#[test]
fn a_confined_job_writes_into_its_own_folder() {
    let d = Dir::new("write");
    let files = d.confined();
    assert_eq!(
        files.write_path(Path::new("rec/a.wav")),
        d.path("data/artifacts/jobs/j1/rec/a.wav")
    );
    assert_eq!(
        FileAccess::Cwd.write_path(Path::new("/tmp/a.wav")),
        PathBuf::from("/tmp/a.wav")
    );
}
