//! Raw keyboard mode for SIPp's single-key controls (`+ - * / p q Q 1-9`).
//!
//! The one place of the binary with `unsafe`: termios calls on stdin, restored on drop
//! (or by `restore` when the process ends at a second SIGINT).
//!
//! Owns: the terminal's mode. Must not: read keys (`control` does).

/// The attributes to restore, for [`restore`] (which runs on the signal thread, where
/// the `RawMode` value is out of reach).
static SAVED: std::sync::OnceLock<libc::termios> = std::sync::OnceLock::new();

/// Puts stdin in non-canonical, no-echo mode while alive.
pub(super) struct RawMode {
    saved: libc::termios,
}

/// Puts the terminal back as it was before `RawMode::enable` (no effect without one):
/// for a process about to end without running destructors.
#[allow(unsafe_code)]
pub(super) fn restore() {
    if let Some(saved) = SAVED.get() {
        // SAFETY: writes back attributes read from fd 0 by `RawMode::enable`.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, saved);
        }
    }
}

impl RawMode {
    /// Returns `None` when stdin is not a terminal.
    #[allow(unsafe_code)]
    pub(super) fn enable() -> Option<RawMode> {
        // SAFETY: isatty/tcgetattr/tcsetattr only read and write the termios struct owned by
        // this frame and the state of fd 0, which stays open for the process's life.
        unsafe {
            if libc::isatty(0) != 1 {
                return None;
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let saved = t;
            let _ = SAVED.set(saved);
            t.c_lflag &= !(libc::ICANON | libc::ECHO);
            t.c_cc[libc::VMIN] = 1;
            t.c_cc[libc::VTIME] = 0;
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return None;
            }
            Some(RawMode { saved })
        }
    }
}

impl Drop for RawMode {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enable` on the same descriptor.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.saved);
        }
    }
}

/// Whether stdout is a terminal (the live screen is drawn only then).
#[allow(unsafe_code)]
pub(super) fn stdout_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(1) == 1 }
}
