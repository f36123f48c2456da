//! Long double arithmetic for INCRBYFLOAT, through the C shim in `longdouble.c`.

use std::ffi::c_char;

extern "C" {
    fn slotcache_ld_add(
        a: *const c_char,
        alen: usize,
        b: *const c_char,
        blen: usize,
        out: *mut c_char,
        outlen: usize,
    ) -> i32;
}

#[derive(Debug, PartialEq, Eq)]
pub enum AddError {
    NotAFloat,
    NanOrInfinity,
}

/// `a + b` computed and printed as Redis's INCRBYFLOAT does.
pub fn add(a: &[u8], b: &[u8]) -> Result<Vec<u8>, AddError> {
    let mut out = [0u8; 5200];
    // SAFETY: pointers and lengths describe live buffers; the shim writes at most `outlen`
    // bytes including the terminating NUL.
    let rc = unsafe {
        slotcache_ld_add(
            a.as_ptr().cast(),
            a.len(),
            b.as_ptr().cast(),
            b.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    match rc {
        1 => {
            let len = out.iter().position(|&c| c == 0).unwrap_or(out.len());
            Ok(out[..len].to_vec())
        }
        0 => Err(AddError::NotAFloat),
        _ => Err(AddError::NanOrInfinity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_formatting() {
        assert_eq!(add(b"0.1", b"0.2").unwrap(), b"0.3");
        assert_eq!(add(b"10.50", b"0.1").unwrap(), b"10.6");
        assert_eq!(add(b"5.0e3", b"2.0e2").unwrap(), b"5200");
        assert_eq!(add(b"3", b"-3").unwrap(), b"0");
        assert_eq!(add(b"abc", b"1").unwrap_err(), AddError::NotAFloat);
        assert_eq!(add(b" 1", b"1").unwrap_err(), AddError::NotAFloat);
        assert_eq!(add(b"1", b"inf").unwrap_err(), AddError::NanOrInfinity);
    }
}
