//! Email over SMTP, against a small SMTP server on this machine.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Answers one SMTP session and returns what the client sent as DATA.
async fn one_message(listener: TcpListener) -> String {
    let (socket, _) = listener.accept().await.unwrap();
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 test ESMTP\r\n").await.unwrap();
    let mut data = String::new();
    let mut in_data = false;
    while let Ok(Some(line)) = lines.next_line().await {
        if in_data {
            if line == "." {
                // The message is whole; the client may keep the connection for later ones.
                write.write_all(b"250 queued\r\n").await.unwrap();
                return data;
            } else {
                data.push_str(&line);
                data.push('\n');
            }
            continue;
        }
        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 test\r\n",
            "DATA" => {
                in_data = true;
                b"354 go on\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await.unwrap();
                break;
            }
            _ => b"250 ok\r\n",
        };
        write.write_all(answer).await.unwrap();
    }
    data
}

#[tokio::test]
async fn messages_go_out_over_smtp_when_configured() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(one_message(listener));
    let outbox = tempfile::tempdir().unwrap();
    let mailer = coterie::mail::Mailer::new(&format!("smtp://127.0.0.1:{port}"), outbox.path().to_path_buf(), "Coterie <no-reply@example.com>").unwrap();
    assert_eq!(mailer.describe(), "SMTP");
    mailer.send("ava@example.com", "Confirm your email address", "Click the link.".into()).await.unwrap();
    let data = server.await.unwrap();
    assert!(data.contains("Subject: Confirm your email address"), "{data}");
    assert!(data.contains("To: ava@example.com"), "{data}");
    assert!(data.contains("Click the link."), "{data}");
    assert!(std::fs::read_dir(outbox.path()).map(|d| d.count()).unwrap_or(0) == 0, "nothing went to the outbox");
}

#[tokio::test]
async fn a_refusing_mail_server_is_an_error_not_a_silent_loss() {
    // Nothing listens on this port once the listener is dropped.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let outbox = tempfile::tempdir().unwrap();
    let mailer = coterie::mail::Mailer::new(&format!("smtp://127.0.0.1:{port}"), outbox.path().to_path_buf(), "no-reply@example.com").unwrap();
    assert!(mailer.send("ava@example.com", "Hello", "Body".into()).await.is_err());
    assert!(mailer.check().await.is_err(), "check reports the unreachable server");
}
