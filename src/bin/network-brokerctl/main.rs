//! `network-brokerctl`: the command-line client of org.freedesktop.NetworkBroker1. This file
//! runs one verb; its parts are in src/bin/network-brokerctl/ (what each reads, the client's
//! JSON, the text views, output and failures).
//!
//! Exit codes (also in docs/network-brokerctl.1.md): 0 success (and a closed standard output,
//! as networkctl), 1 any other failure and a rejected configuration (`reload`, as
//! `systemctl reload` expects of `ExecReload=`), 2 usage or invalid argument, 3 no such link,
//! 4 not authorised, 6 the daemon cannot be reached (every verb), 7 a hook failed
//! (`run-hooks`).

mod args;
mod clock;
mod failure;
mod fetch;
mod hook_results;
mod hooks;
mod json;
mod monitor;
mod names;
mod output;
mod page;
mod quote;
mod routing;
mod style;
mod table;
mod value;
mod views;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use zbus::Connection;

use network_broker::dbus::client::ManagerProxy;

use args::{Args, Command};
use failure::{Failure, INVALID_CONFIG};
use json::Mode;
use output::emit;
use style::Style;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Completions { shell }) = args.command {
        let mut script = Vec::new();
        clap_complete::generate(
            shell,
            &mut Args::command(),
            "network-brokerctl",
            &mut script,
        );
        return finish(emit(&String::from_utf8_lossy(&script), false).map(|()| 0));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            output::error_line(&format!(
                "network-brokerctl: failed to start the async runtime: {err}"
            ));
            return ExitCode::FAILURE;
        }
    };
    finish(runtime.block_on(run(args)))
}

/// The exit code, after printing the failure's one line (nothing for a closed pipe).
fn finish(result: Result<u8, Failure>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if let Some(line) = failure.line {
                output::error_line(&format!("network-brokerctl: {line}"));
            }
            ExitCode::from(failure.code)
        }
    }
}

/// What every verb needs to know about the output.
struct Out {
    json: Mode,
    legend: bool,
    pager: bool,
    style: Style,
}

impl Out {
    /// `value` as JSON when asked for, else `text()`; through the pager when `pager`.
    fn show(
        &self,
        value: &serde_json::Value,
        pager: bool,
        text: impl FnOnce() -> String,
    ) -> Result<(), Failure> {
        match self.json {
            Mode::Off => emit(&text(), pager && self.pager),
            mode => emit(&json::render(value, mode), false),
        }
    }
}

async fn run(args: Args) -> Result<u8, Failure> {
    let out = Out {
        json: args.json.unwrap_or(Mode::Off),
        legend: !args.no_legend,
        pager: !args.no_pager,
        style: Style::for_stdout(),
    };
    let conn = Connection::system()
        .await
        .map_err(|e| Failure::new(6, format!("cannot connect to the system bus: {e}")))?;
    let manager = ManagerProxy::new(&conn)
        .await
        .map_err(|e| Failure::bus("Manager", e))?;
    match args.command.unwrap_or(Command::Status) {
        Command::Status => {
            let props = fetch::manager_props(&conn).await?;
            let links = fetch::links(&manager).await?;
            let value = json::status(&props, &links);
            let value = hook_results::with_failures(value, &props);
            out.show(&value, true, || views::status(&value, out.style))?;
        }
        Command::Links => {
            let value = serde_json::Value::Array(fetch::links(&manager).await?);
            let rows = value.as_array().map(Vec::as_slice).unwrap_or_default();
            out.show(&value, true, || views::links(rows, out.legend, out.style))?;
        }
        Command::Link { link } => {
            let document = fetch::link(&conn, &manager, &link).await?;
            let routing = fetch::routing(&manager).await.ok();
            let value = json::link(
                document,
                routing.as_ref().or(Some(&serde_json::Value::Null)),
            );
            let now = i64::try_from(clock::now_us() / 1_000_000).unwrap_or_default();
            let value = hook_results::with_link_runs(value, &conn).await?;
            out.show(&value, true, || views::link(&value, now, out.style))?;
        }
        Command::Monitor { since } => monitor::run(&conn, &manager, out.json, since).await?,
        Command::Reload => return reload(&manager).await,
        Command::Hooks => {
            let list = manager
                .list_hooks()
                .await
                .map_err(|e| Failure::bus("ListHooks", e))?;
            out.show(&json::hooks(&list), false, || {
                hooks::list(&list, out.legend, out.style)
            })?;
        }
        Command::RunHooks {
            link,
            event,
            dry_run,
        } => return run_hooks(&conn, &manager, &out, &link, &event, dry_run).await,
        Command::Routing => {
            let status = fetch::routing(&manager).await?;
            out.show(&json::routing(&status), false, || {
                routing::text(&status, out.legend, out.style)
            })?;
        }
        Command::Completions { .. } => {}
    }
    Ok(0)
}

/// `run-hooks [--dry-run] LINK EVENT`: exit 7 when a hook failed.
async fn run_hooks(
    conn: &Connection,
    manager: &ManagerProxy<'_>,
    out: &Out,
    link: &str,
    event: &str,
    dry_run: bool,
) -> Result<u8, Failure> {
    let index = fetch::link_proxy(conn, manager, link)
        .await?
        .index()
        .await
        .map_err(|e| Failure::bus("Link.Index", e))?;
    if dry_run {
        let (scripts, env, input) = manager
            .dry_run_hooks(event, index)
            .await
            .map_err(|e| Failure::bus("DryRunHooks", e))?;
        let value = json::dry_run(event, link, &scripts, &env, &input);
        out.show(&value, false, || hooks::dry_run(&scripts, &env, &input))?;
        return Ok(0);
    }
    let results = manager
        .run_hooks(event, index)
        .await
        .map_err(|e| Failure::bus("RunHooks", e))?;
    let value = json::run_results(event, link, &results);
    out.show(&value, false, || hooks::results(event, &results))?;
    Ok(if results.iter().any(|(_, status, _)| *status != 0) {
        7
    } else {
        0
    })
}

/// `reload`: waits for the daemon's answer, so that `systemctl reload` (the unit's
/// `ExecReload=`) fails when the file is rejected. Success prints one line per changed key
/// that needs a restart (nothing when every change applied) and exits 0; a rejection prints
/// the daemon's one line (`configuration FILE:LINE:COLUMN rejected: KEY: ERROR`) and exits 1.
async fn reload(manager: &ManagerProxy<'_>) -> Result<u8, Failure> {
    match manager.reload().await {
        Ok(kept) => {
            for line in kept {
                println!("{line}");
            }
            Ok(0)
        }
        Err(zbus::Error::MethodError(name, text, _)) if name.as_str() == INVALID_CONFIG => {
            output::error_line(&text.unwrap_or_default());
            Ok(1)
        }
        Err(err) => Err(Failure::bus("Reload", err)),
    }
}
