//! Geo commands, as Redis's geo.c: a geo index is a sorted set whose scores are 52-bit
//! geohashes (engine/geohash.rs), so GEOADD is ZADD with encoded scores and every search reads
//! a few score ranges. Argument checks run in Redis's order, so the same bad call gets the
//! same error.

use super::zsets::{store_items, zadd, Scored};
use super::{parse_f64, read_typed, ArgCursor, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::engine::geohash::{
    decode_score, distance, encode_wgs84, geohash_string, Search, Shape, LAT_MAX, LAT_MIN,
    LONG_MAX, LONG_MIN,
};
use crate::engine::zset::ZSet;
use bytes::Bytes;
use slotcache_protocol::resp::reply::format_human;
use slotcache_protocol::resp::Reply;

/// A longitude and latitude argument pair, checked against what the index can hold.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let longitude = parse_f64(lon).ok_or(CmdError::NotFloat)?;
    let latitude = parse_f64(lat).ok_or(CmdError::NotFloat)?;
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return Err(CmdError::err(format!(
            "invalid longitude,latitude pair {longitude:.6},{latitude:.6}"
        )));
    }
    Ok((longitude, latitude))
}

/// Metres per unit.
fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    match arg.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(CmdError::err(
            "unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// `<radius> <unit>`: the shape and metres per unit.
fn radius(value: &[u8], unit_arg: &[u8]) -> Result<(Shape, f64), CmdError> {
    let radius = parse_f64(value).ok_or_else(|| CmdError::err("need numeric radius"))?;
    if radius < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((Shape::Radius(radius), unit(unit_arg)?))
}

/// `<width> <height> <unit>`.
fn rectangle(args: &[Bytes]) -> Result<(Shape, f64), CmdError> {
    let width = parse_f64(&args[0]).ok_or_else(|| CmdError::err("need numeric width"))?;
    let height = parse_f64(&args[1]).ok_or_else(|| CmdError::err("need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(CmdError::err("height or width cannot be negative"));
    }
    Ok((Shape::Box { width, height }, unit(&args[2])?))
}

/// Where a stored member is.
fn member_point(zset: &ZSet, member: &[u8]) -> Result<(f64, f64), CmdError> {
    zset.score(member)
        .map(decode_score)
        .ok_or_else(|| CmdError::err("could not decode requested zset member"))
}

/// Redis's `addReplyDoubleDistance`: four decimals, rounded half to even at that scale.
fn distance_text(value: f64) -> String {
    let scaled = (value * 10_000.0).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let abs = scaled.unsigned_abs();
    format!("{sign}{}.{:04}", abs / 10_000, abs % 10_000)
}

/// GEOADD key [NX|XX] [CH] longitude latitude member ...: ZADD with the encoded scores.
fn geoadd(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (mut nx, mut xx) = (false, false);
    let mut cursor = ArgCursor::new(args, 2);
    cursor.leading(|word| match word {
        "nx" => {
            nx = true;
            true
        }
        "xx" => {
            xx = true;
            true
        }
        word => word == "ch",
    });
    let first = cursor.position();
    if (args.len() - first) % 3 != 0 || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    let mut zadd_args: Vec<Bytes> = args[..first].to_vec();
    for point in args[first..].chunks(3) {
        let (longitude, latitude) = lon_lat(&point[0], &point[1])?;
        let hash = encode_wgs84(longitude, latitude).unwrap_or_default();
        zadd_args.push(Bytes::from(hash.align52().to_string()));
        zadd_args.push(point[2].clone());
    }
    zadd(ctx, &zadd_args)
}

/// GEOPOS and GEOHASH: one reply per member named, `missing` for those not in the index.
fn per_member(
    ctx: &mut Ctx,
    args: &Args,
    missing: fn(&mut Reply),
    found: fn(&mut Reply, f64),
) -> CmdResult {
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    let zset = read_typed::<ZSet>(db, &args[1], now)?;
    out.array(args.len() - 2);
    for member in &args[2..] {
        match zset.and_then(|z| z.score(member)) {
            None => missing(out),
            Some(score) => found(out, score),
        }
    }
    Ok(Replied)
}

/// GEOPOS key member ...
fn geopos(ctx: &mut Ctx, args: &Args) -> CmdResult {
    per_member(ctx, args, Reply::null_array, |out, score| {
        let (longitude, latitude) = decode_score(score);
        out.array(2);
        out.double_text(&format_human(longitude));
        out.double_text(&format_human(latitude));
    })
}

/// GEOHASH key member ...
fn geohash(ctx: &mut Ctx, args: &Args) -> CmdResult {
    per_member(ctx, args, Reply::null, |out, score| {
        out.bulk(&geohash_string(score))
    })
}

/// GEODIST key member1 member2 [unit]
fn geodist(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let to_meters = match args.len() {
        4 => 1.0,
        5 => unit(&args[4])?,
        _ => return Err(CmdError::Syntax),
    };
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    let zset = read_typed::<ZSet>(db, &args[1], now)?;
    let scores = zset.and_then(|z| Some((z.score(&args[2])?, z.score(&args[3])?)));
    match scores {
        None => out.null(),
        Some((a, b)) => {
            let ((lon1, lat1), (lon2, lat2)) = (decode_score(a), decode_score(b));
            out.bulk(distance_text(distance(lon1, lat1, lon2, lat2) / to_meters).as_bytes());
        }
    }
    Ok(Replied)
}

/// Which search command runs, as Redis's `georadiusGeneric` flags.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// GEORADIUS[_RO]: around coordinates; `store` whether STORE is accepted.
    Radius { store: bool },
    /// GEORADIUSBYMEMBER[_RO]: around a member.
    ByMember { store: bool },
    /// GEOSEARCH, or GEOSEARCHSTORE when `store`.
    Search { store: bool },
}

#[derive(Clone, Copy, PartialEq)]
enum Order {
    Unsorted,
    Ascending,
    Descending,
}

/// A search call's options.
struct Options<'a> {
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    any: bool,
    order: Order,
    /// 0: no limit.
    count: usize,
    store: Option<&'a [u8]>,
    store_dist: bool,
}

/// The search's centre, shape and unit, as far as parsing found them.
#[derive(Default)]
struct Where {
    centre: Option<(f64, f64)>,
    shape: Option<(Shape, f64)>,
    /// FROMMEMBER was given (its member is looked up only when the key exists).
    from_member: bool,
    from_lonlat: bool,
}

/// The optional arguments from `base` on, as Redis parses them; FROMMEMBER, FROMLONLAT,
/// BYRADIUS and BYBOX are GEOSEARCH's.
fn parse_options<'a>(
    args: &'a Args,
    base: usize,
    variant: Variant,
    zset: Option<&ZSet>,
    at: &mut Where,
) -> Result<Options<'a>, CmdError> {
    let (radius_store, search) = match variant {
        Variant::Radius { store } | Variant::ByMember { store } => (store, false),
        Variant::Search { .. } => (false, true),
    };
    let mut options = Options {
        with_dist: false,
        with_hash: false,
        with_coord: false,
        any: false,
        order: Order::Unsorted,
        count: 0,
        store: None,
        store_dist: false,
    };
    let (mut by_radius, mut by_box) = (false, false);
    ArgCursor::new(args, base).options(|word, cursor| {
        match word {
            "withdist" => options.with_dist = true,
            "withhash" => options.with_hash = true,
            "withcoord" => options.with_coord = true,
            "any" => options.any = true,
            "asc" => options.order = Order::Ascending,
            "desc" => options.order = Order::Descending,
            "count" => match cursor.next_i64()? {
                count if count <= 0 => return Err(CmdError::err("COUNT must be > 0")),
                count => options.count = count as usize,
            },
            "store" | "storedist" if radius_store => {
                options.store = Some(cursor.value()?);
                options.store_dist = word == "storedist";
            }
            "storedist" if variant == (Variant::Search { store: true }) => {
                options.store_dist = true
            }
            "frommember" if search && !at.from_lonlat => {
                let member = cursor.value()?;
                if let Some(zset) = zset {
                    at.centre = Some(member_point(zset, member)?);
                }
                at.from_member = true;
            }
            "fromlonlat" if search && !at.from_member => {
                let [longitude, latitude] = cursor.values()?;
                at.centre = Some(lon_lat(longitude, latitude)?);
                at.from_lonlat = true;
            }
            "byradius" if search && !by_box => {
                let [distance, unit] = cursor.values()?;
                at.shape = Some(radius(distance, unit)?);
                by_radius = true;
            }
            "bybox" if search && !by_radius => {
                at.shape = Some(rectangle(cursor.take(3)?)?);
                by_box = true;
            }
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    Ok(options)
}

/// A member found, with its score and where it is.
struct Hit {
    member: Vec<u8>,
    score: f64,
    longitude: f64,
    latitude: f64,
    /// In the search's unit.
    distance: f64,
}

/// The members inside the search, box by box in Redis's order, stopping at `limit` (0: none).
fn find(zset: &ZSet, search: &Search, limit: usize) -> Vec<Hit> {
    let mut hits = Vec::new();
    let full = |hits: &Vec<Hit>| limit > 0 && hits.len() >= limit;
    for (min, max) in search.score_ranges() {
        if full(&hits) {
            break;
        }
        let start = zset.count_while(|score, _| score < min);
        let end = zset.count_while(|score, _| score < max).max(start);
        for (member, score) in zset.range(start, end - start, false) {
            if let Some(found) = search.contains(score) {
                hits.push(Hit {
                    member: member.to_vec(),
                    score,
                    longitude: found.longitude,
                    latitude: found.latitude,
                    distance: found.distance / search.to_meters,
                });
            }
            if full(&hits) {
                break;
            }
        }
    }
    hits
}

/// GEORADIUS, GEORADIUSBYMEMBER (and their _RO forms), GEOSEARCH and GEOSEARCHSTORE.
fn search_generic(ctx: &mut Ctx, args: &Args, variant: Variant) -> CmdResult {
    let src = if variant == (Variant::Search { store: true }) {
        2
    } else {
        1
    };
    let now = ctx.now;
    let zset = read_typed::<ZSet>(ctx.db(), &args[src], now)?;
    let mut at = Where::default();
    let base = match variant {
        Variant::Radius { .. } => {
            at.centre = Some(lon_lat(&args[2], &args[3])?);
            at.shape = Some(radius(&args[4], &args[5])?);
            6
        }
        Variant::ByMember { .. } => {
            if let Some(zset) = zset {
                at.centre = Some(member_point(zset, &args[2])?);
                at.shape = Some(radius(&args[3], &args[4])?);
            }
            5
        }
        Variant::Search { store } => 2 + usize::from(store),
    };
    let mut options = parse_options(args, base, variant, zset, &mut at)?;
    if let Variant::Search { store: true } = variant {
        options.store = Some(&args[1]);
    }
    if options.store.is_some() && (options.with_dist || options.with_hash || options.with_coord) {
        let what = match variant {
            Variant::Search { .. } => "GEOSEARCHSTORE",
            _ => "STORE option in GEORADIUS",
        };
        return Err(CmdError::err(format!(
            "{what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if let Variant::Search { .. } = variant {
        let name = String::from_utf8_lossy(&args[0]);
        if !at.from_member && !at.from_lonlat {
            return Err(CmdError::err(format!(
                "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
            )));
        }
        if at.shape.is_none() {
            return Err(CmdError::err(format!(
                "exactly one of BYRADIUS and BYBOX can be specified for {name}"
            )));
        }
    }
    if options.any && options.count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }
    let hits = match (zset, at.centre, at.shape) {
        (Some(zset), Some((longitude, latitude)), Some((shape, to_meters))) => {
            let search = Search {
                longitude,
                latitude,
                shape,
                to_meters,
            };
            if options.count > 0 && options.order == Order::Unsorted && !options.any {
                options.order = Order::Ascending;
            }
            let limit = if options.any { options.count } else { 0 };
            Some(find(zset, &search, limit))
        }
        _ => None,
    };
    let Some(mut hits) = hits else {
        // No index: STORE deletes its destination.
        match options.store {
            Some(dst) => {
                store_items(ctx, dst, &[], "");
                ctx.out.int(0);
            }
            None => ctx.out.array(0),
        }
        return Ok(Replied);
    };
    match options.order {
        Order::Unsorted => {}
        Order::Ascending => hits.sort_by(|a, b| a.distance.total_cmp(&b.distance)),
        Order::Descending => hits.sort_by(|a, b| b.distance.total_cmp(&a.distance)),
    }
    if options.count > 0 {
        hits.truncate(options.count);
    }
    if let Some(dst) = options.store {
        let items: Vec<Scored> = hits
            .into_iter()
            .map(|hit| {
                let score = if options.store_dist {
                    hit.distance
                } else {
                    hit.score
                };
                (hit.member, score)
            })
            .collect();
        let event = match args[0].eq_ignore_ascii_case(b"geosearchstore") {
            true => "geosearchstore",
            false => "georadiusstore",
        };
        store_items(ctx, dst, &items, event);
        ctx.out.int(items.len() as i64);
        return Ok(Replied);
    }
    reply_hits(ctx, &hits, &options);
    Ok(Replied)
}

fn reply_hits(ctx: &mut Ctx, hits: &[Hit], options: &Options) {
    let extras = [options.with_dist, options.with_hash, options.with_coord]
        .iter()
        .filter(|&&on| on)
        .count();
    let out = &mut *ctx.out;
    out.array(hits.len());
    for hit in hits {
        if extras > 0 {
            out.array(extras + 1);
        }
        out.bulk(&hit.member);
        if options.with_dist {
            out.bulk(distance_text(hit.distance).as_bytes());
        }
        if options.with_hash {
            out.int(hit.score as i64);
        }
        if options.with_coord {
            out.array(2);
            out.double_text(&format_human(hit.longitude));
            out.double_text(&format_human(hit.latitude));
        }
    }
}

pub static HANDLERS: &[(&str, Handler)] = &[
    ("geoadd", geoadd),
    ("geodist", geodist),
    ("geohash", geohash),
    ("geopos", geopos),
    ("georadius", |ctx, args| {
        search_generic(ctx, args, Variant::Radius { store: true })
    }),
    ("georadius_ro", |ctx, args| {
        search_generic(ctx, args, Variant::Radius { store: false })
    }),
    ("georadiusbymember", |ctx, args| {
        search_generic(ctx, args, Variant::ByMember { store: true })
    }),
    ("georadiusbymember_ro", |ctx, args| {
        search_generic(ctx, args, Variant::ByMember { store: false })
    }),
    ("geosearch", |ctx, args| {
        search_generic(ctx, args, Variant::Search { store: false })
    }),
    ("geosearchstore", |ctx, args| {
        search_generic(ctx, args, Variant::Search { store: true })
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_redis_prints_them() {
        assert_eq!(format_human(13.361389338970184), "13.36138933897018433");
        assert_eq!(format_human(-0.0), "0");
        assert_eq!(format_human(2.0), "2");
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(166274.15156960033), "166274.1516");
        assert_eq!(distance_text(0.00005), "0.0000");
    }
}
