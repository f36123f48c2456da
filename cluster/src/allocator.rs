//! The allocator of every slotcache process: mimalloc, called the way the C library's
//! `malloc` is wherever that gives the alignment asked for.
//!
//! Why not the `mimalloc` crate's `MiMalloc`: it passes every request to `mi_malloc_aligned`.
//! In mimalloc 3 that call takes a free block of the requested size only while its page has
//! one; once the page is full it falls back to over-allocating (size + alignment - 1), which
//! lands in the next size class and never refills the right one. Every allocation of a size
//! that is not a power of two then costs a class more: measured with a million 80-byte boxes
//! (a keyspace node), 95 bytes each instead of 80. `mi_malloc` has no such fallback, and its
//! blocks are aligned to 16 bytes from 16 bytes up (8 below), which is all Rust asks of
//! `malloc`-sized alignments; larger alignments still go to the aligned calls.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// The alignment every `mi_malloc` block of at least that size has.
const MALLOC_ALIGN: usize = 16;

/// mimalloc as the global allocator (see the module's doc).
pub struct Allocator;

/// Whether `mi_malloc` of `size` bytes is aligned enough for `align`.
fn malloc_aligns(size: usize, align: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

// SAFETY: every block comes from mimalloc and goes back to it; a block is taken from the
// unaligned calls only when they guarantee the layout's alignment (`malloc_aligns`), and
// mimalloc frees and resizes blocks of either kind.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match malloc_aligns(layout.size(), layout.align()) {
            true => mi::mi_malloc(layout.size()).cast(),
            false => mi::mi_malloc_aligned(layout.size(), layout.align()).cast(),
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match malloc_aligns(layout.size(), layout.align()) {
            true => mi::mi_zalloc(layout.size()).cast(),
            false => mi::mi_zalloc_aligned(layout.size(), layout.align()).cast(),
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match malloc_aligns(new_size, layout.align()) {
            true => mi::mi_realloc(ptr.cast(), new_size).cast(),
            false => mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_the_alignment_asked_for() {
        for size in [1usize, 8, 16, 24, 40, 80, 96, 1000, 70_000] {
            for align in [1usize, 8, 16, 32, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; each block is freed once, with its layout.
                unsafe {
                    let block = Allocator.alloc(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "size {size} align {align}");
                    let grown = Allocator.realloc(block, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "grown {size} align {align}");
                    Allocator.dealloc(grown, Layout::from_size_align(size * 3, align).unwrap());
                }
            }
        }
    }
}
