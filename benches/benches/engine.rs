//! Micro-benchmarks of the hot path: RESP request parsing, command dispatch, and the keyspace.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use slotcache_benches::{args, client, server};
use slotcache_protocol::resp::{ParseLimits, Protocol, Reply, RequestParser};
use slotcache_server::dispatch::{execute, Batch};
use slotcache_server::engine::{Db, Value};
use std::hint::black_box;

fn resp_parsing(c: &mut Criterion) {
    let mut pipeline = Vec::new();
    for i in 0..16 {
        pipeline.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n$16\r\nkey:{i:012}\r\n$32\r\n{}\r\n",
                "v".repeat(32)
            )
            .as_bytes(),
        );
    }
    let mut group = c.benchmark_group("resp");
    group.throughput(Throughput::Elements(16));
    group.bench_function("parse_16_set_requests", |b| {
        b.iter_batched(
            || BytesMut::from(&pipeline[..]),
            |mut buf| {
                let mut parser = RequestParser::new();
                let limits = ParseLimits::default();
                while let Ok(Some(request)) = parser.next_request(&mut buf, &limits) {
                    black_box(request);
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn dispatch(c: &mut Criterion) {
    let server = server();
    let mut client = client();
    let keyspace = server.keyspace.clone();
    let set = args(&[
        "SET",
        "key:000000000001",
        "value-of-thirty-two-bytes-000000",
    ]);
    let get = args(&["GET", "key:000000000001"]);
    let incr = args(&["INCR", "counter"]);
    let mut out = Reply::new(Protocol::Resp2);
    let mut group = c.benchmark_group("dispatch");
    for (name, request) in [("set", &set), ("get", &get), ("incr", &incr)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut batch = Batch::new();
                let mut ks = keyspace.lock();
                let _ = execute(&server, &mut client, &mut ks, &mut out, request, &mut batch);
                out.buf.clear();
            })
        });
    }
    group.finish();
}

fn keyspace(c: &mut Criterion) {
    let keys: Vec<String> = (0..100_000).map(|i| format!("key:{i:012}")).collect();
    let mut db = Db::new();
    for key in &keys {
        db.set(key.as_bytes(), Value::from_bytes(&[b'v'; 32]), 0);
    }
    let mut group = c.benchmark_group("keyspace");
    let mut i = 0;
    group.bench_function("get_hit_100k", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            black_box(db.get(keys[i].as_bytes(), 0).is_some())
        })
    });
    group.bench_function("set_overwrite_100k", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            db.set(keys[i].as_bytes(), Value::from_bytes(b"another-value"), 0)
        })
    });
    group.finish();
}

criterion_group!(benches, resp_parsing, dispatch, keyspace);
criterion_main!(benches);
