//! Requests per second against the in-process replica on loopback.
//!
//! Each iteration sends a batch of concurrent requests over a keep-alive client; criterion's
//! throughput line ("elem/s") is the request rate.
//! `cargo bench --bench replica -- --measurement-time 5`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::future::join_all;
use hh_compat::replica::{self, ReplicaConfig};

const KEY: &str = "bench-key";
const BATCH: usize = 64;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let handle = rt
        .block_on(replica::start(ReplicaConfig::with_builtin_deployments(KEY)))
        .expect("replica");
    let base = handle.base_url();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(BATCH)
        .build()
        .expect("client");

    let chat = format!("{base}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21");
    let emb = format!(
        "{base}/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21"
    );
    let cases = [
        (
            "chat",
            chat.clone(),
            r#"{"messages":[{"role":"user","content":"Benchmark me, please."}]}"#,
        ),
        (
            "chat_stream",
            chat,
            r#"{"messages":[{"role":"user","content":"Benchmark me, please."}],"stream":true,"stream_options":{"include_usage":true}}"#,
        ),
        (
            "embeddings",
            emb,
            r#"{"input":"Benchmark me, please.","encoding_format":"base64"}"#,
        ),
    ];

    let mut group = c.benchmark_group("replica");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, url, body) in cases {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let client = client.clone();
                let url = url.clone();
                async move {
                    let requests = (0..BATCH).map(|_| {
                        let req = client
                            .post(&url)
                            .header("api-key", KEY)
                            .header("content-type", "application/json")
                            .body(body);
                        async move {
                            let resp = req.send().await.expect("send");
                            assert!(resp.status().is_success());
                            resp.bytes().await.expect("body").len()
                        }
                    });
                    join_all(requests).await
                }
            });
        });
    }
    group.finish();
    drop(handle);
}

criterion_group!(benches, bench);
criterion_main!(benches);
