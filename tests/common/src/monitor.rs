//! A signal monitor: `busctl --json=short monitor` inside the lab, collecting parsed messages
//! in the background ([`Monitor`]), and predicates on those messages.

use crate::{wait_until, LabInfo, EVENT_TIMEOUT};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// `busctl --json=short monitor` inside the lab, collecting parsed messages in the background.
///
/// It is ready when [`Monitor::start`] returns: it emits a sentinel signal and waits to see it,
/// so no signal sent after `start` can be missed.
pub struct Monitor {
    child: Option<Child>,
    msgs: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    lab: LabInfo,
}

static SYNC_SEQ: AtomicU32 = AtomicU32::new(0);
const SYNC_IFACE: &str = "org.netlab.Sync";

impl Monitor {
    /// Starts monitoring the lab bus for messages matching any of `matches` (D-Bus match
    /// rules, e.g. `type='signal',path_namespace='/org/freedesktop/NetworkBroker1'`).
    pub fn start(lab: &LabInfo, matches: &[&str]) -> Monitor {
        let mut args: Vec<String> = vec!["busctl".into(), "--json=short".into(), "monitor".into()];
        for m in matches {
            args.push(format!("--match={m}"));
        }
        args.push(format!("--match=type='signal',interface='{SYNC_IFACE}'"));
        let mut child = lab
            .cmd(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start busctl monitor in the lab");
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let m2 = Arc::clone(&msgs);
        let e2 = Arc::clone(&stderr);
        let readers = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        m2.lock().unwrap().push(v);
                    }
                }
            }),
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut e = e2.lock().unwrap();
                    e.push_str(&line);
                    e.push('\n');
                }
            }),
        ];
        let mon = Monitor {
            child: Some(child),
            msgs,
            stderr,
            readers,
            lab: lab.clone(),
        };
        mon.sync();
        mon
    }

    /// Emits a sentinel signal and waits until the monitor has seen it: everything emitted
    /// before this call returned has been delivered to the monitor by then.
    pub fn sync(&self) {
        let token = format!(
            "sync-{}-{}",
            std::process::id(),
            SYNC_SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let seen = |token: &str| {
            self.msgs.lock().unwrap().iter().any(|m| {
                m["interface"] == SYNC_IFACE && m["payload"]["data"][0].as_str() == Some(token)
            })
        };
        // the first emit may race with the monitor's own BecomeMonitor call: repeat it
        wait_until(
            "the bus monitor to see its sentinel signal",
            EVENT_TIMEOUT,
            || {
                self.lab.run(&[
                    "busctl",
                    "emit",
                    "/org/netlab/sync",
                    SYNC_IFACE,
                    "Ping",
                    "s",
                    &token,
                ]);
                if seen(&token) {
                    Ok(())
                } else {
                    Err(format!("monitor stderr: {}", self.stderr.lock().unwrap()))
                }
            },
        );
    }

    /// Every message seen so far (JSON objects as busctl prints them: `type`, `sender`, `path`,
    /// `interface`, `member`, `payload: {type, data}`), sentinels excluded.
    pub fn messages(&self) -> Vec<Value> {
        let msgs = self.msgs.lock().unwrap();
        msgs.iter()
            .filter(|m| m["interface"] != SYNC_IFACE)
            .cloned()
            .collect()
    }

    /// The messages seen after `mark` ([`Monitor::mark`]), sentinels excluded.  (`mark` counts
    /// the sentinels too, so skip on this, never on [`Monitor::messages`].)
    pub fn messages_after(&self, mark: usize) -> Vec<Value> {
        let msgs = self.msgs.lock().unwrap();
        msgs.iter()
            .skip(mark)
            .filter(|m| m["interface"] != SYNC_IFACE)
            .cloned()
            .collect()
    }

    /// How many messages have been seen so far: pass it to [`Monitor::wait_for_after`] to look
    /// only at what comes later.
    pub fn mark(&self) -> usize {
        self.msgs.lock().unwrap().len()
    }

    /// Waits for a message satisfying `pred` among all messages seen since `start`.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_after(0, what, timeout, pred)
    }

    /// Waits for a message satisfying `pred` among the messages seen after `mark`.
    pub fn wait_for_after(
        &self,
        mark: usize,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_until(what, timeout, || {
            let msgs = self.msgs.lock().unwrap();
            if let Some(m) = msgs.iter().skip(mark).find(|m| pred(m)) {
                return Ok(m.clone());
            }
            let recent: Vec<String> = msgs
                .iter()
                .skip(mark)
                .filter(|m| m["interface"] != SYNC_IFACE)
                .rev()
                .take(8)
                .map(|m| {
                    format!(
                        "{} {} {}.{} {}",
                        m["type"].as_str().unwrap_or("?"),
                        m["path"].as_str().unwrap_or("?"),
                        m["interface"].as_str().unwrap_or("?"),
                        m["member"].as_str().unwrap_or("?"),
                        m["payload"]["data"]
                    )
                })
                .collect();
            Err(format!(
                "{} messages since mark, most recent first:\n    {}",
                msgs.len().saturating_sub(mark),
                recent.join("\n    ")
            ))
        })
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL to busctl's PID (nsenter and env exec in place)
            let _ = c.wait();
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// Whether `m` is signal `iface.member` from object `path`.
pub fn is_signal(m: &Value, path: &str, iface: &str, member: &str) -> bool {
    m["type"] == "signal" && m["path"] == path && m["interface"] == iface && m["member"] == member
}

/// For a `PropertiesChanged` message of interface `iface`: `Some(Some(value))` when `prop` is in
/// the changed properties, `Some(None)` when it is invalidated, `None` when not mentioned.
pub fn changed_property(m: &Value, iface: &str, prop: &str) -> Option<Option<Value>> {
    let data = &m["payload"]["data"];
    if m["member"] != "PropertiesChanged" || data[0] != iface {
        return None;
    }
    if let Some(v) = data[1].get(prop) {
        return Some(Some(v["data"].clone()));
    }
    if data[2]
        .as_array()
        .is_some_and(|inv| inv.iter().any(|p| p == prop))
    {
        return Some(None);
    }
    None
}
