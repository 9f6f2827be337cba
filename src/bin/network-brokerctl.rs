//! `network-brokerctl`: the command-line client of org.freedesktop.NetworkBroker1.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use zbus::Connection;

use network_broker::dbus::client::{LinkProxy, ManagerProxy};

/// Query the network broker daemon over the system bus.
#[derive(Debug, Parser)]
#[command(name = "network-brokerctl", version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The daemon's version and how many links it knows (the default).
    Status,
    /// Every link: index, name, operational state, addresses.
    Links,
    /// Policy routing: the rules and routes the configuration calls for next to the ones of
    /// ours the kernel has (ok, missing, stale).
    Routing,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("network-brokerctl: failed to start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args.command.unwrap_or(Command::Status))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("network-brokerctl: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let conn = Connection::system()
        .await
        .context("cannot connect to the system bus")?;
    let manager = ManagerProxy::new(&conn).await?;
    match command {
        Command::Status => {
            let version = manager
                .version()
                .await
                .context("is network-broker running?")?;
            let links = manager.list_links().await?;
            println!("network-broker {version}, {} links", links.len());
        }
        Command::Links => {
            println!("{:>5} {:<16} {:<15} ADDRESSES", "INDEX", "NAME", "STATE");
            for (index, name, path) in manager.list_links().await? {
                let link = LinkProxy::builder(&conn).path(path).build().await?;
                let state = link.operational_state().await.unwrap_or_default();
                let addresses: Vec<String> = link
                    .addresses()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(ip, len)| format!("{ip}/{len}"))
                    .collect();
                println!("{index:>5} {name:<16} {state:<15} {}", addresses.join(" "));
            }
        }
        Command::Routing => {
            let json = manager.describe_routing().await?;
            let status: serde_json::Value =
                serde_json::from_str(&json).context("the daemon sent invalid JSON")?;
            print_routing(&status);
        }
    }
    Ok(())
}

/// Prints every rule and route that is desired or present, marked `ok` (both), `missing`
/// (desired, not in the kernel) or `stale` (ours in the kernel, not desired).
fn print_routing(status: &serde_json::Value) {
    if let Some(tables) = status["tables"].as_object() {
        for (index, entry) in tables {
            println!(
                "link {} (index {index}): table {}",
                entry[0].as_str().unwrap_or("?"),
                entry[1]
            );
        }
    }
    let lines = |side: &str| -> std::collections::BTreeSet<String> {
        let rules = status[side]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(rule_line);
        let routes = status[side]["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(route_line);
        rules.chain(routes).collect()
    };
    let (desired, actual) = (lines("desired"), lines("actual"));
    println!("{:<8} RULE / ROUTE", "STATE");
    for line in desired.union(&actual) {
        let state = match (desired.contains(line), actual.contains(line)) {
            (true, true) => "ok",
            (true, false) => "missing",
            _ => "stale",
        };
        println!("{state:<8} {line}");
    }
}

fn prefix(value: &serde_json::Value) -> Option<String> {
    Some(format!("{}/{}", value.get(0)?.as_str()?, value.get(1)?))
}

fn rule_line(rule: &serde_json::Value) -> String {
    let mut line = String::from("rule");
    if let Some(from) = prefix(&rule["src"]) {
        line += &format!(" from {from}");
    }
    if let Some(to) = prefix(&rule["dst"]) {
        line += &format!(" to {to}");
    }
    line + &format!(
        " lookup {} pref {} proto {}",
        rule["table"], rule["priority"], rule["protocol"]
    )
}

fn route_line(route: &serde_json::Value) -> String {
    let dst = match route["dst"].as_str() {
        Some(dst) => format!("{dst}/{}", route["dst_len"]),
        None => "default".to_string(),
    };
    let mut line = format!("route {dst}");
    if let Some(gateway) = route["gateway"].as_str() {
        line += &format!(" via {gateway}");
    }
    line += &format!(" dev-index {} table {}", route["oif"], route["table"]);
    if let Some(src) = route["src"].as_str() {
        line += &format!(" src {src}");
    }
    line + &format!(" proto {}", route["protocol"])
}
