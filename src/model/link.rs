//! The kernel's attributes of one network link (RTM_NEWLINK), reduced to what the broker uses.

use serde::Serialize;

use super::IfIndex;

/// The kernel's operational state of a link (RFC 2863, `IFLA_OPERSTATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
pub enum KernelOperState {
    /// The driver does not report a state (e.g. loopback).
    #[default]
    Unknown,
    /// Some component is missing.
    NotPresent,
    /// Administratively or physically down.
    Down,
    /// A lower layer (e.g. the veth peer) is down.
    LowerLayerDown,
    /// In test mode.
    Testing,
    /// Waiting for an external event (802.1X and similar).
    Dormant,
    /// Up and able to pass packets.
    Up,
}

impl KernelOperState {
    /// The name `ip link` prints, lower-cased (`up`, `down`, `lowerlayerdown`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::NotPresent => "notpresent",
            Self::Down => "down",
            Self::LowerLayerDown => "lowerlayerdown",
            Self::Testing => "testing",
            Self::Dormant => "dormant",
            Self::Up => "up",
        }
    }
}

/// One link as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkAttrs {
    /// Interface index; stable for the life of the link, new when the link is re-created.
    pub index: IfIndex,
    /// Interface name; may change (rename) while the index stays.
    pub name: String,
    /// `IFLA_INFO_KIND` (`veth`, `bridge`, …); `None` for hardware links and loopback.
    pub kind: Option<String>,
    /// Hardware address as `aa:bb:cc:dd:ee:ff`, when the link has one.
    pub mac: Option<String>,
    /// MTU in bytes.
    pub mtu: Option<u32>,
    /// `IFF_*` flags (up, running, lower_up, loopback, …).
    pub flags: u32,
    /// The kernel's operational state.
    pub oper_state: KernelOperState,
}

/// `IFF_UP`: administratively up.
pub const IFF_UP: u32 = 0x1;
/// `IFF_LOOPBACK`.
pub const IFF_LOOPBACK: u32 = 0x8;
/// `IFF_RUNNING`: operationally up.
pub const IFF_RUNNING: u32 = 0x40;
/// `IFF_LOWER_UP`: the driver signals carrier.
pub const IFF_LOWER_UP: u32 = 0x1_0000;

impl LinkAttrs {
    /// Whether the link is administratively up.
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// Whether the driver reports carrier.
    pub fn has_carrier(&self) -> bool {
        self.flags & IFF_LOWER_UP != 0
    }

    /// Whether this is a loopback device.
    pub fn is_loopback(&self) -> bool {
        self.flags & IFF_LOOPBACK != 0
    }
}
