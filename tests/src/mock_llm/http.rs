//! Just enough HTTP/1.1 for the mock: reading requests (and, for the unit tests, responses)
//! and writing responses with either `Content-Length` or chunked framing.
//!
//! Hand-rolled on purpose: a framework would hide exactly the things the tests want to
//! control (when each chunk leaves, whether the terminating chunk is ever written, whether the
//! socket ends with FIN or RST). Clients are trusted test code, so the parser is strict enough
//! to catch our own mistakes, not hardened for the open internet; it still bounds what it buffers.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Upper bound on a request head (request line plus headers), and on chunk-size lines.
const MAX_HEAD: u64 = 64 * 1024;
/// Upper bound on a request body; real chat requests with long histories stay far below this.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    /// The request target as sent, query string included (Azure puts `api-version` there).
    pub target: String,
    /// Header names lowercased, values trimmed, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the connection stays open after the response (HTTP/1.1 default unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

/// Looks a header up by (case-insensitive) name.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether a comma-separated header (`Connection`, `Transfer-Encoding`) lists `token`.
fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Reads one line (LF or CRLF terminated) within `budget` bytes, without its terminator.
/// `Ok(None)` means EOF before any byte.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    budget: &mut u64,
) -> io::Result<Option<String>> {
    if *budget == 0 {
        return Err(invalid("request head too large"));
    }
    let mut buf = Vec::new();
    let n = (&mut *r).take(*budget).read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Ok(None);
    }
    *budget = budget.saturating_sub(n as u64);
    if buf.last() != Some(&b'\n') {
        return Err(if *budget == 0 {
            invalid("request head too large")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-line")
        });
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| invalid("non-UTF-8 in message head"))
}

/// Reads a start line and the headers that follow it, up to the blank line.
/// `Ok(None)` means the peer closed the connection cleanly between messages.
pub(crate) async fn read_head<R: AsyncBufRead + Unpin>(
    r: &mut R,
) -> io::Result<Option<(String, Vec<(String, String)>)>> {
    let mut budget = MAX_HEAD;
    // RFC 9112 §2.2: ignore empty lines before a request line.
    let start = loop {
        match read_line(r, &mut budget).await? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut budget)
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in headers"))?;
        if line.is_empty() {
            return Ok(Some((start, headers)));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("header line without a colon"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

/// Reads a message body framed by `Transfer-Encoding: chunked` or `Content-Length`
/// (absent both, the body is empty, as for a request).
pub(crate) async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    headers: &[(String, String)],
) -> io::Result<Vec<u8>> {
    if has_token(headers, "transfer-encoding", "chunked") {
        return Ok(read_chunks(r).await?.concat());
    }
    let len = match header(headers, "content-length") {
        None => return Ok(Vec::new()),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| invalid("bad Content-Length"))?,
    };
    if len > MAX_BODY {
        return Err(invalid("body too large"));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok(body)
}

/// Reads a chunked body, returning each chunk separately (the unit tests check that every SSE
/// event travels in its own chunk). Trailers are read and dropped.
pub(crate) async fn read_chunks<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Vec<Vec<u8>>> {
    let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in chunked body");
    let mut chunks = Vec::new();
    let mut total = 0usize;
    loop {
        let mut budget = MAX_HEAD;
        let line = read_line(r, &mut budget).await?.ok_or_else(eof)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            while !read_line(r, &mut budget).await?.ok_or_else(eof)?.is_empty() {}
            return Ok(chunks);
        }
        total = total.saturating_add(size);
        if total > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let mut chunk = vec![0; size];
        r.read_exact(&mut chunk).await?;
        if !read_line(r, &mut budget).await?.ok_or_else(eof)?.is_empty() {
            return Err(invalid("chunk not followed by CRLF"));
        }
        chunks.push(chunk);
    }
}

/// Reads one whole request. Answers `Expect: 100-continue` (curl sends it for large bodies)
/// before reading the body. `Ok(None)`: the client closed an idle connection.
pub(crate) async fn read_request<S: AsyncBufRead + AsyncWrite + Unpin>(
    conn: &mut S,
) -> io::Result<Option<Request>> {
    let Some((line, headers)) = read_head(conn).await? else {
        return Ok(None);
    };
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("malformed request line"));
    };
    let keep_alive = match version {
        "HTTP/1.1" => !has_token(&headers, "connection", "close"),
        "HTTP/1.0" => has_token(&headers, "connection", "keep-alive"),
        _ => return Err(invalid("unsupported HTTP version")),
    };
    if has_token(&headers, "expect", "100-continue") {
        conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        conn.flush().await?;
    }
    let body = read_body(conn, &headers).await?;
    Ok(Some(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body,
        keep_alive,
    }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Unknown",
    }
}

/// Framing headers are the server's business: scripted ones with these names are dropped so a
/// script cannot make the response unparseable by accident.
fn is_framing(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

fn head(status: u16, headers: &[(String, String)], keep_alive: bool) -> String {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers.iter().filter(|(n, _)| !is_framing(n)) {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !keep_alive {
        out.push_str("connection: close\r\n");
    }
    out
}

/// Writes a complete response with `Content-Length`, in one write.
pub(crate) async fn write_full<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = head(status, headers, keep_alive);
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    w.write_all(&bytes).await?;
    w.flush().await
}

/// Writes the head of a response whose `len`-byte body the caller writes itself (a body too
/// large to build in memory).
pub(crate) async fn write_sized_head<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    headers: &[(String, String)],
    len: u64,
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = head(status, headers, keep_alive);
    out.push_str(&format!("content-length: {len}\r\n\r\n"));
    w.write_all(out.as_bytes()).await?;
    w.flush().await
}

/// Writes the head of a streamed response: SSE content type and no-cache unless the script set
/// its own, and chunked framing so each event can go out as soon as it is written.
pub(crate) async fn write_stream_head<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    headers: &[(String, String)],
    keep_alive: bool,
) -> io::Result<()> {
    let mut all = headers.to_vec();
    for (name, value) in [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
    ] {
        if header(headers, name).is_none() {
            all.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut out = head(status, &all, keep_alive);
    out.push_str("transfer-encoding: chunked\r\n\r\n");
    w.write_all(out.as_bytes()).await?;
    w.flush().await
}

/// Writes `data` as one HTTP chunk and flushes it.
pub(crate) async fn write_chunk<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> io::Result<()> {
    if data.is_empty() {
        // A zero-length chunk would end the body; there is nothing to send anyway.
        return Ok(());
    }
    let mut bytes = format!("{:x}\r\n", data.len()).into_bytes();
    bytes.extend_from_slice(data);
    bytes.extend_from_slice(b"\r\n");
    w.write_all(&bytes).await?;
    w.flush().await
}

/// Writes the terminating zero-length chunk: the normal end of a streamed body.
pub(crate) async fn write_last_chunk<W: AsyncWrite + Unpin>(w: &mut W) -> io::Result<()> {
    w.write_all(b"0\r\n\r\n").await?;
    w.flush().await
}
