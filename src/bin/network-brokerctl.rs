//! `network-brokerctl`: the command-line client of org.freedesktop.NetworkBroker1.
//!
//! Exit codes (also in docs/network-brokerctl.1.md): 0 success, 1 any other failure and a
//! rejected configuration (`reload`, as `systemctl reload` expects of `ExecReload=`), 2 usage
//! or invalid argument, 3 no such link, 4 not authorised, 6 the daemon cannot be reached,
//! 7 a hook failed (`run-hooks`).

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use futures_util::StreamExt;
use zbus::message::Type as MessageType;
use zbus::{Connection, MatchRule, MessageStream, OwnedObjectPath, OwnedVariant};

use network_broker::dbus::client::{LinkProxy, ManagerProxy};
use network_broker::dbus::names::BUS_NAME;

/// Query and control the network broker daemon over the system bus.
#[derive(Debug, Parser)]
#[command(name = "network-brokerctl", version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The daemon's version, generator, overall state and how many links it knows (default).
    Status,
    /// Every link: index, name, operational state, addresses.
    Links,
    /// One link, by name or index, with everything the daemon knows about it (JSON).
    Link {
        /// Interface name or index.
        link: String,
    },
    /// Live events: links, addresses, routes, leases, hooks and property changes.
    Monitor {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Re-read the configuration (polkit: org.freedesktop.NetworkBroker1.reload).
    Reload,
    /// Every hook that would run, per event, in run order.
    Hooks,
    /// Run the hooks of EVENT for LINK now (polkit: org.freedesktop.NetworkBroker1.run-hooks).
    RunHooks {
        /// Interface name or index.
        link: String,
        /// Event: the hook directory's stem (routable, carrier, routes-modified, …).
        event: String,
        /// Run nothing; print the scripts and the exact environment and input they would get.
        #[arg(long)]
        dry_run: bool,
    },
    /// Policy routing: the rules and routes the configuration calls for next to the ones of
    /// ours the kernel has (ok, missing, stale).
    Routing,
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        let code = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<zbus::Error>())
            .map(exit_code)
            .unwrap_or(1);
        Failure { code, error }
    }
}

impl From<zbus::Error> for Failure {
    fn from(error: zbus::Error) -> Self {
        Failure::from(anyhow::Error::from(error))
    }
}

/// The exit code for an error from the bus, by its error name.
fn exit_code(error: &zbus::Error) -> u8 {
    let name = match error {
        zbus::Error::MethodError(name, _, _) => name.to_string(),
        zbus::Error::FDO(err) => zbus::DBusError::name(&**err).to_string(),
        zbus::Error::InputOutput(_) | zbus::Error::Address(_) => return 6,
        _ => return 1,
    };
    match name.as_str() {
        "org.freedesktop.NetworkBroker1.Error.InvalidArgument" => 2,
        "org.freedesktop.NetworkBroker1.Error.NoSuchLink" => 3,
        "org.freedesktop.DBus.Error.AccessDenied"
        | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => 4,
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner"
        | "org.freedesktop.DBus.Error.Spawn.ChildExited"
        | "org.freedesktop.DBus.Error.TimedOut"
        | "org.freedesktop.DBus.Error.NoReply" => 6,
        _ => 1,
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let command = args.command.unwrap_or(Command::Status);
    if let Command::Completions { shell } = command {
        clap_complete::generate(
            shell,
            &mut Args::command(),
            "network-brokerctl",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
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
    match runtime.block_on(run(command)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("network-brokerctl: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}

/// The path of a link given by name or index.
async fn link_path(manager: &ManagerProxy<'_>, link: &str) -> Result<OwnedObjectPath, Failure> {
    Ok(match link.parse::<i32>() {
        Ok(index) => manager.get_link_by_index(index).await?,
        Err(_) => manager.get_link_by_name(link).await?,
    })
}

async fn run(command: Command) -> Result<u8, Failure> {
    let conn = Connection::system()
        .await
        .context("cannot connect to the system bus")
        .map_err(|error| Failure { code: 6, error })?;
    let manager = ManagerProxy::new(&conn).await?;
    match command {
        Command::Status => {
            let version = manager
                .version()
                .await
                .context("is network-broker running?")?;
            let generator = manager.generator().await.unwrap_or_default();
            let state = manager.operational_state().await.unwrap_or_default();
            let links = manager.list_links().await?;
            println!("network-broker {version}");
            println!("generator: {generator}");
            if !state.is_empty() {
                println!("state:     {state}");
            }
            println!("links:     {}", links.len());
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
        Command::Link { link } => {
            let path = link_path(&manager, &link).await?;
            let link = LinkProxy::builder(&conn).path(path).build().await?;
            let json: serde_json::Value = serde_json::from_str(&link.describe().await?)
                .context("the daemon sent invalid JSON")?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json).context("cannot print JSON")?
            );
        }
        Command::Monitor { json } => monitor(&conn, json).await?,
        Command::Reload => return reload(&manager).await,
        Command::Hooks => {
            for (event, script) in manager.list_hooks().await? {
                println!("{event:<16} {script}");
            }
        }
        Command::RunHooks {
            link,
            event,
            dry_run,
        } => {
            let path = link_path(&manager, &link).await?;
            let index = LinkProxy::builder(&conn)
                .path(path)
                .build()
                .await?
                .index()
                .await?;
            if dry_run {
                let (scripts, env, stdin) = manager.dry_run_hooks(&event, index).await?;
                println!("# scripts, in run order:");
                for script in &scripts {
                    println!("#   {script}");
                }
                println!("# environment:");
                for (name, value) in &env {
                    println!("{name}={value}");
                }
                if !stdin.is_empty() {
                    println!("# standard input:");
                    print!("{stdin}");
                }
                return Ok(0);
            }
            let results = manager.run_hooks(&event, index).await?;
            let mut failed = false;
            for (script, status, error) in &results {
                failed |= *status != 0;
                println!("{status:>3} {script} {error}");
            }
            if results.is_empty() {
                println!("no hooks for {event}");
            }
            return Ok(if failed { 7 } else { 0 });
        }
        Command::Routing => {
            let json = manager.describe_routing().await?;
            let status: serde_json::Value =
                serde_json::from_str(&json).context("the daemon sent invalid JSON")?;
            print_routing(&status);
        }
        Command::Completions { .. } => {}
    }
    Ok(0)
}

/// The daemon's error name for a rejected configuration.
const INVALID_CONFIG: &str = "org.freedesktop.NetworkBroker1.Error.InvalidConfig";

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
            eprintln!("{}", text.unwrap_or_default());
            Ok(1)
        }
        Err(err) if exit_code(&err) == 6 => Err(Failure {
            code: 6,
            error: anyhow::Error::from(err).context(format!(
                "network-broker is not running ({BUS_NAME} cannot be reached)"
            )),
        }),
        Err(err) => Err(err.into()),
    }
}

/// Prints every signal the daemon sends until interrupted.
async fn monitor(conn: &Connection, json: bool) -> Result<(), Failure> {
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(BUS_NAME)
        .build()?;
    let mut stream = MessageStream::for_match_rule(rule, conn, None).await?;
    if !json {
        eprintln!("monitoring {BUS_NAME}; ^C to stop");
    }
    while let Some(message) = stream.next().await {
        let Ok(message) = message else { continue };
        let header = message.header();
        let member = header.member().map(|m| m.to_string()).unwrap_or_default();
        let path = header.path().map(|p| p.to_string()).unwrap_or_default();
        let body = message.body();
        let fields: serde_json::Value = match member.as_str() {
            "LinkAdded" | "LinkRemoved" => {
                match body.deserialize::<(i32, String, OwnedObjectPath)>() {
                    Ok((index, name, _)) => serde_json::json!({"index": index, "name": name}),
                    Err(_) => continue,
                }
            }
            "AddressAdded" | "AddressRemoved" => match body.deserialize::<(i32, String, u8)>() {
                Ok((index, address, len)) => {
                    serde_json::json!({"index": index, "address": format!("{address}/{len}")})
                }
                Err(_) => continue,
            },
            "RoutesModified" => match body.deserialize::<(i32,)>() {
                Ok((index,)) => serde_json::json!({"index": index}),
                Err(_) => continue,
            },
            "HooksCompleted" => {
                match body.deserialize::<(String, i32, Vec<(String, u32, String)>, u32)>() {
                    Ok((event, index, results, coalesced)) => serde_json::json!({
                        "event": event, "index": index, "coalesced": coalesced,
                        "results": results.iter().map(|(s, st, e)| serde_json::json!({"script": s, "status": st, "error": e})).collect::<Vec<_>>(),
                    }),
                    Err(_) => continue,
                }
            }
            "LeaseChanged" => match body.deserialize::<(i32, String, HashMap<String, String>)>() {
                Ok((index, name, lease)) => {
                    serde_json::json!({"index": index, "name": name, "lease": lease})
                }
                Err(_) => continue,
            },
            "PropertiesChanged" => {
                match body.deserialize::<(String, HashMap<String, OwnedVariant>, Vec<String>)>() {
                    Ok((_, changed, _)) => {
                        let changed: serde_json::Map<String, serde_json::Value> = changed
                            .into_iter()
                            .map(|(k, v)| (k, serde_json::Value::String(v.to_string())))
                            .collect();
                        serde_json::json!({ "changed": changed })
                    }
                    Err(_) => continue,
                }
            }
            _ => serde_json::json!({}),
        };
        if json {
            let mut line = serde_json::json!({"signal": member, "path": path});
            if let (Some(line), Some(fields)) = (line.as_object_mut(), fields.as_object()) {
                line.extend(fields.clone());
            }
            println!("{line}");
        } else {
            let mut text = format!("{member:<18}");
            if member == "PropertiesChanged" {
                text += &format!(" {path}");
            }
            if let Some(fields) = fields.as_object() {
                for (key, value) in fields {
                    match value {
                        serde_json::Value::String(s) => text += &format!(" {key}={s}"),
                        serde_json::Value::Object(map) => {
                            for (k, v) in map {
                                text += &format!(
                                    " {k}={}",
                                    v.as_str()
                                        .map(str::to_string)
                                        .unwrap_or_else(|| v.to_string())
                                );
                            }
                        }
                        other => text += &format!(" {key}={other}"),
                    }
                }
            }
            println!("{text}");
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
