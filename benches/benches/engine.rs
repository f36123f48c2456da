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

/// The keyspace with a cache's working set: a million keys, 32-byte values (in the node).
fn keyspace(c: &mut Criterion) {
    let keys: Vec<String> = (0..1_000_000).map(|i| format!("key:{i:012}")).collect();
    let mut db = Db::new();
    for key in &keys {
        db.set(key.as_bytes(), Value::from_bytes(&[b'v'; 32]), 0);
    }
    // Lookups far apart in the table, as random keys are.
    let count = keys.len();
    let mut i = 0;
    let mut next = move || {
        i = (i + 7919) % count;
        i
    };
    let mut group = c.benchmark_group("keyspace");
    group.bench_function("get_hit_1m", |b| {
        b.iter(|| black_box(db.get(keys[next()].as_bytes(), 0).is_some()))
    });
    group.bench_function("set_overwrite_1m", |b| {
        b.iter(|| db.set(keys[next()].as_bytes(), Value::from_bytes(&[b'w'; 32]), 0))
    });
    // A pipeline of 16 GETs as a connection runs it, with and without announcing its keys
    // first (what the server does when it locks the keyspace for a batch).
    group.throughput(Throughput::Elements(16));
    for prefetch in [false, true] {
        let name = match prefetch {
            true => "get_16_prefetched_1m",
            false => "get_16_one_by_one_1m",
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let batch: [&[u8]; 16] = std::array::from_fn(|_| keys[next()].as_bytes());
                if prefetch {
                    db.prefetch(batch.iter().copied());
                }
                for key in batch {
                    black_box(db.get(key, 0).is_some());
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, resp_parsing, dispatch, keyspace);
criterion_main!(benches);
