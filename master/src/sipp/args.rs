//! `SippArgs`: the raw values of a SIPp-style command line, and the scanner that fills it.
//!
//! Owns: turning `argv` into strings per flag, exactly as typed (quirks and all: the last
//! positional argument wins, values are taken verbatim even when they start with `-`).
//! Must not: interpret a value (`resolve` does) or touch the environment.
//!
//! The scanner follows SIPp's own rules rather than clap's (clap cannot parse single-dash
//! long flags, reference/rust-deps.md): arguments are read left to right; `-name` or
//! `--name` is looked up in `flags::FLAGS` and takes the next 0, 1 or 2 arguments as its
//! values; anything not starting with `-` is the remote host; `-h`, `-v` and `-sd` act at
//! once, as in SIPp, so `gossipper -sd uac -bogus` still prints `uac`. Leading `sipp`
//! tokens are dropped (the Go gossipper accepts `gossipper sipp …`).

use super::error::CliError;
use super::flags::{self, Group, Kind};

/// Every raw value, one field per flag (`None`/`false`/empty: not given).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SippArgs {
    /// The bare `host[:port]` argument; when given twice, the last one (SIPp does this).
    pub(crate) remote: Option<String>,
    pub(crate) sf: Option<String>,
    pub(crate) sn: Option<String>,
    pub(crate) oocsf: Option<String>,
    pub(crate) oocsn: Option<String>,
    pub(crate) t: Option<String>,
    pub(crate) i: Option<String>,
    pub(crate) p: Option<String>,
    pub(crate) bind_local: bool,
    pub(crate) ci: Option<String>,
    pub(crate) cp: Option<String>,
    pub(crate) rsa: Option<String>,
    pub(crate) max_socket: Option<String>,
    pub(crate) max_reconnect: Option<String>,
    pub(crate) reconnect_sleep: Option<String>,
    pub(crate) reconnect_close: Option<String>,
    pub(crate) stream_idle_timeout: Option<String>,
    pub(crate) tls_cert: Option<String>,
    pub(crate) tls_key: Option<String>,
    pub(crate) tls_ca: Option<String>,
    pub(crate) tls_version: Option<String>,
    pub(crate) ws_path: Option<String>,
    pub(crate) bg: bool,
    pub(crate) nostdin: bool,
    pub(crate) buff_size: Option<String>,
    pub(crate) lost: Option<String>,
    pub(crate) keys: Vec<(String, String)>,
    pub(crate) sets: Vec<(String, String)>,
    pub(crate) aa: bool,
    pub(crate) base_cseq: Option<String>,
    pub(crate) cid_str: Option<String>,
    pub(crate) d: Option<String>,
    pub(crate) auth_uri: Option<String>,
    pub(crate) au: Option<String>,
    pub(crate) ap: Option<String>,
    pub(crate) s: Option<String>,
    pub(crate) default_behaviors: Option<String>,
    pub(crate) nd: bool,
    pub(crate) inf: Vec<String>,
    pub(crate) infindex: Vec<(String, String)>,
    pub(crate) ip_field: Option<String>,
    pub(crate) mi: Option<String>,
    pub(crate) mp: Option<String>,
    pub(crate) min_rtp_port: Option<String>,
    pub(crate) max_rtp_port: Option<String>,
    pub(crate) rtp_echo: bool,
    pub(crate) record_wav_dir: Option<String>,
    pub(crate) record_wav_duplex: bool,
    pub(crate) r: Option<String>,
    pub(crate) rp: Option<String>,
    pub(crate) rate_scale: Option<String>,
    pub(crate) rate_increase: Option<String>,
    pub(crate) rate_max: Option<String>,
    pub(crate) rate_interval: Option<String>,
    pub(crate) no_rate_quit: bool,
    pub(crate) l: Option<String>,
    pub(crate) m: Option<String>,
    pub(crate) users: Option<String>,
    pub(crate) recv_timeout: Option<String>,
    pub(crate) send_timeout: Option<String>,
    pub(crate) timeout: Option<String>,
    pub(crate) timeout_error: bool,
    pub(crate) max_retrans: Option<String>,
    pub(crate) max_invite_retrans: Option<String>,
    pub(crate) max_non_invite_retrans: Option<String>,
    pub(crate) nr: bool,
    pub(crate) rtcheck: Option<String>,
    pub(crate) t2: Option<String>,
    pub(crate) f: Option<String>,
    pub(crate) trace_stat: bool,
    pub(crate) stf: Option<String>,
    pub(crate) fd: Option<String>,
    pub(crate) stat_delimiter: Option<String>,
    pub(crate) periodic_rtd: bool,
    pub(crate) trace_msg: bool,
    pub(crate) message_file: Option<String>,
    pub(crate) trace_shortmsg: bool,
    pub(crate) shortmessage_file: Option<String>,
    pub(crate) trace_err: bool,
    pub(crate) error_file: Option<String>,
    pub(crate) trace_error_codes: bool,
    pub(crate) trace_screen: bool,
    pub(crate) screen_file: Option<String>,
    pub(crate) trace_rtt: bool,
    pub(crate) rtt_freq: Option<String>,
    pub(crate) trace_counts: bool,
    pub(crate) trace_logs: bool,
    pub(crate) log_file: Option<String>,
    pub(crate) trace_calldebug: bool,
    pub(crate) calldebug_file: Option<String>,
    pub(crate) shards: Option<String>,
    pub(crate) seed: Option<String>,
    pub(crate) summary_json: Option<String>,
    pub(crate) call_records_jsonl: Option<String>,
    pub(crate) allow_exec: bool,
    pub(crate) health_min_success_ratio: Option<String>,
    pub(crate) health_max_failed_calls: Option<String>,
    pub(crate) health_max_timeouts: Option<String>,
    /// `-threshold`, each as given (several per value, separated by commas).
    pub(crate) thresholds: Vec<String>,
    /// Flags of the `Ignored` group that were given (for a warning).
    pub(crate) ignored: Vec<&'static str>,
}

/// What the scan found.
#[derive(Debug, PartialEq)]
pub(crate) enum Scan {
    /// A run to resolve.
    Run(Box<SippArgs>),
    /// `-sd name`.
    Dump(String),
    Version,
    /// `-h` / `--help`.
    Help,
    /// No arguments at all (SIPp prints its usage and exits 99).
    Usage,
}

/// Scans `args` (without the program name) left to right.
pub(crate) fn scan(args: &[String]) -> Result<Scan, CliError> {
    let start = args.iter().take_while(|a| a.as_str() == "sipp").count();
    let rest = args.get(start..).unwrap_or_default();
    if rest.is_empty() {
        // `sipp` alone prints its usage and exits 99.
        return Ok(Scan::Usage);
    }
    let mut out = SippArgs::default();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let Some(name) = flag_name(arg) else {
            out.remote = Some(arg.clone());
            continue;
        };
        let Some(flag) = flags::lookup(name) else {
            return Err(CliError::UnknownFlag {
                arg: arg.clone(),
                suggestion: flags::closest(name),
            });
        };
        let mut value = || {
            it.next()
                .cloned()
                .ok_or(CliError::MissingValue { flag: flag.name })
        };
        match flag.kind {
            Kind::Help => return Ok(Scan::Help),
            Kind::Version => return Ok(Scan::Version),
            Kind::Dump => return Ok(Scan::Dump(value()?)),
            Kind::Unsupported { what, .. } => {
                return Err(CliError::Unsupported {
                    flag: flag.name,
                    what,
                });
            }
            Kind::Switch(set) => set(&mut out),
            Kind::Value(set) => set(&mut out, value()?),
            Kind::Pair(set) => {
                let first = value()?;
                set(&mut out, first, value()?);
            }
        }
        if flag.group == Group::Ignored {
            out.ignored.push(flag.name);
        }
    }
    Ok(Scan::Run(Box::new(out)))
}

/// `-name` / `--name` → `name`; `None` for a bare argument. A lone `-` or `--` is a flag
/// with an empty name, which no table entry matches.
fn flag_name(arg: &str) -> Option<&str> {
    let rest = arg.strip_prefix('-')?;
    Some(rest.strip_prefix('-').unwrap_or(rest))
}
