//! Introspection XML (a tiny reader: busctl's and zbus's output, attributes in any order).

use std::collections::BTreeMap;

/// One argument of a method or signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// Its name, if any.
    pub name: Option<String>,
    /// Its D-Bus signature.
    pub ty: String,
    /// "in" or "out" for methods (None for signals).
    pub direction: Option<String>,
}

/// One interface of an introspected object.
#[derive(Debug, Clone, Default)]
pub struct Interface {
    /// Methods and their arguments.
    pub methods: BTreeMap<String, Vec<Arg>>,
    /// Signals and their arguments.
    pub signals: BTreeMap<String, Vec<Arg>>,
    /// Properties: (signature, access).
    pub properties: BTreeMap<String, (String, String)>,
}

impl Interface {
    /// The concatenated signature of a method's out arguments.
    pub fn method_out(&self, name: &str) -> Option<String> {
        self.methods.get(name).map(|args| {
            args.iter()
                .filter(|a| a.direction.as_deref() == Some("out"))
                .map(|a| a.ty.as_str())
                .collect()
        })
    }

    /// The concatenated signature of a signal's arguments.
    pub fn signal_sig(&self, name: &str) -> Option<String> {
        self.signals
            .get(name)
            .map(|args| args.iter().map(|a| a.ty.as_str()).collect())
    }

    /// A property's signature.
    pub fn property_type(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(|(t, _)| t.as_str())
    }
}

/// An introspected object: its interfaces by name, and the raw XML for messages.
#[derive(Debug, Clone, Default)]
pub struct Introspection {
    /// Interfaces by name.
    pub interfaces: BTreeMap<String, Interface>,
    /// Child node names.
    pub nodes: Vec<String>,
    /// The XML as received.
    pub xml: String,
}

fn xml_attrs(tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq]
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_owned();
        let after = rest[eq + 1..].trim_start();
        let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            break;
        };
        let body = &after[1..];
        let Some(end) = body.find(q) else { break };
        out.insert(key, body[..end].to_owned());
        rest = &body[end + 1..];
    }
    out
}

impl Introspection {
    /// Reads introspection XML.
    pub fn parse(xml: &str) -> Introspection {
        enum Member {
            None,
            Method(String),
            Signal(String),
        }
        let mut me = Introspection {
            xml: xml.to_owned(),
            ..Default::default()
        };
        let mut iface: Option<String> = None;
        let mut member = Member::None;
        let mut depth_node = 0usize;
        let mut rest = xml;
        while let Some(lt) = rest.find('<') {
            rest = &rest[lt + 1..];
            if rest.starts_with("!--") {
                rest = rest.find("-->").map_or("", |e| &rest[e + 3..]);
                continue;
            }
            let Some(gt) = rest.find('>') else { break };
            let tag = &rest[..gt];
            rest = &rest[gt + 1..];
            if tag.starts_with('!') || tag.starts_with('?') {
                continue;
            }
            if let Some(end) = tag.strip_prefix('/') {
                match end.trim() {
                    "interface" => iface = None,
                    "method" | "signal" => member = Member::None,
                    "node" => depth_node = depth_node.saturating_sub(1),
                    _ => {}
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let elem = tag.split_whitespace().next().unwrap_or("");
            let attrs = xml_attrs(&tag[elem.len()..]);
            let name = attrs.get("name").cloned().unwrap_or_default();
            match elem {
                "node" => {
                    if depth_node >= 1 && !name.is_empty() {
                        me.nodes.push(name);
                    }
                    if !self_closing {
                        depth_node += 1;
                    }
                }
                "interface" => {
                    me.interfaces.entry(name.clone()).or_default();
                    iface = (!self_closing).then_some(name);
                }
                "method" | "signal" => {
                    if let Some(i) = &iface {
                        let e = me.interfaces.get_mut(i).unwrap();
                        if elem == "method" {
                            e.methods.entry(name.clone()).or_default();
                        } else {
                            e.signals.entry(name.clone()).or_default();
                        }
                    }
                    member = match (self_closing, elem) {
                        (true, _) => Member::None,
                        (false, "method") => Member::Method(name),
                        (false, _) => Member::Signal(name),
                    };
                }
                "arg" => {
                    let arg = Arg {
                        name: attrs.get("name").cloned(),
                        ty: attrs.get("type").cloned().unwrap_or_default(),
                        direction: attrs.get("direction").cloned(),
                    };
                    if let Some(i) = &iface {
                        let e = me.interfaces.get_mut(i).unwrap();
                        match &member {
                            Member::Method(m) => {
                                let mut arg = arg;
                                // the default direction of a method argument is "in"
                                arg.direction.get_or_insert_with(|| "in".into());
                                e.methods.get_mut(m).unwrap().push(arg);
                            }
                            Member::Signal(s) => e.signals.get_mut(s).unwrap().push(arg),
                            Member::None => {}
                        }
                    }
                }
                "property" => {
                    if let Some(i) = &iface {
                        me.interfaces.get_mut(i).unwrap().properties.insert(
                            name,
                            (
                                attrs.get("type").cloned().unwrap_or_default(),
                                attrs.get("access").cloned().unwrap_or_default(),
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        me
    }

    /// The interface `name`, or a panic that shows the XML.
    pub fn interface(&self, name: &str) -> &Interface {
        self.interfaces.get(name).unwrap_or_else(|| {
            panic!(
                "interface {name} not in the introspection data (has: {:?})\n{}",
                self.interfaces.keys().collect::<Vec<_>>(),
                self.xml
            )
        })
    }
}
