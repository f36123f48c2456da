//! SORT and SORT_RO whose BY or GET patterns name keys, or whose STORE key lives in another
//! slot: a shard server refuses them in cluster mode, as Redis Cluster does, since those keys
//! may live anywhere. The proxy runs them instead: it reads the collection at its server,
//! fetches what the patterns name from every server that holds it, sorts and windows as Redis
//! does (the shared [`slotcache_protocol::command::sort`]), and stores the result at the
//! STORE key's server. Unlike Redis's, the sort is not atomic: a write between the reads may
//! be seen in part, as with any multi-key command split over partitions.

use crate::backend::Via;
use crate::forward::{send_all, send_routed, RoutedCommand};
use crate::session::{error_reply, reply_in, Pending, Session};
use crate::Proxy;
use bytes::Bytes;
use futures_util::future::FutureExt;
use slotcache_cluster::key_slot;
use slotcache_protocol::command::sort::{sort_window, target, SortOptions, Target};
use slotcache_protocol::command::CmdError;
use slotcache_protocol::resp::frame::{elements, frames, text};
use slotcache_protocol::resp::request::encode;
use slotcache_protocol::resp::Protocol;

/// The options of a SORT the proxy must run itself, None for one its key's server runs (bad
/// options too: the server answers them as Redis does). A user without `full_key_access` gets
/// Redis's refusal of BY and GET patterns here, where they would run.
pub fn sorted_here(
    name: &str,
    args: &[Bytes],
    full_key_access: impl FnOnce() -> bool,
) -> Result<Option<SortOptions>, CmdError> {
    if args.len() < 2 || !matches!(name, "sort" | "sort_ro") {
        return Ok(None);
    }
    let read_only = name == "sort_ro";
    let Ok(options) = SortOptions::parse(args, read_only, false, true) else {
        return Ok(None);
    };
    if options.reads_patterns() && !full_key_access() {
        SortOptions::parse(args, read_only, false, false)?;
    }
    let stored_elsewhere = options
        .store
        .as_ref()
        .is_some_and(|store| key_slot(store) != key_slot(&args[1]));
    Ok((options.reads_patterns() || stored_elsewhere).then_some(options))
}

impl Session {
    pub fn sort_here(&self, args: Vec<Bytes>, options: SortOptions) -> Pending {
        let (proxy, via, proto) = (self.proxy.clone(), self.via(), self.proto());
        Pending::Forwarded(
            async move {
                sort(&proxy, &via, proto, &args[1], options)
                    .await
                    .unwrap_or_else(|error| error)
            }
            .boxed(),
        )
    }
}

fn bytes(words: &[&[u8]]) -> Vec<Bytes> {
    words.iter().map(|w| Bytes::copy_from_slice(w)).collect()
}

async fn sort(
    proxy: &Proxy,
    via: &Via,
    proto: Protocol,
    key: &Bytes,
    mut options: SortOptions,
) -> Result<Bytes, Bytes> {
    // The collection's type and its elements in its own order.
    let mut request = encode(&bytes(&[b"TYPE", key])).to_vec();
    request.extend_from_slice(&encode(&bytes(&[b"SORT", key, b"BY", b"nosort"])));
    let replies = send_routed(proxy, via, Some(key_slot(key)), request.into(), 2).await;
    let [kind, listed] = frames(&replies).collect::<Vec<_>>()[..] else {
        return Err(replies);
    };
    if listed.starts_with(b"-") {
        return Err(replies.slice_ref(listed));
    }
    let listed: Vec<Vec<u8>> = elements(listed)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| text(e).map(<[u8]>::to_vec))
        .collect();
    let is_set = text(kind) == Some(b"set");
    options.settle_set_order(is_set, false);
    let by = match options.sorting_by() {
        Some(pattern) => fetch(proxy, via, pattern, &listed).await,
        None => vec![None; listed.len()],
    };
    let window = sort_window(listed.into_iter().zip(by).collect(), &options, is_set)
        .map_err(|error| error_reply(&error.to_string()))?;
    let window: Vec<Vec<u8>> = window.into_iter().map(|item| item.element).collect();
    let mut output: Vec<Option<Vec<u8>>> = Vec::new();
    if options.gets.is_empty() {
        output.extend(window.iter().cloned().map(Some));
    } else {
        let mut got = Vec::new();
        for pattern in &options.gets {
            got.push(fetch(proxy, via, pattern, &window).await);
        }
        for i in 0..window.len() {
            output.extend(got.iter().map(|values| values[i].clone()));
        }
    }
    match options.store {
        Some(store) => self::store(proxy, via, &store, &output).await,
        None => Ok(reply_in(proto, |out| {
            out.array(output.len());
            for value in &output {
                out.bulk_or_null(value.as_deref());
            }
        })),
    }
}

/// What `pattern` names for each element: its string key's value, its hash field, or the
/// element itself (`#`); None where nothing is there (or not a string, or not a hash).
async fn fetch(
    proxy: &Proxy,
    via: &Via,
    pattern: &[u8],
    elements: &[Vec<u8>],
) -> Vec<Option<Vec<u8>>> {
    let mut values = vec![None; elements.len()];
    let mut reads = Vec::new();
    for (i, element) in elements.iter().enumerate() {
        match target(pattern, element) {
            None => {}
            Some(Target::Element) => values[i] = Some(element.clone()),
            Some(Target::Key { key, field }) => reads.push(RoutedCommand {
                place: i,
                slot: key_slot(&key),
                args: match field {
                    None => bytes(&[b"GET", &key]),
                    Some(field) => bytes(&[b"HGET", &key, field]),
                },
                // On the lane of the client's other requests, which they must follow.
                reads: false,
            }),
        }
    }
    for (i, reply) in send_all(proxy, via, reads).await {
        values[i] = text(&reply).map(<[u8]>::to_vec);
    }
    values
}

/// STORE: the result replaces `store` as a list (an empty result deletes it), in one
/// transaction at its server; the reply counts the elements.
async fn store(
    proxy: &Proxy,
    via: &Via,
    store: &Bytes,
    output: &[Option<Vec<u8>>],
) -> Result<Bytes, Bytes> {
    let mut request = encode(&bytes(&[b"MULTI"])).to_vec();
    request.extend_from_slice(&encode(&bytes(&[b"DEL", store])));
    let mut commands = 2;
    if !output.is_empty() {
        let mut push = bytes(&[b"RPUSH", store]);
        push.extend(
            output
                .iter()
                .map(|v| Bytes::from(v.clone().unwrap_or_default())),
        );
        request.extend_from_slice(&encode(&push));
        commands += 1;
    }
    request.extend_from_slice(&encode(&bytes(&[b"EXEC"])));
    let replies = send_routed(
        proxy,
        via,
        Some(key_slot(store)),
        request.into(),
        commands + 1,
    )
    .await;
    let exec = frames(&replies).last().map(|exec| replies.slice_ref(exec));
    match exec {
        Some(exec) if elements(&exec).is_some() => {
            Ok(Bytes::from(format!(":{}\r\n", output.len())))
        }
        Some(error) => Err(error),
        None => Err(replies),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sorts_that_reach_other_keys_are_run_here() {
        // A user whose key patterns do not cover every key may not name keys by pattern.
        let denied = sorted_here("sort", &bytes(&[b"SORT", b"k", b"GET", b"#"]), || false);
        let text = "ERR GET option of SORT denied due to insufficient ACL permissions.";
        assert_eq!(denied.err().map(|e| e.to_string()).as_deref(), Some(text));
        assert!(sorted_here("sort", &bytes(&[b"SORT", b"k"]), || true)
            .unwrap()
            .is_none());
        assert!(
            sorted_here("sort", &bytes(&[b"SORT", b"k", b"BY", b"nosort"]), || true)
                .unwrap()
                .is_none()
        );
        assert!(
            sorted_here("sort", &bytes(&[b"SORT", b"k", b"STORE", b"{k}x"]), || true)
                .unwrap()
                .is_none()
        );
        assert!(
            sorted_here("sort", &bytes(&[b"SORT", b"k", b"BY", b"w_*"]), || true)
                .unwrap()
                .is_some()
        );
        assert!(
            sorted_here("sort_ro", &bytes(&[b"SORT_RO", b"k", b"GET", b"#"]), || {
                true
            })
            .unwrap()
            .is_some()
        );
        assert!(sorted_here(
            "sort",
            &bytes(&[b"SORT", b"k", b"STORE", b"elsewhere"]),
            || true
        )
        .unwrap()
        .is_some());
    }
}
