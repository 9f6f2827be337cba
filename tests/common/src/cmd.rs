//! Running a command to completion with its output captured ([`CmdOutput`]), with input on its
//! stdin, or with a time limit after which it is killed by its PID.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A finished command, with text output.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// What ran (for messages).
    pub what: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl CmdOutput {
    fn from_output(what: String, out: Output) -> Self {
        CmdOutput {
            what,
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// A full description for panic messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}` exited with {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.what,
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }

    /// The stdout, or a panic with everything when the command failed.
    pub fn ok(self) -> String {
        if !self.success() {
            panic!("{}", self.describe());
        }
        self.stdout
    }
}

pub(crate) fn describe_cmd(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion, capturing its output (stdin: /dev/null).
pub fn output_of(mut cmd: Command) -> CmdOutput {
    let what = describe_cmd(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    CmdOutput::from_output(what, out)
}

/// Runs `cmd` with `input` on its stdin, capturing its output.
pub fn output_with_input(mut cmd: Command, input: &str) -> CmdOutput {
    let what = describe_cmd(&cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(data.as_bytes());
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for `{what}`: {e}"));
    let _ = writer.join();
    CmdOutput::from_output(what, out)
}

/// Runs `cmd` (stdin /dev/null), killing it (by its PID) if it has not exited after `timeout`.
/// Returns `None` on timeout.  For commands that are expected to exit by themselves.
pub fn output_within(mut cmd: Command, timeout: Duration) -> Option<CmdOutput> {
    let what = describe_cmd(&cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    let pipes = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let (mut o, mut e) = pipes;
        let (mut so, mut se) = (Vec::new(), Vec::new());
        let t = std::thread::spawn(move || {
            let _ = e.read_to_end(&mut se);
            se
        });
        let _ = o.read_to_end(&mut so);
        (so, t.join().unwrap_or_default())
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = reader.join().unwrap_or_default();
    status.map(|status| {
        CmdOutput::from_output(
            what,
            Output {
                status,
                stdout,
                stderr,
            },
        )
    })
}
