//! Names for the numbers rtnetlink uses in `DescribeRouting()`, spelled as ip-route(8) prints
//! them: the link document's names (src/link_json/names.rs), so both say the same.

use network_broker::link_json::names::protocol_name;

/// A route's or rule's protocol (`RTPROT_*`, /etc/iproute2/rt_protos, and ours); a number
/// larger than the kernel's 8 bits (never sent) as itself.
pub fn protocol(protocol: u64) -> String {
    match u8::try_from(protocol) {
        Ok(byte) => protocol_name(byte),
        Err(_) => protocol.to_string(),
    }
}

#[cfg(test)]
mod tests;
