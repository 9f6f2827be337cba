//! Unit tests of `crate::hooks::executor::wire`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn request() -> RunRequest {
    RunRequest {
        path: b"/etc/network-broker/routable.d/10-log".to_vec(),
        event: "routable".into(),
        link: Some("eth0".into()),
        env: vec![
            ("LINK".into(), "eth0".into()),
            ("EVENT".into(), "routable".into()),
        ],
        stdin: Some("{}\n".into()),
        timeout_ms: 20_000,
    }
}

#[tokio::test]
async fn a_frame_round_trips() {
    let mut buffer = Vec::new();
    write_frame(&mut buffer, &request()).await.unwrap();
    let back: RunRequest = read_frame(&mut buffer.as_slice()).await.unwrap().unwrap();
    assert_eq!(back, request());
}

#[tokio::test]
async fn a_closed_connection_before_a_frame_is_no_message() {
    let back: Option<RunRequest> = read_frame(&mut [].as_slice()).await.unwrap();
    assert_eq!(back, None);
}

#[tokio::test]
async fn a_cut_frame_is_an_error_not_a_message() {
    let mut buffer = Vec::new();
    write_frame(&mut buffer, &request()).await.unwrap();
    for cut in [2, 4, buffer.len() - 1] {
        let err = read_frame::<_, RunRequest>(&mut &buffer[..cut])
            .await
            .unwrap_err();
        assert!(matches!(err, WireError::Truncated), "cut at {cut}: {err:?}");
    }
}

#[tokio::test]
async fn an_oversized_announcement_is_refused_before_allocating() {
    let header = (MAX_FRAME + 1).to_be_bytes();
    let err = read_frame::<_, RunRequest>(&mut header.as_slice())
        .await
        .unwrap_err();
    assert!(matches!(err, WireError::TooLarge(n) if n == MAX_FRAME + 1));
}

#[tokio::test]
async fn garbage_is_malformed() {
    let mut buffer = 3u32.to_be_bytes().to_vec();
    buffer.extend_from_slice(b"{x}");
    let err = read_frame::<_, RunRequest>(&mut buffer.as_slice())
        .await
        .unwrap_err();
    assert!(matches!(err, WireError::Malformed(_)));
}
