//! Geohash math, as Redis's geohash.c and geohash_helper.c define it (results must match
//! Redis's to the last digit). A point is stored as a sorted set score: its longitude and
//! latitude, each scaled to 26 bits, interleaved into 52. A radius or box search reads the
//! score ranges of the hash box around the centre and its eight neighbours, sized so that
//! together they cover the shape, and keeps the points inside it.

use std::f64::consts::PI;

/// Bits per coordinate: 52-bit scores.
pub const STEP_MAX: u8 = 26;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// The Web Mercator (EPSG:3857) limits: the poles cannot be indexed.
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;

/// Earth's quadratic mean radius for WGS-84.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = PI / 180.0;

fn deg_rad(angle: f64) -> f64 {
    angle * D_R
}

fn rad_deg(angle: f64) -> f64 {
    angle / D_R
}

/// A hash of `step` bits per coordinate. A zero hash (no bits, no step) is an area skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash as a 52-bit score prefix.
    pub fn align52(&self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

const WGS84: (Range, Range) = (
    Range {
        min: LONG_MIN,
        max: LONG_MAX,
    },
    Range {
        min: LAT_MIN,
        max: LAT_MAX,
    },
);

/// A hash's box: its longitude and latitude ranges.
#[derive(Debug, Clone, Copy)]
struct Area {
    longitude: Range,
    latitude: Range,
}

/// Spreads the 32 bits of `v` to the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & LATITUDE_BITS
}

/// Gathers the even bits of `v` into a u32.
fn squash(v: u64) -> u32 {
    let mut x = v & LATITUDE_BITS;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
}

/// Latitude on the even bits, longitude on the odd ones.
fn interleave(latitude: u32, longitude: u32) -> u64 {
    spread(latitude) | (spread(longitude) << 1)
}

/// Encodes a point within the given ranges; `None` outside them or the WGS-84 limits.
pub fn encode(ranges: (Range, Range), longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    let (long_range, lat_range) = ranges;
    if !(LONG_MIN..=LONG_MAX).contains(&longitude)
        || !(LAT_MIN..=LAT_MAX).contains(&latitude)
        || !(lat_range.min..=lat_range.max).contains(&latitude)
        || !(long_range.min..=long_range.max).contains(&longitude)
    {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (longitude - long_range.min) / (long_range.max - long_range.min) * scale;
    Some(HashBits {
        bits: interleave(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// Encodes a point at full precision in the index's ranges.
pub fn encode_wgs84(longitude: f64, latitude: f64) -> Option<HashBits> {
    encode(WGS84, longitude, latitude, STEP_MAX)
}

fn decode(ranges: (Range, Range), hash: HashBits) -> Area {
    let (long_range, lat_range) = ranges;
    let scale = (1u64 << hash.step) as f64;
    let lat_cell = f64::from(squash(hash.bits));
    let long_cell = f64::from(squash(hash.bits >> 1));
    let lat_span = lat_range.max - lat_range.min;
    let long_span = long_range.max - long_range.min;
    Area {
        latitude: Range {
            min: lat_range.min + (lat_cell / scale) * lat_span,
            max: lat_range.min + ((lat_cell + 1.0) / scale) * lat_span,
        },
        longitude: Range {
            min: long_range.min + (long_cell / scale) * long_span,
            max: long_range.min + ((long_cell + 1.0) / scale) * long_span,
        },
    }
}

/// The point a stored score stands for: its box's centre, as (longitude, latitude).
pub fn decode_score(score: f64) -> (f64, f64) {
    let area = decode(
        WGS84,
        HashBits {
            bits: score as u64,
            step: STEP_MAX,
        },
    );
    let longitude = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let latitude = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (longitude, latitude)
}

/// The standard 11-character geohash of a stored score (which uses latitudes ±90, not the
/// index's ±85.05, so the point is decoded and encoded again).
pub fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (longitude, latitude) = decode_score(score);
    let standard = (
        Range {
            min: -180.0,
            max: 180.0,
        },
        Range {
            min: -90.0,
            max: 90.0,
        },
    );
    let bits = encode(standard, longitude, latitude, STEP_MAX).map_or(0, |h| h.bits);
    let mut text = [b'0'; 11];
    // 52 bits make 10 characters; the 11th is always '0', as Redis's.
    for (i, c) in text.iter_mut().take(10).enumerate() {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    text
}

/// The longitude's bits of a hash (odd), and the latitude's (even).
const LONGITUDE_BITS: u64 = 0xaaaa_aaaa_aaaa_aaaa;
const LATITUDE_BITS: u64 = 0x5555_5555_5555_5555;

/// Moves a hash one box along one coordinate (`axis`: its bits), forwards (east or north) or
/// back: the coordinate's bits count up or down with the other's bits filled in to carry.
fn move_along(hash: &mut HashBits, axis: u64, forward: bool) {
    // A zero-step hash (never made from a valid centre) has no bits to move.
    let width = 64 - u32::from(hash.step.min(32)) * 2;
    let moving = hash.bits & axis;
    let zz = (!axis).checked_shr(width).unwrap_or(0);
    let moved = match forward {
        true => moving.wrapping_add(zz + 1),
        false => (moving | zz).wrapping_sub(zz + 1),
    };
    hash.bits = (moved & axis.checked_shr(width).unwrap_or(0)) | (hash.bits & !axis);
}

/// A box and its neighbours, in the order Redis searches them.
struct Neighbourhood {
    centre: HashBits,
    north: HashBits,
    south: HashBits,
    east: HashBits,
    west: HashBits,
    north_east: HashBits,
    north_west: HashBits,
    south_east: HashBits,
    south_west: HashBits,
}

impl Neighbourhood {
    fn of(centre: HashBits) -> Neighbourhood {
        let moved = |x: Option<bool>, y: Option<bool>| {
            let mut hash = centre;
            if let Some(east) = x {
                move_along(&mut hash, LONGITUDE_BITS, east);
            }
            if let Some(north) = y {
                move_along(&mut hash, LATITUDE_BITS, north);
            }
            hash
        };
        Neighbourhood {
            centre,
            north: moved(None, Some(true)),
            south: moved(None, Some(false)),
            east: moved(Some(true), None),
            west: moved(Some(false), None),
            north_east: moved(Some(true), Some(true)),
            north_west: moved(Some(false), Some(true)),
            south_east: moved(Some(true), Some(false)),
            south_west: moved(Some(false), Some(false)),
        }
    }

    fn in_order(&self) -> [HashBits; 9] {
        [
            self.centre,
            self.north,
            self.south,
            self.east,
            self.west,
            self.north_east,
            self.north_west,
            self.south_east,
            self.south_west,
        ]
    }
}

/// The hash precision whose boxes are about the size of the search.
fn estimate_steps(range_meters: f64, latitude: f64) -> u8 {
    if range_meters == 0.0 {
        return STEP_MAX;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    // Boxes narrow towards the poles.
    if !(-66.0..=66.0).contains(&latitude) {
        step -= 1;
        if !(-80.0..=80.0).contains(&latitude) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// Great-circle distance in metres between two points (haversine).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(lon2) - deg_rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// What a search covers, in the unit its numbers were given in.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A search: a shape around a centre, with the metres per unit of its numbers.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub longitude: f64,
    pub latitude: f64,
    pub shape: Shape,
    pub to_meters: f64,
}

/// A point found inside a search.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    pub longitude: f64,
    pub latitude: f64,
    /// In metres.
    pub distance: f64,
}

impl Search {
    /// Half the shape's extent north-south and east-west, in metres.
    fn half_extent(&self) -> (f64, f64) {
        let (height, width) = match self.shape {
            Shape::Radius(r) => (r, r),
            Shape::Box { width, height } => (height / 2.0, width / 2.0),
        };
        (height * self.to_meters, width * self.to_meters)
    }

    /// (min longitude, min latitude, max longitude, max latitude) around the shape; the
    /// longitude span is taken at the latitude edge nearer the pole, where it is widest.
    fn bounding_box(&self) -> [f64; 4] {
        let (height, width) = self.half_extent();
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.latitude + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.latitude - lat_delta).cos());
        let long_delta = match self.latitude < 0.0 {
            true => long_delta_bottom,
            false => long_delta_top,
        };
        [
            self.longitude - long_delta,
            self.latitude - lat_delta,
            self.longitude + long_delta,
            self.latitude + lat_delta,
        ]
    }

    /// The score ranges [min, max) to read, in Redis's order: the centre's box and its
    /// neighbours, those that cannot hold a match and repeats of the one before left out.
    pub fn score_ranges(&self) -> Vec<(f64, f64)> {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => ((width / 2.0).powi(2) + (height / 2.0).powi(2)).sqrt(),
        } * self.to_meters;
        let mut steps = estimate_steps(radius, self.latitude);
        let at = |steps| {
            let centre = encode(WGS84, self.longitude, self.latitude, steps).unwrap_or_default();
            (Neighbourhood::of(centre), decode(WGS84, centre))
        };
        let (mut around, mut area) = at(steps);
        // Near a box's edge the estimated step can leave part of the shape uncovered.
        let too_fine = decode(WGS84, around.north).latitude.max < max_lat
            || decode(WGS84, around.south).latitude.min > min_lat
            || decode(WGS84, around.east).longitude.max < max_lon
            || decode(WGS84, around.west).longitude.min > min_lon;
        if steps > 1 && too_fine {
            steps -= 1;
            (around, area) = at(steps);
        }
        if steps >= 2 {
            let none = HashBits::default();
            if area.latitude.min < min_lat {
                (around.south, around.south_west, around.south_east) = (none, none, none);
            }
            if area.latitude.max > max_lat {
                (around.north, around.north_east, around.north_west) = (none, none, none);
            }
            if area.longitude.min < min_lon {
                (around.west, around.south_west, around.north_west) = (none, none, none);
            }
            if area.longitude.max > max_lon {
                (around.east, around.south_east, around.north_east) = (none, none, none);
            }
        }
        let mut ranges = Vec::with_capacity(9);
        let mut last: Option<HashBits> = None;
        for hash in around.in_order() {
            if hash.is_zero() || last == Some(hash) {
                continue;
            }
            last = Some(hash);
            let next = HashBits {
                bits: hash.bits + 1,
                step: hash.step,
            };
            ranges.push((hash.align52() as f64, next.align52() as f64));
        }
        ranges
    }

    /// The point a score stands for, if it lies inside the shape.
    pub fn contains(&self, score: f64) -> Option<Found> {
        let (longitude, latitude) = decode_score(score);
        let distance = match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.longitude, self.latitude, longitude, latitude);
                (d <= r * self.to_meters).then_some(d)?
            }
            Shape::Box { width, height } => {
                if lat_distance(latitude, self.latitude) > height * self.to_meters / 2.0 {
                    return None;
                }
                let east_west = distance(longitude, latitude, self.longitude, latitude);
                if east_west > width * self.to_meters / 2.0 {
                    return None;
                }
                distance(self.longitude, self.latitude, longitude, latitude)
            }
        };
        Some(Found {
            longitude,
            latitude,
            distance,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_hashes_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores 3479099956230698.
        let hash = encode_wgs84(13.361389, 38.115556).expect("in range");
        assert_eq!(hash.align52(), 3479099956230698);
        let (lon, lat) = decode_score(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(&geohash_string(3479099956230698.0), b"sqc8b49rny0");
        let catania = encode_wgs84(15.087269, 37.502669).expect("in range");
        let (lon2, lat2) = decode_score(catania.align52() as f64);
        assert_eq!(
            format!("{:.4}", distance(lon, lat, lon2, lat2)),
            "166274.1516"
        );
        assert!(encode_wgs84(181.0, 0.0).is_none());
        assert!(encode_wgs84(0.0, 85.06).is_none());
    }

    #[test]
    fn neighbours_are_adjacent_boxes() {
        let centre = encode(WGS84, 0.0, 0.0, 2).expect("in range");
        let around = Neighbourhood::of(centre);
        let (c, e) = (decode(WGS84, centre), decode(WGS84, around.east));
        assert_eq!(c.longitude.max, e.longitude.min);
        assert_eq!(c.latitude.min, e.latitude.min);
        let n = decode(WGS84, around.north);
        assert_eq!(c.latitude.max, n.latitude.min);
    }
}
