fn main() {
    println!("cargo:rerun-if-changed=src/engine/longdouble.c");
    cc::Build::new()
        .file("src/engine/longdouble.c")
        .warnings(true)
        .compile("slotcache_longdouble");
}
