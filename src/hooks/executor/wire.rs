//! The hook executor's protocol: one request and one reply per connection, each a JSON
//! document behind a 4-byte big-endian length.
//!
//! A connection is one hook run. After its request the broker writes nothing more: closing
//! its side (or dying) is how it says "stop", and the executor then kills the hook's process
//! group as the runner does at shutdown. The executor closes the connection after its reply,
//! so a reply is never confused with the next run's.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame either side accepts. A request holds the environment (at most
/// `env::ENV_BUDGET`, 120 KiB) and the JSON on standard input (one link's document, or every
/// link's for `manager.d`), so a few MiB leave room for thousands of addresses while a peer
/// cannot make the other side allocate without bound.
pub const MAX_FRAME: u32 = 8 << 20;

/// Errors of reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed.
    #[error("hook executor connection failed")]
    Io(#[from] std::io::Error),
    /// The frame announced more than [`MAX_FRAME`] bytes.
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME}")]
    TooLarge(u32),
    /// The frame is not the expected JSON document.
    #[error("malformed frame")]
    Malformed(#[source] serde_json::Error),
    /// The peer closed the connection before a whole frame arrived.
    #[error("connection closed before a whole message arrived")]
    Truncated,
}

/// What the broker asks the executor to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The hook as discovery listed it, `<hook dir>/<event>.d/<file name>`, as bytes (a file
    /// name need not be text). The executor runs it only if it lies in one of its own hook
    /// directories and passes admission there.
    pub path: Vec<u8>,
    /// The event (directory name without `.d`), for the check and the log.
    pub event: String,
    /// The link it runs for, as escaped text (log lines only).
    pub link: Option<String>,
    /// The hook's environment, as the broker built it (`env::build`).
    pub env: Vec<(String, String)>,
    /// Standard input (the JSON and a newline), or none for `/dev/null`.
    pub stdin: Option<String>,
    /// The per-hook timeout.
    pub timeout_ms: u64,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReply {
    /// Exit status, or the runner's codes for a timeout, a refusal, a signal.
    pub status: u32,
    /// Why it failed, empty on success.
    pub error: String,
}

/// Writes `message` as one frame.
pub async fn write_frame<W, T>(writer: &mut W, message: &T) -> Result<(), WireError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(message).map_err(WireError::Malformed)?;
    let len = u32::try_from(body.len()).map_err(|_| WireError::TooLarge(u32::MAX))?;
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    writer.write_all(&len.to_be_bytes()).await?;
    writer.write_all(&body).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one frame; `None` when the peer closed the connection before its first byte.
pub async fn read_frame<R, T>(reader: &mut R) -> Result<Option<T>, WireError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match reader.read(&mut header[got..]).await? {
            0 if got == 0 => return Ok(None),
            0 => return Err(WireError::Truncated),
            n => got += n,
        }
    }
    let len = u32::from_be_bytes(header);
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    reader.read_exact(&mut body).await.map_err(|err| {
        if err.kind() == std::io::ErrorKind::UnexpectedEof {
            WireError::Truncated
        } else {
            WireError::Io(err)
        }
    })?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(WireError::Malformed)
}

#[cfg(test)]
mod tests;
