//! A short scheduler slice for the HTTP threads, so a request is answered promptly even
//! when its thread shares a CPU with a busy engine shard.
//!
//! Why: `gossipper server` runs its control API beside the engine's shards, and a shard at
//! 20,000 calls/s keeps its CPU busy in bursts. A woken API thread then waited behind the
//! shard for up to its whole slice (measured: the API answered up to 1.2 ms after a POST
//! arrived, so a control change missed the pacer's next 1 ms tick). Linux's EEVDF
//! scheduler (6.12 on) takes a per-thread slice (`sched_attr.sched_runtime` for
//! SCHED_OTHER) and lets a woken thread with a shorter slice preempt a running one with a
//! longer slice (`PREEMPT_SHORT`). A short slice buys latency, not CPU: the thread's
//! weight, and so its share of a CPU it contends for, is unchanged, so a request flood
//! gets no more of the machine than before.
//!
//! Best effort: an older kernel ignores the slice or refuses the call, and the thread
//! runs as it did.

/// The slice asked for, ns: the kernel's smallest (0.1 ms).
const SLICE_NS: u64 = 100_000;

/// Asks a short slice for the calling thread (see the module docs); failures are ignored.
#[allow(unsafe_code)]
pub(super) fn ask_short_slice() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getscheduler(2) on the calling thread reads nothing of ours.
        // A thread run under another policy (`chrt`: batch, idle, real-time) keeps it.
        if unsafe { libc::sched_getscheduler(0) } != libc::SCHED_OTHER {
            return;
        }
        let attr = libc::sched_attr {
            size: std::mem::size_of::<libc::sched_attr>() as u32,
            sched_policy: libc::SCHED_OTHER as u32,
            sched_flags: 0,
            // The thread's nice value is kept: SCHED_FLAG_KEEP_PARAMS would keep the
            // runtime too, so it is read and given back.
            sched_nice: current_nice(),
            sched_priority: 0,
            sched_runtime: SLICE_NS,
            sched_deadline: 0,
            sched_period: 0,
        };
        // SAFETY: sched_setattr(2) on the calling thread (pid 0) reads `attr`, a valid
        // sched_attr whose `size` is its own; nothing is written back.
        unsafe {
            libc::syscall(
                libc::SYS_sched_setattr,
                0,
                &attr as *const libc::sched_attr,
                0,
            );
        }
    }
}

/// The calling thread's nice value (0 if it cannot be read).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn current_nice() -> i32 {
    // getpriority can return -1 as a value: errno tells an error apart.
    // SAFETY: errno is thread-local; getpriority reads the calling thread's (who 0).
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::getpriority(libc::PRIO_PROCESS, 0);
        if *libc::__errno_location() != 0 { 0 } else { v }
    }
}

#[cfg(test)]
mod tests {
    /// The call is harmless wherever it runs: the thread keeps working and keeps its nice.
    #[test]
    #[allow(unsafe_code)]
    fn asking_a_short_slice_keeps_the_thread_working_and_its_nice() {
        std::thread::spawn(|| {
            let before = super::current_nice();
            super::ask_short_slice();
            assert_eq!(super::current_nice(), before);
            // On a kernel that took it, the slice reads back (sched_getattr).
            let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
            // SAFETY: sched_getattr(2) writes at most `size` bytes into `attr`.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_sched_getattr,
                    0,
                    &mut attr as *mut libc::sched_attr,
                    std::mem::size_of::<libc::sched_attr>() as u32,
                    0,
                )
            };
            assert_eq!(rc, 0, "sched_getattr");
            assert_eq!(attr.sched_policy, libc::SCHED_OTHER as u32);
            // Kernels from 6.12 on keep a fair thread's own slice and report it.
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
            let mut v = release.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
            let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
            if (major, minor) >= (6, 12) {
                assert_eq!(attr.sched_runtime, super::SLICE_NS, "kernel {release}");
            } else {
                eprintln!("kernel {release}: custom slices came in 6.12; the call was only checked to be harmless");
            }
        })
        .join()
        .unwrap();
    }
}
