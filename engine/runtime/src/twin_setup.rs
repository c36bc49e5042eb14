//! 3PCC setup: checks that the job's twin settings fit its scenario, and opens the
//! twin sockets before the run (SIPp's `-3pcc` and extended `-master`/`-slave` modes).
//!
//! Owns: the choice of which side listens and which connects. Must not: move command
//! bytes (the shard's `twin_io` does).
//!
//! Twin mode (`-3pcc ip:port`): the side whose scenario places calls and sends a command
//! before it receives one (SIPp's controller A) connects to `ip:port`, so it starts
//! last; every other side (controller B, passive A) listens there. Extended mode: each
//! process listens on its own `-slave_cfg` address (when listed) and connects to a twin
//! named by a `<sendCmd dest=…>` the first time it sends it one. Either way the run
//! keeps one shard: every call's commands travel on the same sockets.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::config::JobSpec;
use crate::files::{Disk, FileError, ReadFiles};
use crate::runner::RunError;
use crate::scenario::{CommandKind, Role, Scenario};
use crate::shard::TwinPlan;

/// How long controller A waits for its twin to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest `-slave_cfg` file read.
const MAX_CFG_BYTES: u64 = 1 << 20;

/// Whether the scenario has any `<sendCmd>` or `<recvCmd>`, and which comes first.
fn first_twin_command(sc: &Scenario) -> Option<&CommandKind> {
    sc.commands
        .iter()
        .map(|c| &c.kind)
        .find(|k| matches!(k, CommandKind::SendCmd(_) | CommandKind::RecvCmd(_)))
}

/// Whether the scenario's calls are opened by a twin's commands (its first exchange is
/// a `<recvCmd>`: SIPp's controller B). Such a side sends SIP as a client does.
pub(crate) fn opened_by_commands(sc: &Scenario) -> bool {
    sc.commands
        .iter()
        .map(|c| &c.kind)
        .find(|k| {
            matches!(
                k,
                CommandKind::Send(_)
                    | CommandKind::Recv(_)
                    | CommandKind::SendCmd(_)
                    | CommandKind::RecvCmd(_)
            )
        })
        .is_some_and(|k| matches!(k, CommandKind::RecvCmd(_)))
}

/// Refuses, naming the flag, a job whose 3PCC settings cannot work with its scenario.
pub(crate) fn check(spec: &JobSpec, sc: &Scenario) -> Result<(), RunError> {
    let t = &spec.twin;
    let refuse = |m: String| Err(RunError::Config(m));
    let uses = first_twin_command(sc).is_some();
    if !t.enabled() {
        if uses {
            return refuse(format!(
                "scenario \"{}\" uses <sendCmd>/<recvCmd> (3PCC): it needs -3pcc ip:port, or -master/-slave with -slave_cfg",
                sc.name
            ));
        }
        return Ok(());
    }
    if !uses {
        return refuse(format!(
            "-3pcc/-master/-slave need a 3PCC scenario (with <sendCmd>/<recvCmd>); \"{}\" has none",
            sc.name
        ));
    }
    if t.twin.is_some() && (t.master.is_some() || t.slave.is_some()) {
        return refuse("-3pcc cannot be combined with -master/-slave (extended 3PCC)".into());
    }
    if t.master.is_some() && t.slave.is_some() {
        return refuse("-master and -slave cannot both be given".into());
    }
    if t.own_name().is_some() && t.slave_cfg.is_none() {
        return refuse("-master/-slave need -slave_cfg (the file of name;ip:port lines)".into());
    }
    if t.slave_cfg.is_some() && t.own_name().is_none() {
        return refuse("-slave_cfg needs -master name or -slave name".into());
    }
    if opened_by_commands(sc)
        && spec.remote.is_none()
        && sc
            .commands
            .iter()
            .any(|c| matches!(&c.kind, CommandKind::Send(s) if s.method.is_some()))
    {
        return refuse(format!(
            "scenario \"{}\" sends SIP requests in calls its 3PCC twin opens: give the remote host (host:port)",
            sc.name
        ));
    }
    if spec.shards.is_some_and(|n| n > 1) {
        return refuse(
            "3PCC runs on one shard: -shards above 1 cannot be combined with -3pcc/-master/-slave"
                .into(),
        );
    }
    if t.own_name().is_some() {
        for c in &sc.commands {
            if let CommandKind::RecvCmd(r) = &c.kind
                && r.src.is_none()
            {
                return refuse(format!(
                    "extended 3PCC: <recvCmd> at line {} needs src=\"name\" (the sending twin)",
                    c.pos.line
                ));
            }
        }
    }
    Ok(())
}

/// Opens the twin sockets: connects (controller A) or listens (the others).
pub(crate) fn open(spec: &JobSpec, sc: &Scenario) -> Result<Option<TwinPlan>, RunError> {
    let t = &spec.twin;
    if !t.enabled() {
        return Ok(None);
    }
    if let Some(addr) = t.twin {
        let connects = sc.role == Role::Client
            && matches!(first_twin_command(sc), Some(CommandKind::SendCmd(_)));
        let mut plan = TwinPlan::default();
        if connects {
            let s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| {
                RunError::Bind(format!(
                    "cannot connect to the 3PCC twin at {addr} (-3pcc): {e}; start the twin (e.g. 3pcc-C-B) first"
                ))
            })?;
            plan.connected.push((None, s));
        } else {
            plan.listener = Some(listen(addr, "-3pcc")?);
        }
        return Ok(Some(plan));
    }
    let own = t.own_name().unwrap_or_default();
    let peers = read_peers(spec)?;
    for c in &sc.commands {
        if let CommandKind::SendCmd(s) = &c.kind {
            let Some(dest) = &s.dest else {
                return Err(RunError::Config(format!(
                    "extended 3PCC: <sendCmd> at line {} needs dest=\"name\"",
                    c.pos.line
                )));
            };
            if !peers.iter().any(|(n, _)| n == dest) {
                return Err(RunError::Config(format!(
                    "<sendCmd dest=\"{dest}\"> at line {}: {dest} is not in -slave_cfg",
                    c.pos.line
                )));
            }
        }
    }
    let mut plan = TwinPlan::default();
    match peers.iter().find(|(n, _)| n == own) {
        Some((_, addr)) => plan.listener = Some(listen(*addr, "-slave_cfg")?),
        None if t.slave.is_some() => {
            return Err(RunError::Config(format!(
                "-slave {own}: {own} is not in -slave_cfg"
            )));
        }
        // A master nobody sends to needs no address of its own.
        None => {}
    }
    plan.peers = peers.into_iter().filter(|(n, _)| n != own).collect();
    Ok(Some(plan))
}

fn listen(addr: SocketAddr, flag: &str) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr).map_err(|e| {
        RunError::Bind(format!(
            "cannot listen for the 3PCC twin on {addr} ({flag}): {e}"
        ))
    })
}

fn read_peers(spec: &JobSpec) -> Result<Vec<(String, SocketAddr)>, RunError> {
    let Some(path) = &spec.twin.slave_cfg else {
        return Ok(Vec::new());
    };
    let name = path.display().to_string();
    let bytes = Disk(&spec.file_access)
        .read(path, MAX_CFG_BYTES)
        .map_err(|e: FileError| RunError::Config(format!("-slave_cfg {name}: {e}")))?;
    let text = String::from_utf8_lossy(&bytes);
    crate::twin::parse_peers(&text).map_err(|e| RunError::Config(format!("-slave_cfg {name}: {e}")))
}
