//! A package index served on loopback in PEP 503 "simple" form, so pip's and uv's real
//! clients can list and install packages without a registry.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// One file a package offers: its name and its bytes (empty when only listed).
pub type File = (String, Vec<u8>);

/// Serves `packages` (name → files) on 127.0.0.1 for the rest of the test process and
/// returns the index URL (`http://127.0.0.1:PORT/simple/`). Files are under `/files/`.
pub fn serve(packages: Vec<(String, Vec<File>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header.trim().is_empty() => break,
                    Ok(_) => {}
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, kind, body) = answer(&packages, path);
            let mut stream = &stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}/simple/")
}

fn answer(packages: &[(String, Vec<File>)], path: &str) -> (&'static str, &'static str, Vec<u8>) {
    if let Some(file) = path.strip_prefix("/files/") {
        let found = packages
            .iter()
            .flat_map(|(_, files)| files)
            .find(|(name, _)| name == file);
        return match found {
            Some((_, bytes)) => ("200 OK", "application/octet-stream", bytes.clone()),
            None => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
        };
    }
    let name = path.trim_start_matches("/simple/").trim_end_matches('/');
    match packages.iter().find(|(n, _)| n == name) {
        Some((_, files)) => {
            let links: String = files
                .iter()
                .map(|(f, _)| format!("<a href=\"/files/{f}\">{f}</a>\n"))
                .collect();
            let page = format!("<!DOCTYPE html><html><body>\n{links}</body></html>\n");
            ("200 OK", "text/html", page.into_bytes())
        }
        None => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
    }
}
